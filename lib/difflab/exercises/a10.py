"""Checks for lab a10 (memory optimisation): sliced and chunked attention, and the 2-D tile blend, against the library.

The checks compare values. They cannot see how much memory the learner's code holds (it runs in a process of
its own); the notebook's memory ledger is where the peaks are measured, on the library's versions.
"""

import torch

from ..models.attention_dispatch import chunked_attention, sliced_attention
from ..models.wan_vae.tiling import blend_h, blend_v, stitch, tile_spans
from .core import Lab, Wrong
from .expect import call_keeping_inputs, describe, expect_tensor

lab = Lab("a10", "Memory optimisation")

TOLERANCE = 1e-5
SLICE_CASES = [  # (B, heads, N, M, d, slice_size): 6 pairs unless said
    (2, 3, 5, 7, 4, 1),  # one pair at a time: diffusers' slice_size "max"
    (2, 3, 5, 7, 4, 4),  # 6 pairs in slices of 4: the last slice has 2
    (2, 3, 6, 6, 8, 2),  # self-attention, N = M
    (1, 4, 9, 3, 16, 3),  # 4 pairs in slices of 3
    (2, 3, 5, 7, 4, 10),  # a slice larger than all the pairs: one slice
]
CHUNK_CASES = [  # (B, heads, N, M, d, chunk_size)
    (2, 2, 10, 6, 4, 3),  # more queries than keys; the last chunk has 1
    (1, 3, 7, 12, 8, 7),  # one chunk exactly
    (2, 1, 16, 16, 4, 5),
    (1, 2, 5, 9, 4, 8),  # a chunk larger than N
]


def qkv(b, heads, n, m, d, seed, dtype=torch.float32):
    """Random q (B, heads, N, d), k and v (B, heads, M, d); ×2 so that the softmax is far from uniform."""
    g = torch.Generator().manual_seed(seed)
    return tuple(2 * torch.randn(b, heads, length, d, generator=g, dtype=dtype) for length in (n, m, m))


def variant(q, k, v, scale: float, softmax_dim: int = -1, chunk: int | None = None) -> torch.Tensor:
    """Attention computed a chosen wrong way (a scale, the softmax's axis, per chunk of queries), to name a mistake."""
    chunk = chunk or q.shape[2]
    outs = [(q[:, :, i : i + chunk] @ k.transpose(-1, -2) * scale).softmax(softmax_dim) @ v
            for i in range(0, q.shape[2], chunk)]  # fmt: skip
    return torch.cat(outs, dim=2)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=TOLERANCE, rtol=1e-4)


def name_the_mistake(got, q, k, v, what: str, chunk: int | None = None):
    """Raise Wrong with the likeliest reason `got` (a right-shaped tensor) differs from the attention of q, k, v."""
    d = q.shape[-1]
    mistakes = [  # (scale, softmax axis, reason)
        (1.0, -1, "the scores are not scaled: softmax(q·kᵀ/√d) divides by √d before the softmax"),
        (1 / d, -1, "the scores are divided by d; the scale is 1/√d"),
        (d**-0.5, -2, "the softmax runs over the queries (dim -2); each query's weights over the keys must sum to 1"),
    ]
    for scale, dim, reason in mistakes:
        if close(got, variant(q, k, v, scale, dim, chunk)):
            raise Wrong(f"{what}: {reason}.")


