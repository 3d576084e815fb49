"""The noise core: beta schedules, ᾱ_t, SNR, the closed-form forward process and the prediction targets.

Notation (DDPM, Ho et al. 2020; v-prediction, Salimans & Ho 2022; flow matching, Lipman et al. 2023):

    β_t             noise added at step t of the forward chain         q(x_t | x_{t-1}) = N(√(1-β_t)·x_{t-1}, β_t·I)
    ᾱ_t = ∏(1-β_s)  signal kept after t steps (alpha_bar)               q(x_t | x_0) = N(√ᾱ_t·x_0, (1-ᾱ_t)·I)
    SNR_t = ᾱ_t / (1-ᾱ_t)
    σ_t = √((1-ᾱ_t)/ᾱ_t) = 1/√SNR_t   the same noise level in "variance exploding" form (Euler, Karras)

Timesteps t index 0 … T-1 (T = num_train_timesteps), as in diffusers: t = 0 is the least noisy step.
"""

import math

import torch

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


def beta_schedule(
    name: str = "linear",
    num_train_timesteps: int = 1000,
    beta_start: float = 0.0001,
    beta_end: float = 0.02,
) -> torch.Tensor:
    """β_t for t = 0 … T-1 as a float32 tensor of shape (T,), named as in diffusers' `beta_schedule` field."""
    T = num_train_timesteps
    if name == "linear":  # DDPM: β rises linearly
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    if name == "scaled_linear":  # Stable Diffusion: linear in √β
        return torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float32) ** 2
    if name == "squaredcos_cap_v2":  # improved DDPM: ᾱ(s) = cos²((s+0.008)/1.008 · π/2), β capped at 0.999
        return cosine_betas(T)
    raise ValueError(
        f"beta_schedule: got {name!r}; valid values are {', '.join(BETA_SCHEDULES)}. "
        "Stable Diffusion uses 'scaled_linear' with beta_start=0.00085, beta_end=0.012."
    )


def cosine_betas(num_train_timesteps: int, max_beta: float = 0.999) -> torch.Tensor:
    """Betas that make ᾱ follow the squared-cosine curve of Nichol & Dhariwal (2021)."""

    def f(s: float) -> float:  # ᾱ as a function of s = t/T ∈ [0, 1]
        return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

    T = num_train_timesteps
    betas = [min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)]
    return torch.tensor(betas, dtype=torch.float32)


