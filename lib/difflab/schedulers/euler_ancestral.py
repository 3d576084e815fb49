"""Euler ancestral ("euler_a"): an Euler step down to σ_down, then fresh noise back up to σ_{i+1}.

Same noise levels and VE form x = x0 + σ·ε as Euler (see euler.py). Each step splits the target noise
level σ_{i+1} into a deterministic part σ_down and a random part σ_up, with σ_down² + σ_up² = σ_{i+1}²
(k-diffusion's `get_ancestral_step` with η = 1, the DDPM posterior written in σ):

    σ_up    = √(σ_{i+1}²·(σ_i² - σ_{i+1}²)/σ_i²)
    σ_down  = √(σ_{i+1}² - σ_up²)
    x̂0      = x - σ_i·ε̂
    x_{i+1} = x + (σ_down - σ_i)·(x - x̂0)/σ_i + σ_up·z,    z ~ N(0, I)

The last step has σ_{i+1} = 0, so σ_up = 0 and it lands on x̂0. Every step injects new noise (this
samples the reverse SDE, not the ODE), so the image changes with the generator and with the step count.
"""

import torch

from .. import noise
from .base import SchedulerOutput
from .euler import SigmaScheduler, x0_from_sigma_form


class EulerAncestralDiscreteScheduler(SigmaScheduler):
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        prediction_type: str = "epsilon",
        timestep_spacing: str = "linspace",
        steps_offset: int = 0,
        rescale_betas_zero_snr: bool = False,
    ):
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})

    def set_timesteps(self, num_inference_steps: int, device=None):
        timesteps, sigmas = self.spaced_sigmas(num_inference_steps)  # (N,), (N,)
        self.sigmas = torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)]).float()  # (N+1,), ends in 0
        self.timesteps = timesteps.to(device)

    def step(
        self,
        model_output: torch.Tensor,
        timestep,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> SchedulerOutput:
        i = self.sigma_index(timestep)
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
        sample = sample.float()  # step in fp32 even for an fp16 model; cast back at the end
        x0 = x0_from_sigma_form(model_output, sample, sigma, self.config.prediction_type)

        sigma_up = (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5
        sigma_down = (sigma_next**2 - sigma_up**2) ** 0.5
        derivative = (sample - x0) / sigma  # d = dx/dσ
        prev_sample = sample + derivative * (sigma_down - sigma)  # deterministic Euler step to σ_down
        z = noise.randn_tensor(model_output.shape, generator, model_output.dtype, model_output.device)
        prev_sample = prev_sample + z * sigma_up  # fresh noise back up to σ_{i+1}
        return SchedulerOutput(prev_sample=prev_sample.to(model_output.dtype), pred_original_sample=x0)
