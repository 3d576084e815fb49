"""Self-attention over a sequence split across processes: Ulysses (all-to-all) and ring (log-sum-exp merge).

Each rank holds q, k, v for its own N/P tokens, (B, heads, N/P, d). Attention needs every key for every query,
so the ranks must exchange something:

    Ulysses (Jacobs et al. 2023)  swap "my tokens, all heads" for "all tokens, my heads/P heads" (one all-to-all
                                  each for q, k, v), attend as usual, swap back (one more). Heads are independent,
                                  so nothing else is needed. Needs heads % P == 0.
    ring (Liu et al. 2023)        keep the queries; pass the k, v blocks round the ring, P steps, attending to one
                                  block at a time and merging the partial results exactly with their log-sum-exp.
                                  Any head count; only two blocks are held at once.

The merge of two partial attentions over disjoint key sets A and B (per query; lse = log Σ exp(scores)):

    lse = log(e^lse_A + e^lse_B),    out = e^(lse_A − lse)·out_A + e^(lse_B − lse)·out_B

is exact: softmax over A ∪ B is the two softmaxes reweighted by their shares of the total. diffusers writes the
same as out = out_A − sigmoid(lse_B − lse_A)·(out_A − out_B), in float32.
"""

from dataclasses import dataclass

import torch

from ..models import attention_dispatch
from ..models.attention_dispatch import AttentionBackend
from .collectives import CommLog, heads_to_seq, ring_pass, seq_to_heads


def attention_with_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q·kᵀ/√d)·v and log Σ_keys exp(q·kᵀ/√d); q (B, h, n, d), k and v (B, h, m, d) → (B, h, n, d), (B, h, n).

    In float32: the log-sum-exp is what the merge weighs blocks by, and a rounded one moves every output."""
    scores = q.float() @ k.float().transpose(-1, -2) * q.shape[-1] ** -0.5  # (B, h, n, m)
    lse = scores.logsumexp(dim=-1)  # (B, h, n)
    return (scores - lse[..., None]).exp() @ v.float(), lse


def merge_attention_blocks(out_a, lse_a, out_b, lse_b) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over keys A ∪ B from attention over A (out_a (…, n, d), lse_a (…, n)) and over B: exact."""
    lse = torch.logaddexp(lse_a, lse_b)  # (…, n)
    out = (lse_a - lse).exp()[..., None] * out_a + (lse_b - lse).exp()[..., None] * out_b
    return out, lse


def ulysses_attention(q, k, v, group, log: CommLog, local: AttentionBackend = attention_dispatch.SDPA):
    """q, k, v (B, heads, N/P, d) on each rank → (B, heads, N/P, d): 4 all-to-alls around one ordinary attention
    over all N tokens for heads/P heads, with any local backend (sdpa, sliced, chunked, naive)."""
    q, k, v = (seq_to_heads(t, group, log) for t in (q, k, v))  # (B, heads/P, N, d) each
    out = attention_dispatch.attention(q, k, v, None, local)  # (B, heads/P, N, d)
    return heads_to_seq(out, group, log)  # (B, heads, N/P, d)


def ring_attention(q, k, v, group, log: CommLog) -> torch.Tensor:
    """q, k, v (B, heads, N/P, d) on each rank → (B, heads, N/P, d): P steps, each attending the local queries to
    the k, v block in hand and passing that block on; the blocks arrive from ranks r, r−1, …, r−P+1."""
    world = torch.distributed.get_world_size(group)
    out, lse = attention_with_lse(q, k, v)  # this rank's own block first
    for _ in range(world - 1):
        k, v = ring_pass(k, group, log), ring_pass(v, group, log)  # the previous rank's block
        out, lse = merge_attention_blocks(out, lse, *attention_with_lse(q, k, v))
    return out.to(q.dtype)


@dataclass(frozen=True)
class ContextParallelBackend(AttentionBackend):
    """The attention backend of a self-attention whose sequence is split across `group`'s ranks.

    name "ulysses" or "ring"; `local` is the backend Ulysses attends with once every token is on the rank
    (set_attention_backend changes `local` and keeps the split). Communication is added to `log`."""

    group: object = None
    log: CommLog | None = None
    local: AttentionBackend = attention_dispatch.SDPA

    def __call__(self, q, k, v, bias=None) -> torch.Tensor:
        if bias is not None:
            raise ValueError(
                "bias: context parallel attention got a bias; only self-attention over the split video tokens is "
                "parallelised, and it has none. Cross-attention (to the text) keeps a local backend."
            )
        if self.name == "ulysses":
            return ulysses_attention(q, k, v, self.group, self.log, self.local)
        return ring_attention(q, k, v, self.group, self.log)
