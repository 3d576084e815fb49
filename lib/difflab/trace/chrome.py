"""Export a trace in the Chrome trace-event format (open it in https://ui.perfetto.dev or chrome://tracing).

Stages become complete events ("ph": "X") on one track, nested by time; the ledger's categories become
counter tracks ("ph": "C"). Times are microseconds from the start of the trace.
"""

from .ledger import ACTIVATIONS
from .results import owner_name


def chrome_trace(trace) -> dict:
    t0 = trace.root.start
    us = lambda seconds: round((seconds - t0) * 1e6, 3)
    events = [{"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "difflab"}}]
    for stage in [trace.root, *trace.stages()]:
        args = {k: str(v) for k, v in stage.attrs.items()}
        if stage.memory:
            args.update(peak_bytes=stage.memory["peak"], peak_owner=owner_name(stage.memory["owner"]))
        events.append(
            {
                "name": stage.label,
                "cat": "stage",
                "ph": "X",
                "pid": 0,
                "tid": 0,
                "ts": us(stage.start),
                "dur": round(stage.seconds * 1e6, 3),
                "args": args,
            }
        )
    for when, by_category in trace.timeline:
        values = {c: by_category.get(c, 0) for c in ("weights", "latents", "conditioning", ACTIVATIONS)}
        events.append({"name": "memory (bytes)", "ph": "C", "pid": 0, "ts": us(when), "args": values})
    return {"traceEvents": events, "displayTimeUnit": "ms"}
