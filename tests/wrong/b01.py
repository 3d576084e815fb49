"""Plausible wrong implementations of lab b01's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

SCALE = 'return 2 ** (len(vae_config["block_out_channels"]) - 1)'
META_BUILD = 'model = model_class.from_config(config) if hasattr(model_class, "from_config") else model_class(**config)'

WRONG = [
    # "two per level": right for no VAE, and wrong in a way only a VAE with other than 4 levels shows (6 for 3).
    ("vae_scale_factor", SCALE, 'return 2 * len(vae_config["block_out_channels"])', "3 levels): expected 4, got 6"),
    (
        "latent_shape",
        'return (vae_config["latent_channels"], 1 + (frames - 1) // t, *spatial)',
        'return (vae_config["latent_channels"], frames // t, *spatial)',
        "off by one: a causal VAE encodes the first frame alone",
    ),
    ("latent_shape", "if value <= 0 or value % f:", "if value % f:", "latent_shape(0, 512, vae_config) returned"),
    ("latent_shape", "if frames < 1 or (frames - 1) % t:", "if frames % t != 1:", "but these sizes fit"),
    ("latent_shape", "if frames is None:", "if not frames:", "frames=0, temporal_factor=1) returned (4, 72, 128)"),
    (
        "latent_shape",
        "spatial = (height // f, width // f)",
        "spatial = (width // f, height // f)",
        "expected (16, 128, 96), got (16, 96, 128)",
    ),
    (
        "param_count",
        "return sum(p.numel() for p in model.parameters())",
        "return sum(t.numel() for t in model.state_dict().values())",
        "counts the model's buffer",
    ),
    (
        "param_count",
        "return sum(p.numel() for p in model.parameters())",
        "return len(list(model.parameters()))",
        "the number of parameter tensors",
    ),
    ("param_count", 'with torch.device("meta"):', 'with torch.device("cpu"):', "build it on the meta device"),
    ("param_count", META_BUILD, "model = model_class(**config)", "Build with model_class.from_config(config)"),
    (
        "param_count",
        'with torch.device("meta"):',
        'config.pop("_diffusers_version", None)\n    with torch.device("meta"):',
        "changed the dict `config` it was given (removed ['_diffusers_version'])",
    ),
]
