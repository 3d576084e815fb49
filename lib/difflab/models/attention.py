"""Attention and the transformer that lets the UNet read the prompt (Vaswani et al. 2017; Rombach et al. 2022 §3.3).

    Attention(Q, K, V) = softmax(Q·Kᵀ / √d) · V          Q = x·W_q,   K = c·W_k,   V = c·W_v

Self-attention: c = x (every pixel looks at every pixel). Cross-attention: c = the text encoder's
tokens, so each latent pixel gathers from the 77 prompt tokens; this is where the prompt enters the UNet.
With `heads` heads, the inner width heads·d is split into `heads` independent attentions of width d.

Transformer2DModel wraps a stack of BasicTransformerBlocks so they run on a feature map:

    (B, C, H, W) → GroupNorm → proj_in → tokens (B, H·W, C') → blocks → proj_out → (B, C, H, W) + residual

and each block is pre-norm:  x += attn1(LN(x));  x += attn2(LN(x), text);  x += FF(LN(x)).
State-dict keys follow diffusers (to_q, to_k, to_v, to_out.0, ff.net.0.proj, ff.net.2, …).
"""

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .attention_dispatch import SDPA, attention


class Attention(nn.Module):
    """Multi-head (cross-)attention on tokens (B, N, C) or on a feature map (B, C, H, W).

    Argument names are diffusers': `query_dim` is the width of x, `cross_attention_dim` the width of the
    context c (None: self-attention), `dim_head` the width d of one head. `norm_num_groups`, when given, puts a
    GroupNorm `group_norm` on x first; `residual_connection` adds x back; the result is divided by
    `rescale_output_factor`. Those three are the VAE's mid-block attention; the UNet uses none of them.
    """

    def __init__(
        self,
        query_dim: int,
        cross_attention_dim: int | None = None,
        heads: int = 8,
        dim_head: int = 64,
        dropout: float = 0.0,
        bias: bool = False,
        out_bias: bool = True,
        upcast_attention: bool = False,
        upcast_softmax: bool = False,
        norm_num_groups: int | None = None,
        eps: float = 1e-5,
        residual_connection: bool = False,
        rescale_output_factor: float = 1.0,
    ):
        super().__init__()
        inner_dim = heads * dim_head
        self.heads = heads
        self.residual_connection = residual_connection
        self.rescale_output_factor = rescale_output_factor
        # upcast_attention / upcast_softmax asked the original code to compute Q·Kᵀ and the softmax in fp32 so
        # fp16 cannot overflow (SD 2.1 sets it). PyTorch's fused attention kernels (flash, memory-efficient) keep
        # the softmax in fp32 anyway; like diffusers' default processor, we accept the flags and do not act on them.
        self.upcast_attention = upcast_attention
        self.upcast_softmax = upcast_softmax

        self.group_norm = nn.GroupNorm(norm_num_groups, query_dim, eps=eps) if norm_num_groups is not None else None
        context_dim = cross_attention_dim if cross_attention_dim is not None else query_dim
        self.to_q = nn.Linear(query_dim, inner_dim, bias=bias)
        self.to_k = nn.Linear(context_dim, inner_dim, bias=bias)
        self.to_v = nn.Linear(context_dim, inner_dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(inner_dim, query_dim, bias=out_bias), nn.Dropout(dropout)])
        self.backend = SDPA  # how softmax(q·kᵀ/√d)·v is computed: set_attention_backend, attention_dispatch.py

    def forward(self, x: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None) -> torch.Tensor:
        residual = x
        is_feature_map = x.ndim == 4
        if is_feature_map:
            height, width = x.shape[-2:]
            x = rearrange(x, "b c h w -> b (h w) c")  # every pixel becomes a token: (B, H·W, C)
        if self.group_norm is not None:
            x = self.group_norm(x.transpose(1, 2)).transpose(1, 2)  # GroupNorm wants channels second: (B, C, N)

        context = x if encoder_hidden_states is None else encoder_hidden_states  # (B, M, C_ctx)
        q, k, v = self.to_q(x), self.to_k(context), self.to_v(context)  # (B, N, heads·d), (B, M, heads·d) ×2
        q, k, v = (rearrange(t, "b n (heads d) -> b heads n d", heads=self.heads) for t in (q, k, v))
        out = attention(q, k, v, backend=self.backend)  # softmax(q·kᵀ/√d)·v: (B, heads, N, d)
        out = rearrange(out, "b heads n d -> b n (heads d)")  # concatenate the heads: (B, N, heads·d)
        out = self.to_out[1](self.to_out[0](out))  # linear back to query_dim, then dropout: (B, N, C)

        if is_feature_map:
            # Back to a map. No .contiguous(): like diffusers' output this stays a view with channels-last memory,
            # so the VAE's next GroupNorm and conv run the same kernels as diffusers' and match it bit for bit.
            out = rearrange(out, "b (h w) c -> b c h w", h=height, w=width)
        if self.residual_connection:
            out = out + residual
        return out / self.rescale_output_factor


