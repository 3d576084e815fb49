"""DDIM: denoising diffusion implicit models (Song, Meng & Ermon 2021, eq. 12 and 16).

One step from timestep t to the previous timestep s in the list:

    x̂0  = (x_t - √(1-ᾱ_t)·ε̂) / √ᾱ_t                          the model's guess of the clean sample
    σ_t = η · √((1-ᾱ_s)/(1-ᾱ_t)) · √(1-ᾱ_t/ᾱ_s)              η = 0: deterministic; η = 1: DDPM-like
    x_s = √ᾱ_s·x̂0 + √(1-ᾱ_s-σ_t²)·ε̂ + σ_t·z                  z ~ N(0, I)

Difference from diffusers: diffusers takes the previous timestep as t - T//N whatever the spacing
(diffusers issues #12633 and #11347), which is not the next entry of the list for "trailing" or
"linspace" spacing when N does not divide T. difflab always steps to the next timestep in its own list.
"""

import torch

from .. import noise
from .base import (
    Scheduler,
    SchedulerOutput,
    check_num_inference_steps,
    make_betas,
    spaced_timesteps,
    threshold_sample,
    timestep_index,
)


class DDIMScheduler(Scheduler):
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        clip_sample: bool = True,
        set_alpha_to_one: bool = True,
        steps_offset: int = 0,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        clip_sample_range: float = 1.0,
        sample_max_value: float = 1.0,
        timestep_spacing: str = "leading",
        rescale_betas_zero_snr: bool = False,
    ):
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})
        self.betas = make_betas(
            num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas, rescale_betas_zero_snr
        )
        self.alphas_cumprod = noise.alpha_bar(self.betas)  # ᾱ_t, shape (T,)
        # ᾱ after the last step: 1 (a clean sample) or, as Stable Diffusion 1.x is configured, ᾱ_0.
        self.final_alpha_cumprod = torch.tensor(1.0) if set_alpha_to_one else self.alphas_cumprod[0]
        noise.predict_x0(torch.zeros(1), torch.zeros(1), 0.5, prediction_type)  # validates prediction_type

    def set_timesteps(self, num_inference_steps: int, device=None):
        check_num_inference_steps(num_inference_steps, self.config.num_train_timesteps)
        self.num_inference_steps = num_inference_steps
        self.timesteps = spaced_timesteps(
            self.config.timestep_spacing,
            self.config.num_train_timesteps,
            num_inference_steps,
            self.config.steps_offset,
        ).to(device)

    def previous_alpha_bar(self, timestep) -> torch.Tensor:
        """ᾱ at the timestep after `timestep` in the list, or final_alpha_cumprod after the last one."""
        i = timestep_index(self.timesteps, timestep)
        if i + 1 < len(self.timesteps):
            return self.alphas_cumprod[self.timesteps[i + 1]]
        return self.final_alpha_cumprod

    def step(
        self,
        model_output: torch.Tensor,
        timestep,
        sample: torch.Tensor,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        variance_noise: torch.Tensor | None = None,
    ) -> SchedulerOutput:
        if self.timesteps is None:
            raise RuntimeError("DDIMScheduler.step: call set_timesteps(num_inference_steps) first.")
        if eta < 0:
            raise ValueError(f"eta: got {eta}; valid values are ≥ 0 (0 = deterministic DDIM, 1 = DDPM-like).")
        ab_t = self.alphas_cumprod[int(timestep)]
        ab_prev = self.previous_alpha_bar(timestep)

        x0 = noise.predict_x0(model_output, sample, ab_t, self.config.prediction_type)
        if self.config.thresholding:
            x0 = threshold_sample(x0, self.config.dynamic_thresholding_ratio, self.config.sample_max_value)
        elif self.config.clip_sample:
            x0 = x0.clamp(-self.config.clip_sample_range, self.config.clip_sample_range)
        # ε̂ comes from the raw model output, not from the clipped x̂0 (diffusers' use_clipped_model_output=False).
        eps = noise.predict_eps(model_output, sample, ab_t, self.config.prediction_type)

        variance = (1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)
        std_dev = eta * variance.sqrt()  # σ_t(η)
        prev_sample = ab_prev.sqrt() * x0 + (1 - ab_prev - std_dev**2).sqrt() * eps
        if eta > 0:
            if variance_noise is None:
                variance_noise = noise.randn_tensor(
                    model_output.shape, generator, model_output.dtype, model_output.device
                )
            prev_sample = prev_sample + std_dev * variance_noise
        return SchedulerOutput(prev_sample=prev_sample, pred_original_sample=x0)
