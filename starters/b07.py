"""Lab b07 · VAE encode / decode — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check b07` in a terminal
(or `difflab.check("b07")` in the notebook). Plain Python and torch are all you need. Compare with
`tile_spans`, `ramp` and `temporal_chunks` in lib/difflab/models/wan_vae/tiling.py once yours pass.
"""

import torch


def tile_grid(size: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """The tiles along one axis of length `size`, as diffusers' tiled_decode loops over them: [(start, stop), …].

    A tile starts at every multiple of `stride` below `size` (Python's range(0, size, stride)) and covers
    [start, start + tile), cut at `size`. Keep a last tile even when the one before already reaches the end:
    upstream decodes it too, and the stitch keeps `stride` rows of every tile.
    Examples: tile_grid(48, 32, 16) → [(0, 32), (16, 48), (32, 48)];  tile_grid(8, 32, 16) → [(0, 8)].
    Returns: a list of (int, int) tuples.
    """
    raise NotImplementedError(
        "b07: one (start, stop) per start in range(0, size, stride); stop = start + tile, cut at size"
    )


def blend_weights(overlap: int) -> torch.Tensor:
    """The weight of the later tile (below, or to the right) at each row of an overlap `overlap` rows deep.

    diffusers' blend_v / blend_h fade linearly:  out[y] = a[y] · (1 − w[y]) + b[y] · w[y],  w[y] = y / overlap,
    y = 0 … overlap − 1. So the ramp starts at 0 (the earlier tile alone) and stops one step short of 1; the
    row after the overlap is the later tile alone.
    Example: blend_weights(4) → tensor([0.00, 0.25, 0.50, 0.75]).
    Returns: a float tensor of shape (overlap,).
    """
    raise NotImplementedError("b07: y / overlap for y = 0 … overlap - 1, as a float tensor")


def temporal_chunks(num_frames: int) -> list[int]:
    """How many video frames each call of the Wan VAE's encoder reads, for a clip of `num_frames` frames.

    The first frame is encoded alone (like an image), then 4 frames at a time, so a clip must have 1 + 4n
    frames: temporal_chunks(9) → [1, 4, 4];  temporal_chunks(1) → [1].
    Any other count (2, 8, 0, -3, …) has no such split: raise ValueError with a message that names
    num_frames and the value received, for example
        "num_frames: got 8; the Wan VAE encodes 1 + 4n frames (1, 5, 9, …): trim to 5 or pad to 9."
    Returns: a list of ints.
    """
    raise NotImplementedError("b07: refuse counts that are not 1 + 4n (n ≥ 0), then one 1 and n fours")
