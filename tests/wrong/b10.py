"""Plausible wrong implementations of lab b10's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "summarize_trace",
        'entry["self_ms"] += row["wall_ms"] - sum(rows[c]["wall_ms"] for c in children[i])',
        'entry["self_ms"] += row["wall_ms"]',
        "counts nested stages twice",
    ),
    (
        "summarize_trace",
        'entry["share"] = entry["self_ms"] / wall if wall > 0 else 0.0',
        'entry["share"] = entry["self_ms"] / sum(row["wall_ms"] for row in rows)',
        "the sum of every row's wall_ms",
    ),
    (
        "summarize_trace",
        'peak = row["peak_bytes"]',
        'peak = None if row["end"] is None else sum(row["end"].values())',
        "the bytes live at a row's end",
    ),
    (
        "summarize_trace",
        'if peak is not None and (entry["peak_bytes"] is None or peak > entry["peak_bytes"]):',
        "if peak is not None:",
        "Keep the largest, not the latest",
    ),
    (
        "summarize_trace",
        'moved = sum(row["attrs"]["bytes"] for row in rows if row["name"] == "onload")',
        'moved = sum(row["attrs"]["bytes"] for row in rows if row["name"] == "onload") / 2**20',
        "you converted the unit",
    ),
    (
        "summarize_trace",
        'onloads = [j for j in below(children, i) if rows[j]["name"] == "onload"]',
        'onloads = [j for j in below(children, i) if rows[j]["name"] in ("onload", "offload")]',
        "An offload moves nothing",
    ),
    (
        "summarize_trace",
        "if not inside_same_name(rows, i):",
        "if True:",
        "counting it again counts nested time twice",
    ),
    (
        "bottleneck",
        'time_stage = max(stages, key=lambda name: stages[name]["self_ms"])',
        'time_stage = max(stages, key=lambda name: stages[name]["total_ms"])',
        "the outermost stage always wins",
    ),
    (
        "bottleneck",
        'memory_stage = max(holders, key=lambda name: stages[name]["depth"])',
        "memory_stage = holders[0]",
        "the innermost, the deepest",
    ),
    (
        "bottleneck",
        "part = max(parts, key=parts.get)",
        "part = max(parts)",
        "compares the category names",
    ),
]
