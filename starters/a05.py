"""Lab a05 · VAE latent space — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check a05` in a terminal
(or `difflab.check("a05")` in the notebook). Plain torch is all you need. Compare with
`TextToImagePipeline.prepare_latents` and `decode` (lib/difflab/pipelines/text_to_image.py) and
`estimate_scaling_factor` (lib/difflab/train/vae.py) once yours pass.
"""

import torch


def latent_shape(height: int, width: int, latent_channels: int, vae_scale_factor: int) -> tuple[int, int, int]:
    """The shape of the latent the VAE makes of one height × width image: (latent_channels, height/f, width/f).

    f = vae_scale_factor, the pixels per latent cell along each side (8 for SD and for the course's VAE).
    Examples: (64, 64, 4, 8) → (4, 8, 8);  (512, 768, 4, 8) → (4, 64, 96).

    A height or width that is not a positive multiple of f has no whole latent grid: raise ValueError with a
    message that names the argument and the value received, for example
        "height: got 500; it must be a positive multiple of 8 (the VAE's scale factor): use 496 or 504."
    Returns: a tuple of three ints.
    """
    raise NotImplementedError("a05: check height and width (ValueError naming the argument), then divide by f")


def scale_latents(latents: torch.Tensor, scaling_factor: float, shift_factor: float | None = None) -> torch.Tensor:
    """VAE latents (what `latent_dist.sample()` returns) → the latents the diffusion model works on:

        z_diffusion = (z - shift_factor) · scaling_factor          (shift_factor None means 0: z · scaling_factor)

    the convention of diffusers' SD 3 and FLUX pipelines (SD 1.x/2.x and SDXL have no shift).
    latents: (B, C, h, w), or any shape.  Returns: a new tensor of the same shape and dtype; `latents` itself
    must not change.
    """
    raise NotImplementedError("a05: subtract the shift (if any), then multiply by the scaling factor")


def estimate_scaling_factor(latents: torch.Tensor) -> float:
    """The scaling_factor that makes these latents unit-variance: 1 / std, as the LDM code and difflab estimate it.

    latents: (N, C, h, w) VAE latents of N training images, on the VAE's own scale.
    One scalar for all values together: the std over every element of every channel, not one per channel.
    Returns: a Python float.
    """
    raise NotImplementedError("a05: one over the standard deviation of all the values, as a Python float")
