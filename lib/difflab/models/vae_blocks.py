"""The two halves of the Stable Diffusion VAE: an Encoder down to moments, a Decoder back up to pixels.

Both are plain convolutional ladders built from the UNet's pieces with no timestep and no skip connections:
the three blocks below (DownEncoderBlock2D, UpDecoderBlock2D, UNetMidBlock2D), then Encoder and Decoder.
For SD 1.x (block_out_channels (128, 256, 512, 512), layers_per_block 2) at 512×512:

    Encoder                                          Decoder
    conv_in          (B, 3, 512, 512) → 128 @ 512    conv_in          (B, 4, 64, 64) → 512 @ 64
    down_blocks.0    128 → 128,  512 → 256           mid_block        512 @ 64 (resnet, attention, resnet)
    down_blocks.1    128 → 256,  256 → 128           up_blocks.0      512 → 512,  64 → 128
    down_blocks.2    256 → 512,  128 → 64            up_blocks.1      512 → 512,  128 → 256
    down_blocks.3    512 → 512,  64 (no downsample)  up_blocks.2      512 → 256,  256 → 512
    mid_block        512 @ 64                        up_blocks.3      256 → 128,  512 (no upsample)
    norm, SiLU, conv_out → (B, 8, 64, 64) moments    norm, SiLU, conv_out → (B, 3, 512, 512)

Each encoder level has layers_per_block resnets, each decoder level one more. The mid-block attention is one
head as wide as the channels, over all 64·64 = 4,096 latent pixels: the decoder's largest activation at 512².
Every norm here uses eps = 1e-6 (the LDM code's value, not PyTorch's 1e-5).
"""

import torch
from torch import nn

from .attention import Attention
from .resnet import Upsample2D
from .unet_blocks import DownBlock2D, resnet_stack

EPS = 1e-6  # GroupNorm epsilon throughout the VAE


class UNetMidBlock2D(nn.Module):
    """The VAE's bottleneck: resnet, then num_layers × (self-attention over all pixels, resnet). No text.

    The attention has its own GroupNorm, biases on q/k/v and a residual connection (diffusers' Attention with
    norm_num_groups, bias=True, residual_connection=True). `attention_head_dim` here really is the head width:
    heads = in_channels // attention_head_dim (the SD VAE passes in_channels, so one head).
    """

    def __init__(
        self,
        in_channels: int,
        temb_channels: int | None = None,
        num_layers: int = 1,
        add_attention: bool = True,
        attention_head_dim: int | None = None,
        resnet_eps: float = 1e-6,
        resnet_groups: int = 32,
        output_scale_factor: float = 1.0,
        **resnet_kwargs,
    ):
        super().__init__()
        channels_in = [in_channels] * (num_layers + 1)
        resnet_kwargs.update(
            resnet_eps=resnet_eps, resnet_groups=resnet_groups, output_scale_factor=output_scale_factor
        )
        self.resnets = resnet_stack(channels_in, in_channels, temb_channels, **resnet_kwargs)
        head_dim = attention_head_dim or in_channels
        self.attentions = nn.ModuleList(
            Attention(
                in_channels,
                heads=in_channels // head_dim,
                dim_head=head_dim,
                bias=True,
                upcast_softmax=True,
                norm_num_groups=resnet_groups,
                eps=resnet_eps,
                residual_connection=True,
                rescale_output_factor=output_scale_factor,
            )
            if add_attention
            else nn.Identity()
            for _ in range(num_layers)
        )

    def forward(self, x, temb=None):
        x = self.resnets[0](x, temb)  # (B, C, H, W) throughout
        for attention, resnet in zip(self.attentions, self.resnets[1:]):
            x = resnet(attention(x), temb)
        return x


class DownEncoderBlock2D(DownBlock2D):
    """The VAE encoder's level: resnets with no timestep, then a stride-2 conv. Returns only the map."""

    def __init__(self, in_channels: int, out_channels: int, **down_block_kwargs):
        super().__init__(in_channels, out_channels, temb_channels=None, **down_block_kwargs)

    def forward(self, x):
        return super().forward(x, temb=None)[0]


