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
        "width 70 is not a multiple of 8",
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
]
