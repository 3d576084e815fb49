"""Checks for lab b11 (sequence parallelism): Ulysses' all-to-all on simulated ranks and the ring's merge step.

No process group is needed: P ranks are a list whose entry r is what rank r holds. The all-to-all is simulated
with the rearrange patterns of difflab.parallel.collectives (seq_to_heads, heads_to_seq), the merge is judged
against attention over all keys computed by difflab.parallel.attention_with_lse.
"""

import torch
from einops import rearrange

from ..parallel import attention_with_lse
from .core import Lab, Wrong
from .expect import describe, expect_inputs_unchanged, expect_tensor, expect_value_error

lab = Lab("b11", "Sequence parallelism")


# --- the library's all-to-all, with a list for the ranks -------------------------------------------------------


def exchange(blocks: list[torch.Tensor]) -> list[torch.Tensor]:
    """What all_to_all_single does across P ranks: blocks[i] (P, …) is rank i's send buffer, block j for rank j;
    rank j receives (P, …) whose block i came from rank i."""
    return [torch.stack([sent[j] for sent in blocks]) for j in range(len(blocks))]


def seq_to_heads_simulated(shards: list[torch.Tensor]) -> list[torch.Tensor]:
    """collectives.seq_to_heads on every rank at once: (B, heads, N/P, d) per rank → (B, heads/P, N, d)."""
    world = len(shards)
    blocks = [rearrange(x, "b (p h) n d -> p b h n d", p=world) for x in shards]
    return [rearrange(received, "p b h n d -> b h (p n) d") for received in exchange(blocks)]


def heads_to_seq_simulated(parts: list[torch.Tensor]) -> list[torch.Tensor]:
    """collectives.heads_to_seq on every rank at once: (B, heads/P, N, d) per rank → (B, heads, N/P, d)."""
    world = len(parts)
    blocks = [rearrange(x, "b h (p n) d -> p b h n d", p=world) for x in parts]
    return [rearrange(received, "p b h n d -> b (p h) n d") for received in exchange(blocks)]


# --- reading a learner's layout back from labelled values ------------------------------------------------------


def labelled(batch: int, heads: int, tokens: int, dim: int, dtype=torch.float32) -> torch.Tensor:
    """(B, heads, N, d) whose every value is its own index ((b·heads + h)·N + n)·d + c: where it came from can
    be read back after any reshuffle."""
    return torch.arange(batch * heads * tokens * dim, dtype=dtype).reshape(batch, heads, tokens, dim)