class UpDecoderBlock2D(nn.Module):
    """The VAE decoder's level: resnets with no skips (and no timestep), then nearest ×2 + conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_layers: int = 1,
        add_upsample: bool = True,
        temb_channels: int | None = None,
        **resnet_kwargs,
    ):
        super().__init__()
        channels_in = [in_channels] + [out_channels] * (num_layers - 1)
        self.resnets = resnet_stack(channels_in, out_channels, temb_channels, **resnet_kwargs)
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels)]) if add_upsample else None

    def forward(self, x, temb=None):
        for resnet in self.resnets:
            x = resnet(x, temb)
        return x if self.upsamplers is None else self.upsamplers[0](x)


def mid_block(channels: int, act_fn: str, norm_num_groups: int, add_attention: bool) -> UNetMidBlock2D:
    """resnet → self-attention (one head of width `channels`) → resnet, shape-preserving."""
    return UNetMidBlock2D(
        in_channels=channels,
        temb_channels=None,
        resnet_eps=EPS,
        resnet_act_fn=act_fn,
        resnet_groups=norm_num_groups,
        add_attention=add_attention,
        attention_head_dim=channels,  # head width = channels, so heads = 1
    )


class Encoder(nn.Module):
    """Image (B, in_channels, H, W) → moments (B, 2·out_channels, H/f, W/f), f = 2^(len(block_out_channels) - 1).

    `out_channels` is the number of latent channels; the output has twice as many, mean and log-variance.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = ("DownEncoderBlock2D",),
        block_out_channels: tuple[int, ...] = (64,),
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        act_fn: str = "silu",
        mid_block_add_attention: bool = True,
    ):
        super().__init__()
        # down_block_types is checked by AutoencoderKL; every level here is a DownEncoderBlock2D.
        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)
        channels_in = [block_out_channels[0], *block_out_channels[:-1]]  # level i reads level i-1's output
        self.down_blocks = nn.ModuleList(
            DownEncoderBlock2D(
                c_in,
                c_out,
                num_layers=layers_per_block,
                resnet_eps=EPS,
                resnet_act_fn=act_fn,
                resnet_groups=norm_num_groups,
                add_downsample=i < len(block_out_channels) - 1,  # the last level keeps its resolution
                downsample_padding=0,  # pad right/bottom by one, then a stride-2 conv (see resnet.Downsample2D)
            )
            for i, (c_in, c_out) in enumerate(zip(channels_in, block_out_channels))
        )
        self.mid_block = mid_block(block_out_channels[-1], act_fn, norm_num_groups, mid_block_add_attention)
        self.conv_norm_out = nn.GroupNorm(norm_num_groups, block_out_channels[-1], eps=EPS)
        self.conv_act = nn.SiLU()  # SiLU whatever act_fn says (so in diffusers too)
        self.conv_out = nn.Conv2d(block_out_channels[-1], 2 * out_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)  # (B, C_0, H, W)
        for block in self.down_blocks:
            h = block(h)  # level i: (B, C_i, H/2^i, W/2^i) → (B, C_i, H/2^(i+1), W/2^(i+1)), last level no ↓
        h = self.mid_block(h)  # (B, C_last, H/f, W/f)
        return self.conv_out(self.conv_act(self.conv_norm_out(h)))  # (B, 2·latent_channels, H/f, W/f)


class Decoder(nn.Module):
    """Latents (B, in_channels, h, w) → image (B, out_channels, h·f, w·f): the encoder's ladder run backwards."""

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 3,
        up_block_types: tuple[str, ...] = ("UpDecoderBlock2D",),
        block_out_channels: tuple[int, ...] = (64,),
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        act_fn: str = "silu",
        mid_block_add_attention: bool = True,
    ):
        super().__init__()
        # up_block_types is checked by AutoencoderKL; every level here is an UpDecoderBlock2D.
        reversed_channels = list(reversed(block_out_channels))  # SD: [512, 512, 256, 128]
        self.conv_in = nn.Conv2d(in_channels, reversed_channels[0], kernel_size=3, padding=1)
        self.mid_block = mid_block(reversed_channels[0], act_fn, norm_num_groups, mid_block_add_attention)
        channels_in = [reversed_channels[0], *reversed_channels[:-1]]  # level i reads level i-1's output
        self.up_blocks = nn.ModuleList(
            UpDecoderBlock2D(
                c_in,
                c_out,
                num_layers=layers_per_block + 1,  # one more resnet than the encoder's level
                resnet_eps=EPS,
                resnet_act_fn=act_fn,
                resnet_groups=norm_num_groups,
                add_upsample=i < len(reversed_channels) - 1,
            )
            for i, (c_in, c_out) in enumerate(zip(channels_in, reversed_channels))
        )
        self.conv_norm_out = nn.GroupNorm(norm_num_groups, block_out_channels[0], eps=EPS)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(block_out_channels[0], out_channels, kernel_size=3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)  # (B, C_last, h, w)
        h = self.mid_block(h)  # (B, C_last, h, w): the mid block runs before the up blocks
        for block in self.up_blocks:
            h = block(h)  # (B, C, h', w') → (B, C', 2h', 2w'), last level no ↑
        return self.conv_out(self.conv_act(self.conv_norm_out(h)))  # (B, out_channels, h·f, w·f)
