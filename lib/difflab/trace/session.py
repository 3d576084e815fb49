"""One trace: install the instruments on enter, remove them all on exit (also when the block raises).

Everything a trace learns lives on the Trace object, never on the modules it watches, so traces nest
(`with trace(pipe) as outer: with trace(pipe.unet) as inner:` — the outer sees everything, the inner its
span) and one Trace can be entered again: each `with` records a fresh run, and a `with` inside its own
`with` changes nothing. A trace records the thread that entered it; other threads running the same modules
are not part of its run.
"""

import json
import threading
import time
from contextlib import ExitStack
from typing import NamedTuple

import torch

from . import results
from .ledger import ACTIVATIONS, MemoryLedger, module_weights
from .options import check_options, components_of
from .shapes import ModuleHooks, all_finite, describe, modules_to_watch
from .stages import ACTIVE, Stage, recording_here
from .summaries import SHAPE_RECORDS_KEPT, TIMELINE_KEPT, PeakSamples, ShapeSummaries
from .table import Table

CATEGORIES = ("weights", "latents", "conditioning", ACTIVATIONS)


class Call(NamedTuple):
    """A watched module call that has started and not yet returned."""

    module: torch.nn.Module
    path: str  # 'unet.down_blocks.0.resnets.1.conv1'
    record: dict | None  # its shape record (None with shapes=False)
    stage: Stage  # the stage it was called in
    number: int  # counting every watched call of the run from 0


def fold_cuda_peak():
    """The CUDA allocator keeps one peak counter for the whole process. Hand its value to every stage open in any
    trace, then reset it: a stage's peak is the highest value the counter reached while the stage was open."""
    peak = torch.cuda.max_memory_allocated()
    for trace in ACTIVE:
        for stage in trace.open if trace.cuda else ():
            stage.memory["cuda_peak"] = max(stage.memory.get("cuda_peak", 0), peak)
    torch.cuda.reset_peak_memory_stats()


