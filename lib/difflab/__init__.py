"""difflab: learn how image and video diffusion pipelines work by reading and running them.

import difflab
difflab.check("a01")                  # check your starters/a01.py
difflab.show_source(difflab.noise.add_noise)
"""

from . import noise, schedulers, toy
from .device import default_device
from .sampling import sample_loop
from .source import show_source

__version__ = "0.1.0"


def check(lab: str, solutions: bool = False, file=None):
    """Run a lab's checks on your starter file (or the solutions, or any file); shows a report, never raises."""
    from .exercises import check as run_check  # imported here so `import difflab` stays light

    return run_check(lab, solutions=solutions, file=file)


__all__ = ["noise", "schedulers", "toy", "check", "show_source", "sample_loop", "default_device"]
