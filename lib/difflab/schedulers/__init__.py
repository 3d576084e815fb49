"""Schedulers: one file each, one shared interface (see base.py), and a registry by short name.

from difflab import schedulers
schedulers.names()                       # ['ddpm', 'ddim', 'euler', 'euler_a', 'dpm++', 'unipc', 'flow_euler']
scheduler = schedulers.get("ddim", timestep_spacing="trailing")
"""

from .base import Scheduler, SchedulerConfig, SchedulerOutput
from .ddim import DDIMScheduler
from .ddpm import DDPMScheduler
from .dpm_solver import DPMSolverMultistepScheduler
from .euler import EulerDiscreteScheduler
from .euler_ancestral import EulerAncestralDiscreteScheduler
from .flow_match import FlowMatchEulerDiscreteScheduler
from .unipc import UniPCMultistepScheduler

REGISTRY = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler_a": EulerAncestralDiscreteScheduler,
    "dpm++": DPMSolverMultistepScheduler,
    "unipc": UniPCMultistepScheduler,
    "flow_euler": FlowMatchEulerDiscreteScheduler,
}


# diffusers schedulers a model_index.json may name that difflab does not implement (Stable Diffusion 1.5 ships
# PNDMScheduler): such a folder loads when from_pretrained(scheduler=...) builds one of ours from its config.
NOT_IMPLEMENTED = (
    "PNDMScheduler",
    "LMSDiscreteScheduler",
    "HeunDiscreteScheduler",
    "KDPM2DiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler",
    "DEISMultistepScheduler",
    "DPMSolverSinglestepScheduler",
    "DPMSolverSDEScheduler",
    "LCMScheduler",
    "TCDScheduler",
)


def names() -> list[str]:
    """The short names `get` accepts."""
    return list(REGISTRY)


def by_name(name: str) -> type[Scheduler]:
    """The scheduler class for a short name ('ddim') or class name ('DDIMScheduler')."""
    by_class = {cls.__name__: cls for cls in REGISTRY.values()}
    cls = (REGISTRY.get(name) or by_class.get(name)) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"scheduler: got {name!r}; valid names are {', '.join(REGISTRY)} "
            f"(or the class names {', '.join(by_class)})."
        )
    return cls


def get(name: str, /, **config) -> Scheduler:
    """A scheduler by short name ('ddim') or class name ('DDIMScheduler'), built with `config`."""
    return by_name(name).from_config(config)


__all__ = [
    "Scheduler",
    "SchedulerConfig",
    "SchedulerOutput",
    "DDPMScheduler",
    "DDIMScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "FlowMatchEulerDiscreteScheduler",
    "UniPCMultistepScheduler",
    "NOT_IMPLEMENTED",
    "REGISTRY",
    "by_name",
    "names",
    "get",
]
