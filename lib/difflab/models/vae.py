"""AutoencoderKL: the variational autoencoder of Stable Diffusion (Rombach et al. 2022, "latent diffusion").

The diffusion model never sees pixels. This VAE compresses an image 8× per side into a latent and back;
for Stable Diffusion 1.x at 512×512:

    image    (B, 3, 512, 512)   pixels in [-1, 1]
      │ encoder, quant_conv
    moments  (B, 8, 64, 64)     [mean | logvar] of q(z | x): one diagonal Gaussian per latent pixel
      │ latent_dist.sample() or latent_dist.mode()
    latents  (B, 4, 64, 64)     48× fewer numbers than the image
      │ post_quant_conv, decoder
    image    (B, 3, 512, 512)

The KL in the name is the regulariser in its training loss, KL(q(z | x) ‖ N(0, I)) (`latent_dist.kl()`),
weighted so lightly (10⁻⁶ in the LDM configs) that the latents end up far from unit variance: hence
scaling_factor.

scaling_factor is NOT applied here. encode and decode work on the VAE's own latent scale (std ≈ 5.5 for
SD 1.x); the pipeline rescales so the denoiser sees roughly unit variance, exactly as diffusers does:

    after encode:   z_diffusion = (z - shift_factor) · scaling_factor        (0.18215 for SD 1.x, shift 0)
    before decode:  z           = z_diffusion / scaling_factor + shift_factor

This module keeps diffusers' config fields and state-dict keys, so a diffusers checkpoint loads with
`load_state_dict(strict=True)`. Like diffusers it has two memory savers, off until switched on:
`enable_slicing()` (a batch one image at a time: exact) and `enable_tiling()` (images larger than
`tile_sample_min_size` as overlapping tiles blended over `tile_overlap_factor` of a tile: approximate, and each
tile's GroupNorm uses that tile's statistics, so tone can shift from tile to tile; lab a10 measures it). It leaves
out gradient checkpointing and `return_dict` (encode/decode always return an output object).
"""

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ..noise import randn_tensor
from ..schedulers.base import SchedulerConfig
from .config_schema import VAE_FIELDS, check_fields
from .modeling import ModelMixin
from .vae_blocks import Decoder, Encoder


