"""Flow-matching Euler sampler (rectified flow: Liu et al. 2023; Lipman et al. 2023), as in SD3, FLUX and Wan.

The model predicts the velocity v = dx/dσ = ε - x0 of the straight path x_σ = (1-σ)·x0 + σ·ε, with σ
going from 1 (pure noise) to 0 (data). Sampling integrates dx/dσ = v̂ with Euler steps down the σ list:

    # x_{σ_next} = x_σ + (σ_next - σ)·v̂        σ_next < σ: a step against v̂, towards the data
    # x̂0 = x_σ - σ·v̂                           the same step taken all the way to σ = 0

Timesteps are the floats σ·T (T = num_train_timesteps), not integers. The σ list is even in σ, then shifted
(Esser et al. 2024, SD3):

    # σ' = s·σ / (1 + (s-1)·σ)                  s > 1 keeps σ' high for longer: more steps at high noise

With use_dynamic_shifting (FLUX) the pipeline picks s from the image size and passes μ = log s to
set_timesteps(mu=...) (time_shift_type="linear" takes s = μ). Without it, the smallest σ is shifted
twice (σ_min = shift(1/T) is shifted again with the rest), as in diffusers and SD3's reference code.
"""

import math

import torch

from ..noise import expand_to, flow_interpolate, randn_tensor
from .base import Scheduler, SchedulerOutput, check_choice, check_num_inference_steps, timestep_index

# diffusers fields difflab leaves out: the one value accepted, and what to do instead.
UNSUPPORTED = {
    "invert_sigmas": (False, "Sample with σ running from 1 down to 0, the convention of SD3, FLUX and Wan."),
    "use_karras_sigmas": (False, "Use shift to move steps towards high noise instead."),
    "use_exponential_sigmas": (False, "Use shift to move steps towards high noise instead."),
    "use_beta_sigmas": (False, "Use shift to move steps towards high noise instead."),
}


def shift_sigmas(sigmas, shift: float):
    """σ' = s·σ / (1 + (s-1)·σ): 0 and 1 stay put, and every σ in between rises when s > 1."""
    return shift * sigmas / (1 + (shift - 1) * sigmas)


class FlowMatchEulerDiscreteScheduler(Scheduler):
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        shift: float = 1.0,
        use_dynamic_shifting: bool = False,
        base_shift: float | None = 0.5,
        max_shift: float | None = 1.15,
        base_image_seq_len: int = 256,
        max_image_seq_len: int = 4096,
        invert_sigmas: bool = False,
        shift_terminal: float | None = None,
        use_karras_sigmas: bool = False,
        use_exponential_sigmas: bool = False,
        use_beta_sigmas: bool = False,
        time_shift_type: str = "exponential",
        stochastic_sampling: bool = False,
    ):
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})
        for field, (only, fix) in UNSUPPORTED.items():
            if self.config[field] != only:
                raise ValueError(f"{field}: got {self.config[field]!r}; difflab supports only {only!r}. {fix}")
        check_choice("time_shift_type", time_shift_type, ("exponential", "linear"))
        if not shift > 0:
            raise ValueError(f"shift: got {shift}; valid values are > 0 (1 = no shift; SD3 uses 3.0).")
        self.sigmas = None  # sampling state, set by set_timesteps: σ of each step, then 0

    def set_timesteps(self, num_inference_steps: int, device=None, mu: float | None = None):
        cfg = self.config
        T = cfg.num_train_timesteps
        check_num_inference_steps(num_inference_steps, T)
        if cfg.use_dynamic_shifting:
            if mu is None:
                raise ValueError(
                    "mu: got None but use_dynamic_shifting=True; pass set_timesteps(n, mu=log(shift)), "
                    "with mu chosen from the image size as the FLUX pipeline does."
                )
            shift = math.exp(mu) if cfg.time_shift_type == "exponential" else mu
            sigma_min = torch.tensor(1 / T)  # the smallest σ of the float32 training schedule σ = t/T
        else:
            if mu is not None:
                raise ValueError(
                    f"mu: got {mu} but use_dynamic_shifting=False, so it would be ignored; leave it out "
                    "or build the scheduler with use_dynamic_shifting=True."
                )
            shift = cfg.shift
            sigma_min = shift_sigmas(torch.tensor(1 / T), shift)  # that σ, already shifted once
        sigmas = shift_sigmas(torch.linspace(1.0, sigma_min.item(), num_inference_steps, dtype=torch.float64), shift)
        if cfg.shift_terminal:  # stretch 1-σ so that the last σ lands exactly on shift_terminal (LTX-Video)
            sigmas = 1 - (1 - sigmas) * (1 - cfg.shift_terminal) / (1 - sigmas[-1])
        sigmas = sigmas.float()
        self.timesteps = (sigmas * T).to(device)  # (N,) floats, from ≈T down
        self.sigmas = torch.cat([sigmas, torch.zeros(1)]).to(device)  # (N+1,), ending in 0
        self.num_inference_steps = num_inference_steps

    def _index(self, timestep) -> int:
        if self.sigmas is None:
            raise RuntimeError("FlowMatchEulerDiscreteScheduler: call set_timesteps(num_inference_steps) first.")
        return timestep_index(self.timesteps, timestep)

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, generator=None) -> SchedulerOutput:
        i = self._index(timestep)
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
        x = sample.float()
        x0 = x - sigma * model_output  # x̂0 = x_σ - σ·v̂
        if self.config.stochastic_sampling:  # jump to x̂0, then re-noise to σ_next with fresh noise
            z = randn_tensor(x.shape, generator, x.dtype, x.device)
            prev_sample = flow_interpolate(x0, z, sigma_next)
        else:
            prev_sample = x + (sigma_next - sigma) * model_output  # Euler: x_{σ_next} = x_σ + (σ_next - σ)·v̂
        return SchedulerOutput(prev_sample=prev_sample.to(model_output.dtype), pred_original_sample=x0)

    def scale_noise(self, sample: torch.Tensor, timestep, noise: torch.Tensor) -> torch.Tensor:
        """The forward process x_σ = (1-σ)·x0 + σ·ε at one timestep, or one per sample (B,) (img2img)."""
        sigma = self.sigmas[[self._index(t) for t in torch.as_tensor(timestep).reshape(-1)]]  # (B,) or (1,)
        return flow_interpolate(sample, noise, expand_to(sigma, sample))

    def add_noise(self, original_samples: torch.Tensor, noise_: torch.Tensor, timesteps) -> torch.Tensor:
        """The base class's name for scale_noise, with its argument order."""
        return self.scale_noise(original_samples, timesteps, noise_)
