"""Schedulers: one file each, one shared interface (see base.py), and a registry by short name.

from difflab import schedulers
schedulers.names()                       # ['ddpm', 'ddim', 'euler', 'euler_a', 'dpm++', 'flow_euler']
scheduler = schedulers.get("ddim", timestep_spacing="trailing")
"""

from .base import Scheduler, SchedulerConfig, SchedulerOutput
from .ddim import DDIMScheduler
from .ddpm import DDPMScheduler
from .dpm_solver import DPMSolverMultistepScheduler
from .euler import EulerDiscreteScheduler
from .euler_ancestral import EulerAncestralDiscreteScheduler
from .flow_match import FlowMatchEulerDiscreteScheduler

REGISTRY = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler_a": EulerAncestralDiscreteScheduler,
    "dpm++": DPMSolverMultistepScheduler,
    "flow_euler": FlowMatchEulerDiscreteScheduler,
}


def names() -> list[str]:
    """The short names `get` accepts."""
    return list(REGISTRY)


def get(name: str, **config) -> Scheduler:
    """A scheduler by short name ('ddim') or class name ('DDIMScheduler'), built with `config`."""
    by_class = {cls.__name__: cls for cls in REGISTRY.values()}
    cls = REGISTRY.get(name) or by_class.get(name)
    if cls is None:
        raise ValueError(
            f"scheduler name: got {name!r}; valid names are {', '.join(REGISTRY)} "
            f"(or the class names {', '.join(by_class)})."
        )
    return cls.from_config(config)


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
    "REGISTRY",
    "names",
    "get",
]
