"""See every tensor shape, byte and millisecond of a run.

    with difflab.trace(unet) as tr:          # or a pipeline, a dict of modules, or nothing
        images = pipe("a red circle")
    tr.shapes, tr.memory, tr.timings         # tables (text in a terminal, HTML in Jupyter)
    tr.save_chrome_trace("run.json")         # open in Perfetto

Library code marks its stages with `difflab.trace.stage("denoise", step=i)` and names its tensors with
`difflab.trace.tag("latents", x)`; both do nothing when no trace is active.

Traces nest (an outer trace sees everything, an inner one its own span) and never write on the modules they
watch. A long run keeps per-step summaries once it passes 5,000 shape records or 10,000 timeline samples:
`difflab.trace(..., detail="auto" | "full" | "bounded")`, and `tr.summarised_after` says when it switched.
"""

import sys
import types

from .report import bottleneck, narrative, summarize_trace, trace_rows
from .session import Trace
from .stages import stage, tag
from .table import Table, human_bytes


class CallableModule(types.ModuleType):
    """Lets `difflab.trace(...)` start a trace while `difflab.trace.stage` stays a module attribute."""

    def __call__(self, model_or_pipeline=None, **options) -> Trace:
        return Trace(model_or_pipeline, **options)


sys.modules[__name__].__class__ = CallableModule

__all__ = ["Trace", "stage", "tag", "Table", "human_bytes", "summarize_trace", "bottleneck", "narrative", "trace_rows"]
