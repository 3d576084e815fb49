"""Plausible wrong implementations of lab b08's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "plan_component_offload",
        "        if model != resident:",
        "        if True:",
        "onload it again between two of its own calls",
    ),
    (
        "plan_component_offload",
        '            if resident is not None:\n                moves.append(("offload", resident))\n',
        "",
        "are resident together",
    ),
    (
        "plan_component_offload",
        '            if resident is not None:\n                moves.append(("offload", resident))\n'
        '            moves.append(("onload", model))',
        '            moves.append(("onload", model))\n            if resident is not None:\n'
        '                moves.append(("offload", resident))',
        "offload the previous model first",
    ),
    (
        "plan_component_offload",
        '    if resident is not None:\n        moves.append(("offload", resident))\n    return moves',
        "    return moves",
        "maybe_free_model_hooks",
    ),
    (
        "plan_component_offload",
        "            resident = model",
        "            pass",
        "counted on the compute tier twice",
    ),
    (
        "group_blocks",
        "    starts = range(0, num_blocks, num_blocks_per_group)",
        "    starts = range(0, num_blocks - num_blocks_per_group + 1, num_blocks_per_group)",
        "block(s) [3] are in no group",
    ),
    (
        "group_blocks",
        "list(range(start, min(start + num_blocks_per_group, num_blocks)))",
        "list(range(start, start + num_blocks_per_group))",
        "cut the last group at num_blocks",
    ),
    (
        "group_blocks",
        "    starts = range(0, num_blocks, num_blocks_per_group)",
        "    starts = range(0, num_blocks)",
        "not a sliding window",
    ),
    (
        "group_blocks",
        "list(range(start, min(start + num_blocks_per_group, num_blocks)))",
        "list(range(start, min(start + num_blocks_per_group, num_blocks) + 1))",
        "do not exist",
    ),
    (
        "group_blocks",
        "    if isinstance(num_blocks_per_group, bool) or not isinstance(num_blocks_per_group, int) or "
        "num_blocks_per_group < 1:",
        "    if num_blocks_per_group == 0:",
        "group_blocks(4, -1) returned []",
    ),
    (
        "bytes_moved",
        '    return {"onload": each_way, "offload": each_way}',
        '    return {"onload": each_way, "offload": 0}',
        "the offload leg is missing",
    ),
    (
        "bytes_moved",
        '    calls = 2 if guidance == "two-pass" else 1',
        '    calls = 2 if guidance in ("two-pass", "batched") else 1',
        "the weights cross once",
    ),
    (
        "bytes_moved",
        '    calls = 2 if guidance == "two-pass" else 1',
        "    calls = 1",
        "every group crosses twice",
    ),
    (
        "bytes_moved",
        '    if strategy in ("none", "model"):',
        '    if strategy == "none":',
        "onloaded once, in the first step",
    ),
    (
        "bytes_moved",
        "    each_way = sum(group_bytes) * calls",
        "    each_way = max(group_bytes) * calls",
        "the PEAK on the compute tier",
    ),
    (
        "bytes_moved",
        "    each_way = sum(group_bytes) * calls",
        "    each_way = sum(group_bytes[:-1]) * calls",
        "rest of the",
    ),
]
