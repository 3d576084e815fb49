"""Plausible wrong implementations of lab b03's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "predict_shapes",
        "latent_frames = (num_frames - 1) // t + 1",
        "latent_frames = num_frames // t",
        "encodes frame 0 alone",
    ),
    (
        "predict_shapes",
        "h, w = height // s, width // s",
        "h, w = height // (2 * s), width // (2 * s)",
        "the 2×2 patch belongs to the transformer",
    ),
    (
        "predict_shapes",
        '"transformer_input": latents,',
        '"transformer_input": (2 * batch_size if guidance else batch_size, *latents[1:]),',
        "calls the transformer twice per step",
    ),
    (
        "predict_shapes",
        "num_tokens = (latent_frames // p_t) * (h // p_h) * (w // p_w)",
        "num_tokens = latent_frames * h * w",
        "'tokens' should be (1, 80, ",
    ),
    (
        "predict_shapes",
        '"frames": (batch_size, num_frames, height, width, vae_config["out_channels"]),',
        '"frames": (batch_size, vae_config["out_channels"], num_frames, height, width),',
        "channels-last",
    ),
    (
        "predict_shapes",
        'dim = transformer_config["num_attention_heads"] * transformer_config["attention_head_dim"]',
        "dim = 192",
        "Each token is num_attention_heads · attention_head_dim wide",
    ),
    (
        "predict_shapes",
        '"patch_output": (batch_size, num_tokens, p_t * p_h * p_w * out_channels),',
        '"patch_output": (batch_size, num_tokens, out_channels),',
        "one patch",
    ),
    (
        "predict_image_shapes",
        'unet_batch = 2 * batch_size if guidance and cfg == "batched" else batch_size',
        "unet_batch = batch_size",
        "torch.cat([x, x])",
    ),
    (
        "predict_image_shapes",
        'unet_batch = 2 * batch_size if guidance and cfg == "batched" else batch_size',
        "unet_batch = 2 * batch_size if guidance else batch_size",
        "cfg='two_pass' calls the UNet twice",
    ),
    (
        "predict_image_shapes",
        'tokens, width_text = text_encoder_config["max_position_embeddings"], text_encoder_config["hidden_size"]',
        "tokens, width_text = 77, 64",
        "hidden_size for CLIP",
    ),
    (
        "predict_image_shapes",
        '"image": (batch_size, height, width, vae_config["out_channels"]),',
        '"image": (batch_size, vae_config["out_channels"], height, width),',
        "channels-last",
    ),
]
