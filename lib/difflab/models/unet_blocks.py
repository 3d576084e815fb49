"""The UNet's levels: stacks of ResnetBlock2Ds (with a Transformer2DModel after each in the cross-attention
blocks) followed by a 2× down- or upsampler. The VAE's blocks (no timestep, no text) are in vae_blocks.py.

Down blocks return their output and every intermediate map (the skip connections). Up blocks pop those skips
from the end, concatenate them on the channel axis and shrink the channels back. SD 1.5 at 512×512 (latents 64×64):

    down level   channels    in → out map    skips pushed (channels)
    0 CrossAttn  320         64 → 32         320, 320, 320     (two resnet+attn outputs, then the downsampled map)
    1 CrossAttn  640         32 → 16         640, 640, 640
    2 CrossAttn  1280        16 → 8          1280, 1280, 1280
    3 Down       1280        8 → 8           1280, 1280        (last level: no downsampler)
    mid          1280        8               resnet, transformer, resnet
    up levels mirror this with layers_per_block + 1 resnets each, reading one skip per resnet.

Every block passes its resnet settings (**resnet_kwargs: dropout, resnet_eps, resnet_act_fn, resnet_groups,
output_scale_factor) to `resnet_stack`. Keys follow diffusers: resnets.N, attentions.N, downsamplers.0, upsamplers.0.
"""

import torch
from torch import nn

from .attention import Transformer2DModel
from .resnet import Downsample2D, ResnetBlock2D, Upsample2D


def resnet_stack(
    in_channels: list[int],
    out_channels: int,
    temb_channels: int | None,
    dropout: float = 0.0,
    resnet_eps: float = 1e-6,
    resnet_act_fn: str = "swish",
    resnet_groups: int = 32,
    output_scale_factor: float = 1.0,
) -> nn.ModuleList:
    """One ResnetBlock2D per entry of in_channels, each ending at out_channels."""
    return nn.ModuleList(
        ResnetBlock2D(
            in_channels=c,
            out_channels=out_channels,
            temb_channels=temb_channels,
            groups=resnet_groups,
            eps=resnet_eps,
            dropout=dropout,
            non_linearity=resnet_act_fn,
            output_scale_factor=output_scale_factor,
        )
        for c in in_channels
    )


def transformer_stack(
    channels: int,
    depths: list[int],
    num_heads: int,
    cross_attention_dim: int,
    norm_num_groups: int,
    use_linear_projection: bool,
    upcast_attention: bool,
) -> nn.ModuleList:
    """One Transformer2DModel per resnet, depths[i] BasicTransformerBlocks deep, heads of width channels / num_heads."""
    return nn.ModuleList(
        Transformer2DModel(
            num_heads,
            channels // num_heads,
            in_channels=channels,
            num_layers=depth,
            cross_attention_dim=cross_attention_dim,
            norm_num_groups=norm_num_groups,
            use_linear_projection=use_linear_projection,
            upcast_attention=upcast_attention,
        )
        for depth in depths
    )


def per_layer(transformer_layers_per_block: int | list[int], num_layers: int) -> list[int]:
    """Transformer depth behind each resnet: one int for the whole block, or one entry per resnet."""
    if isinstance(transformer_layers_per_block, int):
        return [transformer_layers_per_block] * num_layers
    return list(transformer_layers_per_block)


class DownBlock2D(nn.Module):
    """num_layers resnets, then (optionally) a stride-2 conv. (B, C_in, H, W) → (B, C_out, H/2, W/2)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        temb_channels: int | None,
        num_layers: int = 1,
        add_downsample: bool = True,
        downsample_padding: int = 1,
        **resnet_kwargs,
    ):
        super().__init__()
        channels_in = [in_channels] + [out_channels] * (num_layers - 1)
        self.resnets = resnet_stack(channels_in, out_channels, temb_channels, **resnet_kwargs)
        self.downsamplers = None
        if add_downsample:
            self.downsamplers = nn.ModuleList([Downsample2D(out_channels, padding=downsample_padding)])

    def forward(self, x, temb, encoder_hidden_states=None):
        skips = []
        for resnet in self.resnets:
            x = resnet(x, temb)  # (B, C_out, H, W)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)  # (B, C_out, H/2, W/2)
            skips.append(x)
        return x, tuple(skips)


class CrossAttnDownBlock2D(DownBlock2D):
    """DownBlock2D with a Transformer2DModel (self-attention, then cross-attention to the text) after each resnet."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        temb_channels: int,
        num_layers: int = 1,
        num_heads: int = 1,
        cross_attention_dim: int = 1280,
        transformer_layers_per_block: int | list[int] = 1,
        use_linear_projection: bool = False,
        upcast_attention: bool = False,
        resnet_groups: int = 32,
        **down_block_kwargs,
    ):
        super().__init__(
            in_channels, out_channels, temb_channels, num_layers, resnet_groups=resnet_groups, **down_block_kwargs
        )
        self.attentions = transformer_stack(
            out_channels,
            per_layer(transformer_layers_per_block, num_layers),
            num_heads,
            cross_attention_dim,
            resnet_groups,
            use_linear_projection,
            upcast_attention,
        )

    def forward(self, x, temb, encoder_hidden_states=None):
        skips = []
        for resnet, attention in zip(self.resnets, self.attentions):
            x = attention(resnet(x, temb), encoder_hidden_states)  # (B, C_out, H, W)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, tuple(skips)


