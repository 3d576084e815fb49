"""The three collective patterns of sequence parallelism, one function each, with the bytes each one sends.

P processes (ranks) each hold 1/P of the video tokens: rank r holds tokens [r·N/P, (r+1)·N/P).

    seq_to_heads    all-to-all   (B, heads, N/P, d) → (B, heads/P, N, d)    Ulysses, before attention
    heads_to_seq    all-to-all   (B, heads/P, N, d) → (B, heads, N/P, d)    Ulysses, after attention
    ring_pass       send / recv  a block to rank r+1, one from rank r-1      ring attention, between its P steps
    gather_sequence all-gather   (B, N/P, …) → (B, N, …)                     once, at the model's output

Every call adds what this rank sent to other ranks (its own share stays local and is not counted) to a
`CommLog`, and is a trace stage named after the collective with its bytes, so a difflab.trace shows it in the
timings and the Chrome trace. The collectives are torch.distributed's: gloo on CPUs, nccl on GPUs, the same calls.
"""

from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from einops import rearrange

from ..trace import stage


@dataclass
class CommLog:
    """Bytes this rank sent to other ranks, per collective: {"all_to_all": bytes, "ring_pass": …, …}, and calls."""

    sent: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)

    def add(self, op: str, nbytes: int):
        self.sent[op] = self.sent.get(op, 0) + nbytes
        self.calls[op] = self.calls.get(op, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def clear(self):
        self.sent.clear()
        self.calls.clear()


def nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def all_to_all(blocks: torch.Tensor, group, log: CommLog) -> torch.Tensor:
    """blocks (P, …): block j goes to rank j; returns (P, …) whose block i came from rank i."""
    world = dist.get_world_size(group)
    blocks = blocks.contiguous()  # collectives read and write plain row-major memory
    received = torch.empty_like(blocks)
    with stage("all_to_all", bytes=nbytes(blocks) * (world - 1) // world):
        dist.all_to_all_single(received, blocks, group=group)
    log.add("all_to_all", nbytes(blocks) * (world - 1) // world)  # block `rank` stays here
    return received


def seq_to_heads(x: torch.Tensor, group, log: CommLog) -> torch.Tensor:
    """(B, heads, N/P, d), this rank's tokens and every head → (B, heads/P, N, d), every token and this rank's heads.

    Head group j (heads j·heads/P … (j+1)·heads/P − 1) is sent to rank j; what comes back from rank i is rank i's
    tokens of this rank's head group, laid end to end in rank order: the whole sequence."""
    world = dist.get_world_size(group)
    blocks = rearrange(x, "b (p h) n d -> p b h n d", p=world)  # p = the rank each head group goes to
    received = all_to_all(blocks, group, log)  # (P, B, heads/P, N/P, d): received[i] = rank i's tokens
    return rearrange(received, "p b h n d -> b h (p n) d")


def heads_to_seq(x: torch.Tensor, group, log: CommLog) -> torch.Tensor:
    """(B, heads/P, N, d) → (B, heads, N/P, d): seq_to_heads backwards, each rank's tokens sent home."""
    world = dist.get_world_size(group)
    blocks = rearrange(x, "b h (p n) d -> p b h n d", p=world)  # p = the rank whose tokens these are
    received = all_to_all(blocks, group, log)  # received[j] = this rank's tokens under rank j's head group
    return rearrange(received, "p b h n d -> b (p h) n d")


def ring_pass(t: torch.Tensor, group, log: CommLog) -> torch.Tensor:
    """Send `t` to the next rank (r + 1 mod P) and return the block of the previous one (r − 1 mod P), same shape.

    After P − 1 passes every rank has seen every rank's block once, having held only two at a time."""
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    to_rank = dist.get_global_rank(group, (rank + 1) % world)
    from_rank = dist.get_global_rank(group, (rank - 1) % world)
    t = t.contiguous()
    received = torch.empty_like(t)
    with stage("ring_pass", bytes=nbytes(t)):
        ops = [dist.P2POp(dist.isend, t, to_rank, group), dist.P2POp(dist.irecv, received, from_rank, group)]
        for request in dist.batch_isend_irecv(ops):
            request.wait()
    log.add("ring_pass", nbytes(t))
    return received


def gather_sequence(x: torch.Tensor, group, log: CommLog, dim: int = 1) -> torch.Tensor:
    """(…, N/P at `dim`, …) on each rank → (…, N, …) on every rank, the ranks' shards in rank order."""
    world = dist.get_world_size(group)
    x = x.contiguous()
    shards = [torch.empty_like(x) for _ in range(world)]
    with stage("all_gather", bytes=nbytes(x) * (world - 1)):
        dist.all_gather(shards, x, group=group)
    log.add("all_gather", nbytes(x) * (world - 1))  # gloo and nccl's ring all-gather send this much per rank
    return torch.cat(shards, dim=dim)
