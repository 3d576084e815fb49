"""Lab b08 · Offload / memory saving — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check b08` in a terminal
(or `difflab.check("b08")` in the notebook). Plain Python is all you need. Compare with `ModelOffload` in
lib/difflab/offload/components.py and `plan_groups` in lib/difflab/offload/groups.py once yours pass.
"""


def plan_component_offload(calls: list[str]) -> list[tuple[str, str]]:
    """The moves model offload (pipe.enable_model_cpu_offload) makes during one pipeline call, in order.

    calls: the models in the order the pipeline calls them, one entry per call. shapes-video with one step and
    two-pass guidance calls ["text_encoder", "text_encoder", "transformer", "transformer", "vae"]: the prompt and
    the negative prompt, then the text and the negative pass of the step, then the decode.
    The rules (ModelOffload): every model starts offloaded. Before a call, if its model is not resident, the model
    that is resident (at most one) is offloaded first, then the called model is onloaded; a model that is already
    resident stays, and nothing moves. When the pipeline call ends, the last model leaves too
    (maybe_free_model_hooks).
    Example: plan_component_offload(["text_encoder", "text_encoder", "transformer", "transformer", "vae"]) →
        [("onload", "text_encoder"), ("offload", "text_encoder"), ("onload", "transformer"),
         ("offload", "transformer"), ("onload", "vae"), ("offload", "vae")]
    Returns: a list of (direction, model) tuples, direction "onload" or "offload"; [] for no calls.
    """
    # BEGIN SOLUTION: track the one resident model: a call to another offloads it, then onloads; free the last one
    moves, resident = [], None
    for model in calls:
        if model != resident:
            if resident is not None:
                moves.append(("offload", resident))
            moves.append(("onload", model))
            resident = model
    if resident is not None:
        moves.append(("offload", resident))
    return moves
    # END SOLUTION


def group_blocks(num_blocks: int, num_blocks_per_group: int) -> list[list[int]]:
    """The blocks that block-level group offloading moves together, as diffusers' apply_group_offloading cuts a
    ModuleList of `num_blocks` blocks: runs of `num_blocks_per_group` consecutive blocks, the last run shorter if
    the count does not divide; every block in exactly one group.

    Examples: group_blocks(4, 3) → [[0, 1, 2], [3]];  group_blocks(4, 1) → [[0], [1], [2], [3]].
    num_blocks_per_group must be a positive int: for anything else (0, -1, 1.5) raise ValueError with a message
    that names num_blocks_per_group and the value received, for example
        "num_blocks_per_group: got 0; pass a positive int, the blocks onloaded together (1 keeps the least)."
    Returns: a list of lists of block indices.
    """
    # BEGIN SOLUTION: refuse a non-positive-int count; then a run of k blocks from every k-th start, cut at num_blocks
    if isinstance(num_blocks_per_group, bool) or not isinstance(num_blocks_per_group, int) or num_blocks_per_group < 1:
        raise ValueError(f"num_blocks_per_group: got {num_blocks_per_group!r}; pass a positive int.")
    starts = range(0, num_blocks, num_blocks_per_group)
    return [list(range(start, min(start + num_blocks_per_group, num_blocks))) for start in starts]
    # END SOLUTION


def bytes_moved(strategy: str, group_bytes: list[int], guidance: str) -> dict[str, int]:
    """The bytes that come onto the compute tier (onload) and leave it (offload) during one denoising step after
    the first. (Leaving need not be a copy: when the slow tier kept its own copy, offloading drops the fast one.)

    strategy: "none" (every model resident), "model" (model offload: the denoiser comes in during the first step
        and stays for all of them), "block_level" or "leaf_level" (group offloading of the denoiser), "sequential"
        (leaf-level offloading of every model; inside the loop only the denoiser runs).
    group_bytes: the bytes of each group of the denoiser under that strategy (for "none" and "model", its groups
        as block-level offloading would cut them: they are there, but they do not move). Under group offloading a
        group is onloaded before its first module runs and offloaded after its last, in every call of the
        denoiser; the "rest of the model" group (embeddings, norms) comes in when the model's forward starts and
        leaves when it ends.
    guidance: "none" (one denoiser call per step), "batched" (one call on a batch of two: text and negative
        prompt together), "two-pass" (two calls per step, as shapes-video and diffusers' Wan pipeline do).
    Example: bytes_moved("block_level", [100, 100, 50], "two-pass") → {"onload": 500, "offload": 500}.
    Returns: {"onload": int, "offload": int}.
    """
    # BEGIN SOLUTION: 0 if the denoiser stays; else every group's bytes, each way, once per denoiser call (two-pass: 2)
    if strategy in ("none", "model"):
        return {"onload": 0, "offload": 0}
    calls = 2 if guidance == "two-pass" else 1
    each_way = sum(group_bytes) * calls
    return {"onload": each_way, "offload": each_way}
    # END SOLUTION