@lab.task(
    "sliced_attention",
    hint="q.reshape(B·heads, N, d) (k, v likewise); for start in range(0, B·heads, slice_size): "
    "softmax(q[s] @ k[s]ᵀ · d**-0.5, dim=-1) @ v[s] into out[s]; reshape out to (B, heads, N, d).",
)
def check_sliced_attention(m):
    for seed, (b, heads, n, mm, d, size) in enumerate(SLICE_CASES):
        q, k, v = qkv(b, heads, n, mm, d, seed)
        what = f"sliced_attention(q {tuple(q.shape)}, k and v {tuple(k.shape)}, slice_size={size})"
        got = call_keeping_inputs(m.sliced_attention, dict(q=q, k=k, v=v, slice_size=size), what)
        expected = sliced_attention(q, k, v, slice_size=size)
        if not isinstance(got, torch.Tensor):
            raise Wrong(f"{what} should return a tensor (B, heads, N, d), got {describe(got)}.")
        if got.shape != expected.shape:
            raise Wrong(f"{what}: expected shape {tuple(expected.shape)}, (B, heads, N, d), got {tuple(got.shape)}.")
        if close(got, expected):
            continue
        name_the_mistake(got, q, k, v, what)
        pairs = b * heads
        flat_got, flat_expected = got.reshape(pairs, n, -1), expected.reshape(pairs, n, -1)
        if close(got.transpose(0, 1), expected.reshape(heads, b, n, d)):
            raise Wrong(
                f"{what}: the (batch, head) pairs come back in the wrong order: pair p is b·heads + h "
                "(q.reshape(B·heads, N, d)), so the output is out.reshape(B, heads, N, d), not (heads, B, …)."
            )
        right = torch.isclose(flat_got.double(), flat_expected.double(), atol=TOLERANCE, rtol=1e-4).all(dim=(1, 2))
        wrong_pairs = (~right).nonzero().flatten().tolist()
        last_start = (pairs - 1) // size * size  # where the last (perhaps shorter) slice starts
        if wrong_pairs and wrong_pairs[0] == last_start and pairs % size:
            raise Wrong(
                f"{what}: pairs {last_start} to {pairs - 1} were never computed; there are {pairs} pairs, so the "
                f"last slice is shorter than slice_size ({pairs - last_start} pairs): range(0, B·heads, slice_size) "
                "reaches it, and q[start : start + slice_size] stops at the end by itself."
            )
        raise Wrong(
            f"{what}: pairs {wrong_pairs[:6]} differ from the attention of those pairs (largest error "
            f"{(got - expected).abs().max().item():.3g}); each slice must hold whole pairs, every query of a pair "
            "against every key of the same pair."
        )
    q, k, v = qkv(1, 2, 4, 5, 8, 9, dtype=torch.float64)
    got = m.sliced_attention(q, k, v, 1)
    expect_tensor(got, sliced_attention(q, k, v, slice_size=1), "sliced_attention on float64 q, k, v", atol=1e-9)


@lab.task(
    "chunked_attention",
    hint="for start in range(0, N, chunk_size): softmax(q[:, :, start:start + chunk_size] @ kᵀ · d**-0.5, dim=-1) "
    "@ v, every key for every chunk; torch.cat(chunks, dim=2).",
)
def check_chunked_attention(m):
    for seed, (b, heads, n, mm, d, size) in enumerate(CHUNK_CASES):
        q, k, v = qkv(b, heads, n, mm, d, seed)
        what = f"chunked_attention(q {tuple(q.shape)}, k and v {tuple(k.shape)}, chunk_size={size})"
        got = call_keeping_inputs(m.chunked_attention, dict(q=q, k=k, v=v, chunk_size=size), what)
        expected = chunked_attention(q, k, v, chunk_size=size)
        if not isinstance(got, torch.Tensor):
            raise Wrong(f"{what} should return a tensor (B, heads, N, d), got {describe(got)}.")
        if got.shape != expected.shape:
            reason = f"expected shape {tuple(expected.shape)}, (B, heads, N, d), got {tuple(got.shape)}"
            if got.ndim == 4 and got.shape[2] < n and got.shape[3] == d:
                reason += (
                    f": the chunks cover {got.shape[2]} of the {n} queries. Run the starts over the queries, "
                    "range(0, N, chunk_size) with N = q.shape[2], and keep the last, shorter chunk"
                )
            elif got.ndim == 4 and got.shape[2] == min(size, n):
                reason += ": the chunks are joined along the wrong axis; they are runs of queries, so dim=2"
            raise Wrong(f"{what}: {reason}.")
        if close(got, expected):
            continue
        name_the_mistake(got, q, k, v, what, chunk=size)
        raise Wrong(
            f"{what}: largest error {(got - expected).abs().max().item():.3g} against the attention; every chunk of "
            "queries attends to all M keys: its scores are (B, heads, chunk, M)."
        )


def _stitch_variant(tiles, overlap: int, stride: int, size, raw_above=False, raw_left=False, left_first=False):
    """stitch() done a chosen wrong way: a neighbour taken as decoded (not blended), or the left one blended first."""
    blended = []
    for i, row in enumerate(tiles):
        done = []
        for j, tile in enumerate(row):
            above = (tiles if raw_above else blended)[i - 1][j] if i else None
            left = (row if raw_left else done)[j - 1] if j else None
            steps = [(left, blend_h), (above, blend_v)] if left_first else [(above, blend_v), (left, blend_h)]
            for neighbour, blend in steps:
                tile = tile if neighbour is None else blend(neighbour, tile, overlap)
            done.append(tile)
        blended.append(done)
    rows = [torch.cat([t[..., :stride, :stride] for t in row], dim=-1) for row in blended]
    return torch.cat(rows, dim=-2)[..., : size[0], : size[1]]


