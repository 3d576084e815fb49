"""The real upstream source, read from the pinned installed packages and shown beside difflab's own.

from difflab import upstream
upstream.source("diffusers.schedulers.scheduling_ddim.DDIMScheduler.step")         a definition, by dotted name
upstream.source("diffsynth.diffusion.flow_match.FlowMatchScheduler.step", start="sigma =", end="return")
upstream.compare(difflab.schedulers.DDIMScheduler.step, snippet,
                 line_map=[("x0 =", "pred_original_sample =", "x̂0 from ε̂")])                  ours beside theirs

Files are read as text (importlib.metadata finds them), never imported; a version other than the pin is an error.
"""

from .compare import Comparison, compare
from .locate import definitions, source
from .render import UpstreamSnippet
from .sources import SOURCES, Source

__all__ = ["source", "compare", "Comparison", "UpstreamSnippet", "definitions", "SOURCES", "Source"]
