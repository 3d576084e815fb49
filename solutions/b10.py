"""Lab b10 · End-to-end inference trace — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check b10` in a terminal
(or `difflab.check("b10")` in the notebook). Plain Python is all you need: the checker sends you a trace as
plain rows, never a Trace object. Compare with `summarize_trace` and `bottleneck` in
lib/difflab/trace/report.py once yours pass.

The rows are what `difflab.trace.trace_rows(tr)` returns: one dict per stage, in the order the stages started,
the root first. A row of the video pipeline under model offload:

    {"path": "pipeline TextToVideoPipeline/denoise/step 0/model", "name": "model", "attrs": {},
     "depth": 4, "parent": 5,              # the index of the row of the stage it ran inside (None for the root)
     "start_ms": 104.2, "wall_ms": 84.6,   # milliseconds
     "peak_bytes": 11252764,               # the most bytes live at once while it was open, children included
     "at_peak": {"weights": 8682496, "latents": 12288, "conditioning": 262144, "activations": 2295836},
     "end": {"weights": 8682496, "latents": 12288, "conditioning": 262144, "activations": 557340},
     "peak_owner": "transformer.blocks.0.attn2.norm_k"}

The root row is named "trace" (depth 0); its wall_ms is the whole run. An onload or offload stage has attrs
{"group": "vae", "route": "disk→cpu", "bytes": 10311948}. Traced with memory=False, peak_bytes, at_peak and end
are None. The helpers below are given: they read the nesting for you.
"""


def children_of(rows: list[dict]) -> list[list[int]]:
    """children_of(rows)[i]: the indices of the rows whose stage ran directly inside row i's stage."""
    children = [[] for _ in rows]
    for i, row in enumerate(rows[1:], start=1):
        children[row["parent"]].append(i)
    return children


def below(children: list[list[int]], i: int) -> list[int]:
    """Row i and every row nested inside it, at any depth."""
    return [i, *(j for child in children[i] for j in below(children, child))]


def inside_same_name(rows: list[dict], i: int) -> bool:
    """Whether row i's stage ran inside another stage of the same name (a "block" inside a "block")."""
    parent = rows[i]["parent"]
    while parent is not None:
        if rows[parent]["name"] == rows[i]["name"]:
            return True
        parent = rows[parent]["parent"]
    return False


def summarize_trace(rows: list[dict]) -> dict:
    """Where the run's time, memory and transfers went, per stage name.

    Returns {"wall_ms": the run's wall time (the root row's wall_ms),
             "stages": {name: entry, …} with one entry per stage name, in the order the names first appear,
             "peak_bytes": the run's peak (the root row's peak_bytes, None without memory),
             "bytes_moved": the bytes of every "onload" row of the run (an int)}
    and each entry is a dict:
        calls        how many rows have this name
        depth        the depth of its first row
        total_ms     Σ wall_ms of its rows, skipping rows inside a row of the same name (already counted there)
        self_ms      Σ over its rows of wall_ms − the wall_ms of that row's children: its own time
        share        self_ms / the run's wall_ms (0.0 if that is 0). Own times never overlap, so the shares of
                     all names, "trace" included, add up to 1.
        peak_bytes   the highest peak_bytes of its rows (None without memory); peaks do not add up
        at_peak      that row's at_peak (a copy), None without memory
        bytes_moved  the bytes of the "onload" rows at or below its rows (skipping rows inside a row of the same
                     name), in bytes. An "offload" moves nothing: it only drops the copy on the compute tier.
    Example: a root of 10 ms holding one "decode" of 6 ms gives stages "trace" (self 4 ms, share 0.4) and
    "decode" (self 6 ms, share 0.6).
    """
    # BEGIN SOLUTION: own time = wall − children's wall; shares of the root's wall_ms; highest peak; onload bytes
    wall = rows[0]["wall_ms"]
    children = children_of(rows)
    stages = {}
    for i, row in enumerate(rows):
        entry = stages.setdefault(
            row["name"],
            {"calls": 0, "depth": row["depth"], "total_ms": 0.0, "self_ms": 0.0, "share": 0.0,
             "peak_bytes": None, "at_peak": None, "bytes_moved": 0},
        )  # fmt: skip
        entry["calls"] += 1
        entry["self_ms"] += row["wall_ms"] - sum(rows[c]["wall_ms"] for c in children[i])
        if not inside_same_name(rows, i):
            entry["total_ms"] += row["wall_ms"]
            onloads = [j for j in below(children, i) if rows[j]["name"] == "onload"]
            entry["bytes_moved"] += sum(rows[j]["attrs"]["bytes"] for j in onloads)
        peak = row["peak_bytes"]
        if peak is not None and (entry["peak_bytes"] is None or peak > entry["peak_bytes"]):
            entry["peak_bytes"], entry["at_peak"] = peak, dict(row["at_peak"])
    for entry in stages.values():
        entry["share"] = entry["self_ms"] / wall if wall > 0 else 0.0
    moved = sum(row["attrs"]["bytes"] for row in rows if row["name"] == "onload")
    return {"wall_ms": wall, "stages": stages, "peak_bytes": rows[0]["peak_bytes"], "bytes_moved": moved}
    # END SOLUTION


def bottleneck(summary: dict) -> dict:
    """Which stage owns the time and which owns the memory peak, read from a summarize_trace summary.

    Returns {"time_stage": the name with the most own time (self_ms; the first of equals),
             "time_share": that name's share,
             "memory_stage": the deepest name whose peak_bytes equals the run's peak (the first of equals): every
                             stage around it reached the same number, so the deepest is where it happened.
                             None when the run's peak_bytes is None,
             "peak_part": the category holding the most bytes in that name's at_peak (None without memory),
             "peak_bytes": the run's peak_bytes,
             "reason": a sentence that names time_stage and memory_stage and says why, with the numbers}
    """
    # BEGIN SOLUTION: most self_ms; the deepest name holding the run's peak; its biggest category at the peak
    stages = summary["stages"]
    time_stage = max(stages, key=lambda name: stages[name]["self_ms"])
    share = stages[time_stage]["share"]
    reason = f"{time_stage} owns {share:.0%} of the {summary['wall_ms']:.1f} ms run in its own time"
    peak, memory_stage, part = summary["peak_bytes"], None, None
    if peak is not None:
        holders = [name for name in stages if stages[name]["peak_bytes"] == peak]
        memory_stage = max(holders, key=lambda name: stages[name]["depth"])
        parts = stages[memory_stage]["at_peak"]
        part = max(parts, key=parts.get)
        reason += f"; {memory_stage} owns the {peak:,} B peak, mostly {part} ({parts[part]:,} B)"
    return {"time_stage": time_stage, "time_share": share, "memory_stage": memory_stage, "peak_part": part,
            "peak_bytes": peak, "reason": reason}  # fmt: skip
    # END SOLUTION
