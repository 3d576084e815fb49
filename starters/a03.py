"""Lab a03 · Scheduler reading — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check a03` (or
`difflab.check("a03")` in the notebook). Compare with DDIMScheduler.step and EulerDiscreteScheduler
in lib/difflab/schedulers/ once yours pass.
"""

import torch


def ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev, eta: float = 0.0, noise=None):
    """One DDIM step (Song et al. 2021, eq. 12) from ᾱ_t to the previous timestep's ᾱ_prev.

        x̂0   = (x_t - √(1-ᾱ_t)·ε) / √ᾱ_t
        σ    = η · √((1-ᾱ_prev)/(1-ᾱ_t)) · √(1 - ᾱ_t/ᾱ_prev)
        x_prev = √ᾱ_prev·x̂0 + √(1-ᾱ_prev-σ²)·ε + σ·noise

    x_t, eps, noise: (B, ...).  alpha_bar_t, alpha_bar_prev: 0-d tensors.  noise may be None when eta = 0.
    """
    raise NotImplementedError("a03: predict x̂0, compute σ from eta, then re-noise x̂0 to ᾱ_prev along ε (plus σ·noise)")


def karras_sigmas(sigma_min: float, sigma_max: float, n: int, rho: float = 7.0) -> torch.Tensor:
    """n noise levels from sigma_max down to sigma_min, spaced evenly in σ^(1/ρ) (Karras et al. 2022, eq. 5).

        σ_i = (σ_max^(1/ρ) + i/(n-1) · (σ_min^(1/ρ) - σ_max^(1/ρ)))^ρ,   i = 0 … n-1

    Returns a float32 tensor of shape (n,), descending (no trailing zero).
    """
    raise NotImplementedError("a03: interpolate between σ_max^(1/ρ) and σ_min^(1/ρ), then raise to the power ρ")


def euler_step(x: torch.Tensor, eps: torch.Tensor, sigma, sigma_next) -> torch.Tensor:
    """One Euler step of the probability-flow ODE in σ-space (x = x0 + σ·ε, the scale Euler schedulers use).

    The ODE is dx/dσ = (x - x̂0)/σ, which for an ε-prediction model is just ε.
    x, eps: (B, ...).  sigma, sigma_next: 0-d tensors, sigma_next < sigma.
    """
    raise NotImplementedError("a03: move x along the slope dx/dσ = ε by the (negative) step σ_next - σ")


def dpmpp_2m_step(x, x0_now, x0_before, alpha_bar_before, alpha_bar_now, alpha_bar_next):
    """One step of DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2) from ᾱ_now to ᾱ_next.

    Notation: x_t = α_t·x0 + σ_t·ε with α_t = √ᾱ_t and σ_t = √(1-ᾱ_t), and λ_t = ln(α_t/σ_t) = ½ ln SNR_t
    (the paper's λ_t, diffusers' `lambda_t`), which grows as the noise falls. For a model that predicts x̂0, the
    probability-flow ODE has this exact solution from a level s to a level t (variation of constants):

        x_t = (σ_t/σ_s)·x_s + σ_t·∫_{λ_s}^{λ_t} e^λ·x̂0(x_λ) dλ

    The solver keeps the first term and replaces x̂0(x_λ) over the whole step by one tensor D:
      - D = x0_now on the first step (x0_before is None: no history yet) and on the final step to the clean
        sample (alpha_bar_next = 1, where σ = 0 and λ = +∞);
      - otherwise D is the value, at the middle of the step (λ_now + h/2, h = λ_next - λ_now), of the straight
        line in λ through (λ_before, x0_before) and (λ_now, x0_now).
    Work out h, D and the integral.

    x, x0_now, x0_before: (B, ...): the sample at ᾱ_now, the model's x̂0 there, and its x̂0 one step earlier (at
    ᾱ_before). alpha_bar_before, alpha_bar_now, alpha_bar_next: 0-d float64 tensors with ᾱ_before < ᾱ_now <
    ᾱ_next ≤ 1 (alpha_bar_before is None on the first step). Returns a new tensor shaped like x: x at ᾱ_next.
    """

    raise NotImplementedError("a03: λ of each level, the step h, D (first order or the line's midpoint), the integral")
