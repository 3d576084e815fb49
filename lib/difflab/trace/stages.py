"""Stages: named spans that library code marks, and that an active trace records.

    with stage("denoise"):
        for i, t in enumerate(timesteps):
            with stage("step", step=i):
                ...

With no trace active, `stage(...)` returns one shared do-nothing context manager and `tag(...)` returns at
once, so marking library code costs a function call and a list check.

Traces nest: a stage or tag goes to every trace recording in the calling thread, so an outer trace sees all
the stages and an inner one those of its own span. A trace records its own thread only.
"""

import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

ACTIVE: list = []  # the traces recording now, in any thread (innermost last); empty almost always
NOTHING = nullcontext()


def recording_here() -> list:
    """The traces recording in the calling thread, outermost first."""
    me = threading.get_ident()
    return [t for t in ACTIVE if t.thread == me]


@dataclass
class Stage:
    """One recorded span: name, attributes (e.g. step=3), parent, times, and what the instruments measured."""

    name: str
    attrs: dict
    parent: "Stage | None"
    start: float = 0.0  # seconds, time.perf_counter()
    end: float = 0.0
    children: list = field(default_factory=list)
    memory: dict = field(default_factory=dict)  # filled by the memory ledger
    flops: int = 0

    @property
    def label(self) -> str:
        """'step 3' for stage("step", step=3); 'denoise' for stage("denoise")."""
        return " ".join([self.name, *map(str, self.attrs.values())])

    @property
    def path(self) -> str:
        """'run/denoise/step 3', the labels from the root down."""
        return self.label if self.parent is None or self.parent.parent is None else f"{self.parent.path}/{self.label}"

    @property
    def kind(self) -> str:
        """'denoise/step/model': the path by names only, the same for every step (summaries group by it)."""
        return self.name if self.parent is None or self.parent.parent is None else f"{self.parent.kind}/{self.name}"

    @property
    def depth(self) -> int:
        """0 for the trace itself, 1 for top-level stages, 2 for stages inside those, …"""
        return 0 if self.parent is None else self.parent.depth + 1

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def walk(self):
        """This stage and all below it, depth first, in the order they started."""
        yield self
        for child in self.children:
            yield from child.walk()


class StageSpan:
    """The context manager `stage()` returns while traces are active: one Stage in each of them."""

    def __init__(self, traces: list, name: str, attrs: dict):
        self.traces, self.name, self.attrs = traces, name, attrs

    def __enter__(self):
        self.records = []
        for trace in self.traces:  # outermost first
            record = Stage(self.name, self.attrs, trace.current)
            trace.current.children.append(record)
            trace.enter_stage(record)
            self.records.append(record)
            record.start = time.perf_counter()
        return self.records[-1]  # the innermost trace's record

    def __exit__(self, *exc):
        for trace, record in reversed(list(zip(self.traces, self.records))):  # innermost first
            trace.sync()
            record.end = time.perf_counter()
            trace.exit_stage(record)
        return False


def stage(name: str, **attrs):
    """Mark a span of work as a stage of the active traces (a no-op when nothing is tracing)."""
    if not ACTIVE:
        return NOTHING
    traces = recording_here()
    return StageSpan(traces, name, attrs) if traces else NOTHING


def tag(category: str, tensor):
    """Tell the active traces what a tensor is ('latents', 'conditioning'); returns the tensor unchanged."""
    if ACTIVE:
        for trace in recording_here():
            trace.tag(category, tensor)
    return tensor
