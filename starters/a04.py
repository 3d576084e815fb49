"""Lab a04 · CFG code reading — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check a04` in a terminal
(or `difflab.check("a04")` in the notebook). Plain torch is all you need. The library's own versions
live in lib/difflab/pipelines/text_to_image.py (`cfg_combine`, `rescale_noise_cfg`, `guided_model`) and
lib/difflab/sampling.py (`denoise`, the loop): try first, then compare.
"""

import torch


def cfg_combine(noise_uncond: torch.Tensor, noise_text: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance: ε̂ = ε̂_uncond + w·(ε̂_text - ε̂_uncond).

    noise_uncond: (B, C, h, w), the prediction with the empty (or negative) prompt.
    noise_text: (B, C, h, w), the prediction with the prompt.  guidance_scale: the number w.
    Returns: (B, C, h, w). w = 0 gives noise_uncond, w = 1 gives noise_text, w > 1 goes past noise_text.
    """
    raise NotImplementedError("a04: start from the unconditional prediction and step w times the text's change to it")


def batched_cfg_inputs(
    latents: torch.Tensor, prompt_embeds: torch.Tensor, negative_embeds: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs of one batched CFG UNet call, in diffusers' order: unconditional half first, then text.

    latents: (B, C, h, w).  prompt_embeds, negative_embeds: (B, L, D).
    Returns (latent_model_input, encoder_hidden_states): (2B, C, h, w) and (2B, L, D), such that
    `unet(...).sample.chunk(2)` gives (noise_uncond, noise_text).
    """
    raise NotImplementedError(
        "a04: stack the latents twice along the batch axis, and the embeddings as [negative; prompt]"
    )


def rescale_noise_cfg(noise_cfg: torch.Tensor, noise_text: torch.Tensor, guidance_rescale: float) -> torch.Tensor:
    """Guidance rescale (Lin et al. 2023, §3.4), as diffusers' `rescale_noise_cfg`.

    noise_cfg: (B, …), the guided prediction ε̂_cfg = ε̂_u + w·(ε̂_c − ε̂_u).  noise_text: ε̂_c, the same shape.
    guidance_rescale: φ in [0, 1].  With σ(·) one standard deviation per sample, over every axis but the batch:
        ε̂_rescaled = ε̂_cfg · σ(ε̂_c) / σ(ε̂_cfg)        ε̂_final = φ·ε̂_rescaled + (1 − φ)·ε̂_cfg
    Returns a new (B, …) tensor: φ = 0 gives noise_cfg back, φ = 1 the fully rescaled prediction. Any number of
    axes after the batch: image latents (B, C, h, w) and video latents (B, C, F, h, w) alike.
    """
    raise NotImplementedError("a04: one std per sample (keepdim, so it broadcasts), their ratio, then the mix")


def guided_loop(
    unet,
    scheduler,
    latents: torch.Tensor,
    prompt_embeds: torch.Tensor,
    negative_embeds: torch.Tensor,
    guidance_scale: float,
    num_inference_steps: int,
) -> torch.Tensor:
    """A complete guided sampling loop, as TextToImagePipeline runs it after encoding the prompts; the final latents.

    unet: called as `unet(x, t, encoder_hidden_states=…).sample`.  scheduler: a difflab scheduler (lab a03's
    interface: set_timesteps, init_noise_sigma, timesteps, scale_model_input, step).
    latents: x_T ~ N(0, I), (B, C, h, w), not yet multiplied by init_noise_sigma.
    prompt_embeds, negative_embeds: (B, L, D).  At guidance_scale ≤ 1 guidance is off: one UNet call per step with
    the prompt alone (negative_embeds unused), as in the pipeline. Returns x_0, (B, C, h, w); the inputs unchanged.
    """
    raise NotImplementedError(
        "a04: the pipeline's set_timesteps, prepare_latents, guided_model and denoise, written as one loop"
    )
