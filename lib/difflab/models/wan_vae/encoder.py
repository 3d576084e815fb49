"""The Wan VAE encoder: one chunk of frames in, that chunk's latent frames out, 8× smaller per side.

For the Wan 2.1 VAE (base_dim 96, dim_mult 1,2,4,4, temperal_downsample F,T,T) on a chunk of 4 frames at 480×832:

    conv_in                 (B, 3, 4, 480, 832) → 96 channels
    level 0   2 resnets      96 → 96,   downsample2d  (space only)        → (B, 96, 4, 240, 416)
    level 1   2 resnets      96 → 192,  downsample3d  (space and time)    → (B, 192, 2, 120, 208)
    level 2   2 resnets     192 → 384,  downsample3d                      → (B, 384, 1, 60, 104)
    level 3   2 resnets     384 → 384,  no downsample
    mid_block               384 (resnet, attention per frame, resnet)
    norm_out, SiLU, conv_out                                              → (B, 32, 1, 60, 104): mean | logvar

The first chunk is the clip's first frame alone: no time downsampling happens on it (blocks.Resample), so
it gives one latent frame too. `down_blocks` is one flat list (resnets, attentions, resamples in order), as
in diffusers, so the state-dict keys are `down_blocks.<n>.…`.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import AttentionBlock, MidBlock, Resample, ResidualBlock, RMSNorm
from .causal_conv import CausalConv3d, FrameCache


class Encoder3d(nn.Module):
    """diffusers' WanEncoder3d for the Wan 2.1 layout (is_residual=False)."""

    def __init__(
        self,
        in_channels: int = 3,
        dim: int = 128,
        z_dim: int = 4,  # output channels: the model passes 2 · z_dim (mean and logvar)
        dim_mult: tuple[int, ...] = (1, 2, 4, 4),
        num_res_blocks: int = 2,
        attn_scales: tuple[float, ...] = (),
        temperal_downsample: tuple[bool, ...] = (True, True, False),  # sic: upstream spelling, kept for the config
        dropout: float = 0.0,
    ):
        super().__init__()
        dims = [dim * u for u in [1, *dim_mult]]  # channels entering each level, then leaving the last
        scale = 1.0  # current resolution relative to the input; attention goes where it is in attn_scales

        self.conv_in = CausalConv3d(in_channels, dims[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(num_res_blocks):
                self.down_blocks.append(ResidualBlock(in_dim, out_dim, dropout))
                if scale in attn_scales:  # diffusers builds these but its encode then fails (TypeError: feat_cache)
                    self.down_blocks.append(AttentionBlock(out_dim))
                in_dim = out_dim
            if i != len(dim_mult) - 1:  # every level but the last halves H and W (and T where asked)
                mode = "downsample3d" if temperal_downsample[i] else "downsample2d"
                self.down_blocks.append(Resample(out_dim, mode=mode))
                scale /= 2.0
        self.mid_block = MidBlock(out_dim, dropout, num_layers=1)
        self.norm_out = RMSNorm(out_dim, images=False)
        self.conv_out = CausalConv3d(out_dim, z_dim, 3, padding=1)

    def forward(self, x: torch.Tensor, cache: FrameCache) -> torch.Tensor:
        """One chunk (B, C, T, H, W) → (B, z_dim, T', H/8, W/8); T' = 1 for the first frame or for 4 frames."""
        x = self.conv_in(x, cache)
        for layer in self.down_blocks:
            x = layer(x, cache)
        x = self.mid_block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)
