"""Euler: the first-order sampler of Karras et al. 2022 ("EDM", Algorithm 2), run on a DDPM's noise levels.

Euler samplers work in the variance-exploding form of a DDPM: divide x_t by √ᾱ_t and

    x = x_t/√ᾱ_t = x0 + σ·ε,    σ = √((1-ᾱ_t)/ᾱ_t)        (noise.sigmas_from_alpha_bar)

so sampling walks σ down a list σ_0 > σ_1 > … > σ_N = 0 (SD 1.5 starts at σ ≈ 14.6). The probability-flow
ODE is dx/dσ = (x - x̂0)/σ, and one Euler step from σ_i to σ_{i+1} is

    x̂0      = x - σ_i·ε̂                      the model's guess of the clean sample
    d       = (x - x̂0)/σ_i                   the slope dx/dσ (= ε̂)
    x_{i+1} = x + (σ_{i+1} - σ_i)·d

With s_churn > 0 (Algorithm 2) the step first adds fresh noise, climbing from σ to σ̂ = (1+γ)·σ with
γ = min(s_churn/N, √2-1) while s_tmin ≤ σ ≤ s_tmax, then takes the Euler step from σ̂:

    x̂ = x + s_noise·√(σ̂² - σ²)·z,    z ~ N(0, I)

Karras evaluates the model at x̂; in the scheduler interface the model has already seen x, so ε̂ comes
from before the churn (as in diffusers).

The model was trained on x_t, so `scale_model_input` gives it x/√(σ²+1) = x_t. Its timesteps are
fractional with linspace spacing or Karras sigmas (each σ mapped back to t by interpolating log σ).
"""

import torch

from .. import noise
from .base import (
    TIMESTEP_SPACINGS,
    Scheduler,
    SchedulerOutput,
    check_choice,
    check_num_inference_steps,
    make_betas,
    spaced_timesteps,
    timestep_index,
)


def karras_sigmas(sigma_min: float, sigma_max: float, n: int, rho: float = 7.0) -> torch.Tensor:
    """n noise levels from sigma_max down to sigma_min, evenly spaced in σ^(1/ρ) (Karras et al. 2022, eq. 5).

    σ_i = (σ_max^(1/ρ) + i/(n-1)·(σ_min^(1/ρ) - σ_max^(1/ρ)))^ρ; ρ = 7 puts more steps at low noise.
    Returns float64, shape (n,), without the final 0.
    """
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    max_inv_rho, min_inv_rho = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho


def training_sigmas(alphas_cumprod: torch.Tensor, zero_terminal_snr: bool = False) -> torch.Tensor:
    """σ_t for t = 0 … T-1, float32, shape (T,), increasing.

    With zero terminal SNR ᾱ_{T-1} = 0 and σ_{T-1} would be infinite; like diffusers, use ᾱ = 2⁻²⁴ there
    (σ ≈ 4096).
    """
    if zero_terminal_snr:
        alphas_cumprod = alphas_cumprod.clone()
        alphas_cumprod[-1] = 2**-24
    return noise.sigmas_from_alpha_bar(alphas_cumprod)


def float_timesteps(spacing: str, num_train_timesteps: int, num_inference_steps: int, steps_offset: int = 0):
    """base.spaced_timesteps as float32, except that linspace keeps its fractional values (999, 832.5, …)."""
    T, N = num_train_timesteps, num_inference_steps
    if spacing == "linspace":
        return torch.linspace(0, T - 1, N, dtype=torch.float64).flip(0).float()
    return spaced_timesteps(spacing, T, N, steps_offset).float()