def layout(got: torch.Tensor, heads: int, tokens: int, dim: int) -> tuple[list[int], list[int]] | None:
    """The heads along axis 1 and the tokens along axis 2 of a reshuffled labelled tensor, or None when its
    values are not the input's, or batch and channels moved too."""
    ids = got.detach().double()
    if not torch.isfinite(ids).all() or not torch.equal(ids, ids.round()):
        return None
    ids = ids.long()
    b, h = ids // (heads * tokens * dim), (ids // (tokens * dim)) % heads
    n, c = (ids // dim) % tokens, ids % dim
    shape = ids.shape
    if not (
        torch.equal(b, torch.arange(shape[0]).view(-1, 1, 1, 1).expand(shape))
        and torch.equal(c, torch.arange(shape[3]).view(1, 1, 1, -1).expand(shape))
        and torch.equal(h, h[:1, :, :1, :1].expand(shape))
        and torch.equal(n, n[:1, :1, :, :1].expand(shape))
    ):
        return None
    return h[0, :, 0, 0].tolist(), n[0, 0, :, 0].tolist()


def explain_tokens(tokens: list[int], expected: list[int], world: int, where: str) -> str | None:
    """A reason for tokens in the wrong order, or None when they are not a recognisable mistake."""
    if sorted(tokens) != sorted(expected) or len(expected) < world:
        return None
    block = len(expected) // world
    starts = tokens[::block]
    whole_blocks = all(tokens[i * block : (i + 1) * block] == list(range(s, s + block)) for i, s in enumerate(starts))
    if len(expected) == len(tokens) and whole_blocks:
        order = [s // block for s in starts]
        return (
            f"{where} holds the ranks' tokens in rank order {order}; the blocks must be joined in rank order "
            f"{list(range(world))} so that the sequence keeps its order (the rotary angles, the final all-gather "
            "and every token-wise layer assume it)."
        )
    interleaved = [(i % world) * block + i // world for i in range(len(expected))]
    if tokens == interleaved:
        return (
            f"{where} holds tokens {tokens[: world + 1]}…: one token of each rank in turn (interleaved). Join the "
            "ranks' blocks end to end (torch.cat along the token axis), not stacked on a new axis and flattened."
        )
    return None


# --- ulysses_all_to_all ---------------------------------------------------------------------------------------

ULYSSES_CASES = [  # (batch, heads, tokens, head dim, ranks)
    (1, 4, 6, 3, 2),
    (2, 6, 12, 4, 3),
    (1, 12, 8, 2, 4),  # Wan 1.3B's 12 heads over 4 ranks
    (1, 4, 8, 2, 4),  # one head per rank
    (2, 6, 80, 32, 2),  # the shapes-video transformer: 6 heads of 32, 80 tokens, 2 ranks
]


def returned_list(got, world: int, what: str):
    if not isinstance(got, (list, tuple)) or not all(isinstance(t, torch.Tensor) for t in got):
        raise Wrong(f"{what} should return a list of {world} tensors, one per rank, got {describe(got)}.")
    if len(got) != world:
        raise Wrong(f"{what}: expected {world} tensors (one per rank, as many as it received), got {len(got)}.")


def check_forward(m, case, dtype):
    batch, heads, tokens, dim, world = case
    x = labelled(batch, heads, tokens, dim, dtype)
    shards = [s.clone() for s in x.chunk(world, dim=2)]  # rank r: its tokens, every head
    originals = {f"shards[{r}]": s.clone() for r, s in enumerate(shards)}
    what = f"ulysses_all_to_all({world} shards of {tuple(shards[0].shape)})"
    got = m.ulysses_all_to_all(shards)
    expect_inputs_unchanged(originals, {f"shards[{r}]": s for r, s in enumerate(shards)}, what)
    returned_list(got, world, what)
    expected = seq_to_heads_simulated(shards)
    group = heads // world
    for j, (mine, wanted) in enumerate(zip(got, expected)):
        where = f"{what}: rank {j}"
        if mine.shape == x.shape:
            raise Wrong(
                f"{where} holds {tuple(mine.shape)}, every head of every token: that is an all-gather. After the "
                f"all-to-all each rank keeps heads/P = {group} of the {heads} heads, (B, heads/P, N, d) = "
                f"{tuple(wanted.shape)}, and P times less memory."
            )
        if mine.shape != wanted.shape:
            raise Wrong(f"{where}: expected shape (B, heads/P, N, d) = {tuple(wanted.shape)}, got {tuple(mine.shape)}.")
        if mine.dtype != wanted.dtype:
            raise Wrong(f"{where}: expected dtype {wanted.dtype} (the shards' own), got {mine.dtype}.")
        if torch.equal(mine, wanted):
            continue
        found = layout(mine, heads, tokens, dim)
        if found is None:
            raise Wrong(
                f"{where}: its values are not the input's values moved whole, or the batch or channel axis "
                "moved; an all-to-all only moves values, and only the head and token axes change."
            )
        got_heads, got_tokens = found
        wanted_heads = list(range(j * group, (j + 1) * group))
        if got_heads != wanted_heads:
            if group > 1 and got_heads == list(range(j, heads, world)):
                raise Wrong(
                    f"{where} holds heads {got_heads}, every P-th head (strided). The head groups are contiguous: "
                    f"rank j gets heads j·heads/P … (j+1)·heads/P − 1, here {wanted_heads}, as rearrange "
                    "'b (p h) n d' cuts them (diffusers reshapes heads to (P, heads/P) the same way); the inverse "
                    "and the output projection expect that order back."
                )
            if sorted(got_heads) == wanted_heads:
                raise Wrong(f"{where} holds the right heads in the order {got_heads}; keep them in order.")
            raise Wrong(
                f"{where} holds heads {got_heads}, expected its own group {wanted_heads}: rank j keeps head group j "
                "(heads j·heads/P … (j+1)·heads/P − 1)."
            )
        reason = explain_tokens(got_tokens, list(range(tokens)), world, where)
        raise Wrong(reason or f"{where}: tokens in the order {got_tokens[:12]}…, expected 0, 1, …, {tokens - 1}.")


def check_inverse(m, case, dtype):
    batch, heads, tokens, dim, world = case
    x = labelled(batch, heads, tokens, dim, dtype)
    shards = list(x.chunk(world, dim=2))
    parts = [p.clone() for p in seq_to_heads_simulated(shards)]  # rank j: head group j, every token
    what = f"ulysses_all_to_all({world} tensors of {tuple(parts[0].shape)}, inverse=True)"
    got = m.ulysses_all_to_all(parts, inverse=True)
    returned_list(got, world, what)
    expected = heads_to_seq_simulated(parts)
    block = tokens // world
    for r, (mine, wanted) in enumerate(zip(got, expected)):
        where = f"{what}: rank {r}"
        if mine.shape != wanted.shape:
            raise Wrong(f"{where}: expected shape (B, heads, N/P, d) = {tuple(wanted.shape)}, got {tuple(mine.shape)}.")
        if mine.dtype != wanted.dtype:
            raise Wrong(f"{where}: expected dtype {wanted.dtype}, got {mine.dtype}.")
        if torch.equal(mine, wanted):
            continue
        found = layout(mine, heads, tokens, dim)
        if found is None:
            raise Wrong(f"{where}: its values are not the input's values moved whole; the inverse only moves values.")
        got_heads, got_tokens = found
        wanted_tokens = list(range(r * block, (r + 1) * block))
        if got_tokens != wanted_tokens:
            raise Wrong(
                f"{where} got back tokens {got_tokens[:8]}…; rank r gets back its own tokens r·N/P … (r+1)·N/P − 1, "
                f"here {wanted_tokens[:8]}…: the inverse sends each rank's tokens home."
            )
        raise Wrong(
            f"{where} holds heads {got_heads}; expected 0 … {heads - 1} in order: rank j's group goes back to "
            "place j along the head axis (torch.cat over the ranks in rank order)."
        )


@lab.task(
    "ulysses_all_to_all",
    hint="forward: pieces[i] = shards[i].chunk(P, dim=1); rank j = torch.cat([pieces[i][j] for i in range(P)], "
    "dim=2). Inverse: the same with dim=2 to cut and dim=1 to join.",
)
def check_ulysses_all_to_all(m):
    for case in ULYSSES_CASES:
        check_forward(m, case, torch.float32)
    check_forward(m, (1, 4, 6, 2, 2), torch.float64)
    for case in ULYSSES_CASES:
        check_inverse(m, case, torch.float32)
    shards = list(torch.zeros(1, 6, 8, 2).chunk(4, dim=2))  # 6 heads, 4 ranks
    expect_value_error(
        lambda: m.ulysses_all_to_all(shards),
        "ulysses_all_to_all(4 shards of 6 heads)",
        ["heads", "6", "4"],
        should_name="heads, the head count 6 and the 4 ranks",
        why="6 heads cannot be cut into 4 equal groups of whole heads",
    )
    rng = torch.Generator().manual_seed(11)
    x = torch.randn(2, 12, 24, 8, generator=rng)
    shards = list(x.chunk(3, dim=2))
    back = m.ulysses_all_to_all(m.ulysses_all_to_all(shards), inverse=True)
    returned_list(back, 3, "ulysses_all_to_all(ulysses_all_to_all(shards), inverse=True)")
    for r, (mine, wanted) in enumerate(zip(back, shards)):
        if mine.shape != wanted.shape or not torch.equal(mine, wanted):
            raise Wrong(f"the round trip forward then inverse did not give back rank {r}'s shard on random values.")


# --- merge_attention_blocks ------------------------------------------------------------------------------------


def attention_over(q, k, v):
    """(out, lse) of softmax(q·kᵀ/√d)·v in q's dtype: the library's attention_with_lse, or float64 by hand."""
    if q.dtype == torch.float64:
        scores = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5
        lse = scores.logsumexp(dim=-1)
        return (scores - lse[..., None]).exp() @ v, lse
    return attention_with_lse(q, k, v)


def qkv(shape, keys, scale=1.0, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    b, h, n, d = shape
    q = torch.randn(b, h, n, d, generator=g, dtype=torch.float64) * scale
    k, v = (torch.randn(b, h, keys, d, generator=g, dtype=torch.float64) for _ in range(2))
    return q.to(dtype), k.to(dtype), v.to(dtype)


def merge_reason(got_out, got_lse, out_a, lse_a, out_b, lse_b) -> str | None:
    """The plausible mistake that `got` reproduces, in words, or None."""
    a, b = (t.double() for t in (lse_a, lse_b))
    oa, ob = out_a.double(), out_b.double()
    lse = torch.logaddexp(a, b)

    def close(x, y):
        return x.shape == y.shape and bool(torch.isfinite(x).all()) and torch.allclose(x.double(), y, atol=1e-4)

    if not torch.isfinite(got_out.double()).all() or not torch.isfinite(got_lse.double()).all():
        return (
            "it returned inf or nan for log-sum-exps in the hundreds (e^89 already overflows float32). Never "
            "exponentiate an lse alone: torch.logaddexp(lse_a, lse_b) for the total, and the weights "
            "e^(lse_a − lse) ≤ 1."
        )
    if close(got_lse, torch.maximum(a, b)):
        return (
            "the merged lse is max(lse_a, lse_b). The log of a sum is not the larger term: "
            "log(e^a + e^b) = max + log(1 + e^−|a−b|), torch.logaddexp(lse_a, lse_b)."
        )
    if close(got_lse, a + b):
        return "the merged lse is lse_a + lse_b: adding logs multiplies the two sums; the keys' masses add: logaddexp."
    if close(got_out, (oa + ob) / 2):
        return (
            "out is the average of the two blocks. Each block counts by its share of the softmax mass, "
            "e^(lse_a − lse) and e^(lse_b − lse), not ½ each: a block whose keys match the query better weighs more."
        )
    if close(got_out, a.exp()[..., None] * oa + b.exp()[..., None] * ob):
        return (
            "out is e^lse_a·out_a + e^lse_b·out_b: each block's output is already normalised by its own sum, so the "
            "weights are shares, e^(lse_a − lse) and e^(lse_b − lse), with the merged lse subtracted (they add to 1)."
        )
    if close(got_out, (b - lse).exp()[..., None] * oa + (a - lse).exp()[..., None] * ob):
        return "the weights are swapped: out_a is weighted by e^(lse_a − lse), block A's own share."
    try:  # the weights (…, n) multiplied with the outputs (…, n, d) as they are: broadcast along d
        misaligned = (a - lse).exp() * oa + (b - lse).exp() * ob
    except RuntimeError:
        misaligned = None
    if misaligned is not None and close(got_out, misaligned):
        return (
            "the weights multiply the channels d, not the queries: the weights are (…, n) and the outputs (…, n, d); "
            "broadcasting lines up the last axes, so give the weights a last axis of their own: [..., None]."
        )
    return None


def check_merge(m, out_a, lse_a, out_b, lse_b, expected_out, expected_lse, what):
    arguments = {"out_a": out_a, "lse_a": lse_a, "out_b": out_b, "lse_b": lse_b}
    originals = {name: t.clone() for name, t in arguments.items()}
    got = m.merge_attention_blocks(out_a, lse_a, out_b, lse_b)
    expect_inputs_unchanged(originals, arguments, what)
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not all(isinstance(t, torch.Tensor) for t in got):
        raise Wrong(f"{what} should return a pair (out, lse) of tensors, got {describe(got)}.")
    got_out, got_lse = got
    if got_out.shape == expected_out.shape and got_lse.shape == expected_lse.shape:
        reason = merge_reason(got_out, got_lse, *originals.values())
        if reason is not None and not (
            torch.allclose(got_out.double(), expected_out.double(), atol=1e-5, rtol=1e-4)
            and torch.allclose(got_lse.double(), expected_lse.double(), atol=1e-5, rtol=1e-4)
        ):
            raise Wrong(f"{what}: {reason}")
    expect_tensor(got_lse, expected_lse, f"{what}'s lse")
    expect_tensor(got_out, expected_out, f"{what}'s out")
    return got_out, got_lse


MERGE_CASES = [  # ((B, heads, queries n, head dim d), keys in A, keys in B, scale of q, dtype)
    ((1, 1, 6, 6), 5, 9, 1.0, torch.float32),  # n == d, one head: weights broadcast along d still run
    ((2, 3, 5, 8), 7, 4, 1.0, torch.float32),
    ((1, 4, 3, 16), 1, 12, 2.0, torch.float32),  # one key in A
    ((2, 2, 4, 8), 6, 6, 1.0, torch.float64),
]


@lab.task(
    "merge_attention_blocks",
    hint="lse = torch.logaddexp(lse_a, lse_b); out = (lse_a - lse).exp()[..., None] * out_a + "
    "(lse_b - lse).exp()[..., None] * out_b.",
)
def check_merge_attention_blocks(m):
    for shape, keys_a, keys_b, scale, dtype in MERGE_CASES:
        q, k, v = qkv(shape, keys_a + keys_b, scale, dtype)
        full_out, full_lse = attention_over(q, k, v)
        a, b = slice(0, keys_a), slice(keys_a, None)
        out_a, lse_a = attention_over(q, k[:, :, a], v[:, :, a])
        out_b, lse_b = attention_over(q, k[:, :, b], v[:, :, b])
        what = f"merge_attention_blocks over {keys_a} + {keys_b} keys, q {tuple(shape)} {dtype}"
        check_merge(m, out_a, lse_a, out_b, lse_b, full_out, full_lse, what)

    # a ring of 3 ranks, seen from rank 2: the key blocks arrive as its own (16–23), then 0–7, then 8–15
    q, k, v = qkv((1, 3, 8, 8), 24, seed=1)
    arrivals = [torch.arange(16, 24), torch.arange(0, 8), torch.arange(8, 16)]
    out, lse = attention_over(q, k[:, :, arrivals[0]], v[:, :, arrivals[0]])
    for step in (1, 2):
        block = attention_over(q, k[:, :, arrivals[step]], v[:, :, arrivals[step]])
        seen = torch.cat(arrivals[: step + 1])  # the keys merged so far
        expected = attention_over(q, k[:, :, seen], v[:, :, seen])
        out, lse = check_merge(m, out, lse, *block, *expected, f"a ring of 3 ranks, step {step + 1} of 3")

    # a block with no keys (lse −∞, output 0) leaves the other one as it is
    q, k, v = qkv((1, 2, 4, 8), 6, seed=2)
    out_a, lse_a = attention_over(q, k, v)
    empty_out, empty_lse = torch.zeros_like(out_a), torch.full_like(lse_a, -torch.inf)
    check_merge(m, out_a, lse_a, empty_out, empty_lse, out_a, lse_a, "merge_attention_blocks with an empty block B")

    # sharp attention: scores in the hundreds, so e^lse overflows float32
    q, k, v = qkv((1, 2, 6, 8), 10, scale=100.0, seed=3)
    full_out, full_lse = attention_over(q, k, v)
    out_a, lse_a = attention_over(q, k[:, :, :4], v[:, :, :4])
    out_b, lse_b = attention_over(q, k[:, :, 4:], v[:, :, 4:])
    what = f"merge_attention_blocks with log-sum-exps up to {full_lse.max().item():.0f} (float32)"
    check_merge(m, out_a, lse_a, out_b, lse_b, full_out, full_lse, what)
