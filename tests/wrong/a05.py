"""Plausible wrong implementations of lab a05's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "latent_shape",
        "return (latent_channels, height // vae_scale_factor, width // vae_scale_factor)",
        "return (latent_channels, width // vae_scale_factor, height // vae_scale_factor)",
        "expected (4, 64, 96)",
    ),
    (
        "latent_shape",
        'for name, value in (("height", height), ("width", width)):',
        'for name, value in (("height", height),):',
        "width 70 is not a positive multiple of 8",
    ),
    ("scale_latents", "return latents * scaling_factor", "return latents / scaling_factor", "0.18215"),
    (
        "scale_latents",
        "latents = latents - shift_factor",
        "return latents * scaling_factor - shift_factor",
        "SD 3's scaling_factor 1.5305",
    ),
    (
        "estimate_scaling_factor",
        "return 1.0 / latents.std().item()",
        "return 1.0 / latents.std(dim=(0, 2, 3)).mean().item()",
        "one over the mean of the per-channel stds",
    ),
    (
        "estimate_scaling_factor",
        "return 1.0 / latents.std().item()",
        "return latents.std().item()",
        "latents with std 5.5 overall",
    ),
    (
        "latent_shape",
        "if value <= 0 or value % vae_scale_factor:",
        "if value % vae_scale_factor:",
        "height 0 is not a positive multiple of 8",
    ),
    (
        "latent_shape",
        "height // vae_scale_factor, width // vae_scale_factor)",
        "height / vae_scale_factor, width / vae_scale_factor)",
        "should return a tuple of ints, got tuple (4, 8.0, 8.0)",
    ),
    (
        "latent_shape",
        "height // vae_scale_factor, width // vae_scale_factor)",
        "height // 8, width // 8)",
        "expected (32, 32, 32)",
    ),
    ("scale_latents", "return latents * scaling_factor", "return latents.mul_(scaling_factor)", "in place"),
    (
        "scale_latents",
        "latents = latents - shift_factor",
        "latents = latents.float() - shift_factor",
        "expected dtype torch.float16",
    ),
    ("estimate_scaling_factor", "return 1.0 / latents.std().item()", "return 1.0 / latents.std()", "use .item()"),
]
