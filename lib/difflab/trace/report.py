"""A finished trace read as a report: which stage owns the time, which owns the memory peak, what was moved.

    rows = trace_rows(tr)            # plain dicts, one per stage, the root first (what lab b10's checker sends)
    summary = summarize_trace(tr)    # per stage name: calls, inclusive and own time, share, peak, bytes moved
    bottleneck(summary)              # the stage that owns the time, the stage that owns the peak, and why
    print(narrative(tr))             # the same numbers as the paragraph you would say in an interview

Nested time. Stages nest (pipeline → denoise → step 3 → model → onload), so a parent's wall time includes its
children's: adding wall times over all stages counts the same second several times. Each stage's own time is
    self_ms = wall_ms − Σ wall_ms of its direct children,
the time spent in it and in none of its child stages. Own times partition the run, so the shares
(self_ms / the run's wall time) add up to 1 over all stages, the root included: the root's own time is the time
outside every stage. `total_ms` is the inclusive time; a stage inside another stage of the same name is not
counted again (the outer one already holds it).

Memory peaks do not add. A stage's peak is the most bytes live at once while it was open, its children's
included, and four steps with a 10 MiB peak each peak at 10 MiB, not 40. Per name the report keeps the highest
peak and what it was made of (the ledger's categories). The stage that owns the run's peak is the deepest one
that reached it: every stage around it reached the same number.

Bytes moved are the bytes of the "onload" stages: weights brought onto the compute tier (difflab.offload marks
each move as a stage with its group, route and bytes). An "offload" stage moves nothing in difflab: the disk
file is written once when offloading is enabled (the host copy, for a GPU, is made once too), and offloading
only drops the compute-tier copy. So under model offload one generation moves the sum of the models' bytes.
"""

import math

from .ledger import ACTIVATIONS
from .results import owner_name
from .table import human_bytes

CATEGORIES = ("weights", "latents", "conditioning", ACTIVATIONS)
ROW_KEYS = ("path", "name", "attrs", "depth", "parent", "start_ms", "wall_ms", "peak_bytes", "at_peak", "end")
TRANSFERS = ("onload", "offload")  # the stage names difflab.offload gives its moves


# --- the trace as plain rows ---------------------------------------------------------------------------------
def plain_value(value):
    """An attribute value as plain data: numbers, strings, booleans and None as they are, anything else as text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def categories(by_category: dict) -> dict:
    """The ledger's four categories (0 when absent), then any other tag the library used."""
    return {**dict.fromkeys(CATEGORIES, 0), **by_category}


def trace_rows(trace) -> list[dict]:
    """One plain dict per stage of a finished trace, in the order the stages started, the root ("trace") first:

    path        'pipeline TextToVideoPipeline/denoise/step 0': the labels from the root down
    name        'step'               attrs   {'step': 0}; an onload: {'group', 'route', 'bytes'}
    depth       0 for the root, 1 for top-level stages, …
    parent      the index in this list of the stage it ran inside (None for the root)
    start_ms    when it started, milliseconds since the trace began;   wall_ms   how long it ran
    peak_bytes  the most bytes live at once while it was open (children included); None: memory=False
    at_peak     {category: bytes} at that peak;   end   {category: bytes} live when it ended
    peak_owner  the module (or stage) whose allocation reached the peak
    """
    if getattr(trace, "entered", 0):
        raise ValueError("trace: it is still recording; read its rows after its `with` block has ended.")
    stages = [trace.root, *trace.stages()]
    index = {id(s): i for i, s in enumerate(stages)}
    rows = []
    for s in stages:
        memory = s.memory if "peak" in s.memory else None
        rows.append(
            {
                "path": s.path,
                "name": s.name,
                "attrs": {str(k): plain_value(v) for k, v in s.attrs.items()},
                "depth": s.depth,
                "parent": None if s.parent is None else index[id(s.parent)],
                "start_ms": (s.start - trace.root.start) * 1e3,
                "wall_ms": s.seconds * 1e3,
                "peak_bytes": None if memory is None else memory["peak"],
                "at_peak": None if memory is None else categories(memory["at_peak"]),
                "end": None if memory is None else categories(memory.get("end", {})),
                "peak_owner": None if memory is None else owner_name(memory["owner"]),
            }
        )
    return rows


