"""The pieces the Wan VAE's encoder and decoder are stacked from (diffusers' names in brackets):

    RMSNorm         [WanRMS_norm]        x / ‖x‖ · √C · γ over channels: no mean subtracted, no groups
    ResidualBlock   [WanResidualBlock]   norm, SiLU, causal conv, norm, SiLU, causal conv, + shortcut
    AttentionBlock  [WanAttentionBlock]  one head over the pixels of each frame separately
    MidBlock        [WanMidBlock]        resnet, attention, resnet
    Resample        [WanResample]        2× in space per frame, and for "…3d" modes 2× in time (causal)

Every block takes the FrameCache of the current pass and hands it to its causal convs (causal_conv.py).
"""

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..attention_dispatch import SDPA, attention
from .causal_conv import CausalConv3d, FrameCache


class RMSNorm(nn.Module):
    """y = x / ‖x‖₂ · √C · γ (+ β), the norm taken over the C channels at each pixel and frame.

    x / ‖x‖₂ · √C equals x / RMS(x) with RMS(x) = √(mean_c x_c²); F.normalize clamps ‖x‖₂ at 1e-12 instead of
    adding an ε. `images=True` shapes γ (C, 1, 1) for (N, C, H, W) input, else (C, 1, 1, 1) for (B, C, T, H, W).
    """

    def __init__(self, dim: int, channel_first: bool = True, images: bool = True, bias: bool = False):
        super().__init__()
        broadcast = (1, 1) if images else (1, 1, 1)
        shape = (dim, *broadcast) if channel_first else (dim,)
        self.channel_first = channel_first
        self.scale = dim**0.5  # √C
        self.gamma = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else 0.0  # no bias anywhere in the Wan 2.1 VAE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low_precision = x.dtype in (torch.float16, torch.bfloat16)  # the norm is taken in float32 for these
        unit = F.normalize(x.float() if low_precision else x, dim=1 if self.channel_first else -1).to(x.dtype)
        return unit * self.scale * self.gamma + self.bias


class ResidualBlock(nn.Module):
    """x + F(x) with F = conv2 ∘ dropout ∘ SiLU ∘ norm2 ∘ conv1 ∘ SiLU ∘ norm1; causal 3×3×3 convs.

    The shortcut is a 1×1×1 conv when the channel count changes, else the identity (no weights).
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = RMSNorm(in_dim, images=False)
        self.conv1 = CausalConv3d(in_dim, out_dim, 3, padding=1)
        self.norm2 = RMSNorm(out_dim, images=False)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = CausalConv3d(out_dim, out_dim, 3, padding=1)
        self.conv_shortcut = CausalConv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: torch.Tensor, cache: FrameCache | None = None) -> torch.Tensor:
        shortcut = self.conv_shortcut(x)  # (B, out_dim, T, H, W)
        x = self.conv1(F.silu(self.norm1(x)), cache)
        x = self.conv2(self.dropout(F.silu(self.norm2(x))), cache)
        return x + shortcut


class AttentionBlock(nn.Module):
    """x + proj(softmax(q kᵀ/√C) v): one head as wide as the channels, over the H·W pixels of each frame.

    Frames never attend to each other, so this block needs no frame cache (diffusers' docstring calls it
    "causal self-attention"; it is per-frame). q, k, v come from one 1×1 conv, to_qkv.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.norm = RMSNorm(dim)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.backend = SDPA  # set_attention_backend changes it (models/attention_dispatch.py)

    def forward(self, x: torch.Tensor, cache: FrameCache | None = None) -> torch.Tensor:
        b, c, t, h, w = x.shape
        identity = x
        x = rearrange(x, "b c t h w -> (b t) c h w")  # each frame its own image
        qkv = self.to_qkv(self.norm(x))  # (B·T, 3C, H, W)
        q, k, v = rearrange(qkv, "n (three c) h w -> three n 1 (h w) c", three=3)  # (B·T, 1 head, H·W, C) each
        x = attention(q, k, v, backend=self.backend)  # softmax(q kᵀ / √C) v
        x = self.proj(rearrange(x, "n 1 (h w) c -> n c h w", h=h, w=w))
        return rearrange(x, "(b t) c h w -> b c t h w", b=b, t=t) + identity


