"""DDPM: denoising diffusion probabilistic models (Ho, Jain & Abbeel 2020, eq. 6-7 and Algorithm 2).

One ancestral step from timestep t to the previous timestep s in the list (s = t-1 when all T steps are
used), sampling the posterior q(x_s | x_t, x̂0):

    x̂0  = (x_t - √(1-ᾱ_t)·ε̂) / √ᾱ_t                               the model's guess of the clean sample
    α'  = ᾱ_t/ᾱ_s,   β' = 1 - α'                                    one "merged" step of the forward chain
    μ̃   = √ᾱ_s·β'/(1-ᾱ_t) · x̂0 + √α'·(1-ᾱ_s)/(1-ᾱ_t) · x_t       the posterior mean
    x_s = μ̃ + σ·z,   z ~ N(0, I)

with σ² = β̃ = (1-ᾱ_s)/(1-ᾱ_t)·β' (variance_type "fixed_small", the true posterior variance) or σ² = β'
("fixed_large", the upper bound Ho et al. found as good). After the last timestep ᾱ_s = 1: x_s = x̂0.

Differences from diffusers:
- diffusers adds noise on every step whose timestep is above 0, so when the list ends above 0 (leading
  spacing with steps_offset, trailing spacing) its final sample gets noise of variance σ². With
  "fixed_small" that σ is 1e-10 (harmless); with "fixed_large" it is √(1-ᾱ_t). difflab's last step adds
  no noise, as in Algorithm 2 (z = 0 at t = 1).
- diffusers' "fixed_large_log" takes the square root of log β' (a negative number) and returns NaN.
  The "_log" variants are the same variances stored as logarithms (they exist for interpolating learned
  variances), so difflab samples them as "fixed_small" / "fixed_large". For "fixed_small_log" it takes
  σ = exp(½·log β̃) as diffusers does rather than √β̃: the same number in exact arithmetic, but in float32
  the two roundings differ by ~1e-7 per step, which 20 steps grow past a 1e-5 comparison.
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
    threshold_sample,
    timestep_index,
)

VARIANCE_TYPES = ("fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log")


class DDPMScheduler(Scheduler):
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        variance_type: str = "fixed_small",
        clip_sample: bool = True,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        clip_sample_range: float = 1.0,
        sample_max_value: float = 1.0,
        timestep_spacing: str = "leading",
        steps_offset: int = 0,
        rescale_betas_zero_snr: bool = False,
    ):
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})
        if variance_type in ("learned", "learned_range"):
            raise ValueError(
                f"variance_type: got {variance_type!r}, which difflab does not support; difflab's DDPM "
                f"takes the fixed variances {', '.join(map(repr, VARIANCE_TYPES))}. A learned variance "
                "needs a model with twice the output channels (improved DDPM, DeepFloyd IF); pass "
                "variance_type='fixed_small' to sample such a model with its ε̂ channels only."
            )
        check_choice("variance_type", variance_type, VARIANCE_TYPES)
        check_choice("timestep_spacing", timestep_spacing, TIMESTEP_SPACINGS)
        check_choice("prediction_type", prediction_type, noise.PREDICTION_TYPES, "Use the checkpoint's value.")
        self.betas = make_betas(
            num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas, rescale_betas_zero_snr
        )
        self.alphas_cumprod = noise.alpha_bar(self.betas)  # ᾱ_t, shape (T,)

    def set_timesteps(self, num_inference_steps: int, device=None):
        c = self.config
        check_num_inference_steps(num_inference_steps, c.num_train_timesteps)
        N = self.num_inference_steps = num_inference_steps
        self.timesteps = spaced_timesteps(c.timestep_spacing, c.num_train_timesteps, N, c.steps_offset).to(device)

    def previous_alpha_bar(self, timestep) -> torch.Tensor:
        """ᾱ at the timestep after `timestep` in the list, or 1 (the clean sample) after the last one."""
        i = timestep_index(self.timesteps, timestep)
        if i + 1 < len(self.timesteps):
            return self.alphas_cumprod[int(self.timesteps[i + 1])]
        return torch.tensor(1.0)

    def step(
        self,
        model_output: torch.Tensor,
        timestep,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> SchedulerOutput:
        if self.timesteps is None:
            raise RuntimeError("DDPMScheduler.step: call set_timesteps(num_inference_steps) first.")
        ab_t = self.alphas_cumprod[int(timestep)]
        ab_prev = self.previous_alpha_bar(timestep)
        alpha = ab_t / ab_prev  # α' (= α_t when no steps are skipped)
        beta = 1 - alpha  # β'

        x0 = noise.predict_x0(model_output, sample, ab_t, self.config.prediction_type)
        if self.config.thresholding:
            x0 = threshold_sample(x0, self.config.dynamic_thresholding_ratio, self.config.sample_max_value)
        elif self.config.clip_sample:
            x0 = x0.clamp(-self.config.clip_sample_range, self.config.clip_sample_range)

        # μ̃ = √ᾱ_s·β'/(1-ᾱ_t)·x̂0 + √α'·(1-ᾱ_s)/(1-ᾱ_t)·x_t
        x0_coeff = ab_prev.sqrt() * beta / (1 - ab_t)
        sample_coeff = alpha.sqrt() * (1 - ab_prev) / (1 - ab_t)
        mean = x0_coeff * x0 + sample_coeff * sample
        if ab_prev == 1:  # only after the last timestep: land on the clean sample, no noise (z = 0 at t = 1)
            return SchedulerOutput(prev_sample=mean, pred_original_sample=x0)

        if self.config.variance_type.startswith("fixed_small"):
            variance = (1 - ab_prev) / (1 - ab_t) * beta  # β̃, the posterior variance
        else:
            variance = beta  # β', the forward step's variance
        if self.config.variance_type == "fixed_small_log":  # stored as a logarithm: σ = exp(½·log β̃)
            std = torch.exp(0.5 * torch.log(variance.clamp(min=1e-20)))
        else:
            std = variance.sqrt()
        z = noise.randn_tensor(model_output.shape, generator, model_output.dtype, model_output.device)
        return SchedulerOutput(prev_sample=mean + std * z, pred_original_sample=x0)
