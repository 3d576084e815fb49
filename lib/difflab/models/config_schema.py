"""Config checks: every field's type and range, tested before a single module is built.

A config.json is data from outside. `"transformer_layers_per_block": 1e9` would have the constructor build a
billion blocks (a hang, even on the meta device); `"block_out_channels": ["320"]` a TypeError deep inside
nn.Conv2d. So each model family states in one table what each of its fields may hold,

    "layers_per_block": per_level(Int(1, MAX_LAYERS)),    an int from 1 to 8, or a list with one such int per level

and its constructor runs `check_fields` on that table before anything else, so every way of building it (the
constructor, from_config, build_on_meta, from_pretrained) is checked. The error names the field, the value
received and the valid range. Checks that relate two fields (one block type per level, channels divisible by
norm_num_groups) stay with each model. The limits below are sanity bounds, generous multiples of what published
models use, chosen so that the largest config they allow still builds on meta in a few seconds.
"""

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass

from .resnet import ACTIVATIONS
from .unet_blocks import DOWN_BLOCKS, UP_BLOCKS

MAX_LEVELS = 6  # resolution levels, len(block_out_channels); SD: 4 (each level but the last halves H and W)
MAX_LAYERS = 8  # resnets per level, layers_per_block; SD: 2
MAX_DEPTH = 16  # transformer blocks per attention, transformer_layers_per_block; SDXL: up to 10
MAX_CHANNELS = 16_384  # any channel count, width or head count; SD's widest is 1,280, a T5-XXL text 4,096
MAX_KERNEL = 15  # conv_in_kernel, conv_out_kernel; SD: 3
MAX_SAMPLE_SIZE = 16_384  # sample_size, a training size the model only records
MAX_SCALE = 1_000.0  # scale and shift factors; SD's VAE: 0.18215


