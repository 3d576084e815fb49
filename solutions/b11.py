"""Lab b11 · Sequence parallelism — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check b11` in a terminal
(or `difflab.check("b11")` in the notebook). Plain torch is all you need: no process group, no torchrun. The
P ranks are simulated by a Python list whose entry r is what rank r holds. Compare with `seq_to_heads`,
`heads_to_seq` (lib/difflab/parallel/collectives.py) and `merge_attention_blocks`
(lib/difflab/parallel/attention.py) once yours pass.
"""

import torch


def ulysses_all_to_all(shards: list[torch.Tensor], inverse: bool = False) -> list[torch.Tensor]:
    """Ulysses' all-to-all on P simulated ranks: shards[r] is what rank r holds; returns what each holds after.

    Forward (inverse=False), before attention: rank r holds its own tokens with every head,
        shards[r]: (B, heads, N/P, d), tokens r·N/P … (r+1)·N/P − 1.
    Rank r cuts its heads into P contiguous groups and sends group j to rank j (keeping group r). Afterwards rank
    j holds every token of head group j: heads j·heads/P … (j+1)·heads/P − 1, the tokens of rank 0, then rank 1,
    …, in rank order, which is the whole sequence in its original order:
        returned[j]: (B, heads/P, N, d).
    When heads is not a multiple of P there is no such split: raise ValueError with a message that names heads,
    the head count and P, for example "heads: got 6 heads for 4 ranks; Ulysses needs heads % P == 0."

    Inverse (inverse=True), after attention: shards[j] is (B, heads/P, N, d), head group j for all tokens, and
    rank r gets back its own tokens r·N/P … (r+1)·N/P − 1 with every head, in head order:
        returned[r]: (B, heads, N/P, d).
    So ulysses_all_to_all(ulysses_all_to_all(shards), inverse=True) gives back `shards`.

    Example: P = 2, 4 heads, 6 tokens: rank 0 holds tokens 0–2 of heads 0–3, rank 1 tokens 3–5 of heads 0–3;
    afterwards rank 0 holds tokens 0–5 of heads 0–1, rank 1 tokens 0–5 of heads 2–3.
    Returns: a list of P tensors, each of the dtype of the shards.
    """
    # BEGIN SOLUTION: cut each rank's tensor into P pieces (chunk), then rank j gathers piece j of every rank (cat)
    world = len(shards)
    if not inverse:
        heads = shards[0].shape[1]
        if heads % world:
            raise ValueError(f"heads: got {heads} heads for {world} ranks; Ulysses needs heads % P == 0.")
        sent = [shard.chunk(world, dim=1) for shard in shards]  # sent[i][j]: rank i's tokens, head group j
        return [torch.cat([sent[i][j] for i in range(world)], dim=2) for j in range(world)]
    sent = [part.chunk(world, dim=2) for part in shards]  # sent[j][r]: head group j, rank r's tokens
    return [torch.cat([sent[j][r] for j in range(world)], dim=1) for r in range(world)]
    # END SOLUTION


def merge_attention_blocks(
    out_a: torch.Tensor, lse_a: torch.Tensor, out_b: torch.Tensor, lse_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over keys A ∪ B, exactly, from attention over A and attention over B (the ring's merge step).

    out_a: (…, n, d), softmax(q·k_Aᵀ/√d)·v_A for n queries; lse_a: (…, n), log Σ_{keys in A} exp(q·kᵀ/√d).
    out_b, lse_b: the same over the keys of B. Then, per query,
        lse = log(e^lse_a + e^lse_b),    out = e^(lse_a − lse)·out_a + e^(lse_b − lse)·out_b.
    Each block's output is weighted by its share of the total softmax mass. lse can be in the hundreds, so
    never exponentiate it alone (e^100 overflows float32): torch.logaddexp computes the first line safely, and
    the weights e^(lse_a − lse) are at most 1. The weights are per query, (…, n): give them a last axis
    ([..., None]) to multiply the (…, n, d) outputs. Do not change the inputs.
    Returns: (out, lse), shaped and typed like (out_a, lse_a).
    """
    # BEGIN SOLUTION: the merged lse with torch.logaddexp, then each block weighted by its share e^(lse_x − lse)
    lse = torch.logaddexp(lse_a, lse_b)  # (…, n)
    out = (lse_a - lse).exp()[..., None] * out_a + (lse_b - lse).exp()[..., None] * out_b
    return out, lse
    # END SOLUTION
