"""Lab a10 · Memory optimisation — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check a10` in a terminal
(or `difflab.check("a10")` in the notebook). Plain torch is all you need. Compare with `sliced_attention` and
`chunked_attention` (lib/difflab/models/attention_dispatch.py) and `stitch` (lib/difflab/models/wan_vae/tiling.py)
once yours pass.
"""

import torch


def sliced_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slice_size: int) -> torch.Tensor:
    """softmax(q·kᵀ/√d)·v, computed `slice_size` (batch, head) pairs at a time, as diffusers' SlicedAttnProcessor.

    q: (B, heads, N, d); k and v: (B, heads, M, d). M may differ from N (cross-attention: N latent pixels, M text
    tokens). Flatten the first two axes into B·heads pairs, (B·heads, N, d), pair p = b·heads + h (the layout of
    diffusers' head_to_batch_dim), and for each start in range(0, B·heads, slice_size) compute the attention of
    the pairs [start, start + slice_size) in full: scores (slice, N, M) = q·kᵀ/√d, the softmax over the keys (the
    last axis), times v. The last slice may be shorter. Write each slice into one output (B·heads, N, d) and
    return it as (B, heads, N, d), in q's dtype.
    Only one slice's scores exist at a time: slice_size·N·M numbers instead of B·heads·N·M.
    """
    # BEGIN SOLUTION: flatten to B·heads pairs; per slice: scores q·kᵀ/√d, softmax over the keys, ·v; reshape back
    b, heads, n, d = q.shape
    q, k, v = (t.reshape(b * heads, t.shape[2], t.shape[3]) for t in (q, k, v))  # (B·heads, tokens, d)
    out = q.new_empty(b * heads, n, v.shape[-1])
    for start in range(0, b * heads, slice_size):
        part = slice(start, start + slice_size)  # the last slice may be shorter
        scores = q[part] @ k[part].transpose(-1, -2) * d**-0.5  # (slice, N, M)
        out[part] = scores.softmax(dim=-1) @ v[part]  # (slice, N, d)
    return out.reshape(b, heads, n, -1)
    # END SOLUTION


def chunked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """softmax(q·kᵀ/√d)·v, computed `chunk_size` queries at a time (the query half of Rabe & Staats 2021).

    q: (B, heads, N, d); k and v: (B, heads, M, d). For each start in range(0, N, chunk_size), the queries
    q[:, :, start : start + chunk_size] attend to EVERY key: scores (B, heads, chunk, M), the softmax over the
    keys, times v → (B, heads, chunk, d). Join the chunks along the query axis: (B, heads, N, d). The last chunk
    may be shorter. A query's softmax needs all M keys but no other query, so the queries can be cut; the keys
    cannot (not without carrying a running maximum and sum, which is what flash attention does).
    Only one chunk's scores exist at a time: B·heads·chunk_size·M numbers instead of B·heads·N·M.
    """
    # BEGIN SOLUTION: per run of chunk_size queries: scores against all keys, softmax over the keys, ·v; cat on dim 2
    scale = q.shape[-1] ** -0.5
    outs = []
    for start in range(0, q.shape[2], chunk_size):
        scores = q[:, :, start : start + chunk_size] @ k.transpose(-1, -2) * scale  # (B, heads, chunk, M)
        outs.append(scores.softmax(dim=-1) @ v)  # (B, heads, chunk, d)
    return torch.cat(outs, dim=2)  # (B, heads, N, d)
    # END SOLUTION


def blend_tiles(tiles: list[list[torch.Tensor]], overlap: int, stride: int, size: tuple[int, int]) -> torch.Tensor:
    """Join a grid of decoded tiles into one image, as diffusers' AutoencoderKL.tiled_decode does.

    tiles[i][j]: (B, C, h_ij, w_ij), the tile whose top-left pixel is at (i·stride, j·stride); tiles are
    stride + overlap pixels long, except at the bottom and right edges, where they may be shorter.
    1. Row by row, left to right: blend each tile with the tile above, then with the tile to its left, both
       neighbours ALREADY blended themselves (diffusers overwrites its tiles in place). Blending `a` (above) into
       `b` over e rows, e = min(overlap, a's rows, b's rows):
           b[y] ← a[rows_a − e + y] · (1 − y/e) + b[y] · (y/e),    y = 0 … e − 1,
       so the earlier tile fades out as the later one fades in, and the weight y/e stops one step short of 1.
       The tile to the left is blended the same way over columns.
    2. Keep the top-left stride × stride block of every blended tile (less at the edges), join the blocks, and
       crop to `size` = (H, W).
    Returns (B, C, H, W). Do not change the tiles you were given.
    """
    # BEGIN SOLUTION: fade each tile in from its blended upper, then left, neighbour (ramp y/e); keep stride blocks

    def fade(a: torch.Tensor, b: torch.Tensor, dim: int) -> torch.Tensor:
        e = min(overlap, a.shape[dim], b.shape[dim])  # edge tiles can be short
        shape = [1] * b.ndim
        shape[dim] = e
        w = (torch.arange(e, dtype=b.dtype) / e).reshape(shape)  # the later tile's weight: 0, 1/e, …, (e − 1)/e
        head = a.narrow(dim, a.shape[dim] - e, e) * (1 - w) + b.narrow(dim, 0, e) * w
        return torch.cat([head, b.narrow(dim, e, b.shape[dim] - e)], dim=dim)

    blended = []
    for i, row in enumerate(tiles):
        done = []
        for j, tile in enumerate(row):
            if i > 0:
                tile = fade(blended[i - 1][j], tile, dim=-2)  # the tile above, already blended
            if j > 0:
                tile = fade(done[j - 1], tile, dim=-1)  # the tile to the left, already blended
            done.append(tile)
        blended.append(done)
    rows = [torch.cat([t[..., :stride, :stride] for t in row], dim=-1) for row in blended]
    return torch.cat(rows, dim=-2)[..., : size[0], : size[1]]
    # END SOLUTION