class MidBlock(nn.Module):
    """The bottleneck of encoder and decoder: resnet, then num_layers × (attention, resnet)."""

    def __init__(self, dim: int, dropout: float = 0.0, num_layers: int = 1):
        super().__init__()
        self.attentions = nn.ModuleList(AttentionBlock(dim) for _ in range(num_layers))
        self.resnets = nn.ModuleList(ResidualBlock(dim, dim, dropout) for _ in range(num_layers + 1))

    def forward(self, x: torch.Tensor, cache: FrameCache | None = None) -> torch.Tensor:
        x = self.resnets[0](x, cache)
        for attend, resnet in zip(self.attentions, self.resnets[1:]):
            x = resnet(attend(x), cache)
        return x


class Upsample(nn.Upsample):
    """nn.Upsample computed in float32, returned in the input's dtype (diffusers' WanUpsample)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type_as(x)


class Resample(nn.Module):
    """Halve or double H and W (every frame alike), and for the "…3d" modes T as well, causally.

    downsample2d/3d: pad right and bottom by 1, 3×3 conv stride 2           (B, C, T, H, W) → (…, H/2, W/2)
      3d also:       time_conv, 3×1×1 stride 2 over [last frame before, chunk]  T frames → T/2
    upsample2d/3d:   nearest-exact 2×, 3×3 conv to upsample_out_dim            → (…, 2H, 2W)
      3d also:       time_conv to 2C channels, split into 2 frames per frame   T frames → 2T

    The first chunk of a clip (its first frame) is not resampled in time: 1 frame stays 1 frame, which is why
    a clip of 1 + 4n frames has 1 + n latent frames.
    """

    MODES = ("none", "upsample2d", "upsample3d", "downsample2d", "downsample3d")

    def __init__(self, dim: int, mode: str, upsample_out_dim: int | None = None):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"mode: got {mode!r}; Resample takes one of {self.MODES}.")
        self.mode = mode
        upsample_out_dim = dim // 2 if upsample_out_dim is None else upsample_out_dim  # Wan 2.1 halves channels
        if mode.startswith("upsample"):
            self.resample = nn.Sequential(
                Upsample(scale_factor=(2.0, 2.0), mode="nearest-exact"), nn.Conv2d(dim, upsample_out_dim, 3, padding=1)
            )
        elif mode.startswith("downsample"):
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=(2, 2)))
        else:
            self.resample = nn.Identity()
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))  # 2C: two frames' worth
        elif mode == "downsample3d":
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1), padding=(0, 0, 0))

    def forward(self, x: torch.Tensor, cache: FrameCache) -> torch.Tensor:
        b, t = x.shape[0], x.shape[2]
        if self.mode == "upsample3d":
            x = self.upsample_time(x, cache)
            t = x.shape[2]
        x = self.resample(rearrange(x, "b c t h w -> (b t) c h w"))  # space only, frame by frame
        x = rearrange(x, "(b t) c h w -> b c t h w", b=b, t=t)
        if self.mode == "downsample3d":
            x = self.downsample_time(x, cache)
        return x

    def upsample_time(self, x: torch.Tensor, cache: FrameCache) -> torch.Tensor:
        """(B, C, T, H, W) → (B, C, 2T, H, W); on the clip's first chunk, unchanged."""
        if self.time_conv not in cache:  # first chunk: frame 0 is not doubled
            cache.keep(self.time_conv, x[:, :, :0])  # an empty past: the next chunk starts time_conv's stream
            return x
        x = self.time_conv(x, cache)  # (B, 2C, T, H, W): causal, zero-padded before the second latent frame
        return rearrange(x, "b (two c) t h w -> b c (t two) h w", two=2)  # frame t → frames 2t, 2t+1

    def downsample_time(self, x: torch.Tensor, cache: FrameCache) -> torch.Tensor:
        """(B, C, T, H, W) → (B, C, T/2, H, W); on the clip's first chunk (1 frame), unchanged."""
        past = cache.past(self.time_conv)
        cache.keep(self.time_conv, x[:, :, -1:].clone())
        if past is None:  # first chunk: frame 0 passes through
            return x
        # stride-2 windows over [last frame of the previous chunk, this chunk]: 1 + 4 frames → 2 (no padding)
        return self.time_conv(torch.cat([past[:, :, -1:], x], dim=2))