def cut(image: torch.Tensor, tile: int, stride: int) -> list[list[torch.Tensor]]:
    """The grid of tiles of `image` (…, H, W), tiles at every multiple of the stride, as tiled_decode cuts them."""
    rows, columns = (tile_spans(length, tile, stride) for length in image.shape[-2:])
    return [[image[..., top:bottom, left:right].clone() for left, right in columns] for top, bottom in rows]


def blended(m, tiles, overlap: int, stride: int, size, what: str) -> torch.Tensor:
    """The learner's blend_tiles, checked for shape, dtype and untouched tiles; a crash on short edge tiles is named."""
    try:
        got = call_keeping_inputs(m.blend_tiles, dict(tiles=tiles, overlap=overlap, stride=stride, size=size), what)
    except NotImplementedError:
        raise
    except (RuntimeError, IndexError, ValueError) as e:
        raise Wrong(
            f"{what} raised {type(e).__name__}: {str(e).rstrip('.')}. Edge tiles can be shorter than the overlap; "
            "blend over e = min(overlap, the two tiles' lengths along that axis)."
        ) from None
    expected = stitch(tiles, (overlap, overlap), (stride, stride), size)
    if not isinstance(got, torch.Tensor):
        raise Wrong(f"{what} should return a tensor (B, C, H, W), got {describe(got)}.")
    if got.shape != expected.shape:
        raise Wrong(
            f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}; keep stride × stride of each "
            f"tile, join them, and crop to size {tuple(size)}."
        )
    if got.dtype != expected.dtype:
        raise Wrong(f"{what}: expected dtype {expected.dtype} (the tiles' dtype), got {got.dtype}.")
    return got


def check_ramp(weights: torch.Tensor, axis: str, what: str):
    """`weights`: what the later tile got over one overlap of 4, read off a blend of an all-0 tile into an all-1 one."""
    expected = torch.arange(4, dtype=torch.float64) / 4
    if torch.allclose(weights.double(), expected, atol=1e-6):
        return
    shown = [round(w, 4) for w in weights.tolist()]
    if abs(weights[0].item() - 1) < 1e-6 and weights[-1].item() < 0.5:
        raise Wrong(f"{what}: over the {axis} the later tile's weight falls, {shown}; it fades IN: {expected.tolist()}")
    if abs(weights[-1].item() - 1) < 1e-6:
        raise Wrong(
            f"{what}: over the {axis} the later tile's weight runs {shown}, ending at 1; diffusers' ramp is y/e for "
            f"y = 0 … e − 1 and stops one step short of 1: {expected.tolist()}."
        )
    if torch.all(weights == weights[0]):
        raise Wrong(f"{what}: no ramp over the {axis} ({shown}): the tile is not blended with its neighbour there.")
    raise Wrong(f"{what}: over the {axis} the later tile's weights are {shown}; expected {expected.tolist()}.")


def rejoin(m, g: torch.Generator, size: tuple[int, int], tile: int, stride: int):
    """Tiles cut from a random image must join back into it: the blend mixes equal values with weights summing to 1."""
    image = torch.randn(2, 3, *size, generator=g)
    what = f"blend_tiles(tiles of {tile} every {stride} cut from a {size[0]}×{size[1]} image)"
    got = blended(m, cut(image, tile, stride), tile - stride, stride, size, what)
    if not torch.allclose(got, image, atol=1e-6):
        y, x = (~torch.isclose(got, image, atol=1e-6)).any(dim=(0, 1)).nonzero()[0].tolist()
        raise Wrong(
            f"{what}: tiles cut from one image must join back into that image, yet pixel ({y}, {x}) differs. "
            "Keep each blended tile's FIRST stride rows and columns (t[..., :stride, :stride]), join a row's "
            "blocks along W and the rows along H."
        )