def as_rows(value, argument: str = "trace") -> list[dict]:
    """A Trace's rows, or a list of rows checked against trace_rows' contract; refusals name `argument`."""
    if hasattr(value, "root") and hasattr(value, "stages"):
        return trace_rows(value)
    fix = "pass a finished difflab Trace, or the list difflab.trace.report.trace_rows(trace) returns"
    if not isinstance(value, list) or not value:
        raise ValueError(f"{argument}: got {short(value)}; {fix} (the root row first).")
    for i, row in enumerate(value):
        missing = [key for key in ROW_KEYS if not isinstance(row, dict) or key not in row]
        if missing:
            raise ValueError(f"{argument}[{i}]: got {short(row)}, which lacks {', '.join(missing)}; {fix}.")
        if not isinstance(row["wall_ms"], (int, float)) or not math.isfinite(row["wall_ms"]) or row["wall_ms"] < 0:
            raise ValueError(f"{argument}[{i}]['wall_ms']: got {row['wall_ms']!r}; valid: a finite number ≥ 0 (ms).")
        parent = row["parent"]
        if i == 0 and (parent is not None or row["depth"] != 0):
            raise ValueError(
                f"{argument}[0]: got a stage at depth {row['depth']!r} with parent {parent!r}; the first row is the "
                f"root (depth 0, parent None), whose wall_ms is the run's. {fix}."
            )
        if i > 0 and not (isinstance(parent, int) and 0 <= parent < i):
            raise ValueError(
                f"{argument}[{i}]['parent']: got {parent!r}; valid: the index of an earlier row (0 … {i - 1}), "
                "since a stage starts after the stage it runs inside."
            )
    return value


def short(value, most: int = 80) -> str:
    text = f"{type(value).__name__} {value!r}"
    return text if len(text) <= most else text[: most - 1] + "…"


def inside_same_name(rows: list[dict], i: int) -> bool:
    """Whether row i runs inside another stage of its own name (its time is already in that stage's total)."""
    parent = rows[i]["parent"]
    while parent is not None:
        if rows[parent]["name"] == rows[i]["name"]:
            return True
        parent = rows[parent]["parent"]
    return False


def onloaded_in(rows: list[dict], children: list[list[int]], i: int) -> int:
    """Bytes of the onload stages at row i or below it."""
    own = rows[i]["attrs"].get("bytes", 0) if rows[i]["name"] == "onload" else 0
    return own + sum(onloaded_in(rows, children, c) for c in children[i])


# --- the summary -----------------------------------------------------------------------------------------------
def summarize_trace(trace) -> dict:
    """Where a run's time, memory and transfers went, per stage name. `trace`: a Trace or its trace_rows.

    Returns {"wall_ms": the run's wall time (the root row's),
             "stages": {name: {"calls", "depth", "total_ms", "self_ms", "share", "peak_bytes", "at_peak",
                               "bytes_moved"}} in the order the names first appear, the root's "trace" first,
             "peak_bytes": the run's peak (the root row's; None without the memory ledger),
             "bytes_moved": bytes of every onload of the run}
    Per name: calls = its rows; depth = its first row's; total_ms = Σ wall_ms, skipping rows inside a row of the
    same name; self_ms = Σ (wall_ms − its children's wall_ms); share = self_ms / the run's wall_ms (0.0 if that is
    0), so the shares add up to 1; peak_bytes and at_peak of its row with the highest peak (None without memory);
    bytes_moved = the onload bytes at or below its rows, skipping rows inside a row of the same name.
    """
    rows = as_rows(trace)
    wall = rows[0]["wall_ms"]
    children = [[] for _ in rows]
    for i, row in enumerate(rows[1:], start=1):
        children[row["parent"]].append(i)
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
            entry["bytes_moved"] += onloaded_in(rows, children, i)
        peak = row["peak_bytes"]
        if peak is not None and (entry["peak_bytes"] is None or peak > entry["peak_bytes"]):
            entry["peak_bytes"], entry["at_peak"] = peak, dict(row["at_peak"])
    for entry in stages.values():
        entry["share"] = entry["self_ms"] / wall if wall > 0 else 0.0
    moved = sum(row["attrs"].get("bytes", 0) for row in rows if row["name"] == "onload")
    return {"wall_ms": wall, "stages": stages, "peak_bytes": rows[0]["peak_bytes"], "bytes_moved": moved}