class UpBlock2D(nn.Module):
    """num_layers resnets, each eating one skip from the down path, then (optionally) nearest ×2 + conv.

    Resnet i sees cat(x, skip): x has prev_output_channel (first resnet) or out_channels; the skips come back in
    reverse order, so the last resnet reads the down level's input map (in_channels), the others out_channels.
    """

    def __init__(
        self,
        in_channels: int,
        prev_output_channel: int,
        out_channels: int,
        temb_channels: int,
        num_layers: int = 1,
        add_upsample: bool = True,
        **resnet_kwargs,
    ):
        super().__init__()
        x_channels = [prev_output_channel] + [out_channels] * (num_layers - 1)
        skip_channels = [out_channels] * (num_layers - 1) + [in_channels]
        channels_in = [x + s for x, s in zip(x_channels, skip_channels)]
        self.resnets = resnet_stack(channels_in, out_channels, temb_channels, **resnet_kwargs)
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels)]) if add_upsample else None

    def forward(self, x, skips: tuple[torch.Tensor, ...], temb, encoder_hidden_states=None, upsample_size=None):
        for i, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips[-1 - i]], dim=1), temb)  # (B, C_x + C_skip, H, W) → (B, C_out, H, W)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, upsample_size)  # (B, C_out, 2H, 2W)
        return x


class CrossAttnUpBlock2D(UpBlock2D):
    """UpBlock2D with a Transformer2DModel after each resnet."""

    def __init__(
        self,
        in_channels: int,
        prev_output_channel: int,
        out_channels: int,
        temb_channels: int,
        num_layers: int = 1,
        num_heads: int = 1,
        cross_attention_dim: int = 1280,
        transformer_layers_per_block: int | list[int] = 1,
        use_linear_projection: bool = False,
        upcast_attention: bool = False,
        resnet_groups: int = 32,
        **up_block_kwargs,
    ):
        super().__init__(
            in_channels,
            prev_output_channel,
            out_channels,
            temb_channels,
            num_layers,
            resnet_groups=resnet_groups,
            **up_block_kwargs,
        )
        self.attentions = transformer_stack(
            out_channels,
            per_layer(transformer_layers_per_block, num_layers),
            num_heads,
            cross_attention_dim,
            resnet_groups,
            use_linear_projection,
            upcast_attention,
        )

    def forward(self, x, skips: tuple[torch.Tensor, ...], temb, encoder_hidden_states=None, upsample_size=None):
        for i, (resnet, attention) in enumerate(zip(self.resnets, self.attentions)):
            x = resnet(torch.cat([x, skips[-1 - i]], dim=1), temb)
            x = attention(x, encoder_hidden_states)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, upsample_size)
        return x


class UNetMidBlock2DCrossAttn(nn.Module):
    """The bottleneck at the lowest resolution: resnet, then num_layers × (transformer, resnet). Shape-preserving."""

    def __init__(
        self,
        in_channels: int,
        temb_channels: int,
        num_layers: int = 1,
        num_heads: int = 1,
        cross_attention_dim: int = 1280,
        transformer_layers_per_block: int | list[int] = 1,
        use_linear_projection: bool = False,
        upcast_attention: bool = False,
        resnet_groups: int = 32,
        **resnet_kwargs,
    ):
        super().__init__()
        channels_in = [in_channels] * (num_layers + 1)
        self.resnets = resnet_stack(
            channels_in, in_channels, temb_channels, resnet_groups=resnet_groups, **resnet_kwargs
        )
        self.attentions = transformer_stack(
            in_channels,
            per_layer(transformer_layers_per_block, num_layers),
            num_heads,
            cross_attention_dim,
            resnet_groups,
            use_linear_projection,
            upcast_attention,
        )

    def forward(self, x, temb, encoder_hidden_states=None):
        x = self.resnets[0](x, temb)  # (B, C, H, W) throughout
        for attention, resnet in zip(self.attentions, self.resnets[1:]):
            x = resnet(attention(x, encoder_hidden_states), temb)
        return x


DOWN_BLOCKS = {"DownBlock2D": DownBlock2D, "CrossAttnDownBlock2D": CrossAttnDownBlock2D}
UP_BLOCKS = {"UpBlock2D": UpBlock2D, "CrossAttnUpBlock2D": CrossAttnUpBlock2D}


def get_block(field: str, block_type: str, cross_attention_kwargs: dict, **kwargs) -> nn.Module:
    """Build a UNet block by its config name; cross_attention_kwargs go only to the CrossAttn variants."""
    blocks = DOWN_BLOCKS if field == "down_block_types" else UP_BLOCKS
    if block_type not in blocks:
        raise ValueError(
            f"{field}: got {block_type!r}; difflab supports {', '.join(map(repr, blocks))} "
            "(the blocks of Stable Diffusion 1.x/2.x)."
        )
    if block_type.startswith("CrossAttn"):
        kwargs.update(cross_attention_kwargs)
    return blocks[block_type](**kwargs)


def get_down_block(down_block_type: str, *, cross_attention_kwargs: dict, **kwargs) -> nn.Module:
    return get_block("down_block_types", down_block_type, cross_attention_kwargs, **kwargs)


def get_up_block(up_block_type: str, *, cross_attention_kwargs: dict, **kwargs) -> nn.Module:
    return get_block("up_block_types", up_block_type, cross_attention_kwargs, **kwargs)
