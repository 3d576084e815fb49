"""The UNet's convolutional pieces: a residual block that hears the timestep, and the 2× down/up samplers.

ResnetBlock2D (Ho et al. 2020, after Wide ResNets), with h the feature map and e the timestep embedding:

    h' = conv1(SiLU(GroupNorm(h)))                          (B, C_out, H, W)
    h' = h' + Linear(SiLU(e))[:, :, None, None]             the timestep enters as a per-channel shift
    h' = conv2(Dropout(SiLU(GroupNorm(h'))))                (B, C_out, H, W)
    out = (shortcut(h) + h') / output_scale_factor          shortcut = 1×1 conv when C_in ≠ C_out, else identity

The VAE uses the same block with no timestep (temb_channels=None): the middle line is skipped.
State-dict keys follow diffusers: norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut.
"""

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"silu": nn.SiLU, "swish": nn.SiLU, "gelu": nn.GELU, "mish": nn.Mish, "relu": nn.ReLU}


def activation(name: str) -> nn.Module:
    """The activation a config names ("silu" and its older name "swish" in every Stable Diffusion config)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: got {name!r}; valid values are {', '.join(map(repr, ACTIVATIONS))}.")
    return ACTIVATIONS[name]()


class ResnetBlock2D(nn.Module):
    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int | None = None,
        temb_channels: int | None = 512,
        groups: int = 32,
        eps: float = 1e-6,
        dropout: float = 0.0,
        non_linearity: str = "swish",
        time_embedding_norm: str = "default",
        output_scale_factor: float = 1.0,
    ):
        super().__init__()
        if time_embedding_norm != "default":
            raise ValueError(
                f"time_embedding_norm: got {time_embedding_norm!r}; difflab supports only 'default' (the timestep "
                "embedding is added as a shift), which every Stable Diffusion 1.x/2.x UNet and VAE uses."
            )
        out_channels = out_channels or in_channels
        self.output_scale_factor = output_scale_factor
        self.act = activation(non_linearity)

        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels) if temb_channels is not None else None
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        # The skip path must match the new channel count: a 1×1 conv, a per-pixel linear map C_in → C_out.
        self.conv_shortcut = (
            nn.Conv2d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C_in, H, W); temb: (B, temb_channels) or None
        h = self.conv1(self.act(self.norm1(x)))  # (B, C_out, H, W)
        if self.time_emb_proj is not None and temb is not None:
            h = h + self.time_emb_proj(self.act(temb))[:, :, None, None]  # (B, C_out) broadcast over H, W
        h = self.conv2(self.dropout(self.act(self.norm2(h))))  # (B, C_out, H, W)
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return (skip + h) / self.output_scale_factor


class Downsample2D(nn.Module):
    """Halve H and W: a stride-2 3×3 conv `conv` (use_conv=True), or a 2×2 average pool.

    padding=1 (the UNet): out = ⌊(H + 2 - 3)/2⌋ + 1 = H/2 for even H.
    padding=0 (the VAE, as in the original LDM code): pad one zero row at the bottom and one column at the
    right first, F.pad(x, (0, 1, 0, 1)), then out = ⌊(H + 1 - 3)/2⌋ + 1 = H/2. Same size, shifted sampling grid:
    a checkpoint trained one way must be run the same way.
    """

    def __init__(self, channels: int, use_conv: bool = True, out_channels: int | None = None, padding: int = 1):
        super().__init__()
        out_channels = out_channels or channels
        self.padding = padding
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels, kernel_size=3, stride=2, padding=padding)
        elif out_channels == channels:
            self.conv = nn.AvgPool2d(kernel_size=2, stride=2)  # no weights; keeps diffusers' attribute name
        else:
            raise ValueError(f"out_channels: got {out_channels} with use_conv=False; pooling keeps {channels}.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) → (B, C_out, H/2, W/2)
        if isinstance(self.conv, nn.Conv2d) and self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))  # (left, right, top, bottom): (B, C, H+1, W+1)
        return self.conv(x)


class Upsample2D(nn.Module):
    """Double H and W: nearest-neighbour ×2 (each pixel becomes a 2×2 block), then a 3×3 conv `conv`.

    `output_size` forces the size instead of ×2: the UNet decoder passes it when an odd-sized input made
    the encoder's skip connection one pixel larger than 2× the current map.
    """

    def __init__(self, channels: int, use_conv: bool = True, out_channels: int | None = None):
        super().__init__()
        out_channels = out_channels or channels
        self.conv = nn.Conv2d(channels, out_channels, kernel_size=3, padding=1) if use_conv else None

    def forward(self, x: torch.Tensor, output_size: tuple[int, int] | None = None) -> torch.Tensor:
        # x: (B, C, H, W) → (B, C_out, 2H, 2W)
        if output_size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, size=output_size, mode="nearest")
        return x if self.conv is None else self.conv(x)
