"""Offloading: where a pipeline's weights wait while they are not computing, and what moving them costs.

groups.py: diffusers' apply_group_offloading (block- and leaf-level), with a real disk tier on CPU-only machines.
"""

from .groups import OffloadGroup, apply_group_offloading, offload_report, remove_group_offloading

__all__ = ["OffloadGroup", "apply_group_offloading", "offload_report", "remove_group_offloading"]
