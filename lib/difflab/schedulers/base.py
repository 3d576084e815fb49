"""What every difflab scheduler shares: a frozen config, the step output, and argument checks.

The interface, as in diffusers:

    scheduler = DDIMScheduler(**config)            # or DDIMScheduler.from_config(other.config)
    scheduler.set_timesteps(num_inference_steps)   # fills scheduler.timesteps (and .sigmas where it applies)
    x = noise * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(x, t)
        x = scheduler.step(model(model_input, t), t, x).prev_sample

The config is fixed at construction. `set_timesteps` and `step` change the sampling state (the timestep
list, the step counter, a multistep solver's history), never the config.
"""

import inspect
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .. import noise


class SchedulerConfig(dict):
    """The constructor arguments of a scheduler or model, read-only, readable as `config.num_train_timesteps`."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _readonly(self, *args, **kwargs):
        raise TypeError(
            "a config is read-only (it describes how the object was built); build a new one instead: "
            "type(obj).from_config(obj.config, field=new_value)"
        )

    __setitem__ = __delitem__ = __setattr__ = update = pop = popitem = clear = setdefault = _readonly


@dataclass
class SchedulerOutput:
    """What `step` returns: x_{t-1} and the model's current estimate of the clean sample x̂0."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor | None = None


class Scheduler:
    """Base class: config handling and the defaults of the interface. Subclasses write one step rule."""

    order = 1  # model evaluations one step of the solver uses (Heun would be 2; multistep solvers are 1)

    def __init__(self, **config):
        self.config = SchedulerConfig(config)
        self.ignored_config = {}  # keys from_config received that this scheduler does not use
        self.num_inference_steps = None
        self.timesteps = None

    @classmethod
    def from_config(cls, config: Mapping, **overrides):
        """Build from a config dict (e.g. another scheduler's `.config` or a scheduler_config.json).

        Keys this scheduler does not take (other schedulers' fields, `_class_name`) are set aside in
        `ignored_config`, so schedulers can be swapped on one config. (diffusers keeps them inside the new
        scheduler's config instead, where they survive the next swap.)
        """
        fields = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        merged = {**dict(config), **overrides}
        scheduler = cls(**{k: v for k, v in merged.items() if k in fields})
        scheduler.ignored_config = {k: v for k, v in merged.items() if k not in fields}
        return scheduler

    @property
    def init_noise_sigma(self) -> float:
        """Standard deviation of the starting noise x_T (1 for VP samplers)."""
        return 1.0

    def scale_model_input(self, sample: torch.Tensor, timestep) -> torch.Tensor:
        """Input scaling the model expects at this timestep (identity unless the scheduler says otherwise)."""
        return sample

    def add_noise(self, original_samples: torch.Tensor, noise_: torch.Tensor, timesteps) -> torch.Tensor:
        """The forward process q(x_t | x_0) at these integer timesteps (one per sample), for img2img and training."""
        return noise.add_noise(original_samples, noise_, torch.as_tensor(timesteps), self.alphas_cumprod)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({fields})"


def check_choice(argument: str, value, valid, fix: str = ""):
    """Raise a ValueError naming the argument, the value received and the valid values."""
    if value not in valid:
        raise ValueError(
            f"{argument}: got {value!r}; valid values are {', '.join(map(repr, valid))}." + (f" {fix}" if fix else "")
        )


def check_num_inference_steps(num_inference_steps, num_train_timesteps: int):
    """Sampling needs at least one step and no more steps than the model was trained with."""
    if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int):
        raise TypeError(
            f"num_inference_steps: got {num_inference_steps!r} ({type(num_inference_steps).__name__}); "
            "pass a whole number such as 20."
        )
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(
            f"num_inference_steps: got {num_inference_steps}; valid values are 1 … {num_train_timesteps} "
            f"(num_train_timesteps). Typical values are 20–50."
        )


def timestep_index(timesteps: torch.Tensor, timestep) -> int:
    """Position of `timestep` in the scheduler's timestep list (a clear error if it is not there)."""
    matches = (timesteps == torch.as_tensor(timestep, dtype=timesteps.dtype)).nonzero()
    if len(matches) == 0:
        raise ValueError(
            f"timestep: got {float(timestep)}, which is not in this scheduler's timesteps "
            f"{timesteps[:4].tolist()}…; pass the values of scheduler.timesteps after set_timesteps()."
        )
    return int(matches[0])


def make_betas(
    num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas=None, rescale_betas_zero_snr=False
) -> torch.Tensor:
    """β_1 … β_T from the config fields the DDPM-family schedulers share."""
    if trained_betas is not None:
        betas = torch.tensor(trained_betas, dtype=torch.float32)
    else:
        betas = noise.beta_schedule(beta_schedule, num_train_timesteps, beta_start, beta_end)
    return noise.rescale_zero_terminal_snr(betas) if rescale_betas_zero_snr else betas


def threshold_sample(x0: torch.Tensor, ratio: float, max_value: float) -> torch.Tensor:
    """Dynamic thresholding (Imagen, Saharia et al. 2022): clamp x̂0 to ±s, s = the `ratio` quantile of |x̂0|.

    s is taken per sample, kept in [1, max_value], and x̂0 is divided by s so values stay in [-1, 1].
    """
    flat = x0.reshape(x0.shape[0], -1).abs().float()  # (B, C·H·W)
    s = torch.quantile(flat, ratio, dim=1).clamp(min=1, max=max_value)  # (B,)
    s = noise.expand_to(s, x0)
    return (torch.clamp(x0, -s, s) / s).to(x0.dtype)


TIMESTEP_SPACINGS = ("leading", "trailing", "linspace")


def spaced_timesteps(spacing: str, num_train_timesteps: int, num_inference_steps: int, steps_offset: int = 0):
    """N integer timesteps out of 0 … T-1, descending (Lin et al. 2023, Table 2).

    leading  : 0, T/N, 2T/N, … (+ steps_offset)  → never reaches T-1: sampling starts at a noisy-but-not-pure step
    trailing : T-1, T-1-T/N, …                   → always starts from the last (noisiest) training step
    linspace : evenly spaced from 0 to T-1, rounded
    """
    check_choice("timestep_spacing", spacing, TIMESTEP_SPACINGS, "Use 'trailing' for few-step sampling.")
    T, N = num_train_timesteps, num_inference_steps
    if spacing == "linspace":
        timesteps = torch.linspace(0, T - 1, N, dtype=torch.float64).round()
    elif spacing == "leading":
        timesteps = torch.arange(N, dtype=torch.float64) * (T // N) + steps_offset
    else:
        timesteps = torch.arange(T, 0, -T / N, dtype=torch.float64).round() - 1
    if timesteps.max() > T - 1:
        raise ValueError(
            f"steps_offset: got {steps_offset}, which with leading spacing and num_inference_steps={N} puts the first "
            f"timestep at {int(timesteps.max())}, past the last training step {T - 1}. Use fewer steps, "
            "steps_offset=0, or timestep_spacing='trailing'."
        )
    return timesteps.long().sort(descending=True).values
