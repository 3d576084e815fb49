"""The Wan VAE decoder: one latent frame in, its video frames out (1 for the first latent frame, 4 after).

For the Wan 2.1 VAE (base_dim 96, dim_mult 1,2,4,4, temperal_downsample F,T,T, so time is upsampled T,T,F):

    conv_in                 (B, 16, 1, 60, 104) → 384 channels
    mid_block               384 (resnet, attention per frame, resnet)
    up_blocks.0  3 resnets  384 → 384, upsample3d: 384 → 192 ch   → (B, 192, 2, 120, 208)
    up_blocks.1  3 resnets  192 → 384, upsample3d: 384 → 192 ch   → (B, 192, 4, 240, 416)
    up_blocks.2  3 resnets  192 → 192, upsample2d: 192 →  96 ch   → (B, 96, 4, 480, 832)
    up_blocks.3  3 resnets   96 →  96, no upsample
    norm_out, SiLU, conv_out                                       → (B, 3, 4, 480, 832)

Each upsampler's conv halves the channels (Resample's upsample_out_dim = dim // 2), so every level after the
first starts from half of the previous level's width: the `in_dim // 2` below. On the first latent frame the
time upsamplers do nothing (blocks.Resample), so it decodes to 1 frame, every later one to 4.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import MidBlock, Resample, ResidualBlock, RMSNorm
from .causal_conv import CausalConv3d, FrameCache


class UpBlock(nn.Module):
    """num_res_blocks + 1 resnets, then an optional Resample (diffusers' WanUpBlock)."""

    def __init__(
        self, in_dim: int, out_dim: int, num_res_blocks: int, dropout: float = 0.0, upsample_mode: str | None = None
    ):
        super().__init__()
        dims = [in_dim] + [out_dim] * num_res_blocks
        self.resnets = nn.ModuleList(ResidualBlock(d, out_dim, dropout) for d in dims)
        # a list of one, as in diffusers, so the keys read `upsamplers.0.…`
        self.upsamplers = nn.ModuleList([Resample(out_dim, mode=upsample_mode)]) if upsample_mode else None

    def forward(self, x: torch.Tensor, cache: FrameCache) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x, cache)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, cache)
        return x


class Decoder3d(nn.Module):
    """diffusers' WanDecoder3d for the Wan 2.1 layout (is_residual=False). attn_scales is unused, as upstream."""

    def __init__(
        self,
        dim: int = 128,
        z_dim: int = 4,
        dim_mult: tuple[int, ...] = (1, 2, 4, 4),
        num_res_blocks: int = 2,
        temperal_upsample: tuple[bool, ...] = (False, True, True),
        dropout: float = 0.0,
        out_channels: int = 3,
    ):
        super().__init__()
        dims = [dim * u for u in [dim_mult[-1], *dim_mult[::-1]]]  # widest first

        self.conv_in = CausalConv3d(z_dim, dims[0], 3, padding=1)
        self.mid_block = MidBlock(dims[0], dropout, num_layers=1)
        self.up_blocks = nn.ModuleList()
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                in_dim = in_dim // 2  # the previous level's upsampler halved the channels
            upsample_mode = None
            if i != len(dim_mult) - 1:
                upsample_mode = "upsample3d" if temperal_upsample[i] else "upsample2d"
            self.up_blocks.append(UpBlock(in_dim, out_dim, num_res_blocks, dropout, upsample_mode))
        self.norm_out = RMSNorm(out_dim, images=False)
        self.conv_out = CausalConv3d(out_dim, out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor, cache: FrameCache) -> torch.Tensor:
        """One latent frame (B, z_dim, 1, h, w) → (B, out_channels, 1 or 4, 8h, 8w)."""
        x = self.conv_in(z, cache)
        x = self.mid_block(x, cache)
        for up_block in self.up_blocks:
            x = up_block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)
