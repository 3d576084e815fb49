"""Lab a01 · Forward noise process — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check a01` in a terminal
(or `difflab.check("a01")` in the notebook). Plain torch is all you need. The library's own versions
live in lib/difflab/noise.py: try first, then compare.
"""

import torch


def alpha_bar(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ_t = ∏_{s≤t} (1 - β_s) for every t.

    betas: (T,) float tensor.  Returns: (T,), falling from ≈1 towards 0.
    """
    # BEGIN SOLUTION: return the running product of (1 - betas) along the time axis
    return torch.cumprod(1 - betas, dim=0)
    # END SOLUTION


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Jump straight to step t of the forward process: x_t = √ᾱ_t·x0 + √(1-ᾱ_t)·ε.

    x0, noise: (B, ...) — images (B, C, H, W), or any other sample shape.
    t: (B,) integer timesteps, one per sample.  alpha_bar: (T,), the schedule's float32 table.
    Returns: x_t, a new tensor shaped like x0 and in x0's dtype: a pipeline running in float16 adds noise to
    float16 latents with its float32 table, and must get float16 back. x0 and noise must not change.
    """
    # BEGIN SOLUTION: take ᾱ in x0's dtype, look it up at t, reshape to (B, 1, …, 1) to broadcast, mix x0 and noise
    ab = alpha_bar.to(x0)[t].reshape(-1, *([1] * (x0.ndim - 1)))  # (B, 1, 1, 1) for images, in x0's dtype
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    # END SOLUTION


def snr(alpha_bar: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio of x_t at every step: the variance of the signal part over that of the noise.

    alpha_bar: (T,).  Returns: (T,).
    """
    # BEGIN SOLUTION: divide the signal variance ᾱ by the noise variance (1 - ᾱ)
    return alpha_bar / (1 - alpha_bar)
    # END SOLUTION
