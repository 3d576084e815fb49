"""Checks for lab b08 (offload / memory saving): the learner's plans against difflab.offload running for real.

The expected values are measured, not derived: toy models (a few Linear layers, kilobytes) are offloaded with the
library's own ModelOffload and apply_group_offloading to a temporary folder (the disk tier), called in the order
a pipeline would call them, and the moves are read from the offload ledger.
"""

import functools
import tempfile
from pathlib import Path

import torch
from torch import nn

from ..offload import apply_group_offloading
from ..offload.components import ModelOffload
from ..offload.groups import plan_groups
from .core import Lab, Wrong
from .expect import describe, expect_value_error

lab = Lab("b08", "Offload / memory saving")

WIDTH = 8  # features of the toy models


class ToyBlock(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.up, self.down = nn.Linear(WIDTH, hidden), nn.Linear(hidden, WIDTH)

    def forward(self, x):
        return x + self.down(torch.relu(self.up(x)))


class ToyDenoiser(nn.Module):
    """A transformer's layout in miniature: an input projection, a ModuleList of unequal blocks, a norm, an output."""

    def __init__(self, num_blocks: int = 4):
        super().__init__()
        self.embed = nn.Linear(WIDTH, WIDTH)
        self.blocks = nn.ModuleList(ToyBlock(4 * (i + 1)) for i in range(num_blocks))
        self.norm_out = nn.LayerNorm(WIDTH)
        self.proj_out = nn.Linear(WIDTH, WIDTH)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.proj_out(self.norm_out(x))


# --- plan_component_offload ---------------------------------------------------------------------------------------
CALL_ORDERS = [  # the model calls of one pipeline call
    ["text_encoder", "text_encoder", "transformer", "transformer", "vae"],  # shapes-video, 1 step, two-pass guidance
    ["text_encoder", "text_encoder", *["transformer"] * 6, "vae"],  # 3 steps
    ["text_encoder", "text_encoder", *["transformer"] * 4],  # output_type="latent": the VAE never runs
    ["vae", "text_encoder", "unet", "unet", "unet", "vae"],  # image to image: the VAE encodes, then decodes
    ["transformer"],
    [],
]


def library_moves(calls: list[str]) -> list[tuple[str, str]]:
    """Run ModelOffload on one toy model per name, call them in `calls` order, free at the end: the ledger's moves."""
    torch.manual_seed(0)
    models = {name: nn.Linear(WIDTH, WIDTH) for name in dict.fromkeys(calls)}
    with tempfile.TemporaryDirectory() as folder:
        offload = ModelOffload(models, torch.device("cpu"), "disk", Path(folder))
        with torch.no_grad():
            for name in calls:
                models[name](torch.ones(1, WIDTH))
        offload.free()  # maybe_free_model_hooks, at the end of the pipeline call
        moves = [(direction, name) for name, direction, _, _ in offload.ledger.moves]
        offload.remove()
    return moves


def diagnose_moves(got: list) -> str:
    """Replay the learner's moves and name the first rule they break."""
    resident = []
    for i, (direction, model) in enumerate(got):
        if direction == "onload":
            if model in resident:
                return (
                    f"move {i} onloads {model!r}, which is already resident: a model counted on the compute tier "
                    "twice. A model that is resident stays; nothing moves."
                )
            resident.append(model)
            if len(resident) > 1:
                following = got[i + 1] if i + 1 < len(got) else None
                if following is not None and following[0] == "offload" and following[1] in resident[:-1]:
                    return (
                        f"move {i} onloads {model!r} while {resident[0]!r} is still resident (you offload it only "
                        "after): offload the previous model first, so two models are never on the compute tier "
                        "together and the peak is the largest model, not the sum of two."
                    )
                return (
                    f"after move {i}, {resident} are resident together: the model that ran before must be "
                    f"offloaded when {model!r} comes in (model offload keeps one model at a time)."
                )
        elif direction == "offload":
            if model not in resident:
                return f"move {i} offloads {model!r}, which is not resident: nothing to move."
            resident.remove(model)
            if i + 1 < len(got) and got[i + 1] == ("onload", model):
                return (
                    f"moves {i} and {i + 1} offload {model!r} and onload it again between two of its own calls: a "
                    "model that is already resident stays. This is why model offload moves the denoiser once for "
                    "all its steps, not once per step."
                )
        else:
            return f"move {i} has direction {direction!r}; use 'onload' or 'offload'."
    if resident:
        return (
            f"{resident} still resident when the pipeline call ends: the last model leaves too "
            "(maybe_free_model_hooks), or the VAE keeps its memory between calls."
        )
    return ""


@lab.task(
    "plan_component_offload",
    hint="resident = None; for each call to another model: offload the resident one (if any), then onload the new one "
    "and remember it; after the loop, offload the resident one.",
)
def check_plan_component_offload(m):
    for calls in CALL_ORDERS:
        what = f"plan_component_offload({calls})"
        got = m.plan_component_offload(list(calls))
        expected = library_moves(calls)
        if not isinstance(got, list) or not all(
            isinstance(move, tuple) and len(move) == 2 and all(isinstance(part, str) for part in move) for move in got
        ):
            raise Wrong(
                f"{what} should return a list of (direction, model) tuples of two strings, got {describe(got)}."
            )
        if got == expected:
            continue
        reason = diagnose_moves(got)
        if not reason:
            reason = f"expected {expected}, got {got}."
        raise Wrong(f"{what}: {reason}")


# --- group_blocks ---------------------------------------------------------------------------------------------------
BLOCK_CASES = [(4, 1), (4, 3), (4, 4), (4, 5), (30, 1), (30, 4), (30, 7), (7, 2), (1, 1)]


@functools.cache
def library_block_groups(num_blocks: int, per_group: int) -> list[list[int]]:
    """The block indices in each group plan_groups makes for a toy model with `num_blocks` blocks."""
    model = ToyDenoiser(num_blocks)
    groups = []
    for name, _, tensors in plan_groups(model, "block_level", per_group):
        if name.startswith("blocks."):
            groups.append(sorted({int(key.split(".")[1]) for key in tensors}))
    return groups


@lab.task(
    "group_blocks",
    hint="refuse a count that is not a positive int (ValueError naming num_blocks_per_group); then "
    "[list(range(s, min(s + k, num_blocks))) for s in range(0, num_blocks, k)].",
)
def check_group_blocks(m):
    for num_blocks, per_group in BLOCK_CASES:
        what = f"group_blocks({num_blocks}, {per_group})"
        got = m.group_blocks(num_blocks, per_group)
        expected = library_block_groups(num_blocks, per_group)
        if not isinstance(got, list) or not all(
            isinstance(g, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in g) for g in got
        ):
            raise Wrong(f"{what} should return a list of lists of block indices (ints), got {describe(got)}.")
        if got == expected:
            continue
        flat = [i for g in got for i in g]
        missing = sorted(set(range(num_blocks)) - set(flat))
        extra = sorted(i for i in set(flat) if not 0 <= i < num_blocks)
        twice = sorted({i for i in flat if flat.count(i) > 1})
        if extra:
            raise Wrong(
                f"{what}: got {got}; block(s) {extra} do not exist (there are {num_blocks}, 0 to {num_blocks - 1}): "
                "cut the last group at num_blocks."
            )
        if missing:
            raise Wrong(
                f"{what}: got {got}; block(s) {missing} are in no group, so nothing would ever onload them and their "
                f"forward would read placeholders. {num_blocks} blocks in runs of {per_group} make {len(expected)} "
                "groups, the last one shorter when the count does not divide."
            )
        if twice:
            raise Wrong(
                f"{what}: got {got}; block(s) {twice} are in two groups: each block belongs to exactly one run of "
                f"{per_group} consecutive blocks (starts 0, {per_group}, {2 * per_group}, …), not a sliding window."
            )
        raise Wrong(f"{what}: expected {expected}, got {got}.")
    for bad in (0, -1, 1.5):
        expect_value_error(
            lambda bad=bad: m.group_blocks(4, bad),
            f"group_blocks(4, {bad})",
            ["num_blocks_per_group", str(bad)],
            should_name="num_blocks_per_group and the value received",
            why=f"{bad} blocks per group is not a positive int",
        )


# --- bytes_moved ----------------------------------------------------------------------------------------------------
STRATEGIES = {  # strategy → how the toy denoiser is offloaded, as the pipeline methods / apply_group_offloading would
    "none": None,
    "model": "model",
    "block_level": dict(offload_type="block_level"),  # num_blocks_per_group: library_step's per_group
    "leaf_level": dict(offload_type="leaf_level"),
    "sequential": dict(offload_type="leaf_level"),
}
CALLS_PER_STEP = {"none": 1, "batched": 1, "two-pass": 2}  # denoiser calls per step
BATCH = {"none": 1, "batched": 2, "two-pass": 1}  # the batch of each call: batched guidance doubles it


@functools.cache
def library_step(strategy: str, guidance: str, per_group: int = 3) -> tuple[list[int], dict]:
    """(the toy denoiser's group bytes, bytes moved each way during its second denoising step), measured."""
    torch.manual_seed(0)
    denoiser, text_encoder = ToyDenoiser(4), nn.Linear(WIDTH, WIDTH)
    x = torch.ones(BATCH[guidance], WIDTH)
    plan = STRATEGIES[strategy]
    block_groups = plan_groups(denoiser, "block_level", per_group)
    group_bytes = [
        sum(getattr(owner, attr).nbytes for owner, attr in tensors.values()) for _, _, tensors in block_groups
    ]
    if plan is None:  # nothing is offloaded, nothing moves
        return group_bytes, {"onload": 0, "offload": 0}
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        if plan == "model":
            models = {"text_encoder": text_encoder, "transformer": denoiser}
            offload = ModelOffload(models, torch.device("cpu"), "disk", Path(folder))
            ledger = offload.ledger
        else:
            plan = dict(plan, num_blocks_per_group=per_group) if plan["offload_type"] == "block_level" else plan
            groups = apply_group_offloading(denoiser, "cpu", "disk", offload_to_disk_path=folder, **plan)
            group_bytes = [group.nbytes for group in groups]
            ledger = denoiser._difflab_offload[1]
        text_encoder(x)  # the prompt, before the loop
        for step in range(2):
            if step == 1:
                ledger.moves.clear()  # measure the second step only
            for _ in range(CALLS_PER_STEP[guidance]):
                denoiser(x)
        moved = {d: sum(b for _, direction, b, _ in ledger.moves if direction == d) for d in ("onload", "offload")}
    return group_bytes, moved


@lab.task(
    "bytes_moved",
    hint="0 both ways for 'none' and 'model'; otherwise sum(group_bytes) × calls per step (2 for two-pass, 1 for "
    "batched or no guidance), the same number in each direction.",
)
def check_bytes_moved(m):
    for strategy in STRATEGIES:
        for guidance in CALLS_PER_STEP:
            group_bytes, expected = library_step(strategy, guidance)
            what = f"bytes_moved({strategy!r}, {group_bytes}, {guidance!r})"
            got = m.bytes_moved(strategy, list(group_bytes), guidance)
            if not isinstance(got, dict) or set(got) != {"onload", "offload"}:
                raise Wrong(f"{what} should return a dict with the keys 'onload' and 'offload', got {describe(got)}.")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in got.values()):
                raise Wrong(f"{what} should give ints (bytes), got {got}.")
            if got == expected:
                continue
            raise Wrong(
                f"{what}: expected {expected}, got {got}; {explain_bytes(strategy, guidance, group_bytes, got)}"
            )


