"""Checks for lab b10 (end-to-end inference trace): the learner's summary and bottleneck against the library's.

The learner's functions receive plain rows (difflab.trace.trace_rows), never a Trace. The cases are real traces of
a tiny three-model "pipeline" (text encoder, denoiser, decoder: a few Linear layers) run under difflab.trace with
the denoiser offloaded block by block to disk, the same run without the memory ledger, an empty trace, and
hand-written rows with a stage nested inside a stage of its own name. Expected values come from
difflab.trace.report; a wrong answer is named with the usual cause (nested time counted twice, the bytes live at
a stage's end instead of its peak, shares of the wrong total, bytes in MiB, offloads counted as moves, …).
"""

import functools
import math
import tempfile

import torch
from torch import nn

from ..trace.report import bottleneck, summarize_trace, trace_rows
from .core import Lab, Wrong
from .expect import call_keeping_inputs, describe

lab = Lab("b10", "End-to-end inference trace")

SUMMARY_KEYS = ("wall_ms", "stages", "peak_bytes", "bytes_moved")
ENTRY_KEYS = ("calls", "depth", "total_ms", "self_ms", "share", "peak_bytes", "at_peak", "bytes_moved")
BOTTLENECK_KEYS = ("time_stage", "time_share", "memory_stage", "peak_part", "peak_bytes", "reason")


# --- the cases ---------------------------------------------------------------------------------------------------
class TinyDenoiser(nn.Module):
    """Three Linear blocks and an output projection: a ModuleList, so block-level offloading has groups."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(3))
        self.proj_out = nn.Linear(width, width)

    def forward(self, x):
        for block in self.blocks:
            x = x + torch.tanh(block(x))
        return self.proj_out(x)


def tiny_run(offload: bool, memory: bool, steps: int = 3):
    """A traced run shaped like a pipeline's: encode_prompt, denoise/step i/model (two passes)/scheduler, decode."""
    from .. import trace
    from ..offload import apply_group_offloading, remove_group_offloading

    torch.manual_seed(0)
    encoder, denoiser, decoder = nn.Linear(8, 32), TinyDenoiser(), nn.Linear(32, 512)
    models = {"text_encoder": encoder, "transformer": denoiser, "vae": decoder}
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        if offload:
            apply_group_offloading(denoiser, "cpu", "disk", "block_level", 1, offload_to_disk_path=folder)
        with trace(models, memory=memory) as tr, trace.stage("pipeline"):
            with trace.stage("encode_prompt"):
                cond = encoder(torch.randn(2, 8))  # (2, 32): the prompt and the negative prompt
            x = torch.randn(4, 32)
            with trace.stage("denoise"):
                for i in range(steps):
                    with trace.stage("step", step=i):
                        with trace.stage("model"):
                            text, empty = denoiser(x + cond[0]), denoiser(x + cond[1])  # two-pass guidance
                        with trace.stage("scheduler"):
                            x = x - 0.3 * (empty + 4.0 * (text - empty))
            with trace.stage("decode"):
                decoder(x).reshape(4, 8, 8, 8)
        if offload:
            remove_group_offloading(denoiser)
    return trace_rows(tr)


def row(path, name, depth, parent, start, wall, peak, at_peak, end, attrs=None) -> dict:
    return {"path": path, "name": name, "attrs": attrs or {}, "depth": depth, "parent": parent, "start_ms": start,
            "wall_ms": wall, "peak_bytes": peak, "at_peak": at_peak, "end": end, "peak_owner": name}  # fmt: skip


def parts(weights, activations, latents=0) -> dict:
    return {"weights": weights, "latents": latents, "conditioning": 0, "activations": activations}


