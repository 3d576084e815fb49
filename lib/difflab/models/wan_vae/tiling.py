"""Cutting a video into pieces the VAE can afford: overlapping tiles in space, chunks in time.

Space. A decoder's activations grow with H·W, so a large frame is decoded as overlapping tiles and the tiles
are blended back together (diffusers' tiled_decode / tiled_encode, whose defaults are 256×256 pixel tiles every
192 pixels). Along one axis of length `size`:

    tiles start at 0, stride, 2·stride, …  (every start < size)    each covers [start, start + tile)
    overlap = tile − stride                                          in the output's units
    row y of the overlap:  out = above · (1 − y/overlap) + below · (y/overlap),   y = 0 … overlap − 1
    then each tile keeps its first `stride` rows; the pieces are joined and cropped to the output size

The ramp hides the seam a tile border would leave: a tile sees zero padding at its edges and, in the mid-block
attention, only its own pixels, so two tiles disagree where they overlap. Tiling changes the output; slicing
(one clip of the batch at a time) does not.

Time. The encoder reads 1 frame, then 4 at a time (`temporal_chunks`); the decoder one latent frame at a time.
Chunks lose nothing: the FrameCache (causal_conv.py) carries each causal conv's last frames across them.
"""

import torch

CHUNK = 4  # frames per encoder chunk after the first (hard-coded upstream): hence clips of 1 + 4n frames
TILE_DEFAULTS = dict(  # diffusers' AutoencoderKLWan defaults, in pixels
    tile_sample_min_height=256, tile_sample_min_width=256, tile_sample_stride_height=192, tile_sample_stride_width=192
)


def temporal_chunks(num_frames: int) -> list[int]:
    """Frames per encoder call for a clip of `num_frames` = 1 + 4n: [1, 4, 4, …] (n fours)."""
    if not isinstance(num_frames, int) or num_frames < 1 or (num_frames - 1) % CHUNK:
        raise ValueError(
            f"num_frames: got {num_frames!r}; the Wan VAE encodes 1 + 4n frames (1, 5, 9, 13, …): the first frame "
            f"alone, then {CHUNK} at a time. Fix: trim or pad the clip to a count of that form."
        )
    return [1] + [CHUNK] * ((num_frames - 1) // CHUNK)


def check_tiling(sizes: dict[str, int], factor: int = 8):
    """Refuse tile settings (diffusers' four names → pixels) that would gap, misalign or do nothing.

    Valid: positive integers, multiples of the VAE's spatial factor (so a tile is whole latent cells), and each
    stride at most its tile (a larger stride leaves rows no tile covers).
    """
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value % factor:
            raise ValueError(
                f"{name}: got {value!r}; tile sizes and strides are in pixels and must be positive multiples of the "
                f"VAE's spatial factor {factor} (e.g. {factor * 32}), so that each tile is whole latent cells."
            )
    for axis in ("height", "width"):
        tile, stride = sizes[f"tile_sample_min_{axis}"], sizes[f"tile_sample_stride_{axis}"]
        if stride > tile:
            raise ValueError(
                f"tile_sample_stride_{axis}: got {stride}, more than tile_sample_min_{axis} = {tile}, which would "
                f"leave {stride - tile} pixels between tiles that no tile decodes. Valid: a stride from {factor} to "
                f"{tile}; the overlap is tile − stride (diffusers' default: 256 − 192 = 64)."
            )


def tile_spans(size: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """[(start, stop), …] of the tiles along an axis of length `size`: starts range(0, size, stride), as upstream.

    Tiles may run past `size` (then they stop at it), and a last tile starts even if the one before already
    reached the end: diffusers' loops do the same, and the stitch below needs one tile per stride.
    """
    return [(start, min(start + tile, size)) for start in range(0, size, stride)]


def ramp(overlap: int) -> torch.Tensor:
    """The weights of the later tile over an overlap: y / overlap for y = 0 … overlap − 1, in float64."""
    return torch.arange(overlap, dtype=torch.float64) / overlap


def blend(a: torch.Tensor, b: torch.Tensor, overlap: int, dim: int) -> torch.Tensor:
    """b, its first `overlap` entries along `dim` faded in from a's last: a·(1 − y/e) + b·(y/e). b is not changed.

    e = min(overlap, a's size, b's size) along `dim`, as upstream (edge tiles may be short).
    """
    e = min(a.shape[dim], b.shape[dim], overlap)
    if e <= 0:
        return b
    shape = [1] * b.ndim
    shape[dim] = e
    w = ramp(e).reshape(shape)  # broadcasts along every other axis
    head = a.narrow(dim, a.shape[dim] - e, e) * (1 - w).to(b.dtype) + b.narrow(dim, 0, e) * w.to(b.dtype)
    return torch.cat([head, b.narrow(dim, e, b.shape[dim] - e)], dim=dim)


def blend_v(a: torch.Tensor, b: torch.Tensor, blend_extent: int) -> torch.Tensor:
    """Blend tile `a` (above) into tile `b` (below) over `blend_extent` rows; tiles are (…, H, W)."""
    return blend(a, b, blend_extent, dim=-2)


def blend_h(a: torch.Tensor, b: torch.Tensor, blend_extent: int) -> torch.Tensor:
    """Blend tile `a` (left) into tile `b` (right) over `blend_extent` columns; tiles are (…, H, W)."""
    return blend(a, b, blend_extent, dim=-1)


def stitch(
    tiles: list[list[torch.Tensor]], overlap: tuple[int, int], stride: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """Join a grid of overlapping tiles (…, ≤tile_h, ≤tile_w), tile [i][j] starting at (i·stride_h, j·stride_w).

    Each tile is first blended with the tile above and the tile to its left, both already blended themselves
    (upstream blends in place, so its neighbours are the blended ones too); then it keeps its first
    stride_h × stride_w block. Returns (…, size_h, size_w).
    """
    blended: list[list[torch.Tensor]] = []
    for i, row in enumerate(tiles):
        done: list[torch.Tensor] = []
        for j, tile in enumerate(row):
            if i > 0:
                tile = blend_v(blended[i - 1][j], tile, overlap[0])
            if j > 0:
                tile = blend_h(done[j - 1], tile, overlap[1])
            done.append(tile)
        blended.append(done)
    rows = [torch.cat([t[..., : stride[0], : stride[1]] for t in row], dim=-1) for row in blended]
    return torch.cat(rows, dim=-2)[..., : size[0], : size[1]]


def map_tiles(fn, x: torch.Tensor, tile: tuple[int, int], stride: tuple[int, int], scale: float) -> torch.Tensor:
    """Apply `fn` to overlapping tiles of x (…, H, W) and stitch the results, which are `scale`× x's size.

    tile, stride: in x's units. The output's tile, stride and overlap are those times `scale` (1/8 for the
    encoder, pixels → latent cells; 8 for the decoder). Returns (…, H·scale, W·scale).
    """
    height, width = x.shape[-2:]
    tiles = [
        [fn(x[..., top:bottom, left:right]) for left, right in tile_spans(width, tile[1], stride[1])]
        for top, bottom in tile_spans(height, tile[0], stride[0])
    ]
    out_tile = (int(tile[0] * scale), int(tile[1] * scale))
    out_stride = (int(stride[0] * scale), int(stride[1] * scale))
    overlap = (out_tile[0] - out_stride[0], out_tile[1] - out_stride[1])
    return stitch(tiles, overlap, out_stride, (int(height * scale), int(width * scale)))