def explain_bytes(strategy: str, guidance: str, group_bytes: list[int], got: dict) -> str:
    """The misunderstanding that gives `got`, named."""
    total = sum(group_bytes)
    if strategy == "model" and got["onload"] > 0:
        return (
            "under model offload the denoiser is onloaded once, in the first step, and stays resident for all of them: "
            "a later step moves nothing."
        )
    if strategy == "none":
        return "with no offloading nothing moves."
    calls = CALLS_PER_STEP[guidance]
    if got["onload"] == total * calls and got["offload"] != got["onload"]:
        return (
            "the offload leg is missing or wrong: every group that comes in before it computes leaves after its last "
            "module, in every call, so the offload bytes equal the onload bytes."
        )
    if got["onload"] == total * 2 and guidance == "batched":
        return (
            "batched guidance runs ONE denoiser call on a batch of two (text and negative prompt together): the "
            "activations double, the weights cross once."
        )
    if got["onload"] == total and guidance == "two-pass":
        return (
            "two-pass guidance calls the denoiser twice a step (text, then negative prompt): every group crosses twice."
        )
    if got["onload"] == max(group_bytes) * calls:
        return (
            "that is the largest group, the PEAK on the compute tier (one group at a time); the bytes moved are every "
            "group's, because every group has to be there when it computes."
        )
    if got["onload"] < total * calls:
        return (
            f"{total * calls - got['onload']} bytes short each way: every group moves, the last one ('rest of the "
            "model': embeddings, norms, projections) included."
        )
    return f"under {strategy!r} every group crosses each way once per denoiser call ({calls} per step here)."