def nested_rows() -> list[dict]:
    """Hand-written rows: a "block" inside a "block", onloads at two depths, an offload, and a peak owned by a
    stage three levels down whose peak is mostly activations."""
    move = lambda group, n: {"group": group, "route": "disk→cpu", "bytes": n}
    back = lambda group, n: {"group": group, "route": "cpu→disk", "bytes": n}
    return [
        row("trace", "trace", 0, None, 0.0, 100.0, 5000, parts(1000, 4000), parts(0, 600)),
        row("load", "load", 1, 0, 1.0, 10.0, 1500, parts(900, 600), parts(1000, 0)),
        row("load/onload a", "onload", 2, 1, 2.0, 6.0, 1000, parts(1000, 0), parts(1000, 0), move("a", 3000)),
        row("block", "block", 1, 0, 12.0, 60.0, 5000, parts(1000, 4000), parts(1000, 200)),
        row("block/block", "block", 2, 3, 13.0, 40.0, 5000, parts(1000, 4000), parts(3000, 100)),
        row("block/block/attn", "attn", 3, 4, 14.0, 25.0, 5000, parts(1000, 4000), parts(3000, 100)),
        row("block/block/onload b", "onload", 3, 4, 40.0, 5.0, 3000, parts(3000, 0), parts(3000, 0), move("b", 2000)),
        row("block/offload b", "offload", 2, 3, 60.0, 2.0, 3200, parts(3000, 200), parts(2000, 200), back("b", 2000)),
        row("block 2", "block", 1, 0, 75.0, 20.0, 3000, parts(2000, 1000), parts(2000, 600)),
    ]


@functools.cache
def cases() -> tuple:
    """(label, rows) pairs, built once per checker process."""
    from .. import trace

    with trace() as empty_trace:
        pass
    return (
        ("a tiny pipeline run with its denoiser offloaded to disk", tiny_run(offload=True, memory=True)),
        ("the same run traced with memory=False", tiny_run(offload=False, memory=False)),
        ("an empty trace", trace_rows(empty_trace)),
        ("hand-written rows with a 'block' inside a 'block'", nested_rows()),
    )


# --- comparing a summary -----------------------------------------------------------------------------------------
def close(a, b) -> bool:
    return isinstance(a, (int, float)) and not isinstance(a, bool) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def names_rows(rows, name):
    return [r for r in rows if r["name"] == name]


def onload_total(rows, directions=("onload",)) -> int:
    return sum(r["attrs"].get("bytes", 0) for r in rows if r["name"] in directions)


def explain_bytes(got, expected: int, rows, what: str, name=None):
    """A wrong bytes_moved, with the usual causes: another unit, offloads counted too."""
    if expected and any(close(got, expected / unit) for unit in (2**20, 1e6, 2**10, 1e3)):
        raise Wrong(
            f"{what}: got {got!r}, expected {expected} bytes; you converted the unit (MiB, MB, KiB?). Report "
            "bytes, as the rows' attrs['bytes'] do: an int."
        )
    with_offloads = onload_total(rows, ("onload", "offload"))
    if name in (None, "trace") and got == with_offloads != expected:
        raise Wrong(
            f"{what}: got {got}, the onloads and the offloads together; expected {expected}, the onloads alone. "
            "An offload moves nothing: the weights' file already exists, it only drops the copy on the compute tier."
        )
    if name == "offload" and got:
        raise Wrong(
            f"{what}: got {got}, expected 0: an offload moves nothing (it drops the compute-tier copy; the file "
            "was written once when offloading was enabled). Count the bytes of 'onload' rows only."
        )
    raise Wrong(f"{what}: expected {expected} bytes (the 'onload' rows at or below it), got {describe(got)}.")


