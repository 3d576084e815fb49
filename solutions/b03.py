"""Lab b03 · Latent shape tracking — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check b03` in a terminal
(or `difflab.check("b03")` in the notebook). Work from the configs alone: no model, no tensor, only arithmetic.
The checker runs the real pipelines under `difflab.trace` and compares every shape you predict with the one the
trace recorded. Read lib/difflab/pipelines/text_to_image.py and text_to_video.py once yours pass.
"""


def predict_image_shapes(
    batch_size: int,
    height: int,
    width: int,
    guidance: bool,
    cfg: str,
    text_encoder_config: dict,
    unet_config: dict,
    vae_config: dict,
) -> dict[str, tuple[int, ...]]:
    """Every tensor shape of one TextToImagePipeline run (shapes-sd style), predicted from the configs.

    batch_size: images in the run (prompts × num_images_per_prompt), B. height, width: pixels, multiples of the
    VAE factor. guidance: True when guidance_scale > 1 (classifier-free guidance on). cfg: "batched" (one UNet
    call on [uncond; text]) or "two_pass" (two UNet calls). The configs are plain dicts:
        text_encoder_config   CLIP: "max_position_embeddings" (tokens per prompt, 77), "hidden_size"
        unet_config           "in_channels", "out_channels"
        vae_config            "block_out_channels" (f = 2 ** (levels - 1)), "out_channels"
    Returns a dict with these keys, each a tuple of ints (one call's tensor where a stage runs more than once):
        "text_ids"          token ids into the text encoder, one call (the prompt; the negative prompt alike)
        "text_states"       the text encoder's last hidden states, one call
        "latents"           the initial noise the loop starts from
        "unet_input"        the latents as one UNet call receives them
        "unet_text_states"  encoder_hidden_states of that call
        "unet_output"       what that call returns
        "decoded_image"     vae.decode's output
        "image"             the pipeline's output with output_type="np"
    """
    # BEGIN SOLUTION: text shapes from the CLIP config, latents from the VAE factor, the UNet batch from cfg
    tokens, width_text = text_encoder_config["max_position_embeddings"], text_encoder_config["hidden_size"]
    f = 2 ** (len(vae_config["block_out_channels"]) - 1)  # pixels per latent cell, per side
    h, w = height // f, width // f
    unet_batch = 2 * batch_size if guidance and cfg == "batched" else batch_size  # [uncond; text] in one call
    return {
        "text_ids": (batch_size, tokens),  # (B, 77)
        "text_states": (batch_size, tokens, width_text),  # (B, 77, D)
        "latents": (batch_size, unet_config["in_channels"], h, w),  # (B, C, H/f, W/f)
        "unet_input": (unet_batch, unet_config["in_channels"], h, w),
        "unet_text_states": (unet_batch, tokens, width_text),
        "unet_output": (unet_batch, unet_config["out_channels"], h, w),  # a prediction, at the latents' shape
        "decoded_image": (batch_size, vae_config["out_channels"], height, width),  # (B, 3, H, W)
        "image": (batch_size, height, width, vae_config["out_channels"]),  # channels last: (B, H, W, 3)
    }
    # END SOLUTION


def predict_shapes(
    batch_size: int,
    num_frames: int,
    height: int,
    width: int,
    guidance: bool,
    text_encoder_config: dict,
    transformer_config: dict,
    vae_config: dict,
    max_sequence_length: int = 512,
) -> dict[str, tuple[int, ...]]:
    """Every tensor shape of one TextToVideoPipeline run (Wan 2.1 style), predicted from the configs.

    batch_size: videos in the run, B. num_frames: 4k + 1. height, width: multiples of 16. guidance: True when
    guidance_scale > 1. max_sequence_length: UMT5 tokens per prompt (512). The configs are plain dicts:
        text_encoder_config   UMT5: "d_model" (the width of its hidden states)
        transformer_config    "in_channels", "out_channels", "patch_size" [p_t, p_h, p_w], "num_attention_heads",
                              "attention_head_dim"
        vae_config            "z_dim", "scale_factor_temporal" (4), "scale_factor_spatial" (8)
    Returns a dict with these keys, each a tuple of ints (one call's tensor where a stage runs more than once):
        "text_ids"            token ids into the text encoder, one call
        "text_states"         its last hidden states, one call
        "latents"             the initial noise the loop starts from
        "transformer_input"   the latents as one transformer call receives them
        "tokens"              the token sequence after patchify, as the first block receives it
        "patch_output"        proj_out's output: every token's patch of output channels, before unpatchify
        "transformer_output"  what that call returns, after unpatchify
        "decoded_video"       vae.decode's output
        "frames"              the pipeline's output with output_type="np"
    """
    # BEGIN SOLUTION: latents (causal time axis), then patchify into tokens and back, then decode and channels last
    t, s = vae_config["scale_factor_temporal"], vae_config["scale_factor_spatial"]
    latent_frames = (num_frames - 1) // t + 1  # frame 0 alone, then t frames per latent frame
    h, w = height // s, width // s
    channels, out_channels = transformer_config["in_channels"], transformer_config["out_channels"]
    p_t, p_h, p_w = transformer_config["patch_size"]
    num_tokens = (latent_frames // p_t) * (h // p_h) * (w // p_w)  # N = F'·(h/2)·(w/2)
    dim = transformer_config["num_attention_heads"] * transformer_config["attention_head_dim"]  # D
    latents = (batch_size, channels, latent_frames, h, w)
    return {
        "text_ids": (batch_size, max_sequence_length),  # (B, 512)
        "text_states": (batch_size, max_sequence_length, text_encoder_config["d_model"]),  # (B, 512, d_model)
        "latents": latents,  # (B, C, F', H/8, W/8)
        "transformer_input": latents,  # guidance: two calls per step at batch B, never one at 2B
        "tokens": (batch_size, num_tokens, dim),  # (B, N, D)
        "patch_output": (batch_size, num_tokens, p_t * p_h * p_w * out_channels),  # (B, N, p_t·p_h·p_w·C_out)
        "transformer_output": (batch_size, out_channels, latent_frames, h, w),  # unpatchified
        "decoded_video": (batch_size, vae_config["out_channels"], num_frames, height, width),  # (B, 3, F, H, W)
        "frames": (batch_size, num_frames, height, width, vae_config["out_channels"]),  # (B, F, H, W, 3)
    }
    # END SOLUTION
