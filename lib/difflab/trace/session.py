"""One trace: install the instruments on enter, remove them all on exit (also when the block raises)."""

import json
import time
from contextlib import ExitStack

import torch

from .ledger import ACTIVATIONS, MemoryLedger, module_weights
from .shapes import ModuleHooks, all_finite, describe, modules_to_watch
from .stages import ACTIVE, Stage
from .table import Table

CATEGORIES = ("weights", "latents", "conditioning", ACTIVATIONS)


def components_of(target) -> dict:
    """Named modules to watch: a pipeline's components, a dict of modules, or one module."""
    if target is None:
        return {}
    if isinstance(target, torch.nn.Module):
        return {type(target).__name__: target}
    items = target.components.items() if hasattr(target, "components") else dict(target).items()
    return {name: module for name, module in items if isinstance(module, torch.nn.Module)}


def owner_name(owner) -> str:
    """A module path as it is; a stage (the peak happened outside any watched module) by its path."""
    return owner.path if isinstance(owner, Stage) else str(owner)


class Trace:
    def __init__(
        self,
        model_or_pipeline=None,
        shapes=True,
        memory=True,
        timings=True,
        flops=False,
        modules="leaves",
        check_finite=True,
    ):
        if modules not in ("components", "leaves", "all"):
            raise ValueError(f"modules: got {modules!r}; valid values are 'components', 'leaves', 'all'.")
        self.components = components_of(model_or_pipeline)
        self.want = dict(shapes=shapes, memory=memory, timings=timings, flops=flops, check_finite=check_finite)
        self.modules = modules
        self.root = Stage("trace", {}, None)
        self.current = self.root
        self.open = []  # stages entered and not yet exited, outermost first
        self.module_stack = []  # paths of the watched modules running now
        self.shape_records, self.timeline, self.nonfinite = [], [], None
        self.weights = module_weights(self.components)
        self.ledger = self.flop_counter = None
        self.cuda = False

    # --- entering and leaving -------------------------------------------------------------------------
    def __enter__(self):
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
        self.enter_stage(self.root)
        self.root.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        try:
            self.sync()
            self.root.end = time.perf_counter()
            self.exit_stage(self.root)
        finally:
            self.stack.close()  # removes hooks and modes, and takes this trace off the active list
        return False

    def sync(self):
        if self.cuda and self.want["timings"]:
            torch.cuda.synchronize()

    # --- called by stages, hooks and the ledger ---------------------------------------------------------
    def enter_stage(self, record: Stage):
        self.current = record
        self.open.append(record)
        if self.ledger is not None:
            now = dict(self.ledger.by_category)
            record.memory = {"peak": sum(now.values()), "owner": record, ACTIVATIONS: 0, "start": now, "at_peak": now}
        if self.flop_counter is not None:
            record.flops = -self.flop_counter.get_total_flops()
        if self.cuda:
            record.memory["cuda_peak_before"] = torch.cuda.max_memory_allocated()
            torch.cuda.reset_peak_memory_stats()

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
            peak = torch.cuda.max_memory_allocated()
            record.memory.update(cuda_allocated=torch.cuda.memory_allocated(), cuda_peak=peak)
            if record.parent is not None:  # the parent's peak so far includes this child's
                parent = record.parent.memory
                parent["cuda_peak_before"] = max(parent.get("cuda_peak_before", 0), peak)
            record.memory["cuda_peak"] = max(peak, record.memory.pop("cuda_peak_before"))
        self.open.pop()
        self.current = record.parent or self.root

    def on_memory_change(self, by_category: dict, allocated: bool):
        self.timeline.append((time.perf_counter(), by_category.copy()))
        if not allocated:
            return
        # Only the innermost open stage is updated here; exit_stage hands its peak up to the parent.
        memory = self.current.memory
        total = sum(by_category.values())
        if total > memory["peak"]:  # the owner: the innermost watched module running now, else the stage
            memory["peak"] = total
            memory["owner"] = self.module_stack[-1] if self.module_stack else self.current
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
        """True if every floating-point tensor in `value` is finite (checked outside the ledger's count)."""
        if self.ledger is not None:
            self.ledger.paused = True
        try:
            return all_finite(value)
        finally:
            if self.ledger is not None:
                self.ledger.paused = False

    def before_module(self, path, module, args, kwargs):
        self.module_stack.append(path)
        if self.want["shapes"]:
            self.shape_records.append(
                {
                    "stage": self.current.path,
                    "module": path,
                    "class": type(module).__name__,
                    "inputs": describe((args, kwargs)),
                    "outputs": None,
                }
            )
            module._difflab_shape_record = len(self.shape_records) - 1

    def after_module(self, path, module, output):
        if self.module_stack and self.module_stack[-1] == path:
            self.module_stack.pop()
        if self.want["shapes"]:
            self.shape_records[module.__dict__.pop("_difflab_shape_record")]["outputs"] = describe(output)
        if self.want["check_finite"] and self.nonfinite is None and not self.all_finite(output):
            self.nonfinite = {"stage": self.current.path, "module": path, "tensor": "output"}

    # --- results ------------------------------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        """Every recorded stage below the root, in the order they started."""
        return list(self.root.walk())[1:]

    @property
    def shapes(self) -> Table:
        fmt = lambda ts: ", ".join(f"{t['shape']} {t['dtype']}" for t in ts or [])
        rows = [dict(r, inputs_text=fmt(r["inputs"]), outputs_text=fmt(r["outputs"])) for r in self.shape_records]
        return Table("Shapes (call order)", ["stage", "module", "class", "inputs_text", "outputs_text"], rows)

    @property
    def memory(self) -> Table:
        rows = []
        for s in [self.root, *self.stages()]:
            m = s.memory
            if not m:
                continue
            end = m.get("end", {})
            row = {
                "stage": s.path,
                "weights": end.get("weights", 0),
                "latents": end.get("latents", 0),
                "conditioning": end.get("conditioning", 0),
                ACTIVATIONS: m[ACTIVATIONS],
                "peak": m["peak"],
                "peak_owner": owner_name(m["owner"]),
            }
            if "cuda_peak" in m:
                row.update(cuda_allocated_bytes=m["cuda_allocated"], cuda_peak_bytes=m["cuda_peak"])
            rows.append(row)
        columns = ["stage", "weights", "latents", "conditioning", ACTIVATIONS, "peak", "peak_owner"]
        if self.cuda:
            columns += ["cuda_allocated_bytes", "cuda_peak_bytes"]
        return Table(
            "Memory ledger (bytes live at stage end; activations and peak: highest during the stage)", columns, rows
        )

    @property
    def timings(self) -> Table:
        rows = []
        for s in [self.root, *self.stages()]:
            row = {"stage": s.path, "name": s.name, **s.attrs, "wall_ms": s.seconds * 1e3}
            if self.flop_counter is not None:
                row.update(gflops=s.flops / 1e9, gflop_per_s=s.flops / 1e9 / max(s.seconds, 1e-9))
            rows.append(row)
        columns = ["stage", "wall_ms"] + (["gflops", "gflop_per_s"] if self.flop_counter is not None else [])
        return Table("Timings" + (" (CUDA-synchronised)" if self.cuda else ""), columns, rows)

    @property
    def weight_table(self) -> Table:
        return Table(
            "Weights by component, device and dtype",
            ["component", "device", "dtype", "tensors", "elements", "bytes"],
            self.weights,
        )

    def summary(self) -> str:
        parts = [str(self.timings)]
        if self.ledger is not None:
            parts.append(str(self.memory))
        if self.nonfinite:
            parts.append(
                f"Non-finite values first seen in stage {self.nonfinite['stage']!r}, "
                f"module {self.nonfinite['module']!r}"
            )
        return "\n\n".join(parts)

    def to_json(self) -> str:
        return json.dumps(
            {
                "shapes": self.shape_records,
                "memory": self.memory.to_records(),
                "timings": self.timings.to_records(),
                "weights": self.weights,
                "nonfinite": self.nonfinite,
            },
            default=str,
        )

    def save_chrome_trace(self, path):
        from .chrome import chrome_trace

        with open(path, "w") as f:
            json.dump(chrome_trace(self), f)
        return path
