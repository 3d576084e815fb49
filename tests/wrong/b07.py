"""Plausible wrong implementations of lab b07's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "tile_grid",
        "return [(start, min(start + tile, size)) for start in range(0, size, stride)]",
        "return [(start, min(start + tile, size)) for start in range(0, size - tile + 1, stride)]",
        "expected starts [0, 16, 32]",
    ),
    (
        "tile_grid",
        "return [(start, min(start + tile, size)) for start in range(0, size, stride)]",
        "return [(start, start + tile) for start in range(0, size, stride)]",
        "or at the size if sooner",
    ),
    (
        "tile_grid",
        "return [(start, min(start + tile, size)) for start in range(0, size, stride)]",
        "return [(start, min(start + tile, size)) for start in range(0, size, tile)]",
        "every multiple of the stride",
    ),
    (
        "blend_weights",
        "return torch.arange(overlap, dtype=torch.float64) / overlap",
        "return torch.linspace(0, 1, overlap)",
        "one step short of 1",
    ),
    (
        "blend_weights",
        "return torch.arange(overlap, dtype=torch.float64) / overlap",
        "return 1 - torch.arange(overlap, dtype=torch.float64) / overlap",
        "the LATER tile",
    ),
    (
        "blend_weights",
        "return torch.arange(overlap, dtype=torch.float64) / overlap",
        "return torch.arange(overlap) // overlap",
        "should return a float tensor",
    ),
    (
        "temporal_chunks",
        "return [1] + [4] * ((num_frames - 1) // 4)",
        "return [4] * ((num_frames - 1) // 4)",
        "encoded alone",
    ),
    (
        "temporal_chunks",
        "if num_frames < 1 or (num_frames - 1) % 4:",
        "if (num_frames - 1) % 4:",
        "temporal_chunks(-3) returned [1]",
    ),
    (
        "temporal_chunks",
        "return [1] + [4] * ((num_frames - 1) // 4)",
        "return [1] + [4] * (num_frames // 4 - 1)",
        "add up to the",
    ),
]
