"""Layerwise casting: weights stored in a small dtype, each layer cast up just for its own forward.

    model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)

diffusers' method (hooks/layerwise_casting.py), the same rule for which layers: walking down from the model, a
module whose dotted name matches a skip pattern is left as it is with everything below it; every Linear, Conv
and Embedding reached is stored in `storage_dtype`, cast to `compute_dtype` in a hook before its forward and
back after it. The patterns are diffusers' defaults ("pos_embed", "patch_embed", "norm", "^proj_in$",
"^proj_out$"), the model's `_keep_in_fp32_modules` and its `_skip_layerwise_casting_patterns` (the Wan
transformer adds its patch embedding, condition embedder and norms; the UNet its norms): the small, sensitive
layers stay in full precision.

Storage shrinks by the ratio of the dtypes (float8: a quarter of float32) for the layers cast; compute is as
before, one layer at a time at full width; the output changes by the rounding of the weights (float8 e4m3 keeps
3 mantissa bits: each weight within about 6%). The cast back after forward is exact (every float8 value is a
float32 value), so nothing drifts over steps. It is one-way, as in diffusers: the full-precision weights are gone.
"""

import re

import torch
from torch import nn

from .groups import LEAVES

DEFAULT_SKIP_MODULES_PATTERN = ("pos_embed", "patch_embed", "norm", "^proj_in$", "^proj_out$")
STORAGE_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2, torch.bfloat16, torch.float16)


def apply_layerwise_casting(module: nn.Module, storage_dtype, compute_dtype, skip_modules_pattern) -> list[str]:
    """Store the layers of `module` that no pattern skips in storage_dtype; returns their dotted names."""
    cast = []

    def up(layer, _args):
        layer.to(dtype=compute_dtype)

    def down(layer, _args, _output):
        layer.to(dtype=storage_dtype)

    def walk(sub: nn.Module, prefix: str):
        if any(re.search(pattern, prefix) for pattern in skip_modules_pattern):
            return
        if isinstance(sub, LEAVES):
            sub.to(dtype=storage_dtype)
            sub.register_forward_pre_hook(up)
            sub.register_forward_hook(down)
            cast.append(prefix)
            return
        for name, child in sub.named_children():
            walk(child, f"{prefix}.{name}" if prefix else name)

    walk(module, "")
    return cast


def enable_layerwise_casting(model: nn.Module, storage_dtype=torch.float8_e4m3fn, compute_dtype=None,
                             skip_modules_pattern=None) -> list[str]:  # fmt: skip
    """The model method's body: checks first, then the patterns as diffusers assembles them."""
    if storage_dtype not in STORAGE_DTYPES:
        raise ValueError(
            f"storage_dtype: got {storage_dtype!r}; valid values are torch.float8_e4m3fn (diffusers' default), "
            "torch.float8_e5m2, torch.bfloat16 and torch.float16."
        )
    compute_dtype = compute_dtype or next(model.parameters()).dtype
    if compute_dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"compute_dtype: got {compute_dtype!r}; valid values are torch.float32, bfloat16, float16.")
    if getattr(model, "_layerwise_casting", None):
        raise ValueError("model: layerwise casting is already on; it is one-way, so load the model again to change it.")
    if isinstance(skip_modules_pattern, str):
        skip_modules_pattern = (skip_modules_pattern,)  # one pattern, not its characters
    if skip_modules_pattern is not None and not all(isinstance(p, str) for p in skip_modules_pattern):
        raise ValueError(
            f"skip_modules_pattern: got {skip_modules_pattern!r}; pass a tuple of regular expressions matched "
            "against module names, such as ('norm', '^proj_out$'), or None for diffusers' defaults."
        )
    patterns = tuple(skip_modules_pattern or DEFAULT_SKIP_MODULES_PATTERN)
    patterns += tuple(getattr(model, "_keep_in_fp32_modules", None) or ())
    patterns += tuple(getattr(model, "_skip_layerwise_casting_patterns", None) or ())
    model._layerwise_casting = apply_layerwise_casting(model, storage_dtype, compute_dtype, tuple(set(patterns)))
    model._layerwise_compute_dtype = compute_dtype  # what a pipeline casts the model's inputs to (dtype_of)
    return model._layerwise_casting
