"""Checks for lab b07 (VAE encode / decode): tile grids, blend ramps and encoder chunks against the library."""

import torch

from ..models.wan_vae.tiling import blend_v, ramp, temporal_chunks, tile_spans
from .core import Lab, Wrong
from .expect import describe, expect_value_error

lab = Lab("b07", "VAE encode / decode")

GRID_CASES = [  # (size, tile, stride): latent or pixel lengths, the stride ≤ the tile
    (48, 32, 16),  # three tiles, the last one short and starting where the second already ended
    (32, 32, 24),  # a frame of exactly one tile still gets a second, 8-long tile at 24
    (8, 32, 16),  # a frame smaller than one tile: one short tile
    (100, 32, 24),
    (256, 256, 192),  # diffusers' default, in pixels
    (32, 4, 4),  # no overlap
    (40, 6, 2),
    (1, 1, 1),
    (97, 13, 7),
]


@lab.task(
    "tile_grid",
    hint="for start in range(0, size, stride): (start, min(start + tile, size)). Do not stop early at size - tile.",
)
def check_tile_grid(m):
    for size, tile, stride in GRID_CASES:
        what = f"tile_grid({size}, {tile}, {stride})"
        got = m.tile_grid(size, tile, stride)
        expected = tile_spans(size, tile, stride)
        if not isinstance(got, list) or not all(isinstance(t, tuple) and len(t) == 2 for t in got):
            raise Wrong(f"{what} should return a list of (start, stop) tuples, got {describe(got)}.")
        if got == expected:
            continue
        starts = [start for start, _ in got]
        if starts != [start for start, _ in expected]:
            raise Wrong(
                f"{what}: expected starts {list(range(0, size, stride))} (every multiple of the stride below the "
                f"size, as range(0, size, stride)), got {starts}."
            )
        raise Wrong(f"{what}: expected {expected}, got {got}; a tile stops at start + tile, or at the size if sooner.")


@lab.task("blend_weights", hint="torch.arange(overlap) / overlap: 0, 1/overlap, …, (overlap - 1)/overlap.")
def check_blend_weights(m):
    for overlap in (1, 2, 4, 7, 8, 64):
        what = f"blend_weights({overlap})"
        got = m.blend_weights(overlap)
        if not isinstance(got, torch.Tensor) or not got.is_floating_point():
            raise Wrong(f"{what} should return a float tensor, got {describe(got)}.")
        expected = ramp(overlap)
        if got.shape != expected.shape:
            raise Wrong(
                f"{what}: expected shape ({overlap},), one weight per row of the overlap, got {tuple(got.shape)}."
            )
        got = got.detach().cpu().double()
        if torch.allclose(got, expected, atol=1e-6):
            continue
        if got[0].item() > 0.5:
            raise Wrong(
                f"{what}: got {got.tolist()[:4]}…, falling; these are the weights of the LATER tile b, which fades "
                "in: 0 at the overlap's first row (the earlier tile alone), rising."
            )
        if overlap > 1 and abs(got[-1].item() - 1.0) < 1e-6:
            raise Wrong(
                f"{what}: the last weight is 1.0; diffusers' ramp is y / overlap and stops at "
                f"{(overlap - 1) / overlap:.4g} (y = overlap - 1), one step short of 1. Expected {expected.tolist()}."
            )
        raise Wrong(f"{what}: expected {[round(w, 4) for w in expected.tolist()]}, got {got.tolist()}.")
    a, b = torch.zeros(1, 1, 1, 8, 3), torch.ones(1, 1, 1, 8, 3)  # above: 0, below: 1 → the blend shows the ramp
    weights = m.blend_weights(4).double().reshape(4, 1)
    got = a[..., -4:, :] * (1 - weights) + b[..., :4, :] * weights
    if not torch.allclose(got.float(), blend_v(a, b, 4)[..., :4, :], atol=1e-6):
        raise Wrong("blending an all-0 tile above into an all-1 tile below with your weights differs from blend_v.")


@lab.task(
    "temporal_chunks",
    hint="refuse num_frames < 1 or (num_frames - 1) % 4 != 0 (ValueError); else [1] + [4] * ((num_frames - 1) // 4).",
)
def check_temporal_chunks(m):
    for frames in (1, 5, 9, 13, 17, 81):
        got = m.temporal_chunks(frames)
        expected = temporal_chunks(frames)
        if got != expected:
            hint = ""
            if isinstance(got, list) and got[:1] != [1]:
                hint = " The first frame is encoded alone, like an image: the list starts with 1."
            elif isinstance(got, list) and sum(got) != frames:
                hint = f" The chunks must add up to the {frames} frames of the clip."
            raise Wrong(f"temporal_chunks({frames}): expected {expected}, got {describe(got)}.{hint}")
    for frames in (2, 8, 0, -3, 80):
        expect_value_error(
            lambda frames=frames: m.temporal_chunks(frames),
            f"temporal_chunks({frames})",
            ["num_frames", str(frames)],
            should_name="num_frames and the value received",
            why=f"{frames} frames is not 1 + 4n for any n ≥ 0",
        )
