"""difflab: learn how image and video diffusion pipelines work by reading and running them.

import difflab
difflab.check("a01")                  # check your starters/a01.py
difflab.show_source(difflab.noise.add_noise)
"""

from . import noise, schedulers, toy, trace
from .device import default_device
from .pretrained import load_judge, load_pipeline
from .sampling import sample_loop, sample_trajectory
from .source import show_source

__version__ = "0.1.0"


def check(lab: str, solutions: bool = False, file=None):
    """Run a lab's checks on your starter file (or the solutions, or any file); shows a report, never raises.

    Your file runs in a process of its own: nothing it does can change, stop or hang this notebook's kernel."""
    try:
        from .exercises import check as run_check  # imported here so `import difflab` stays light
    except BaseException as e:  # a broken install (or Ctrl-C during the import): say so, don't raise
        return f"difflab.check could not load the lab checks: {type(e).__name__}: {e}"
    return run_check(lab, solutions=solutions, file=file)


__all__ = [
    "noise",
    "schedulers",
    "toy",
    "trace",
    "check",
    "show_source",
    "sample_loop",
    "sample_trajectory",
    "default_device",
    "load_pipeline",
    "load_judge",
]
