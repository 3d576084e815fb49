"""Stages: named spans that library code marks, and that an active trace records.

    with stage("denoise"):
        for i, t in enumerate(timesteps):
            with stage("step", step=i):
                ...

With no trace active, `stage(...)` returns one shared do-nothing context manager and `tag(...)` returns at
once, so marking library code costs a function call and a list check.
"""

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

ACTIVE: list = []  # the traces recording now (innermost last); empty almost always
NOTHING = nullcontext()


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
    """The context manager `stage()` returns while a trace is active."""

    def __init__(self, trace, name: str, attrs: dict):
        self.trace, self.name, self.attrs = trace, name, attrs

    def __enter__(self):
        parent = self.trace.current
        self.record = Stage(self.name, self.attrs, parent)
        parent.children.append(self.record)
        self.trace.enter_stage(self.record)
        self.record.start = time.perf_counter()
        return self.record

    def __exit__(self, *exc):
        self.trace.sync()
        self.record.end = time.perf_counter()
        self.trace.exit_stage(self.record)
        return False


def stage(name: str, **attrs):
    """Mark a span of work as a stage of the active trace (a no-op when nothing is tracing)."""
    if not ACTIVE:
        return NOTHING
    return StageSpan(ACTIVE[-1], name, attrs)


def tag(category: str, tensor):
    """Tell the active trace what a tensor is ('latents', 'conditioning'); returns the tensor unchanged."""
    if ACTIVE:
        ACTIVE[-1].tag(category, tensor)
    return tensor
