"""The Stable Diffusion 1.x/2.x denoiser: a UNet that predicts the noise ε̂ in a latent, given t and the prompt.

    ε̂ = UNet(z_t, t, text)            z_t: (B, 4, 64, 64) latents,  text: (B, 77, 768) CLIP tokens (SD 1.5, 512×512)

Data flow, shapes for SD 1.5 at 512×512 (B = 2 with classifier-free guidance):

    t      → Timesteps → (B, 320) → TimestepEmbedding → temb (B, 1280), added inside every ResnetBlock2D
    z_t    → conv_in                                   (B, 320, 64, 64)   pushed as the first skip
           → down_blocks: 64 → 32 → 16 → 8             (B, 1280, 8, 8)    each pushes its intermediate maps
           → mid_block                                 (B, 1280, 8, 8)
           → up_blocks:   8 → 16 → 32 → 64             (B, 320, 64, 64)   each pops and concatenates skips
           → GroupNorm → SiLU → conv_out               (B, 4, 64, 64)     ε̂ (or v̂, per the scheduler's prediction_type)

The constructor takes diffusers' config fields by name, so `UNet2DConditionModel(**config)` works on the
unet/config.json of SD 1.x and 2.x and a diffusers state dict loads with strict=True. Fields for other
models (SDXL, LCM, unCLIP…) are recognised and refused with a ValueError rather than silently ignored.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ..schedulers.base import SchedulerConfig
from .config_schema import UNET_FIELDS, check_fields
from .embeddings import TimestepEmbedding, Timesteps
from .modeling import ModelMixin
from .resnet import activation
from .unet_blocks import UNetMidBlock2DCrossAttn, get_down_block, get_up_block

# diffusers fields that difflab does not implement: the value that switches each off, and what it is for.
UNSUPPORTED_FIELDS = {
    "class_embed_type": (None, "class/noise-level conditioning (SD 2.x unCLIP, x4 upscaler)"),
    "num_class_embeds": (None, "class-label conditioning"),
    "class_embeddings_concat": (False, "class-label conditioning"),
    "projection_class_embeddings_input_dim": (None, "class or SDXL micro-conditioning"),
    "addition_embed_type": (None, "extra embeddings added to temb (SDXL's 'text_time', Kandinsky)"),
    "addition_time_embed_dim": (None, "SDXL's size and crop conditioning"),
    "addition_embed_type_num_heads": (64, "addition_embed_type"),
    "encoder_hid_dim": (None, "a projection of the text features before cross-attention (Kandinsky, IF)"),
    "encoder_hid_dim_type": (None, "a projection of the text features before cross-attention"),
    "time_cond_proj_dim": (None, "guidance-scale conditioning of distilled models (LCM)"),
    "time_embedding_type": ("positional", "the timestep code; 'fourier' is for score-SDE models"),
    "time_embedding_act_fn": (None, "an activation after the timestep MLP"),
    "timestep_post_act": (None, "an activation after the timestep MLP"),
    "resnet_time_scale_shift": ("default", "how temb enters the resnets; 'scale_shift' is FiLM-style"),
    "resnet_skip_time_act": (False, "the resnets of unCLIP/IF models"),
    "resnet_out_scale_factor": (1.0, "the resnets of IF-style blocks"),
    "dual_cross_attention": (False, "Versatile Diffusion"),
    "only_cross_attention": (False, "attn1 reading the text too (Versatile Diffusion-style blocks)"),
    "mid_block_only_cross_attention": (None, "the same for the mid block"),
    "attention_type": ("default", "GLIGEN's gated attention"),
    "cross_attention_norm": (None, "a norm on the text features, for SimpleCrossAttn blocks"),
    "reverse_transformer_layers_per_block": (None, "asymmetric transformer depths (some SDXL variants)"),
}


@dataclass
class UNet2DConditionOutput:
    sample: torch.Tensor  # (B, out_channels, H, W): the model's prediction at the input's resolution


def per_block(field: str, value, num_blocks: int) -> list:
    """An int for every level, or a list with one entry per level (checked against len(down_block_types))."""
    if isinstance(value, (list, tuple)):
        if len(value) != num_blocks:
            raise ValueError(
                f"{field}: got {list(value)} ({len(value)} entries); give one entry per down block "
                f"({num_blocks}, the length of down_block_types), or a single value for all of them."
            )
        return list(value)
    return [value] * num_blocks


def check_unsupported(fields: dict):
    for name, value in fields.items():
        if name not in UNSUPPORTED_FIELDS:
            raise TypeError(
                f"UNet2DConditionModel got an unexpected config field {name!r}; to build from a config.json with "
                "extra keys, use UNet2DConditionModel.from_config(config), which sets them aside in ignored_config."
            )
        default, purpose = UNSUPPORTED_FIELDS[name]
        values = value if isinstance(value, (list, tuple)) else [value]  # only_cross_attention may be per block
        if any(v != default for v in values):
            raise ValueError(
                f"{name}: got {value!r}; difflab's UNet2DConditionModel supports only {default!r}. The field serves "
                f"{purpose}, which is not part of Stable Diffusion 1.x/2.x. Fix: load this checkpoint with diffusers, "
                f"or leave {name} at {default!r}."
            )


def check_levels(config: Mapping, num_heads: list[int], depths: list):
    """The per-level fields must agree with each other; raise a ValueError naming the field that does not."""
    down, up, channels = config["down_block_types"], config["up_block_types"], config["block_out_channels"]
    if not len(up) == len(channels) == len(down):
        raise ValueError(
            f"down_block_types, up_block_types, block_out_channels: got {len(down)}, {len(up)} and "
            f"{len(channels)} entries; give all three one entry per resolution level."
        )
    if config["mid_block_type"] not in ("UNetMidBlock2DCrossAttn", None):
        raise ValueError(
            f"mid_block_type: got {config['mid_block_type']!r}; valid values are 'UNetMidBlock2DCrossAttn' "
            "(SD 1.x/2.x) and None (no mid block)."
        )
    for field in ("conv_in_kernel", "conv_out_kernel"):
        if config[field] % 2 == 0:
            raise ValueError(f"{field}: got {config[field]}; use an odd size (3 in SD) so 'same' padding exists.")
    if not all(isinstance(depth, int) for depth in depths):
        raise ValueError(
            f"transformer_layers_per_block: got {config['transformer_layers_per_block']!r}; give one int per "
            "level (per-resnet depths need reverse_transformer_layers_per_block, which difflab does not support)."
        )
    groups = config["norm_num_groups"]
    has_attention = ["CrossAttn" in d or "CrossAttn" in u for d, u in zip(down, up[::-1])]
    has_attention[-1] |= config["mid_block_type"] is not None
    for i, c in enumerate(channels):
        if c % groups:
            raise ValueError(
                f"block_out_channels: got {c} at level {i}, not divisible by norm_num_groups ({groups}); "
                "GroupNorm needs whole groups. Change one of the two."
            )
        if has_attention[i] and c % num_heads[i]:
            raise ValueError(
                f"attention_head_dim: got {num_heads[i]} heads at level {i}, which does not divide its {c} "
                "channels (block_out_channels); each head gets channels / heads of them."
            )


class UNet2DConditionModel(ModelMixin, nn.Module):
    extra_config_fields = tuple(UNSUPPORTED_FIELDS)  # diffusers fields taken by **other_diffusers_fields
    _skip_layerwise_casting_patterns = ["norm"]  # as diffusers: enable_layerwise_casting leaves the norms alone

    def __init__(
        self,
        sample_size: int | tuple[int, int] | None = None,
        in_channels: int = 4,
        out_channels: int = 4,
        center_input_sample: bool = False,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        mid_block_type: str | None = "UNetMidBlock2DCrossAttn",
        up_block_types: tuple[str, ...] = (
            "UpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int | tuple[int, ...] = 2,
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1,
        dropout: float = 0.0,
        act_fn: str = "silu",
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        cross_attention_dim: int | tuple[int, ...] = 1280,
        transformer_layers_per_block: int | tuple[int, ...] = 1,
        attention_head_dim: int | tuple[int, ...] = 8,
        num_attention_heads: int | tuple[int, ...] | None = None,
        use_linear_projection: bool = False,
        upcast_attention: bool = False,
        time_embedding_dim: int | None = None,
        conv_in_kernel: int = 3,
        conv_out_kernel: int = 3,
        **other_diffusers_fields,
    ):
        super().__init__()
        config = {k: v for k, v in locals().items() if k not in ("self", "__class__", "other_diffusers_fields")}
        check_unsupported(other_diffusers_fields)
        check_fields(UNet2DConditionModel, config, UNET_FIELDS)  # types and ranges, before anything is built
        defaults = {name: default for name, (default, _) in UNSUPPORTED_FIELDS.items()}
        self.config = SchedulerConfig({**config, **defaults, **other_diffusers_fields})
        self.ignored_config = {}  # keys from_config received that are not UNet fields (_class_name, …)

        n = len(down_block_types)
        # diffusers' `attention_head_dim` is, in UNet configs, the NUMBER of heads (a naming slip kept for
        # checkpoint compatibility); `num_attention_heads`, when given, says the same thing honestly.
        num_heads = per_block("attention_head_dim", num_attention_heads or attention_head_dim, n)
        layers = per_block("layers_per_block", layers_per_block, n)
        text_dims = per_block("cross_attention_dim", cross_attention_dim, n)
        depths = per_block("transformer_layers_per_block", transformer_layers_per_block, n)
        check_levels(self.config, num_heads, depths)

        # Input and timestep: (B, in, H, W) → (B, C₀, H, W);  t → (B, C₀) → (B, 4·C₀)
        c0 = block_out_channels[0]
        self.conv_in = nn.Conv2d(in_channels, c0, conv_in_kernel, padding=conv_in_kernel // 2)
        self.time_proj = Timesteps(c0, flip_sin_to_cos, freq_shift)
        temb_channels = time_embedding_dim or 4 * c0
        self.time_embedding = TimestepEmbedding(c0, temb_channels, act_fn)

        shared = dict(  # what every block takes
            temb_channels=temb_channels,
            dropout=dropout,
            resnet_eps=norm_eps,
            resnet_act_fn=act_fn,
            resnet_groups=norm_num_groups,
        )

        def attention_kwargs(level):  # what only the CrossAttn blocks take
            return dict(
                num_heads=num_heads[level],
                cross_attention_dim=text_dims[level],
                transformer_layers_per_block=depths[level],
                use_linear_projection=use_linear_projection,
                upcast_attention=upcast_attention,
            )

        # Down path: level i maps block_out_channels[i-1] → block_out_channels[i]; all but the last halve H, W.
        self.down_blocks = nn.ModuleList()
        for i, block_type in enumerate(down_block_types):
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    in_channels=block_out_channels[max(i - 1, 0)],
                    out_channels=block_out_channels[i],
                    num_layers=layers[i],
                    add_downsample=i < n - 1,
                    downsample_padding=downsample_padding,
                    cross_attention_kwargs=attention_kwargs(i),
                    **shared,
                )
            )

        self.mid_block = None
        if mid_block_type is not None:
            self.mid_block = UNetMidBlock2DCrossAttn(
                block_out_channels[-1],
                output_scale_factor=mid_block_scale_factor,
                **attention_kwargs(n - 1),
                **shared,
            )

        # Up path, deepest level first. Up block i has one more resnet than its down twin: it also consumes the
        # skip its twin's downsampler (or, for the last one, conv_in) pushed. `in_channels` are the channels of
        # that extra skip, those of the next-shallower level.
        self.up_blocks = nn.ModuleList()
        reversed_channels = list(reversed(block_out_channels))
        for i, block_type in enumerate(up_block_types):
            level = n - 1 - i  # the down level this up block mirrors
            self.up_blocks.append(
                get_up_block(
                    block_type,
                    in_channels=reversed_channels[min(i + 1, n - 1)],
                    prev_output_channel=reversed_channels[max(i - 1, 0)],
                    out_channels=reversed_channels[i],
                    num_layers=layers[level] + 1,
                    add_upsample=i < n - 1,
                    cross_attention_kwargs=attention_kwargs(level),
                    **shared,
                )
            )

        # Output: (B, C₀, H, W) → (B, out_channels, H, W)
        self.conv_norm_out = nn.GroupNorm(norm_num_groups, c0, eps=norm_eps)
        self.conv_act = activation(act_fn)
        self.conv_out = nn.Conv2d(c0, out_channels, conv_out_kernel, padding=conv_out_kernel // 2)

    def forward(
        self,
        sample: torch.Tensor,
        timestep,
        encoder_hidden_states: torch.Tensor,
        down_block_additional_residuals: tuple[torch.Tensor, ...] | None = None,
        mid_block_additional_residual: torch.Tensor | None = None,
        return_dict: bool = True,
    ):
        # sample: (B, 4, 64, 64); timestep: a number or (B,); encoder_hidden_states: (B, 77, 768)
        if self.config.center_input_sample:
            sample = 2 * sample - 1.0  # [0, 1] → [-1, 1]

        timesteps = torch.as_tensor(timestep, device=sample.device)
        timesteps = timesteps.reshape(-1).expand(sample.shape[0])  # one timestep per sample: (B,)
        temb = self.time_embedding(self.time_proj(timesteps).to(sample.dtype))  # (B, 320) → (B, 1280)

        x = self.conv_in(sample)  # (B, 320, 64, 64)
        skips = (x,)
        for block in self.down_blocks:
            x, block_skips = block(x, temb, encoder_hidden_states)
            skips += block_skips  # 12 maps in all for SD: 64² ×4 (320), 32² ×3 (640), 16² ×3, 8² ×2 (1280)

        if down_block_additional_residuals is not None:  # ControlNet: one residual per skip, same shapes
            skips = tuple(s + r for s, r in zip(skips, down_block_additional_residuals, strict=True))
        if self.mid_block is not None:
            x = self.mid_block(x, temb, encoder_hidden_states)  # (B, 1280, 8, 8)
        if mid_block_additional_residual is not None:
            x = x + mid_block_additional_residual

        for block in self.up_blocks:
            block_skips, skips = skips[-len(block.resnets) :], skips[: -len(block.resnets)]
            # Upsample to exactly the size of the skip the next block will read (2× unless H or W was odd).
            upsample_size = skips[-1].shape[-2:] if skips else None
            x = block(x, block_skips, temb, encoder_hidden_states, upsample_size)  # 8² → 16² → 32² → 64², then 64²

        x = self.conv_out(self.conv_act(self.conv_norm_out(x)))  # (B, 4, 64, 64)
        return UNet2DConditionOutput(sample=x) if return_dict else (x,)
