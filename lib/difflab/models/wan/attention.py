"""Wan's attention: q/k RMS-normalised over all heads, RoPE on self-attention, an optional image branch.

    q = RMSNorm(x·W_q),  k = RMSNorm(c·W_k),  v = c·W_v              RMSNorm over heads·d channels at once
    attn1 (self):   c = x, q and k rotated by the 3-D RoPE           (B, N, D) → (B, N, D)
    attn2 (cross):  c = the text tokens (B, L, D)
                    + Attention(q, RMSNorm(img·W_k'), img·W_v')      image-to-video only: a second attention over
                                                                     the image tokens, added before to_out

Keys follow diffusers' WanAttention: to_q, to_k, to_v, to_out.0, norm_q, norm_k; add_k_proj, add_v_proj,
norm_added_k for the image branch.

Trap (diffusers): WanAttnProcessor finds the image tokens by assuming exactly 512 text tokens, splitting the
context as `image_context_length = L − 512`; with fewer text tokens the split lands in the wrong place (or
gives the image branch nothing) without an error. Here the caller passes `num_image_tokens`: context[:, :n] are
the image tokens, the rest the text, whatever their number. With 512 text tokens the two agree exactly.
"""

import torch
from einops import rearrange
from torch import nn

from .. import attention_dispatch
from .rope import apply_rotary_emb


def attention(q, k, v, log_counts: torch.Tensor | None = None, backend=attention_dispatch.SDPA) -> torch.Tensor:
    """softmax(q·kᵀ/√d)·v per head; q (B, N, heads, d), k and v (B, M, heads, d) → (B, N, heads·d).

    log_counts (M,) or (B, M), difflab only: key m stands for exp(log_counts[m]) identical keys (and values), its
    logit raised by that log. Exact: softmax over n equal rows = one row with weight n."""
    q, k, v = (rearrange(t, "b n heads d -> b heads n d") for t in (q, k, v))
    bias = None if log_counts is None else log_counts.to(q.dtype).reshape(-1, 1, 1, k.shape[2])  # (B|1, 1, 1, M)
    out = attention_dispatch.attention(q, k, v, bias, backend)  # (B, heads, N, d)
    return rearrange(out, "b heads n d -> b n (heads d)")


class WanAttention(nn.Module):
    """Multi-head attention on tokens (B, N, dim). `added_kv_proj_dim` (the width of the image tokens, which the
    condition embedder has already brought to `dim`) adds the image branch; diffusers builds it in attn2 only."""

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        dim_head: int = 64,
        eps: float = 1e-5,
        dropout: float = 0.0,
        added_kv_proj_dim: int | None = None,
    ):
        super().__init__()
        inner_dim = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner_dim)
        self.to_k = nn.Linear(dim, inner_dim)
        self.to_v = nn.Linear(dim, inner_dim)
        self.to_out = nn.ModuleList([nn.Linear(inner_dim, dim), nn.Dropout(dropout)])
        # One RMSNorm over all heads·d channels, before the split into heads ("rms_norm_across_heads"); FLUX and
        # others normalise each head's d channels instead. diffusers builds this whatever `qk_norm` says.
        self.norm_q = nn.RMSNorm(inner_dim, eps=eps)
        self.norm_k = nn.RMSNorm(inner_dim, eps=eps)
        self.backend = attention_dispatch.SDPA  # set_attention_backend changes it (attention_dispatch.py)

        self.add_k_proj = self.add_v_proj = None
        if added_kv_proj_dim is not None:
            self.add_k_proj = nn.Linear(added_kv_proj_dim, inner_dim)
            self.add_v_proj = nn.Linear(added_kv_proj_dim, inner_dim)
            self.norm_added_k = nn.RMSNorm(inner_dim, eps=eps)  # keys only: the image branch has no norm_added_q

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        return rearrange(t, "b n (heads d) -> b n heads d", heads=self.heads)  # (B, N, heads·d) → (B, N, heads, d)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        num_image_tokens: int = 0,
        text_log_counts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """hidden_states (B, N, dim); encoder_hidden_states (B, n_img + L, dim) or None for self-attention,
        whose first `num_image_tokens` are image tokens (only with the image branch); rotary_emb: (cos, sin);
        text_log_counts (L,) or (B, L): see attention()."""
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        image = None
        if num_image_tokens:
            if self.add_k_proj is None:
                raise ValueError(
                    f"num_image_tokens: got {num_image_tokens}, but this attention has no image branch "
                    "(added_kv_proj_dim=None); pass 0, or build the model with added_kv_proj_dim set."
                )
            image, context = context[:, :num_image_tokens], context[:, num_image_tokens:]  # (B, n_img, D), (B, L, D)

        q = self.split_heads(self.norm_q(self.to_q(hidden_states)))  # (B, N, heads, d)
        k = self.split_heads(self.norm_k(self.to_k(context)))  # (B, M, heads, d)
        v = self.split_heads(self.to_v(context))
        if rotary_emb is not None:  # self-attention only: rotate q and k by each token's (f, h, w) angles
            q, k = apply_rotary_emb(q, *rotary_emb), apply_rotary_emb(k, *rotary_emb)

        out = attention(q, k, v, text_log_counts, self.backend).type_as(q)  # (B, N, heads·d)
        if image is not None:  # the same queries, attending to the image tokens on their own
            k_img = self.split_heads(self.norm_added_k(self.add_k_proj(image)))
            v_img = self.split_heads(self.add_v_proj(image))
            out = out + attention(q, k_img, v_img, backend=self.backend).type_as(q)
        return self.to_out[1](self.to_out[0](out))  # (B, N, dim)