class Trace:
    """Records stages, shapes, memory and timings of the code run inside `with difflab.trace(...)`.

    detail: 'auto' keeps every shape record and timeline sample until there are 5,000 records or 10,000
    samples, then keeps per-step summaries (see summaries.py); 'bounded' summarises from the start; 'full'
    keeps everything.
    """

    def __init__(
        self,
        model_or_pipeline=None,
        shapes=True,
        memory=True,
        timings=True,
        flops=False,
        modules="leaves",
        check_finite=True,
        detail="auto",
    ):
        switches = dict(shapes=shapes, memory=memory, timings=timings, flops=flops, check_finite=check_finite)
        check_options(modules, detail, switches)
        self.components = components_of(model_or_pipeline)
        self.want, self.modules, self.detail = switches, modules, detail
        self.thread, self.entered = None, 0  # the recording thread; how many `with`s deep it is entered
        self.reset()

    def reset(self):
        """Empty results, ready to record a run."""
        self.root = Stage("trace", {}, None)
        self.current = self.root
        self.open = []  # stages entered and not yet exited, outermost first
        self.calls = []  # the watched module calls running now, outermost first
        self.module_calls = 0  # watched module calls started so far
        self.shape_records, self.timeline, self.nonfinite = [], [], None
        self.summaries = self.samples = None  # a ShapeSummaries and a PeakSamples, once summarising
        self.summarised_after = None  # records kept when the trace switched to summaries (0: from the start)
        self.weights = module_weights(self.components)
        self.ledger = self.flop_counter = None
        self.cuda = False

    # --- entering and leaving -------------------------------------------------------------------------
    def __enter__(self):
        if self.entered:  # a `with` inside its own `with`: it is recording already
            if self.thread != threading.get_ident():
                raise RuntimeError("trace: this Trace is recording in another thread; start one trace per thread.")
            self.entered += 1
            return self
        self.reset()
        self.thread = threading.get_ident()
        self.cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        self.stack = ExitStack()
        ACTIVE.append(self)
        self.stack.callback(ACTIVE.remove, self)
        try:
            watched = modules_to_watch(self.components, self.modules if self.want["shapes"] else "components")
            if watched:
                self.stack.enter_context(ModuleHooks(watched, self.before_module, self.after_module))
            if self.want["flops"]:
                from torch.utils.flop_counter import FlopCounterMode

                self.flop_counter = self.stack.enter_context(FlopCounterMode(display=False))
            if self.want["memory"]:
                self.ledger = MemoryLedger(self.on_memory_change)
                for module in self.components.values():
                    for tensor in [*module.parameters(), *module.buffers()]:
                        self.ledger.track(tensor, "weights")
                self.stack.enter_context(self.ledger)
        except BaseException:
            self.stack.close()
            raise
        if self.detail == "bounded":
            self.summarise()
        self.entered = 1
        self.enter_stage(self.root)
        self.root.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.entered -= 1
        if self.entered:
            return False
        try:
            self.sync()
            self.root.end = time.perf_counter()
            self.exit_stage(self.root)
            if self.samples is not None:
                self.samples.flush()
        finally:
            self.stack.close()  # removes hooks and modes, and takes this trace off the active list
            self.calls.clear()  # calls an exception cut short
        return False

    def sync(self):
        if self.cuda and self.want["timings"]:
            torch.cuda.synchronize()

    def summarise(self):
        """Fold the records kept so far into per-step summaries, and keep only summaries from now on."""
        self.summarised_after = 0 if self.detail == "bounded" else len(self.shape_records) + len(self.timeline)
        running = {id(call.record) for call in self.calls}  # folded when they return
        kinds = {s.path: s.kind for s in self.root.walk()}
        self.summaries = ShapeSummaries(SHAPE_RECORDS_KEPT)
        for number, record in enumerate(self.shape_records):  # with shapes on, record i is call i
            if id(record) not in running:
                self.summaries.add(kinds[record["stage"]], record, number)
        self.samples = PeakSamples(TIMELINE_KEPT, self.timeline)
        self.shape_records, self.timeline = self.summaries.rows, self.samples.samples

    # --- called by stages, hooks and the ledger ---------------------------------------------------------
    def enter_stage(self, record: Stage):
        if self.ledger is not None:
            now = dict(self.ledger.by_category)
            record.memory = {"peak": sum(now.values()), "owner": record, ACTIVATIONS: 0, "start": now, "at_peak": now}
        if self.flop_counter is not None:
            record.flops = -self.flop_counter.get_total_flops()
        if self.cuda:
            fold_cuda_peak()  # into the stages open before this one: what came before `record` is not its peak
            record.memory["cuda_peak"] = torch.cuda.memory_allocated()
        self.current = record
        self.open.append(record)

    def exit_stage(self, record: Stage):
        if self.ledger is not None:
            record.memory["end"] = dict(self.ledger.by_category)
            parent = record.parent.memory if record.parent is not None else None
            if parent and record.memory["peak"] > parent["peak"]:  # a child's peak is its parent's peak too
                parent.update(
                    peak=record.memory["peak"], owner=record.memory["owner"], at_peak=record.memory["at_peak"]
                )
            if parent and record.memory[ACTIVATIONS] > parent[ACTIVATIONS]:
                parent[ACTIVATIONS] = record.memory[ACTIVATIONS]
        if self.flop_counter is not None:
            record.flops += self.flop_counter.get_total_flops()
        if self.cuda:
            fold_cuda_peak()  # `record` and its parents are still open: they get the peak of this last stretch
            record.memory["cuda_allocated"] = torch.cuda.memory_allocated()
        self.open.pop()
        self.current = record.parent or self.root

    def on_memory_change(self, by_category: dict, allocated: bool):
        if self.samples is not None:
            self.samples.add(time.perf_counter(), by_category)
        else:
            self.timeline.append((time.perf_counter(), by_category.copy()))
            if self.detail == "auto" and len(self.timeline) >= TIMELINE_KEPT:
                self.summarise()
        if not allocated:
            return
        # Only the innermost open stage is updated here; exit_stage hands its peak up to the parent.
        memory = self.current.memory
        total = sum(by_category.values())
        if total > memory["peak"]:  # the owner: the innermost watched module running now, else the stage
            memory["peak"] = total
            memory["owner"] = self.calls[-1].path if self.calls else self.current
            memory["at_peak"] = by_category.copy()  # what the peak was made of, category by category
        activations = by_category.get(ACTIVATIONS, 0)
        if activations > memory[ACTIVATIONS]:
            memory[ACTIVATIONS] = activations

    def tag(self, category: str, tensor: torch.Tensor):
        if self.ledger is not None:
            self.ledger.track(tensor, category)
        if self.want["check_finite"] and self.nonfinite is None and not self.all_finite(tensor):
            self.nonfinite = {"stage": self.current.path, "module": None, "tensor": category}

    def all_finite(self, value) -> bool:
        """True if every floating-point tensor in `value` is finite, checked outside every ledger's count (an
        outer trace's ledger would see the check's tensors too)."""
        ledgers = [trace.ledger for trace in recording_here() if trace.ledger is not None]
        for ledger in ledgers:
            ledger.paused = True
        try:
            return all_finite(value)
        finally:
            for ledger in ledgers:
                ledger.paused = False

    def before_module(self, path, module, args, kwargs):
        if threading.get_ident() != self.thread:  # another thread runs the module: not part of this run
            return
        record = None
        if self.want["shapes"]:
            inputs = describe((args, kwargs))
            record = {"stage": self.current.path, "module": path, "class": type(module).__name__, "inputs": inputs}
            record["outputs"] = None  # filled when the call returns; stays None if it raises
            if self.summaries is None:
                self.shape_records.append(record)
        self.calls.append(Call(module, path, record, self.current, self.module_calls))
        self.module_calls += 1
        if self.detail == "auto" and self.summaries is None and len(self.shape_records) >= SHAPE_RECORDS_KEPT:
            self.summarise()

    def after_module(self, path, module, output):
        # Called also when the forward raised (output None). Skip other threads' calls, and a call whose
        # before_module never ran (a global pre-hook raised first): it is not on top of this trace's calls.
        if threading.get_ident() != self.thread or not self.calls or self.calls[-1].module is not module:
            return
        call = self.calls.pop()
        if call.record is not None:
            call.record["outputs"] = None if output is None else describe(output)
            if self.summaries is not None:
                self.summaries.add(call.stage.kind, call.record, call.number)
        if self.want["check_finite"] and self.nonfinite is None and not self.all_finite(output):
            self.nonfinite = {"stage": self.current.path, "module": path, "tensor": "output"}

    # --- results ------------------------------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        """Every recorded stage below the root, in the order they started."""
        return list(self.root.walk())[1:]

    @property
    def shapes(self) -> Table:
        return results.shapes_table(self)

    @property
    def memory(self) -> Table:
        return results.memory_table(self)

    @property
    def timings(self) -> Table:
        return results.timings_table(self)

    @property
    def weight_table(self) -> Table:
        return Table(
            "Weights by component, device and dtype",
            ["component", "device", "dtype", "tensors", "elements", "bytes"],
            self.weights,
        )

    def summary(self) -> str:
        return results.summary_text(self)

    def to_json(self) -> str:
        return results.json_text(self)

    def save_chrome_trace(self, path):
        from .chrome import chrome_trace

        with open(path, "w") as f:
            json.dump(chrome_trace(self), f)
        return path