def check_entry(got: dict, expected: dict, rows, name: str, wall: float, label: str):
    what = f"summarize_trace({label})['stages'][{name!r}]"
    if not isinstance(got, dict) or any(key not in got for key in ENTRY_KEYS):
        raise Wrong(f"{what} should be a dict with {', '.join(ENTRY_KEYS)}; got {describe(got)}.")
    mine = names_rows(rows, name)
    for key in ("calls", "depth"):
        if got[key] != expected[key]:
            raise Wrong(f"{what}[{key!r}]: expected {expected[key]}, got {describe(got[key])}.")
    if not close(got["total_ms"], expected["total_ms"]):
        if close(got["total_ms"], sum(r["wall_ms"] for r in mine)):
            raise Wrong(
                f"{what}['total_ms']: got {got['total_ms']:.6g}, the wall_ms of all its rows; expected "
                f"{expected['total_ms']:.6g}. A '{name}' inside another '{name}' is already in the outer one's wall "
                "time: counting it again counts nested time twice (skip rows where inside_same_name is True)."
            )
        raise Wrong(f"{what}['total_ms']: expected {expected['total_ms']:.6g} ms, got {describe(got['total_ms'])}.")
    if not close(got["self_ms"], expected["self_ms"]):
        if close(got["self_ms"], sum(r["wall_ms"] for r in mine)):
            raise Wrong(
                f"{what}['self_ms']: got {got['self_ms']:.6g}, its wall time; expected {expected['self_ms']:.6g}. A "
                "stage's wall time includes its children's, so summing wall times counts nested stages twice: own "
                "time = wall_ms − the wall_ms of its direct children."
            )
        raise Wrong(f"{what}['self_ms']: expected {expected['self_ms']:.6g} ms, got {describe(got['self_ms'])}.")
    if not close(got["share"], expected["share"]):
        all_walls = sum(r["wall_ms"] for r in rows)
        if close(got["share"] * all_walls, got["self_ms"]) and all_walls != wall:
            raise Wrong(
                f"{what}['share']: got {got['share']:.4g}, a share of {all_walls:.6g} ms, the sum of every row's "
                f"wall_ms: a total that counts nested time several times. Divide by the run's wall time, the root "
                f"row's wall_ms ({wall:.6g} ms): expected {expected['share']:.4g}."
            )
        raise Wrong(
            f"{what}['share']: expected {expected['share']:.6g} (self_ms / the root row's wall_ms, {wall:.6g}), got "
            f"{describe(got['share'])}."
        )
    if got["peak_bytes"] != expected["peak_bytes"]:
        peak = expected["peak_bytes"]
        ends = [sum(r["end"].values()) for r in mine if r["end"] is not None]
        if peak is not None and ends and got["peak_bytes"] == max(ends):
            raise Wrong(
                f"{what}['peak_bytes']: got {got['peak_bytes']}, the bytes live at a row's end (the last sample); "
                f"expected {peak}, the highest peak_bytes: a stage's peak is the most it held at once, usually in the "
                "middle of it, not when it ended."
            )
        if peak is not None and got["peak_bytes"] == mine[-1]["peak_bytes"]:
            raise Wrong(
                f"{what}['peak_bytes']: got {got['peak_bytes']}, the peak of its last row; expected {peak}, the "
                f"highest of its {len(mine)} rows. Keep the largest, not the latest."
            )
        if peak is not None and got["peak_bytes"] == sum(r["peak_bytes"] for r in mine):
            raise Wrong(
                f"{what}['peak_bytes']: got {got['peak_bytes']}, the sum of its rows' peaks; expected {peak}. Peaks "
                "do not add: the steps run one after another and free their memory in between; keep the highest."
            )
        raise Wrong(f"{what}['peak_bytes']: expected {peak}, got {describe(got['peak_bytes'])}.")
    if got["at_peak"] != expected["at_peak"]:
        raise Wrong(
            f"{what}['at_peak']: expected {expected['at_peak']} (the at_peak of its row with the highest peak), "
            f"got {describe(got['at_peak'])}."
        )
    if got["bytes_moved"] != expected["bytes_moved"]:
        explain_bytes(got["bytes_moved"], expected["bytes_moved"], rows, f"{what}['bytes_moved']", name)


def check_summary(got, expected: dict, rows, label: str):
    what = f"summarize_trace({label})"
    if not isinstance(got, dict) or any(key not in got for key in SUMMARY_KEYS):
        raise Wrong(f"{what} should return a dict with {', '.join(SUMMARY_KEYS)}; got {describe(got)}.")
    wall = expected["wall_ms"]
    if not close(got["wall_ms"], wall):
        raise Wrong(f"{what}['wall_ms']: expected {wall:.6g}, the root row's wall_ms; got {describe(got['wall_ms'])}.")
    stages = got["stages"]
    if not isinstance(stages, dict) or list(stages) != list(expected["stages"]):
        shown = list(stages) if isinstance(stages, dict) else describe(stages)
        raise Wrong(
            f"{what}['stages']: expected a dict keyed by stage name {list(expected['stages'])} (every name once, in "
            f"the order the names first appear, the root's 'trace' first), got {shown}."
        )
    for name, entry in expected["stages"].items():
        check_entry(stages[name], entry, rows, name, wall, label)
    if got["peak_bytes"] != expected["peak_bytes"]:
        raise Wrong(
            f"{what}['peak_bytes']: expected {expected['peak_bytes']}, the root row's peak_bytes (the run's peak), "
            f"got {describe(got['peak_bytes'])}."
        )
    if got["bytes_moved"] != expected["bytes_moved"]:
        explain_bytes(got["bytes_moved"], expected["bytes_moved"], rows, f"{what}['bytes_moved']")