def alpha_bar(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ_t = ∏_{s≤t} (1 - β_s), shape (T,): falls from ≈1 (clean) towards 0 (pure noise)."""
    return torch.cumprod(1.0 - betas, dim=0)


def snr(alpha_bar: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio ᾱ/(1-ᾱ): the ratio of signal variance to noise variance in x_t."""
    return alpha_bar / (1.0 - alpha_bar)


def sigmas_from_alpha_bar(alpha_bar: torch.Tensor) -> torch.Tensor:
    """σ_t = √((1-ᾱ_t)/ᾱ_t): the noise level of x_t/√ᾱ_t, the scale Euler and Karras samplers work in."""
    return ((1.0 - alpha_bar) / alpha_bar) ** 0.5


def expand_to(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-sample values (B,) to (B, 1, 1, …) so they broadcast against `like` (B, C, H, W)."""
    values = torch.as_tensor(values, dtype=like.dtype, device=like.device)
    return values.reshape(values.shape + (1,) * (like.ndim - values.ndim))


def add_noise(x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Jump straight to step t: x_t = √ᾱ_t·x_0 + √(1-ᾱ_t)·ε, one timestep per sample (B,)."""
    if noise.shape != x0.shape:
        raise ValueError(
            f"noise: got shape {tuple(noise.shape)} but x0 has shape {tuple(x0.shape)}; "
            "draw the noise with torch.randn_like(x0)."
        )
    ab = expand_to(alpha_bar.to(x0.device)[timesteps], x0)  # (B, 1, 1, 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


# Prediction targets. With a = √ᾱ_t and b = √(1-ᾱ_t) (so a² + b² = 1):
#   x_t = a·x0 + b·ε        v = a·ε - b·x0
# Any one of ε, x0, v together with x_t determines the other two.


def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """x̂0 = (x_t - √(1-ᾱ_t)·ε̂) / √ᾱ_t."""
    ab = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype, device=x_t.device)
    return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


def eps_from_x0(x_t: torch.Tensor, x0: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """ε̂ = (x_t - √ᾱ_t·x̂0) / √(1-ᾱ_t)."""
    ab = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype, device=x_t.device)
    return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()


def v_target(x0: torch.Tensor, noise: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """The v-prediction training target v = √ᾱ_t·ε - √(1-ᾱ_t)·x0."""
    ab = torch.as_tensor(alpha_bar_t, dtype=x0.dtype, device=x0.device)
    return ab.sqrt() * noise - (1 - ab).sqrt() * x0


def x0_from_v(x_t: torch.Tensor, v: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """x̂0 = √ᾱ_t·x_t - √(1-ᾱ_t)·v̂."""
    ab = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype, device=x_t.device)
    return ab.sqrt() * x_t - (1 - ab).sqrt() * v


def eps_from_v(x_t: torch.Tensor, v: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """ε̂ = √(1-ᾱ_t)·x_t + √ᾱ_t·v̂."""
    ab = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype, device=x_t.device)
    return (1 - ab).sqrt() * x_t + ab.sqrt() * v


def predict_x0(model_output: torch.Tensor, x_t: torch.Tensor, alpha_bar_t, prediction_type: str):
    """x̂0 from whichever target the model was trained to predict (diffusers' `prediction_type`)."""
    if prediction_type == "epsilon":
        return x0_from_eps(x_t, model_output, alpha_bar_t)
    if prediction_type == "sample":
        return model_output
    if prediction_type == "v_prediction":
        return x0_from_v(x_t, model_output, alpha_bar_t)
    raise ValueError(
        f"prediction_type: got {prediction_type!r}; valid values are {', '.join(PREDICTION_TYPES)}. "
        "Use the value in the checkpoint's scheduler_config.json."
    )


def predict_eps(model_output: torch.Tensor, x_t: torch.Tensor, alpha_bar_t, prediction_type: str):
    """ε̂ from whichever target the model was trained to predict."""
    if prediction_type == "epsilon":
        return model_output
    if prediction_type == "sample":
        return eps_from_x0(x_t, model_output, alpha_bar_t)
    if prediction_type == "v_prediction":
        return eps_from_v(x_t, model_output, alpha_bar_t)
    raise ValueError(
        f"prediction_type: got {prediction_type!r}; valid values are {', '.join(PREDICTION_TYPES)}. "
        "Use the value in the checkpoint's scheduler_config.json."
    )


# Flow matching (rectified flow, as in SD3, FLUX and Wan): a straight line from data to noise.
#   x_σ = (1-σ)·x0 + σ·ε,   σ ∈ [0, 1];   the model predicts the velocity dx/dσ = ε - x0.


def flow_interpolate(x0: torch.Tensor, noise: torch.Tensor, sigma) -> torch.Tensor:
    """x_σ = (1-σ)·x0 + σ·ε."""
    s = torch.as_tensor(sigma, dtype=x0.dtype, device=x0.device)
    return (1 - s) * x0 + s * noise


def flow_velocity(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The flow-matching target u = dx_σ/dσ = ε - x0 (it does not depend on σ)."""
    return noise - x0


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Shift and scale √ᾱ so the last step is pure noise (SNR_T = 0), keeping √ᾱ_0 (Lin et al. 2023, Alg. 1).

    Most schedules end with ᾱ_T slightly above 0, so training never sees pure noise but sampling starts
    from it; this closes the gap (use it with v_prediction and trailing timesteps).
    """
    root_ab = alpha_bar(betas).sqrt()
    first, last = root_ab[0].clone(), root_ab[-1].clone()
    root_ab = (root_ab - last) * (first / (first - last))  # now root_ab[-1] = 0 and root_ab[0] = first
    ab = root_ab**2
    alphas = torch.cat([ab[:1], ab[1:] / ab[:-1]])  # undo the cumulative product
    return 1 - alphas


def randn_tensor(shape: tuple, generator=None, dtype=torch.float32, device=None) -> torch.Tensor:
    """Standard-normal noise z ~ N(0, I) of `shape`, drawn where its generator lives, then moved to `device`.

    As diffusers' `randn_tensor`: a CPU generator draws on the CPU even for a CUDA sampler (so a seed gives the same
    image on any device), and a list of generators gives one per batch item: sample i comes from generator i, so
    each image of a batch can be reproduced alone. device=None: the generator's device, or the CPU without one.
    """
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise ValueError(
                f"generator: got a list of {len(generator)} generators for a batch of {shape[0]}; pass one generator "
                "per sample, or a single generator for the whole batch."
            )
        parts = [randn_tensor((1, *shape[1:]), g, dtype) for g in generator]  # (1, …) each, on its generator
        return torch.cat([p.to(parts[0].device) for p in parts]).to(device or parts[0].device)
    where = generator.device if generator is not None else (device or "cpu")
    return torch.randn(shape, generator=generator, dtype=dtype, device=where).to(device or where)