class GEGLU(nn.Module):
    """GELU-gated linear unit (Shazeer 2020): one Linear makes a value half and a gate half, out = a · GELU(g)."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, gate = self.proj(x).chunk(2, dim=-1)  # (…, dim_out) each
        return a * F.gelu(gate)


class FeedForward(nn.Module):
    """The per-token MLP: GEGLU up to mult·dim, dropout, Linear back down (keys net.0.proj, net.2)."""

    def __init__(self, dim: int, dim_out: int | None = None, mult: int = 4, dropout: float = 0.0):
        super().__init__()
        inner_dim = dim * mult
        self.net = nn.ModuleList([GEGLU(dim, inner_dim), nn.Dropout(dropout), nn.Linear(inner_dim, dim_out or dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class BasicTransformerBlock(nn.Module):
    """Pre-norm transformer block on tokens (B, N, dim): self-attention, cross-attention to the text, MLP.

        x = x + attn1(LayerNorm₁(x))                          self-attention among the H·W pixels
        x = x + attn2(LayerNorm₂(x), encoder_hidden_states)   cross-attention to the prompt
        x = x + ff(LayerNorm₃(x))                             per-token MLP

    attn2 (and norm2) exist only when cross_attention_dim is given.
    """

    def __init__(
        self,
        dim: int,
        num_attention_heads: int,
        attention_head_dim: int,
        dropout: float = 0.0,
        cross_attention_dim: int | None = None,
        activation_fn: str = "geglu",
        attention_bias: bool = False,
        upcast_attention: bool = False,
        norm_type: str = "layer_norm",
        norm_eps: float = 1e-5,
    ):
        super().__init__()
        if norm_type != "layer_norm":
            raise ValueError(
                f"norm_type: got {norm_type!r}; difflab supports only 'layer_norm', the block of Stable Diffusion "
                "1.x/2.x (the adaptive norms belong to DiT/PixArt-style transformers)."
            )
        if activation_fn != "geglu":
            raise ValueError(f"activation_fn: got {activation_fn!r}; difflab supports only 'geglu' (Stable Diffusion).")
        heads = dict(heads=num_attention_heads, dim_head=attention_head_dim, dropout=dropout, bias=attention_bias)
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn1 = Attention(dim, upcast_attention=upcast_attention, **heads)
        if cross_attention_dim is not None:
            self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
            self.attn2 = Attention(dim, cross_attention_dim, upcast_attention=upcast_attention, **heads)
        else:
            self.norm2 = self.attn2 = None
        self.norm3 = nn.LayerNorm(dim, eps=norm_eps)
        self.ff = FeedForward(dim, dropout=dropout)

    def forward(self, x: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, N, dim); encoder_hidden_states: (B, 77, cross_attention_dim)
        x = x + self.attn1(self.norm1(x))
        if self.attn2 is not None:
            x = x + self.attn2(self.norm2(x), encoder_hidden_states)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    """A stack of transformer blocks applied to a feature map, with a residual around the whole stack.

    proj_in/proj_out are 1×1 convs (SD 1.x) or, with `use_linear_projection` (SD 2.x), Linears on the
    tokens: the same per-pixel map C → C', stored with weight shape (C', C, 1, 1) vs (C', C).
    """

    def __init__(
        self,
        num_attention_heads: int = 16,
        attention_head_dim: int = 88,
        in_channels: int = 320,
        num_layers: int = 1,
        dropout: float = 0.0,
        norm_num_groups: int = 32,
        cross_attention_dim: int | None = None,
        attention_bias: bool = False,
        use_linear_projection: bool = False,
        upcast_attention: bool = False,
        norm_type: str = "layer_norm",
    ):
        super().__init__()
        inner_dim = num_attention_heads * attention_head_dim
        self.use_linear_projection = use_linear_projection
        self.norm = nn.GroupNorm(norm_num_groups, in_channels, eps=1e-6)
        if use_linear_projection:
            self.proj_in = nn.Linear(in_channels, inner_dim)
            self.proj_out = nn.Linear(inner_dim, in_channels)
        else:
            self.proj_in = nn.Conv2d(in_channels, inner_dim, kernel_size=1)
            self.proj_out = nn.Conv2d(inner_dim, in_channels, kernel_size=1)
        block = dict(dropout=dropout, cross_attention_dim=cross_attention_dim, attention_bias=attention_bias)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(
                inner_dim,
                num_attention_heads,
                attention_head_dim,
                upcast_attention=upcast_attention,
                norm_type=norm_type,
                **block,
            )
            for _ in range(num_layers)
        )

    def forward(self, x: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, H, W), e.g. (2, 320, 64, 64) at SD 1.5's first level; text: (B, 77, 768)
        height, width = x.shape[-2:]
        residual = x
        h = self.norm(x)
        if self.use_linear_projection:
            h = self.proj_in(rearrange(h, "b c h w -> b (h w) c"))  # (B, H·W, C')
        else:
            h = rearrange(self.proj_in(h), "b c h w -> b (h w) c")  # (B, H·W, C')
        for block in self.transformer_blocks:
            h = block(h, encoder_hidden_states)  # (B, H·W, C')
        # Back to a map; .contiguous() gives the usual (B, C, H, W) memory layout (as diffusers does), so the
        # next conv and GroupNorm run the same kernels as theirs, to the last bit.
        if self.use_linear_projection:
            h = rearrange(self.proj_out(h), "b (h w) c -> b c h w", h=height, w=width).contiguous()
        else:
            h = self.proj_out(rearrange(h, "b (h w) c -> b c h w", h=height, w=width).contiguous())
        return h + residual  # (B, C, H, W)