@lab.task(
    "summarize_trace",
    hint="own time = row's wall_ms − Σ its children's wall_ms; share = own time / rows[0]['wall_ms']; per name keep "
    "the highest peak_bytes; bytes_moved sums attrs['bytes'] of 'onload' rows.",
)
def check_summarize_trace(m):
    for label, rows in cases():
        got = call_keeping_inputs(m.summarize_trace, {"rows": rows}, f"summarize_trace({label})")
        check_summary(got, summarize_trace(rows), rows, label)


# --- comparing a bottleneck --------------------------------------------------------------------------------------
def check_verdict(got, expected: dict, summary: dict, label: str):
    what = f"bottleneck(summary of {label})"
    if not isinstance(got, dict) or any(key not in got for key in BOTTLENECK_KEYS):
        raise Wrong(f"{what} should return a dict with {', '.join(BOTTLENECK_KEYS)}; got {describe(got)}.")
    stages = summary["stages"]
    if got["time_stage"] != expected["time_stage"]:
        widest = max(stages, key=lambda name: stages[name]["total_ms"])
        if got["time_stage"] == widest:
            raise Wrong(
                f"{what}['time_stage']: got {widest!r}, the largest total_ms; expected {expected['time_stage']!r}, "
                f"the most own time (self_ms). The total_ms of {widest!r} includes every stage inside it, so the "
                "outermost stage always wins on total_ms and says nothing."
            )
        raise Wrong(
            f"{what}['time_stage']: expected {expected['time_stage']!r} (the most self_ms), got "
            f"{describe(got['time_stage'])}."
        )
    if not close(got["time_share"], expected["time_share"]):
        raise Wrong(
            f"{what}['time_share']: expected {expected['time_share']:.6g}, the share of {expected['time_stage']!r}, "
            f"got {describe(got['time_share'])}."
        )
    if got["memory_stage"] != expected["memory_stage"]:
        if expected["memory_stage"] is None:
            raise Wrong(f"{what}['memory_stage']: the run's peak_bytes is None (no memory ledger): expected None.")
        holders = [name for name in stages if stages[name]["peak_bytes"] == summary["peak_bytes"]]
        if got["memory_stage"] in holders:
            raise Wrong(
                f"{what}['memory_stage']: got {got['memory_stage']!r}; {holders} all reached the run's peak, because "
                f"a stage's peak includes its children's. The one that owns it is the innermost, the deepest: "
                f"expected {expected['memory_stage']!r}."
            )
        raise Wrong(
            f"{what}['memory_stage']: expected {expected['memory_stage']!r}, got {describe(got['memory_stage'])}."
        )
    if got["peak_part"] != expected["peak_part"]:
        hint = ""
        if expected["peak_part"] is not None and got["peak_part"] == max(stages[expected["memory_stage"]]["at_peak"]):
            hint = " max(parts) compares the category names; compare their bytes: max(parts, key=parts.get)."
        raise Wrong(
            f"{what}['peak_part']: expected {expected['peak_part']!r}, the category with the most bytes at the peak, "
            f"got {describe(got['peak_part'])}.{hint}"
        )
    if got["peak_bytes"] != expected["peak_bytes"]:
        raise Wrong(f"{what}['peak_bytes']: expected {expected['peak_bytes']}, got {describe(got['peak_bytes'])}.")
    reason = got["reason"]
    named = [n for n in (expected["time_stage"], expected["memory_stage"]) if n is not None]
    if not isinstance(reason, str) or not all(name in reason for name in named):
        raise Wrong(f"{what}['reason'] should be a sentence naming {' and '.join(named)}; got {describe(reason)}.")


@lab.task(
    "bottleneck",
    hint="time: max(stages, key=self_ms); memory: among names whose peak_bytes is the run's, the deepest; the "
    "peak's part: max(parts, key=parts.get).",
)
def check_bottleneck(m):
    for label, rows in cases():
        summary = summarize_trace(rows)
        got = call_keeping_inputs(m.bottleneck, {"summary": summary}, f"bottleneck(summary of {label})")
        check_verdict(got, bottleneck(summary), summary, label)
