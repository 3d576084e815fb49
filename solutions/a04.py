"""Lab a04 · CFG code reading — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check a04` in a terminal
(or `difflab.check("a04")` in the notebook). Plain torch is all you need. The library's own versions
live in lib/difflab/pipelines/text_to_image.py (`cfg_combine` and `guided_model`): try first, then compare.
"""

import torch


def cfg_combine(noise_uncond: torch.Tensor, noise_text: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance: ε̂ = ε̂_uncond + w·(ε̂_text - ε̂_uncond).

    noise_uncond: (B, C, h, w), the prediction with the empty (or negative) prompt.
    noise_text: (B, C, h, w), the prediction with the prompt.  guidance_scale: the number w.
    Returns: (B, C, h, w). w = 0 gives noise_uncond, w = 1 gives noise_text, w > 1 goes past noise_text.
    """
    # BEGIN SOLUTION: start from the unconditional prediction and step w times the text's change to it
    return noise_uncond + guidance_scale * (noise_text - noise_uncond)
    # END SOLUTION


def batched_cfg_inputs(
    latents: torch.Tensor, prompt_embeds: torch.Tensor, negative_embeds: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs of one batched CFG UNet call, in diffusers' order: unconditional half first, then text.

    latents: (B, C, h, w).  prompt_embeds, negative_embeds: (B, L, D).
    Returns (latent_model_input, encoder_hidden_states): (2B, C, h, w) and (2B, L, D), such that
    `unet(...).sample.chunk(2)` gives (noise_uncond, noise_text).
    """
    # BEGIN SOLUTION: stack the latents twice along the batch axis, and the embeddings as [negative; prompt]
    latent_model_input = torch.cat([latents, latents])  # (2B, C, h, w): the same x_t for both halves
    encoder_hidden_states = torch.cat([negative_embeds, prompt_embeds])  # (2B, L, D): [uncond; text]
    return latent_model_input, encoder_hidden_states
    # END SOLUTION