@lab.task(
    "blend_tiles",
    hint="for each tile: if i > 0 fade in from blended[i - 1][j] over rows, if j > 0 from done[j - 1] over columns, "
    "weights arange(e)/e, e = min(overlap, lengths); keep t[..., :stride, :stride]; cat each row, then the rows; crop.",
)
def check_blend_tiles(m):
    g = torch.Generator().manual_seed(0)
    # 1. Tiles cut from one image join back into it exactly, whatever the weights (they sum to 1 and the tiles
    #    agree): first a single column of tiles, then full grids (after the ramps, so a blend over the wrong axis
    #    is named there).
    rejoin(m, g, (20, 6), 8, 6)
    # 2. An all-0 tile with an all-1 tile below it, then beside it: the blend shows the later tile's weights.
    zeros, ones = torch.zeros(1, 1, 8, 4), torch.ones(1, 1, 8, 4)  # (B, C, 8, 4): 8 rows, one stride wide
    got = blended(m, [[zeros], [ones]], 4, 4, (12, 4), "blend_tiles([[0s], [1s]], overlap 4, stride 4)")
    check_ramp(got[0, 0, 4:8, 0], "rows", "blend_tiles([[all-0 tile], [all-1 tile below]], overlap 4)")
    zeros, ones = zeros.transpose(-1, -2), ones.transpose(-1, -2)  # (B, C, 4, 8)
    got = blended(m, [[zeros, ones]], 4, 4, (4, 12), "blend_tiles([[0s, 1s]], overlap 4, stride 4)")
    what = "blend_tiles([[all-0 tile, all-1 tile to its right]], overlap 4)"
    if torch.allclose(got[0, 0, 0, 4:8], got[0, 0, 0, 4]) and not torch.allclose(got[0, 0, :, 4], got[0, 0, 0, 4]):
        raise Wrong(f"{what}: the tile to the left is blended over the rows; blend it over the columns (dim -1).")
    check_ramp(got[0, 0, 0, 4:8], "columns", what)
    for size, tile, stride in (((20, 26), 8, 6), ((16, 16), 8, 8), ((24, 17), 12, 8)):
        rejoin(m, g, size, tile, stride)
    # 3. Four tiles of tones 0, 1, 2, 3: the corner they share shows which neighbours were blended, in which order.
    tones = [[torch.full((1, 1, 8, 8), float(2 * i + j)) for j in range(2)] for i in range(2)]
    what = "blend_tiles(a 2×2 grid of tiles of tones 0, 1 / 2, 3, overlap 4, stride 4)"
    got = blended(m, tones, 4, 4, (12, 12), what)
    if not torch.allclose(got, stitch(tones, (4, 4), (4, 4), (12, 12)), atol=1e-6):
        variants = [dict(raw_above=True), dict(raw_left=True), dict(raw_above=True, raw_left=True)]
        if any(torch.allclose(got, _stitch_variant(tones, 4, 4, (12, 12), **v), atol=1e-6) for v in variants):
            raise Wrong(
                f"{what}: a neighbour was taken as decoded, not as already blended with its own neighbours. "
                "diffusers blends in place, so the tiles above and to the left are the blended ones: keep those."
            )
        if torch.allclose(got, _stitch_variant(tones, 4, 4, (12, 12), left_first=True), atol=1e-6):
            raise Wrong(f"{what}: blended with the left tile first; diffusers blends the tile above first, then left.")
        raise Wrong(f"{what}: the shared corner differs from diffusers' blend: {got[0, 0, 4:8, 4:8].tolist()}.")
    # 4. Random tiles on grids whose edge tiles are short, some shorter than the overlap.
    for size, tile, stride in (((21, 18), 8, 6), ((14, 14), 8, 4), ((9, 30), 6, 5)):
        tiles = [[torch.randn(2, 3, b - t, e - s, generator=g) for s, e in tile_spans(size[1], tile, stride)]
                 for t, b in tile_spans(size[0], tile, stride)]  # fmt: skip
        what = f"blend_tiles(random tiles of {tile} every {stride} over {size[0]}×{size[1]}, short at the edges)"
        got = blended(m, tiles, tile - stride, stride, size, what)
        expected = stitch(tiles, (tile - stride,) * 2, (stride, stride), size)
        if not torch.allclose(got, expected, atol=1e-6):
            y, x = (~torch.isclose(got, expected, atol=1e-6)).any(dim=(0, 1)).nonzero()[0].tolist()
            raise Wrong(
                f"{what}: pixel ({y}, {x}) differs from diffusers' blend; near an edge, blend over "
                "e = min(overlap, both tiles' lengths) and take the LAST e rows (columns) of the earlier tile."
            )
