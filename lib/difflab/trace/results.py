"""A finished trace read as tables (text in a terminal, HTML in Jupyter), a summary, and JSON."""

import json

from .ledger import ACTIVATIONS
from .stages import Stage
from .table import Table


def owner_name(owner) -> str:
    """A module path as it is; a stage (the peak happened outside any watched module) by its path."""
    return owner.path if isinstance(owner, Stage) else str(owner)


def tensors_text(tensors) -> str:
    return ", ".join(f"{t['shape']} {t['dtype']}" for t in tensors or [])


def shapes_table(trace) -> Table:
    rows = [
        dict(r, inputs_text=tensors_text(r["inputs"]), outputs_text=tensors_text(r["outputs"]))
        for r in trace.shape_records
    ]
    columns = ["stage", "module", "class", "inputs_text", "outputs_text"]
    if trace.summarised_after is None:
        return Table("Shapes (call order)", columns, rows)
    title = "Shapes (summarised: one row per stage kind, module and shapes; stage = where its first call ran)"
    return Table(title, [*columns, "calls", "last_stage"], rows)


def memory_table(trace) -> Table:
    rows = []
    for s in [trace.root, *trace.stages()]:
        m = s.memory
        if "peak" not in m:  # recorded with memory=False
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
            row.update(cuda_allocated_bytes=m.get("cuda_allocated"), cuda_peak_bytes=m["cuda_peak"])
        rows.append(row)
    columns = ["stage", "weights", "latents", "conditioning", ACTIVATIONS, "peak", "peak_owner"]
    if trace.cuda:
        columns += ["cuda_allocated_bytes", "cuda_peak_bytes"]
    title = "Memory ledger (bytes live at stage end; activations and peak: highest during the stage)"
    return Table(title, columns, rows)


def timings_table(trace) -> Table:
    rows = []
    for s in [trace.root, *trace.stages()]:
        row = {"stage": s.path, "name": s.name, **s.attrs, "wall_ms": s.seconds * 1e3}
        if trace.flop_counter is not None:
            row.update(gflops=s.flops / 1e9, gflop_per_s=s.flops / 1e9 / max(s.seconds, 1e-9))
        rows.append(row)
    columns = ["stage", "wall_ms"] + (["gflops", "gflop_per_s"] if trace.flop_counter is not None else [])
    return Table("Timings" + (" (CUDA-synchronised)" if trace.cuda else ""), columns, rows)


def summarised_note(trace) -> str | None:
    """One line saying that (and when) the trace switched to per-step summaries; None if it kept everything."""
    if trace.summarised_after is None:
        return None
    when = "from the start" if trace.detail == "bounded" else f"after {trace.summarised_after:,} records"
    note = f"Kept per-step summaries {when}; pass detail='full' to keep everything."
    dropped = trace.summaries.dropped if trace.summaries is not None else 0
    if dropped:
        note += f" {dropped:,} calls not listed: their kinds came after the first {len(trace.shape_records):,}."
    return note


def summary_text(trace) -> str:
    parts = [str(timings_table(trace))]
    if trace.ledger is not None:
        parts.append(str(memory_table(trace)))
    if trace.nonfinite:
        parts.append(
            f"Non-finite values first seen in stage {trace.nonfinite['stage']!r}, module {trace.nonfinite['module']!r}"
        )
    note = summarised_note(trace)
    if note:
        parts.append(note)
    return "\n\n".join(parts)


def json_text(trace) -> str:
    return json.dumps(
        {
            "shapes": trace.shape_records,
            "memory": memory_table(trace).to_records(),
            "timings": timings_table(trace).to_records(),
            "weights": trace.weights,
            "nonfinite": trace.nonfinite,
            "summarised_after": trace.summarised_after,
        },
        default=str,
    )