def check_summary(summary):
    if not isinstance(summary, dict) or not {"wall_ms", "stages", "peak_bytes"} <= set(summary):
        raise ValueError(
            f"summary: got {short(summary)}; pass what summarize_trace returns, a dict with 'wall_ms', 'stages' "
            "and 'peak_bytes'."
        )
    if not isinstance(summary["stages"], dict) or not summary["stages"]:
        raise ValueError(
            f"summary['stages']: got {short(summary['stages'])}; it should map each stage name to its entry, the "
            "root's 'trace' at least: summarize_trace(trace)['stages']."
        )


def bottleneck(summary: dict) -> dict:
    """Which stage owns the time and which owns the memory peak, from a summarize_trace summary.

    Returns {"time_stage": the name with the most own time (self_ms; the first of equals), "time_share": its
    share, "memory_stage": the deepest name whose peak_bytes is the run's peak (the first of equals; None without
    memory), "peak_bytes": the run's peak, "peak_part": the category holding the most bytes at that stage's peak,
    "reason": a sentence with the numbers}.
    """
    check_summary(summary)
    stages, wall = summary["stages"], summary["wall_ms"]
    time_stage = max(stages, key=lambda name: stages[name]["self_ms"])
    share = stages[time_stage]["share"]
    reason = (
        f"{time_stage} owns the time: {stages[time_stage]['self_ms']:.1f} ms of its own, {share:.0%} of the "
        f"{wall:.1f} ms run"
    )
    peak, memory_stage, part = summary["peak_bytes"], None, None
    if peak is None:
        reason += "; the memory peak was not measured (traced with memory=False)."
    else:
        holders = [name for name in stages if stages[name]["peak_bytes"] == peak]
        memory_stage = max(holders, key=lambda name: stages[name]["depth"])  # the innermost: the others enclose it
        parts = stages[memory_stage]["at_peak"]
        part = max(parts, key=parts.get)
        reason += f"; {memory_stage} owns the memory peak, {human_bytes(peak)}"
        reason += f", of which {part} {human_bytes(parts[part])} ({parts[part] / peak:.0%})." if peak else "."
    return {"time_stage": time_stage, "time_share": share, "memory_stage": memory_stage, "peak_bytes": peak,
            "peak_part": part, "reason": reason}  # fmt: skip


# --- transfers and the narrative -----------------------------------------------------------------------------
def transfers(trace) -> list[dict]:
    """Every onload and offload of the run, in order: {"direction", "group", "route", "bytes", "during", "start_ms",
    "wall_ms"}, where `during` is the path of the stage the move ran inside (what needed the weights)."""
    rows = as_rows(trace)
    return [
        {
            "direction": row["name"],
            "group": row["attrs"].get("group"),
            "route": row["attrs"].get("route"),
            "bytes": row["attrs"].get("bytes", 0),
            "during": rows[row["parent"]]["path"],
            "start_ms": row["start_ms"],
            "wall_ms": row["wall_ms"],
        }
        for row in rows
        if row["name"] in TRANSFERS
    ]


