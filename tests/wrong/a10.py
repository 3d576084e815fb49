"""Plausible wrong implementations of lab a10's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "sliced_attention",
        "out[part] = scores.softmax(dim=-1) @ v[part]  # (slice, N, d)",
        "out[part] = scores.softmax(dim=-2) @ v[part]  # (slice, N, d)",
        "the softmax runs over the queries",
    ),
    (
        "sliced_attention",
        "scores = q[part] @ k[part].transpose(-1, -2) * d**-0.5  # (slice, N, M)",
        "scores = q[part] @ k[part].transpose(-1, -2)  # (slice, N, M)",
        "the scores are not scaled",
    ),
    (
        "sliced_attention",
        "for start in range(0, b * heads, slice_size):",
        "for start in range(0, b * heads - slice_size + 1, slice_size):",
        "the last slice is shorter than slice_size",
    ),
    (
        "sliced_attention",
        "return out.reshape(b, heads, n, -1)",
        "return out.reshape(heads, b, n, -1).transpose(0, 1)",
        "pairs come back in the wrong order",
    ),
    (
        "sliced_attention",
        "scores = q[part] @ k[part].transpose(-1, -2) * d**-0.5  # (slice, N, M)",
        "scores = q[part] @ k[part].transpose(-1, -2) / d  # (slice, N, M)",
        "the scale is 1/√d",
    ),
    (
        "chunked_attention",
        "outs.append(scores.softmax(dim=-1) @ v)  # (B, heads, chunk, d)",
        "outs.append(scores.softmax(dim=-2) @ v)  # (B, heads, chunk, d)",
        "the softmax runs over the queries",
    ),
    (
        "chunked_attention",
        "for start in range(0, q.shape[2], chunk_size):",
        "for start in range(0, k.shape[2], chunk_size):",
        "the chunks cover 6 of the 10 queries",
    ),
    (
        "chunked_attention",
        "for start in range(0, q.shape[2], chunk_size):",
        "for start in range(0, q.shape[2] - chunk_size, chunk_size):",
        "keep the last, shorter chunk",
    ),
    (
        "chunked_attention",
        "scale = q.shape[-1] ** -0.5",
        "scale = 1.0",
        "the scores are not scaled",
    ),
    (
        "blend_tiles",
        "w = (torch.arange(e, dtype=b.dtype) / e).reshape(shape)  # the later tile's weight: 0, 1/e, …, (e − 1)/e",
        "w = torch.linspace(0, 1, e, dtype=b.dtype).reshape(shape)",
        "stops one step short of 1",
    ),
    (
        "blend_tiles",
        "w = (torch.arange(e, dtype=b.dtype) / e).reshape(shape)  # the later tile's weight: 0, 1/e, …, (e − 1)/e",
        "w = (1 - torch.arange(e, dtype=b.dtype) / e).reshape(shape)",
        "it fades IN",
    ),
    (
        "blend_tiles",
        "tile = fade(blended[i - 1][j], tile, dim=-2)  # the tile above, already blended",
        "tile = fade(tiles[i - 1][j], tile, dim=-2)  # the tile above, as decoded",
        "not as already blended",
    ),
    (
        "blend_tiles",
        "tile = fade(done[j - 1], tile, dim=-1)  # the tile to the left, already blended",
        "tile = fade(done[j - 1], tile, dim=-2)  # the tile to the left, over the rows",
        "blend it over the columns",
    ),
    (
        "blend_tiles",
        "rows = [torch.cat([t[..., :stride, :stride] for t in row], dim=-1) for row in blended]",
        "rows = [torch.cat([t[..., -stride:, -stride:] for t in row], dim=-1) for row in blended]",
        "FIRST stride rows and columns",
    ),
    (
        "blend_tiles",
        "e = min(overlap, a.shape[dim], b.shape[dim])  # edge tiles can be short",
        "e = overlap",
        "e = min(overlap",
    ),
]
