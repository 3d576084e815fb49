"""One Wan transformer block: self-attention and feed-forward modulated by the timestep, cross-attention not.

The timestep reaches each block as six vectors (adaLN, as in DiT; Peebles & Xie 2023), shifted by a learned
per-block `scale_shift_table` (1, 6, D) and computed in float32 whatever the model's dtype:

    shift, scale, gate, c_shift, c_scale, c_gate = scale_shift_table + timestep_proj         each (B, 1, D)
    x = x + gate   · attn1(LN₁(x)·(1 + scale) + shift, RoPE)              self-attention over the video tokens
    x = x +          attn2(LN₂(x), text [, image])                         cross-attention: no gate, no modulation
    x = x + c_gate · ffn(LN₃(x)·(1 + c_scale) + c_shift)                   GELU(tanh) MLP, dim → ffn_dim → dim

LN₁ and LN₃ have no weights (the modulation is their affine part); LN₂ has weights when cross_attn_norm (every
Wan2.1 model) and is the identity otherwise.

Trap: the original Wan checkpoints call the cross-attention norm `norm3` and the feed-forward norm `norm2`;
diffusers (and difflab) swap them to the order they run in. convert.py renames the keys.
"""

import torch
from torch import nn

from .attention import WanAttention
from .embeddings import FeedForward, FP32LayerNorm


class WanTransformerBlock(nn.Module):
    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        num_heads: int,
        cross_attn_norm: bool = False,
        eps: float = 1e-6,
        added_kv_proj_dim: int | None = None,
    ):
        super().__init__()
        head_dim = dim // num_heads
        self.norm1 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.attn1 = WanAttention(dim, heads=num_heads, dim_head=head_dim, eps=eps)
        self.attn2 = WanAttention(dim, heads=num_heads, dim_head=head_dim, eps=eps, added_kv_proj_dim=added_kv_proj_dim)
        self.norm2 = FP32LayerNorm(dim, eps, elementwise_affine=True) if cross_attn_norm else nn.Identity()
        self.ffn = FeedForward(dim, ffn_dim, approximate="tanh")
        self.norm3 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        temb: torch.Tensor,
        rotary_emb: tuple[torch.Tensor, torch.Tensor],
        num_image_tokens: int = 0,
        text_log_counts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """hidden_states (B, N, D); encoder_hidden_states (B, n_img + L, D); temb = timestep_proj (B, 6, D);
        text_log_counts: see WanTransformer3DModel.forward."""
        x = hidden_states
        modulation = (self.scale_shift_table + temb.float()).chunk(6, dim=1)  # fp32, 6 × (B, 1, D)
        shift, scale, gate, c_shift, c_scale, c_gate = modulation

        # 1. Self-attention, modulated and gated
        h = (self.norm1(x.float()) * (1 + scale) + shift).type_as(x)
        x = (x.float() + self.attn1(h, None, rotary_emb) * gate).type_as(x)

        # 2. Cross-attention to the text (and image) tokens
        h = self.norm2(x.float()).type_as(x)
        x = x + self.attn2(h, encoder_hidden_states, None, num_image_tokens, text_log_counts)

        # 3. Feed-forward, modulated and gated
        h = (self.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
        x = (x.float() + self.ffn(h).float() * c_gate).type_as(x)
        return x