WHAT = {  # how the narrative names the pipelines' stages
    "trace": "code outside every stage",
    "pipeline": "the pipeline's own glue",
    "encode_prompt": "text encoding",
    "prepare_latents": "drawing the initial noise",
    "denoise": "the loop outside its steps",
    "step": "each step outside its model call and update",
    "model": "the denoiser calls",
    "scheduler": "the scheduler updates",
    "decode": "the VAE decode",
    "onload": "loading weights (onload)",
    "offload": "dropping offloaded weights",
}
ROUTES = {"disk→cpu": "read from disk into RAM", "cpu→cuda": "copied from host memory to the GPU"}


def denoiser_calls(trace) -> float | None:
    """Denoiser calls per 'step' stage, from a Trace's shape records (2 under two-pass guidance, 1 batched or
    unguided); None if unknown."""
    records = getattr(trace, "shape_records", None)
    steps = sum(1 for s in trace.stages() if s.name == "step") if records is not None else 0
    if not steps:
        return None
    calls = sum(r.get("calls", 1) for r in records if r["module"] in ("transformer", "unet"))
    return calls / steps if calls else None


def narrative(trace) -> str:
    """The run told from its own numbers: the time, who owns it, the memory peak and its parts, the transfers."""
    rows = as_rows(trace)
    summary = summarize_trace(rows)
    verdict = bottleneck(summary)
    stages, wall = summary["stages"], summary["wall_ms"]
    ranked = sorted((n for n in stages if stages[n]["share"] >= 0.005), key=lambda n: -stages[n]["self_ms"])
    shares = [f"{WHAT.get(n, repr(n))} {stages[n]['share']:.0%}" for n in ranked[:4]]
    text = [f"The run took {wall / 1e3:.2f} s. By own time, {', '.join(shares)}."]
    if "model" in stages and "step" in stages:
        per_step = stages["model"]["self_ms"] / stages["step"]["calls"]  # own time: an onload inside is not compute
        calls = denoiser_calls(trace) if not isinstance(trace, list) else None
        how = f", {calls:g} denoiser call{'s' if calls != 1 else ''} each" if calls else ""
        text.append(f"The {stages['step']['calls']} denoising steps took {per_step:.0f} ms of model compute each{how}.")
    if verdict["memory_stage"] is not None and summary["peak_bytes"]:
        holders = [row for row in rows if row["peak_bytes"] == summary["peak_bytes"]]
        owner = max(holders, key=lambda row: row["depth"])  # the innermost stage that reached the peak
        parts = owner["at_peak"]
        made_of = ", ".join(f"{c} {human_bytes(b)}" for c, b in sorted(parts.items(), key=lambda p: -p[1]) if b)
        text.append(
            f"The memory peak, {human_bytes(summary['peak_bytes'])}, is reached in {verdict['memory_stage']} "
            f"(allocated by {owner['peak_owner']}): {made_of}."
        )
    moves = [m for m in transfers(rows) if m["direction"] == "onload"]
    if moves:
        seconds = sum(m["wall_ms"] for m in moves)
        routes = sorted({m["route"] for m in moves})
        how = " and ".join(ROUTES.get(r, r) for r in routes)
        shown = [f"{m['group']} {human_bytes(m['bytes'])} in {m['during'].rsplit('/', 1)[-1]}" for m in moves[:3]]
        more = f" and {len(moves) - 3} more" if len(moves) > 3 else ""
        text.append(
            f"{human_bytes(summary['bytes_moved'])} of weights were {how} in {len(moves)} onloads "
            f"({', '.join(shown)}{more}), taking {seconds:.0f} ms, {seconds / wall:.0%} of the run."
        )
        if not any("cuda" in r for r in routes):
            text.append("No GPU transfer was measured: nothing here crossed PCIe, these are RAM↔disk moves.")
    else:
        text.append("No weights moved: nothing was offloaded.")
    return " ".join(text)
