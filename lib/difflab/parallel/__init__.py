"""Past one machine: the Wan transformer's video tokens split across processes with torch.distributed.

collectives.py (all-to-all, ring pass, all-gather, the bytes each sends) → attention.py (Ulysses and ring
attention, the log-sum-exp merge) → context.py (ContextParallelConfig, enable_parallelism: where the sequence is
cut and joined; the communication formulas) → launch.py (a torchrun job comparing both with one process).
"""

from .attention import (
    ContextParallelBackend,
    attention_with_lse,
    merge_attention_blocks,
    ring_attention,
    ulysses_attention,
)
from .collectives import CommLog, gather_sequence, heads_to_seq, ring_pass, seq_to_heads
from .context import (
    ContextParallel,
    ContextParallelConfig,
    communication_bytes,
    disable_parallelism,
    enable_parallelism,
)

__all__ = [
    "CommLog",
    "ContextParallel",
    "ContextParallelBackend",
    "ContextParallelConfig",
    "attention_with_lse",
    "communication_bytes",
    "disable_parallelism",
    "enable_parallelism",
    "gather_sequence",
    "heads_to_seq",
    "merge_attention_blocks",
    "ring_attention",
    "ring_pass",
    "seq_to_heads",
    "ulysses_attention",
]