def interpolate_sigmas(train_sigmas: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """σ at fractional timesteps: linear between the neighbouring integer timesteps. float64, shape (N,)."""
    s, t = train_sigmas.double(), timesteps.double()
    low = t.floor().long().clamp(max=len(s) - 2)
    return s[low] + (s[low + 1] - s[low]) * (t - low)


def timesteps_from_sigmas(sigmas: torch.Tensor, train_sigmas: torch.Tensor) -> torch.Tensor:
    """The fractional timestep of each σ, interpolating log σ between training timesteps. float32, (N,)."""
    log_train = train_sigmas.double().log()  # (T,), increasing in t
    log_sigma = sigmas.double().clamp(min=1e-10).log()  # (N,)
    low = (torch.searchsorted(log_train, log_sigma, right=True) - 1).clamp(0, len(log_train) - 2)
    w = ((log_train[low] - log_sigma) / (log_train[low] - log_train[low + 1])).clamp(0, 1)
    return (low + w).float()  # t = low + w, w ∈ [0, 1]


def x0_from_sigma_form(model_output: torch.Tensor, x: torch.Tensor, sigma, prediction_type: str):
    """x̂0 for x = x0 + σ·ε from the model's output on x/√(σ²+1) = x_t (noise.predict_x0, ᾱ = 1/(σ²+1))."""
    if prediction_type == "epsilon":  # x̂0 = x - σ·ε̂
        return x - sigma * model_output
    if prediction_type == "v_prediction":  # x̂0 = x/(σ²+1) - σ/√(σ²+1)·v̂
        return model_output * (-sigma / (sigma**2 + 1) ** 0.5) + x / (sigma**2 + 1)
    return model_output  # "sample": the model predicts x̂0 itself


class SigmaScheduler(Scheduler):
    """What Euler-style schedulers share: they walk down `.sigmas` in the form x = x0 + σ·ε.

    Subclasses pass their config (with the DDPM fields, prediction_type and timestep_spacing) to this
    constructor, and fill `.timesteps` (N,) and `.sigmas` (N+1,: one σ per timestep, then the final σ) in
    set_timesteps. The sigmas stay on the CPU: 0-d CPU tensors combine with tensors on any device.
    """

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        check_choice("prediction_type", c.prediction_type, noise.PREDICTION_TYPES, "Use the checkpoint's value.")
        check_choice("timestep_spacing", c.timestep_spacing, TIMESTEP_SPACINGS)
        self.betas = make_betas(
            c.num_train_timesteps, c.beta_start, c.beta_end, c.beta_schedule, c.trained_betas, c.rescale_betas_zero_snr
        )
        self.alphas_cumprod = noise.alpha_bar(self.betas)  # ᾱ_t, shape (T,)
        self.train_sigmas = training_sigmas(self.alphas_cumprod, c.rescale_betas_zero_snr)  # σ_t, shape (T,)
        self.sigmas = None

    def spaced_sigmas(self, num_inference_steps: int):
        """Check and record N; return the config's timesteps (N,) and their σ (N,) from the training sigmas."""
        c = self.config
        check_num_inference_steps(num_inference_steps, c.num_train_timesteps)
        self.num_inference_steps = num_inference_steps
        timesteps = float_timesteps(c.timestep_spacing, c.num_train_timesteps, num_inference_steps, c.steps_offset)
        return timesteps, interpolate_sigmas(self.train_sigmas, timesteps)

    def check_timesteps_set(self):
        if self.sigmas is None:
            raise RuntimeError(f"{type(self).__name__}: call set_timesteps(num_inference_steps) first.")

    def sigma_index(self, timestep) -> int:
        """Position of `timestep` in `.timesteps`, so `.sigmas[i]` is its noise level."""
        self.check_timesteps_set()
        return timestep_index(self.timesteps, timestep)

    @property
    def init_noise_sigma(self) -> float:
        """Std of the starting x: x_T ~ N(0, I) makes x = x_T/√ᾱ have std √(σ_max²+1).

        diffusers uses that with leading spacing, and plain σ_max (EDM's convention) otherwise.
        """
        self.check_timesteps_set()
        sigma_max = self.sigmas.max()
        return float(sigma_max if self.config.timestep_spacing != "leading" else (sigma_max**2 + 1) ** 0.5)

    def scale_model_input(self, sample: torch.Tensor, timestep) -> torch.Tensor:
        """x_t = x/√(σ²+1): the input the DDPM-trained model expects."""
        sigma = self.sigmas[self.sigma_index(timestep)]
        return sample / (sigma**2 + 1) ** 0.5

    def add_noise(self, original_samples: torch.Tensor, noise_: torch.Tensor, timesteps) -> torch.Tensor:
        """x = x0 + σ·ε at these timesteps of `.timesteps` (one per sample): the VE form `step` works in."""
        indices = [self.sigma_index(t) for t in torch.as_tensor(timesteps).reshape(-1)]
        sigma = noise.expand_to(self.sigmas[indices], original_samples)  # (B, 1, 1, 1)
        return original_samples + sigma * noise_


class EulerDiscreteScheduler(SigmaScheduler):
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        prediction_type: str = "epsilon",
        interpolation_type: str = "linear",
        use_karras_sigmas: bool = False,
        use_exponential_sigmas: bool = False,
        use_beta_sigmas: bool = False,
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        timestep_spacing: str = "linspace",
        timestep_type: str = "discrete",
        steps_offset: int = 0,
        rescale_betas_zero_snr: bool = False,
        final_sigmas_type: str = "zero",
    ):
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})
        for field, value in [
            ("use_exponential_sigmas", use_exponential_sigmas),
            ("use_beta_sigmas", use_beta_sigmas),
        ]:
            if value:
                raise ValueError(
                    f"{field}: got {value!r}, which difflab does not support; difflab's Euler spaces sigmas "
                    "like the training timesteps or, with use_karras_sigmas=True, by Karras et al.'s rule. "
                    f"Pass {field}=False (use_karras_sigmas=True also puts more steps at low noise)."
                )
        if interpolation_type != "linear":
            raise ValueError(
                f"interpolation_type: got {interpolation_type!r}, which difflab does not support; difflab's "
                "EulerDiscreteScheduler takes 'linear' (σ interpolated between training timesteps). "
                "Pass interpolation_type='linear'."
            )
        check_choice("timestep_type", timestep_type, ("discrete", "continuous"))
        check_choice("final_sigmas_type", final_sigmas_type, ("zero", "sigma_min"))

    def set_timesteps(self, num_inference_steps: int, device=None):
        c = self.config
        timesteps, sigmas = self.spaced_sigmas(num_inference_steps)  # (N,), (N,)
        if c.use_karras_sigmas:  # same end points, Karras spacing in between
            sigma_min = c.sigma_min if c.sigma_min is not None else sigmas[-1].item()
            sigma_max = c.sigma_max if c.sigma_max is not None else sigmas[0].item()
            sigmas = karras_sigmas(sigma_min, sigma_max, num_inference_steps)
            timesteps = timesteps_from_sigmas(sigmas, self.train_sigmas)
        final_sigma = self.train_sigmas[0] if c.final_sigmas_type == "sigma_min" else 0.0
        self.sigmas = torch.cat([sigmas, torch.tensor([float(final_sigma)], dtype=torch.float64)]).float()
        if c.timestep_type == "continuous" and c.prediction_type == "v_prediction":
            # EDM's c_noise(σ) = ¼·ln σ as the timestep (diffusers does this for v_prediction only)
            timesteps = 0.25 * self.sigmas[:-1].log()
        self.timesteps = timesteps.to(device)

    def step(
        self,
        model_output: torch.Tensor,
        timestep,
        sample: torch.Tensor,
        s_churn: float = 0.0,
        s_tmin: float = 0.0,
        s_tmax: float = float("inf"),
        s_noise: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> SchedulerOutput:
        i = self.sigma_index(timestep)
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
        sample = sample.float()  # step in fp32 even for an fp16 model; cast back at the end

        gamma = min(s_churn / (len(self.sigmas) - 1), 2**0.5 - 1) if s_tmin <= sigma <= s_tmax else 0.0
        sigma_hat = sigma * (gamma + 1)  # σ̂ = (1+γ)·σ
        if gamma > 0:  # x̂ = x + s_noise·√(σ̂² - σ²)·z
            z = noise.randn_tensor(model_output.shape, generator, model_output.dtype, model_output.device)
            sample = sample + z * s_noise * (sigma_hat**2 - sigma**2) ** 0.5

        # ε̂ is read at σ̂ (x̂0 = x̂ - σ̂·ε̂); diffusers reads v̂ at σ, which we match (they agree when γ = 0).
        sigma_read = sigma_hat if self.config.prediction_type == "epsilon" else sigma
        x0 = x0_from_sigma_form(model_output, sample, sigma_read, self.config.prediction_type)
        derivative = (sample - x0) / sigma_hat  # d = dx/dσ at σ̂
        prev_sample = sample + derivative * (sigma_next - sigma_hat)  # x_{i+1} = x̂ + (σ_{i+1} - σ̂)·d
        return SchedulerOutput(prev_sample=prev_sample.to(model_output.dtype), pred_original_sample=x0)
