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
    raise NotImplementedError(
        "b03: text shapes from the CLIP config, latents from the VAE factor, the UNet batch from cfg"
    )


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
    raise NotImplementedError(
        "b03: latents (causal time axis), then patchify into tokens and back, then decode and channels last"
    )
