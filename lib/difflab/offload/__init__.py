"""Offloading: where a pipeline's weights wait while they are not computing, and what moving them costs.

groups.py      diffusers' apply_group_offloading (block- and leaf-level), with a real disk tier on CPU-only machines
components.py  a whole pipeline: one model at a time (model offload) or one layer at a time (sequential offload)
casting.py     weights stored in float8 or bfloat16, each layer cast up for its own forward
"""

from .casting import enable_layerwise_casting
from .components import (
    ModelOffload,
    disable_sequential_cpu_offload,
    enable_model_cpu_offload,
    enable_sequential_cpu_offload,
)
from .groups import OffloadGroup, apply_group_offloading, offload_report, remove_group_offloading

__all__ = [
    "ModelOffload",
    "OffloadGroup",
    "apply_group_offloading",
    "disable_sequential_cpu_offload",
    "enable_layerwise_casting",
    "enable_model_cpu_offload",
    "enable_sequential_cpu_offload",
    "offload_report",
    "remove_group_offloading",
]
