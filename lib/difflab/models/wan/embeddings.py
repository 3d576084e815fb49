"""What the Wan blocks read besides the video tokens: the timestep, the text and (image-to-video) an image.

    t      → sinusoid (freq_dim) → time_embedder: Linear, SiLU, Linear → temb (B, D)
           → time_proj(SiLU(temb)) → timestep_proj (B, 6·D)      six modulation vectors, shared by every block
    text   (B, L, text_dim) → text_embedder: Linear, GELU(tanh), Linear → (B, L, D)
    image  (B, 257, image_dim) → image_embedder: LayerNorm, Linear, GELU, Linear, LayerNorm → (B, 257, D)

Wan2.1 sizes: freq_dim 256, text_dim 4096 (UMT5-XXL tokens, 512 per prompt), image_dim 1280 (CLIP ViT-H/14's
257 penultimate-layer tokens), D = 1536 (1.3B) or 5120 (14B). Keys follow diffusers' WanTimeTextImageEmbedding.
The small pieces diffusers borrows from elsewhere (FP32LayerNorm, the GELU feed-forward) are defined here.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..embeddings import TimestepEmbedding, Timesteps


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input's dtype, returned in the input's dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


class GELUProjection(nn.Module):
    """Linear then GELU (`approximate='tanh'` for diffusers' "gelu-approximate"); key `proj`."""

    def __init__(self, dim_in: int, dim_out: int, approximate: str = "none"):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.proj(x), approximate=self.approximate)


class FeedForward(nn.Module):
    """x → GELU(x·W₁ + b₁)·W₂ + b₂ per token, (B, N, dim) → (B, N, dim_out); keys net.0.proj, net.2 (net.1: dropout)."""

    def __init__(self, dim: int, inner_dim: int, dim_out: int | None = None, approximate: str = "none"):
        super().__init__()
        self.net = nn.ModuleList(
            [GELUProjection(dim, inner_dim, approximate), nn.Dropout(0.0), nn.Linear(inner_dim, dim_out or dim)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TextProjection(nn.Module):
    """diffusers' PixArtAlphaTextProjection with GELU(tanh): (B, L, text_dim) → (B, L, D); keys linear_1, linear_2."""

    def __init__(self, in_features: int, hidden_size: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_features, hidden_size)
        self.act_1 = nn.GELU(approximate="tanh")
        self.linear_2 = nn.Linear(hidden_size, hidden_size)

    def forward(self, caption: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act_1(self.linear_1(caption)))


class WanImageEmbedding(nn.Module):
    """CLIP image tokens → the model's width: (B, n, image_dim) → (B, n, D).

    With `pos_embed_seq_len` (first-last-frame models, FLF2V) the two frames' tokens arrive stacked on the batch,
    (2B, n, image_dim), are laid side by side, (B, 2n, image_dim), and get a learned position embedding.
    """

    def __init__(self, in_features: int, out_features: int, pos_embed_seq_len: int | None = None):
        super().__init__()
        self.norm1 = FP32LayerNorm(in_features)
        self.ff = FeedForward(in_features, in_features, out_features)
        self.norm2 = FP32LayerNorm(out_features)
        self.pos_embed = None
        if pos_embed_seq_len is not None:
            self.pos_embed = nn.Parameter(torch.zeros(1, pos_embed_seq_len, in_features))

    def forward(self, encoder_hidden_states_image: torch.Tensor) -> torch.Tensor:
        x = encoder_hidden_states_image
        if self.pos_embed is not None:
            _, n, channels = x.shape
            x = x.reshape(-1, 2 * n, channels) + self.pos_embed  # (2B, n, C) → (B, 2n, C), as diffusers' view
        return self.norm2(self.ff(self.norm1(x)))


class WanTimeTextImageEmbedding(nn.Module):
    """timestep (B,), text (B, L, text_dim)[, image] → temb (B, D), timestep_proj (B, 6·D), text (B, L, D)[, image]."""

    def __init__(
        self,
        dim: int,
        time_freq_dim: int,
        time_proj_dim: int,
        text_embed_dim: int,
        image_embed_dim: int | None = None,
        pos_embed_seq_len: int | None = None,
    ):
        super().__init__()
        self.timesteps_proj = Timesteps(time_freq_dim, flip_sin_to_cos=True, downscale_freq_shift=0)  # [cos | sin]
        self.time_embedder = TimestepEmbedding(time_freq_dim, dim)
        self.act_fn = nn.SiLU()
        self.time_proj = nn.Linear(dim, time_proj_dim)
        self.text_embedder = TextProjection(text_embed_dim, dim)
        self.image_embedder = None
        if image_embed_dim is not None:
            self.image_embedder = WanImageEmbedding(image_embed_dim, dim, pos_embed_seq_len)

    def forward(
        self,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
    ):
        sinusoid = self.timesteps_proj(timestep)  # (B, freq_dim), float32
        sinusoid = sinusoid.to(self.time_embedder.linear_1.weight.dtype)  # fp32 when the time MLP is kept in fp32
        temb = self.time_embedder(sinusoid).type_as(encoder_hidden_states)  # (B, D)
        timestep_proj = self.time_proj(self.act_fn(temb))  # (B, 6·D)
        encoder_hidden_states = self.text_embedder(encoder_hidden_states)  # (B, L, D)
        if encoder_hidden_states_image is not None:
            if self.image_embedder is None:
                raise ValueError(
                    "encoder_hidden_states_image: got image tokens, but this model has no image embedder "
                    "(image_dim=None, a text-to-video model); pass None, or use an image-to-video config."
                )
            encoder_hidden_states_image = self.image_embedder(encoder_hidden_states_image)  # (B, n_img, D)
        return temb, timestep_proj, encoder_hidden_states, encoder_hidden_states_image