@dataclass(frozen=True)
class Int:
    low: int
    high: int

    def accepts(self, value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def __str__(self):
        return f"an int from {self.low:,} to {self.high:,}"


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    above_low: bool = False  # True: `low` itself is not allowed (a norm's eps, a scale factor)

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        return (value > self.low if self.above_low else value >= self.low) and value <= self.high

    def __str__(self):
        return f"a finite number {'>' if self.above_low else '≥'} {self.low:g} and ≤ {self.high:g}"


@dataclass(frozen=True)
class OneOf:
    values: tuple  # exact values: names, True/False, None (1 is not True here)

    def accepts(self, value) -> bool:
        return any(value is v or (type(value) is type(v) and value == v) for v in self.values)

    def __str__(self):
        return f"one of {', '.join(map(repr, self.values))}"


@dataclass(frozen=True)
class ListOf:
    item: object  # the spec every entry must meet
    min_len: int
    max_len: int

    def accepts(self, value) -> bool:
        if not isinstance(value, (list, tuple)) or not self.min_len <= len(value) <= self.max_len:
            return False
        return all(self.item.accepts(v) for v in value)

    def __str__(self):
        length = f"{self.min_len}" if self.min_len == self.max_len else f"{self.min_len} to {self.max_len}"
        return f"a list of {length} entries, each {self.item}"


@dataclass(frozen=True)
class Either:
    options: tuple

    def accepts(self, value) -> bool:
        return any(option.accepts(value) for option in self.options)

    def __str__(self):
        return "; or ".join(map(str, self.options))


BOOL = OneOf((True, False))
NONE = OneOf((None,))
CHANNELS = Int(1, MAX_CHANNELS)
SAMPLE_SIZE = Either((Int(1, MAX_SAMPLE_SIZE), ListOf(Int(1, MAX_SAMPLE_SIZE), 2, 2)))  # size, or (height, width)
ACTIVATION = OneOf(tuple(ACTIVATIONS))


def levels(item) -> ListOf:
    """One entry per resolution level."""
    return ListOf(item, 1, MAX_LEVELS)


def per_level(item) -> Either:
    """One value for every level, or a list with one per level (diffusers allows both)."""
    return Either((item, levels(item)))


UNET_FIELDS = {  # UNet2DConditionModel: every constructor field (the switched-off ones are in UNSUPPORTED_FIELDS)
    "sample_size": Either((NONE, SAMPLE_SIZE)),
    "in_channels": CHANNELS,
    "out_channels": CHANNELS,
    "center_input_sample": BOOL,
    "flip_sin_to_cos": BOOL,
    "freq_shift": Float(0, 1),
    "down_block_types": levels(OneOf(tuple(DOWN_BLOCKS))),
    "mid_block_type": OneOf(("UNetMidBlock2DCrossAttn", None)),
    "up_block_types": levels(OneOf(tuple(UP_BLOCKS))),
    "block_out_channels": levels(CHANNELS),
    "layers_per_block": per_level(Int(1, MAX_LAYERS)),
    "downsample_padding": Int(0, MAX_KERNEL),
    "mid_block_scale_factor": Float(0, MAX_SCALE, above_low=True),
    "dropout": Float(0, 1),
    "act_fn": ACTIVATION,
    "norm_num_groups": CHANNELS,
    "norm_eps": Float(0, 1, above_low=True),
    "cross_attention_dim": per_level(CHANNELS),
    "transformer_layers_per_block": per_level(Int(1, MAX_DEPTH)),
    "attention_head_dim": per_level(CHANNELS),  # the number of heads (diffusers' misleading name)
    "num_attention_heads": Either((NONE, per_level(CHANNELS))),
    "use_linear_projection": BOOL,
    "upcast_attention": OneOf((True, False, None)),  # SDXL's config says null
    "time_embedding_dim": Either((NONE, Int(1, 4 * MAX_CHANNELS))),
    "conv_in_kernel": Int(1, MAX_KERNEL),
    "conv_out_kernel": Int(1, MAX_KERNEL),
}

VAE_FIELDS = {  # AutoencoderKL: every constructor field
    "in_channels": CHANNELS,
    "out_channels": CHANNELS,
    "down_block_types": levels(OneOf(("DownEncoderBlock2D",))),
    "up_block_types": levels(OneOf(("UpDecoderBlock2D",))),
    "block_out_channels": levels(CHANNELS),
    "layers_per_block": Int(1, MAX_LAYERS),
    "act_fn": ACTIVATION,
    "latent_channels": CHANNELS,
    "norm_num_groups": CHANNELS,
    "sample_size": SAMPLE_SIZE,
    "scaling_factor": Float(0, MAX_SCALE, above_low=True),
    "shift_factor": Either((NONE, Float(-MAX_SCALE, MAX_SCALE))),
    "latents_mean": Either((NONE, ListOf(Float(-MAX_SCALE, MAX_SCALE), 1, MAX_CHANNELS))),
    "latents_std": Either((NONE, ListOf(Float(0, MAX_SCALE, above_low=True), 1, MAX_CHANNELS))),
    "force_upcast": BOOL,
    "use_quant_conv": BOOL,
    "use_post_quant_conv": BOOL,
    "mid_block_add_attention": BOOL,
}


def check_fields(model_class, config: Mapping, schema: dict):
    """Raise a ValueError for the first field whose value the schema does not accept."""
    for field, spec in schema.items():
        value = config[field]
        if not spec.accepts(value):
            default = inspect.signature(model_class.__init__).parameters[field].default
            raise ValueError(
                f"{field}: got {shown(value)} ({type(value).__name__}); {model_class.__name__} takes {spec}. "
                f"Fix: correct {field} in the config (the default is {default!r})."
            )


def config_dict(config, model_class) -> dict:
    """from_config's argument as a plain dict, or a ValueError saying what it should be."""
    if not isinstance(config, Mapping):
        raise ValueError(
            f"config: got a {type(config).__name__}; {model_class.__name__}.from_config takes a dict of field → "
            "value (the contents of a config.json, or another model's .config)."
        )
    return dict(config)


def shown(value, limit: int = 80) -> str:
    """repr(value), cut short: a hostile config can hold a million-entry list."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
