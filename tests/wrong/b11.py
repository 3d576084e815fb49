"""Plausible wrong implementations of lab b11's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

SPLIT = "sent = [shard.chunk(world, dim=1) for shard in shards]"
JOIN = "torch.cat([sent[i][j] for i in range(world)], dim=2)"
INVERSE = "torch.cat([sent[j][r] for j in range(world)], dim=1)"
MERGE_OUT = "out = (lse_a - lse).exp()[..., None] * out_a + (lse_b - lse).exp()[..., None] * out_b"
MERGE_LSE = "lse = torch.logaddexp(lse_a, lse_b)"

WRONG = [
    # heads dealt out round-robin: rank j gets heads j, j + P, … instead of a contiguous group
    ("ulysses_all_to_all", SPLIT, "sent = [shard.unflatten(1, (-1, world)).unbind(2) for shard in shards]", "strided"),
    # the ranks' token blocks joined last rank first
    ("ulysses_all_to_all", JOIN, "torch.cat([sent[i][j] for i in reversed(range(world))], dim=2)", "rank order [1, 0]"),
    # every rank gets everything: an all-gather, not an all-to-all
    ("ulysses_all_to_all", JOIN, "torch.cat(shards, dim=2)", "all-gather"),
    # stacked on a new axis and flattened: the ranks' tokens interleaved
    ("ulysses_all_to_all", JOIN, "torch.stack([sent[i][j] for i in range(world)], dim=3).flatten(2, 3)", "interleaved"),
    # no refusal of a head count that does not split: chunk quietly makes fewer groups
    ("ulysses_all_to_all", "if heads % world:", "if heads < world:", "should raise ValueError"),
    # the inverse joins along the token axis, as the forward did
    ("ulysses_all_to_all", INVERSE, INVERSE.replace("dim=1)", "dim=2)"), "expected shape (B, heads, N/P, d)"),
    # the inverse sends the tokens to the wrong rank
    ("ulysses_all_to_all", INVERSE, INVERSE.replace("sent[j][r]", "sent[j][world - 1 - r]"), "its own tokens"),
    # the two partial attentions averaged
    ("merge_attention_blocks", MERGE_OUT, "out = (out_a + out_b) / 2", "average"),
    # weighted by e^lse, without dividing by the merged sum
    (
        "merge_attention_blocks",
        MERGE_OUT,
        "out = lse_a.exp()[..., None] * out_a + lse_b.exp()[..., None] * out_b",
        "merged lse subtracted",
    ),
    # the larger log-sum-exp taken for the merged one
    ("merge_attention_blocks", MERGE_LSE, "lse = torch.maximum(lse_a, lse_b)", "max(lse_a, lse_b)"),
    # the log of a sum of exponentials computed naively: overflows float32
    ("merge_attention_blocks", MERGE_LSE, "lse = torch.log(lse_a.exp() + lse_b.exp())", "overflows float32"),
    # weights (…, n) multiplied with outputs (…, n, d) without a new axis
    (
        "merge_attention_blocks",
        MERGE_OUT,
        "out = (lse_a - lse).exp() * out_a + (lse_b - lse).exp() * out_b",
        "[..., None]",
    ),
    # each block weighted by the other's share
    (
        "merge_attention_blocks",
        MERGE_OUT,
        "out = (lse_b - lse).exp()[..., None] * out_a + (lse_a - lse).exp()[..., None] * out_b",
        "swapped",
    ),
]
