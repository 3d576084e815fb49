"""Lab a02 · Denoising step — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check a02` (or
`difflab.check("a02")` in the notebook). Notation: x_t = √ᾱ_t·x0 + √(1-ᾱ_t)·ε.
"""

import torch


def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """The clean-sample estimate implied by a noise prediction: solve x_t = √ᾱ·x0 + √(1-ᾱ)·ε for x0.

    x_t, eps: (B, ...).  alpha_bar_t: a float, or a tensor that broadcasts against x_t (e.g. (B, 1, 1, 1)).
    """
    # BEGIN SOLUTION: subtract the noise part √(1-ᾱ)·ε from x_t and divide by √ᾱ
    alpha_bar_t = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype)
    return (x_t - (1 - alpha_bar_t).sqrt() * eps) / alpha_bar_t.sqrt()
    # END SOLUTION


def v_target(x0: torch.Tensor, noise: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """The v-prediction target v = √ᾱ_t·ε - √(1-ᾱ_t)·x0 (Salimans & Ho 2022).

    x0, noise: (B, ...).  alpha_bar_t: a float or a broadcastable tensor.
    """
    # BEGIN SOLUTION: combine noise and x0 with weights √ᾱ and -√(1-ᾱ)
    alpha_bar_t = torch.as_tensor(alpha_bar_t, dtype=x0.dtype)
    return alpha_bar_t.sqrt() * noise - (1 - alpha_bar_t).sqrt() * x0
    # END SOLUTION


def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, alpha_bar: torch.Tensor, noise: torch.Tensor):
    """One reverse step of DDPM (Ho et al. 2020), from x_t to x_{t-1}, given the model's ε prediction.

        x̂0    = (x_t - √(1-ᾱ_t)·ε) / √ᾱ_t
        mean  = √ᾱ_{t-1}·β_t/(1-ᾱ_t) · x̂0 + √α_t·(1-ᾱ_{t-1})/(1-ᾱ_t) · x_t
        var   = β̃_t = (1-ᾱ_{t-1})/(1-ᾱ_t) · β_t
        x_{t-1} = mean + √var · noise       (no noise is added at t = 0)

    with α_t = ᾱ_t/ᾱ_{t-1}, β_t = 1 - α_t and ᾱ_{-1} = 1.
    x_t, eps, noise: (B, ...).  t: an int in 0 … T-1.  alpha_bar: (T,).
    """
    # BEGIN SOLUTION: compute x̂0, the posterior mean and variance above, and add √var·noise when t > 0
    ab_t = alpha_bar[t]
    ab_prev = alpha_bar[t - 1] if t > 0 else torch.tensor(1.0)
    alpha_t = ab_t / ab_prev
    beta_t = 1 - alpha_t
    x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    mean = ab_prev.sqrt() * beta_t / (1 - ab_t) * x0 + alpha_t.sqrt() * (1 - ab_prev) / (1 - ab_t) * x_t
    if t == 0:
        return mean
    variance = (1 - ab_prev) / (1 - ab_t) * beta_t
    return mean + variance.sqrt() * noise
    # END SOLUTION


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Betas whose schedule ends in pure noise, ᾱ_{T-1} = 0 (Lin et al. 2023, "Common Diffusion Noise Schedules and
    Sample Steps are Flawed", Algorithm 1).

    Work on the signal amplitude √ᾱ_t: shift it so that its last value is 0, scale it so that its first value is
    what it was, and convert back to betas. betas: (T,), T ≥ 2; returns a new (T,) tensor of betas.dtype (the
    last beta is 1) and leaves `betas` as it was.
    """
    # BEGIN SOLUTION: shift √ᾱ to end at 0, scale it to keep its first value, then go back to betas
    root_ab = torch.cumprod(1 - betas, dim=0).sqrt()  # √ᾱ_t, (T,): the signal amplitude
    first, last = root_ab[0], root_ab[-1]
    root_ab = (root_ab - last) * (first / (first - last))  # shift: √ᾱ_{T-1} = 0; scale: √ᾱ_0 as before
    ab = root_ab**2
    alphas = torch.cat([ab[:1], ab[1:] / ab[:-1]])  # undo the cumulative product: α_0 = ᾱ_0, α_t = ᾱ_t/ᾱ_{t-1}
    return 1 - alphas
    # END SOLUTION
