"""One attention, four ways to compute it, so that the memory ledger can show what each one holds.

    out = softmax(q·kᵀ/√d + bias)·v      q (B, heads, N, d); k, v (B, heads, M, d); bias broadcast to (B, heads, N, M)

backend     how                                                 scores held at once (floats, besides q, k, v, out)
"naive"     scores = q·kᵀ/√d (+ bias), softmax, ·v              B·heads·N·M, twice (scores and probabilities)
"sdpa"      F.scaled_dot_product_attention: PyTorch picks a     none for its fused kernels (flash, memory-efficient),
            fused kernel where one applies, else its math path  which walk the keys in blocks; math holds them all
"sliced"    naive on `slice_size` of the B·heads (batch, head)  slice_size·N·M, twice
            pairs at a time: diffusers' attention slicing
"chunked"   naive on `chunk_size` queries at a time (the query  B·heads·chunk_size·M, twice
            half of Rabe & Staats 2021; keys stay whole)

All four give the same output up to float rounding (tests: within 1e-5). Only the peak and the time differ: naive
grows with N·M, sliced and chunked with one slice or chunk of it, and sdpa's fused kernels hold no scores at all.
Every attention module in difflab (the UNet's, the VAEs', Wan's) keeps an `AttentionBackend` in `.backend` and
calls `attention` with it; `set_attention_backend(model, name, …)` changes it everywhere in a model, and a
pipeline's `enable_attention_slicing(slice_size)` does so for its denoiser, as diffusers' does for the UNet.

diffusers has the same two layers: processors (AttnProcessor2_0 for SDPA, SlicedAttnProcessor) chosen per module by
`set_attention_slice`, and, since 0.35, `attention_dispatch.dispatch_attention_fn` with backends picked by
`model.set_attention_backend("flash" | "native" | …)`, whose native ones are all SDPA.
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

BACKENDS = ("naive", "sdpa", "sliced", "chunked")
PARALLEL = ("ulysses", "ring")  # context parallel backends (difflab.parallel), set by enable_parallelism only
SLICE_WORDS = ("auto", "max")  # diffusers' enable_attention_slicing words: half the heads at a time, or one


@dataclass(frozen=True)
class AttentionBackend:
    """Which attention to run, with its one option (`slice_size` for "sliced", `chunk_size` for "chunked")."""

    name: str = "sdpa"
    slice_size: int | str | None = None
    chunk_size: int | None = None


SDPA = AttentionBackend()


def attention_backend(name: str = "sdpa", slice_size: int | str | None = None, chunk_size: int | None = None):
    """A checked AttentionBackend: refuses unknown names and options that do not fit the name, before any work."""
    if name not in BACKENDS:
        raise ValueError(f"backend: got {name!r}; valid backends are {', '.join(map(repr, BACKENDS))}.")
    if name == "sliced":
        if slice_size is None:
            slice_size = "auto"
        elif isinstance(slice_size, str) and slice_size not in SLICE_WORDS:
            raise ValueError(
                f"slice_size: got {slice_size!r}; valid values are a positive int (batch·head pairs at a time), "
                "'auto' (half the heads at a time) or 'max' (one at a time, the smallest peak)."
            )
        elif not isinstance(slice_size, str) and not _positive_int(slice_size):
            raise ValueError(f"slice_size: got {slice_size!r}; it must be a positive int, 'auto' or 'max'.")
    elif slice_size is not None:
        raise ValueError(f"slice_size: got {slice_size!r} with backend {name!r}; only 'sliced' takes a slice_size.")
    if name == "chunked":
        if not _positive_int(chunk_size):
            raise ValueError(
                f"chunk_size: got {chunk_size!r}; backend 'chunked' needs a positive int, the number of queries "
                "attended at a time (e.g. chunk_size=256)."
            )
    elif chunk_size is not None:
        raise ValueError(f"chunk_size: got {chunk_size!r} with backend {name!r}; only 'chunked' takes a chunk_size.")
    return AttentionBackend(name, slice_size, chunk_size)


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None):
    """The formula as written: every score (B, heads, N, M) is a tensor of its own."""
    scores = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5  # (B, heads, N, M)
    if bias is not None:
        scores = scores + bias
    return scores.softmax(dim=-1) @ v  # (B, heads, N, d)


def sliced_attention(q, k, v, bias=None, slice_size: int | str = "auto"):
    """naive_attention on `slice_size` (batch, head) pairs at a time, as diffusers' SlicedAttnProcessor."""
    b, heads, n, _ = q.shape
    m = k.shape[2]
    slice_size = {"auto": max(1, heads // 2), "max": 1}.get(slice_size, slice_size)
    pairs = lambda t: t.reshape(b * heads, *t.shape[2:])  # (B, heads, …) → (B·heads, …), pair p = batch·heads + head
    q, k, v = pairs(q), pairs(k.expand(b, heads, m, -1)), pairs(v.expand(b, heads, m, -1))
    bias = None if bias is None else bias.expand(b, heads, n, m)  # a view: no bias is copied beyond one slice
    out = q.new_empty(b * heads, n, v.shape[-1])
    for start in range(0, b * heads, slice_size):
        part = slice(start, start + slice_size)
        p = torch.arange(b * heads)[part]  # the pairs of this slice, to pick their bias rows
        part_bias = None if bias is None else bias[p // heads, p % heads]  # (slice, N, M)
        out[part] = naive_attention(q[part], k[part], v[part], part_bias)
    return out.reshape(b, heads, n, -1)


def chunked_attention(q, k, v, bias=None, chunk_size: int = 256):
    """naive_attention on `chunk_size` queries at a time: each query's softmax needs every key, never other queries."""
    n = q.shape[2]
    if bias is not None:
        bias = bias.expand(*bias.shape[:-2], n, bias.shape[-1])  # one row per query, so it can be cut like q
    outs = [
        naive_attention(q[:, :, i : i + chunk_size], k, v, None if bias is None else bias[..., i : i + chunk_size, :])
        for i in range(0, n, chunk_size)
    ]
    return torch.cat(outs, dim=2)  # (B, heads, N, d)


def attention(q, k, v, bias: torch.Tensor | None = None, backend: AttentionBackend = SDPA) -> torch.Tensor:
    """softmax(q·kᵀ/√d + bias)·v with `backend`; q (B, heads, N, d), k and v (B, heads, M, d) → (B, heads, N, d)."""
    if backend.name in PARALLEL:  # the tokens are split across processes: lib/difflab/parallel/attention.py
        return backend(q, k, v, bias)
    if backend.name == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    if backend.name == "naive":
        return naive_attention(q, k, v, bias)
    if backend.name == "sliced":
        return sliced_attention(q, k, v, bias, backend.slice_size)
    return chunked_attention(q, k, v, bias, backend.chunk_size)


def set_attention_backend(model: nn.Module, name: str = "sdpa", slice_size=None, chunk_size=None) -> int:
    """Give every attention module in `model` the backend `name` (checked first); returns how many it changed."""
    backend = attention_backend(name, slice_size, chunk_size)
    changed = 0
    for module in model.modules():
        current = getattr(module, "backend", None)
        if isinstance(current, AttentionBackend):  # a context parallel one keeps its split, attends with `backend`
            module.backend = replace(current, local=backend) if current.name in PARALLEL else backend
            changed += 1
    if changed == 0:
        raise ValueError(
            f"model: a {type(model).__name__} has no difflab attention modules, so there is no backend to set; "
            "pass a UNet, a transformer or a VAE."
        )
    return changed