class DiagonalGaussianDistribution:
    """q(z | x) = N(mean, diag(exp(logvar))): what the encoder predicts for each latent pixel.

    `moments` is the encoder's output, (B, 2·C, h, w): the first C channels are the mean, the last C the
    log-variance (for SD: (B, 8, 64, 64) → mean and logvar of shape (B, 4, 64, 64)).
    """

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)  # (B, C, h, w) each
        self.logvar = logvar.clamp(-30.0, 20.0)  # keeps exp() finite: σ² ∈ [e⁻³⁰, e²⁰]
        self.std = torch.exp(0.5 * self.logvar)  # σ
        self.var = torch.exp(self.logvar)  # σ²

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = μ + σ·ε, ε ~ N(0, I) (the reparameterisation trick: gradients flow through μ and σ).

        ε is drawn on the generator's device (so a CPU generator gives the same z on any device), then moved.
        """
        eps = randn_tensor(self.mean.shape, generator, self.mean.dtype, self.mean.device)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        """The most likely latent, μ (diffusers' retrieve_latents, sample_mode="argmax"; img2img samples instead)."""
        return self.mean

    def kl(self, other: "DiagonalGaussianDistribution | None" = None) -> torch.Tensor:
        """KL(self ‖ other), summed over every axis but the batch ((C, h, w), or (C, f, h, w) for video); shape (B,).

        `other` defaults to N(0, I) (diffusers sums over dims (1, 2, 3) only, which leaves (B, w) for video):

        KL = ½ Σ (μ² + σ² - 1 - log σ²)
        KL = ½ Σ ((μ - μ')²/σ'² + σ²/σ'² - 1 - log σ² + log σ'²)     against N(μ', σ'²)
        """
        if other is None:
            terms = self.mean**2 + self.var - 1.0 - self.logvar
        else:
            terms = (self.mean - other.mean) ** 2 / other.var + self.var / other.var - 1.0 - self.logvar + other.logvar
        return 0.5 * terms.flatten(1).sum(dim=1)


@dataclass
class AutoencoderKLOutput:
    """What `encode` returns (diffusers' name): the posterior q(z | x)."""

    latent_dist: DiagonalGaussianDistribution


@dataclass
class DecoderOutput:
    """What `decode` and `forward` return: the image, (B, out_channels, H, W)."""

    sample: torch.Tensor


class AutoencoderKL(ModelMixin, nn.Module):
    """Encoder → diagonal Gaussian over latents → decoder, configured with diffusers' field names.

    Fields that only the pipeline uses (scaling_factor, shift_factor, latents_mean, latents_std,
    force_upcast, sample_size) are kept in `config` and have no effect inside the model.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        down_block_types: tuple[str, ...] = ("DownEncoderBlock2D",),
        up_block_types: tuple[str, ...] = ("UpDecoderBlock2D",),
        block_out_channels: tuple[int, ...] = (64,),
        layers_per_block: int = 1,
        act_fn: str = "silu",
        latent_channels: int = 4,
        norm_num_groups: int = 32,
        sample_size: int = 32,  # training image size; diffusers sizes its tiles from it
        scaling_factor: float = 0.18215,  # pipeline: z_diffusion = (z - shift_factor) · scaling_factor
        shift_factor: float | None = None,  # None means 0 (SD 3 and FLUX use one)
        latents_mean: tuple[float, ...] | None = None,  # per-channel statistics that replace the scalar
        latents_std: tuple[float, ...] | None = None,  # shift/scale where given (Playground v2.5 in the SDXL pipeline)
        force_upcast: bool = True,  # pipeline hint: run the VAE in float32 (SDXL's VAE overflows in float16)
        use_quant_conv: bool = True,
        use_post_quant_conv: bool = True,
        mid_block_add_attention: bool = True,
    ):
        super().__init__()
        self.config = SchedulerConfig({k: v for k, v in locals().items() if k not in ("self", "__class__")})
        self.ignored_config = {}  # keys from_config set aside
        check_config(self.config)

        self.encoder = Encoder(
            in_channels=in_channels,
            out_channels=latent_channels,  # the encoder itself outputs 2 · latent_channels (mean and logvar)
            down_block_types=down_block_types,
            block_out_channels=block_out_channels,
            layers_per_block=layers_per_block,
            act_fn=act_fn,
            norm_num_groups=norm_num_groups,
            mid_block_add_attention=mid_block_add_attention,
        )
        self.decoder = Decoder(
            in_channels=latent_channels,
            out_channels=out_channels,
            up_block_types=up_block_types,
            block_out_channels=block_out_channels,
            layers_per_block=layers_per_block,
            act_fn=act_fn,
            norm_num_groups=norm_num_groups,
            mid_block_add_attention=mid_block_add_attention,
        )
        # 1×1 convolutions on either side of the latent, a relic of the VQ-GAN code latent diffusion grew from
        # ("quantisation" is a no-op for a KL autoencoder). Newer VAEs (SD 3, FLUX) switch them off.
        moment_channels = 2 * latent_channels
        self.quant_conv = nn.Conv2d(moment_channels, moment_channels, 1) if use_quant_conv else None
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1) if use_post_quant_conv else None

        # Memory savers, diffusers' attributes and defaults: tiles as large as the training images, a quarter overlap.
        self.use_slicing = False
        self.use_tiling = False
        self.tile_sample_min_size = sample_size  # pixels; the latent tile is this / vae_scale_factor
        self.tile_overlap_factor = 0.25

    @property
    def vae_scale_factor(self) -> int:
        """How many pixels one latent pixel covers per side: 2^(number of downsamples), 8 for SD."""
        return 2 ** (len(self.config.block_out_channels) - 1)

    def encode(self, x: torch.Tensor) -> AutoencoderKLOutput:
        """Images (B, in_channels, H, W) in [-1, 1] → q(z | x) over latents (B, latent_channels, H/f, W/f)."""
        parts = x.split(1) if self.use_slicing and x.shape[0] > 1 else [x]  # slicing: one image at a time
        moments = torch.cat([self._encode(part) for part in parts])
        return AutoencoderKLOutput(latent_dist=DiagonalGaussianDistribution(moments))

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images → moments (B, 2·latent_channels, H/f, W/f); SD: (B, 8, 64, 64). Tiled if on and x is larger."""
        if self.use_tiling and max(x.shape[-2:]) > self.tile_sample_min_size:
            tile, stride = self.tile_settings()
            return tiled(self._encode, x, tile, stride, 1 / self.vae_scale_factor)
        moments = self.encoder(x)
        return moments if self.quant_conv is None else self.quant_conv(moments)

    def decode(self, z: torch.Tensor) -> DecoderOutput:
        """Latents (B, latent_channels, h, w) on the VAE's own scale (divide by scaling_factor first)
        → images (B, out_channels, h·f, w·f), roughly in [-1, 1] (not clamped)."""
        parts = z.split(1) if self.use_slicing and z.shape[0] > 1 else [z]
        return DecoderOutput(sample=torch.cat([self._decode(part) for part in parts]))

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents → images; SD: (B, 4, 64, 64) → (B, 3, 512, 512). Tiled if on and z is larger than a tile."""
        f = self.vae_scale_factor
        if self.use_tiling and max(z.shape[-2:]) > self.tile_sample_min_size // f:
            tile, stride = self.tile_settings()
            return tiled(self._decode, z, tile // f, stride // f, f)
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        return self.decoder(z)

    def enable_slicing(self):
        """Encode and decode a batch one image at a time: the same output, the activation peak of one image."""
        self.use_slicing = True

    def disable_slicing(self):
        self.use_slicing = False

    def enable_tiling(self, tile_sample_min_size: int | None = None, tile_overlap_factor: float | None = None):
        """Encode / decode images larger than `tile_sample_min_size` pixels (default: the config's sample_size) as
        tiles every (1 − tile_overlap_factor) of a tile, blended over the rest. Checked here, before any work."""
        previous = self.tile_sample_min_size, self.tile_overlap_factor
        if tile_sample_min_size is not None:
            self.tile_sample_min_size = tile_sample_min_size
        if tile_overlap_factor is not None:
            self.tile_overlap_factor = tile_overlap_factor
        try:
            self.tile_settings()
        except ValueError:
            self.tile_sample_min_size, self.tile_overlap_factor = previous  # a refused setting changes nothing
            raise
        self.use_tiling = True

    def disable_tiling(self):
        self.use_tiling = False

    def tile_settings(self) -> tuple[int, int]:
        """(tile, stride) in pixels, as diffusers computes them: stride = int(tile · (1 − overlap factor)). Checked
        (the attributes may be set by hand): the tiles must be whole latent cells, and the rows each tile keeps after
        blending (diffusers' row_limit) must equal the stride in both units, or the tiles would not line up.
        diffusers also keeps `tile_latent_min_size`, fixed at construction: setting its tile_sample_min_size by
        hand changes the encoder's tiles but not the decoder's. Here both follow tile_sample_min_size."""
        tile, factor, f = self.tile_sample_min_size, self.tile_overlap_factor, self.vae_scale_factor
        if isinstance(tile, bool) or not isinstance(tile, int) or tile <= 0 or tile % f:
            raise ValueError(
                f"tile_sample_min_size: got {tile!r}; it is in pixels and must be a positive multiple of the VAE's "
                f"scale factor {f}, such as {8 * f} (with the default overlap, a multiple of {4 * f} lines up)."
            )
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 <= factor < 1:
            raise ValueError(f"tile_overlap_factor: got {factor!r}; valid values are in [0, 1), diffusers' is 0.25.")
        stride, latent_tile = int(tile * (1 - factor)), tile // f
        keep_latent = latent_tile - int(latent_tile * factor)  # diffusers' row_limit when encoding
        keep_pixels = tile - int(tile * factor)  # and when decoding
        if stride != keep_latent * f or int(latent_tile * (1 - factor)) * f != keep_pixels:
            raise ValueError(
                f"tile_sample_min_size: got {tile} with tile_overlap_factor {factor}; the tiles would not line up "
                f"(a stride of {stride} px, but {keep_latent * f} px kept per tile). Use a tile that is a multiple "
                f"of {4 * f} px with the overlap factor 0.25, e.g. {max(4 * f, tile // (4 * f) * 4 * f)}."
            )
        return tile, stride

    def forward(
        self, sample: torch.Tensor, sample_posterior: bool = False, generator: torch.Generator | None = None
    ) -> DecoderOutput:
        """Reconstruct: encode, take the posterior's mode (or a sample of it), decode."""
        posterior = self.encode(sample).latent_dist
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z)


def tiled(fn, x: torch.Tensor, tile: int, stride: int, scale: float) -> torch.Tensor:
    """fn on square tiles of x every `stride`, blended: the Wan VAE's tiling (wan_vae/tiling.py), which is diffusers'
    AutoencoderKL tiling too. Imported here, not at the top, because the Wan VAE imports this module."""
    from .wan_vae.tiling import map_tiles

    return map_tiles(fn, x, (tile, tile), (stride, stride), scale)


def check_config(config: Mapping):
    """Refuse what this implementation does not build, naming the field, the value and the fix: first each field's
    type and range (config_schema.VAE_FIELDS), then the fields that must agree with each other."""
    check_fields(AutoencoderKL, config, VAE_FIELDS)
    levels = len(config.block_out_channels)
    for field in ("down_block_types", "up_block_types"):
        if len(config[field]) != levels:
            raise ValueError(
                f"{field}: got {len(config[field])} blocks but block_out_channels {list(config.block_out_channels)} "
                f"has {levels} levels; give one block type per level."
            )
    for channels in config.block_out_channels:
        if channels % config.norm_num_groups:
            raise ValueError(
                f"norm_num_groups: got {config.norm_num_groups}, which does not divide {channels} "
                f"(block_out_channels {list(config.block_out_channels)}); choose a common divisor, such as "
                f"{_common_divisor(config.block_out_channels, config.norm_num_groups)}."
            )
    for field in ("latents_mean", "latents_std"):
        if config[field] is not None and len(config[field]) != config.latent_channels:
            raise ValueError(
                f"{field}: got {len(config[field])} entries for {config.latent_channels} latent_channels; give one "
                "per latent channel, or None to use scaling_factor and shift_factor instead."
            )


def _common_divisor(values, at_most: int) -> int:
    """The largest number ≤ at_most that divides every value (for the error message above)."""
    return max(g for g in range(1, at_most + 1) if all(v % g == 0 for v in values))
