"""AutoencoderKLWan: the Wan 2.1 video VAE, 8× smaller per side and 4× shorter in time.

    video    (B, 3, 1 + 4n, H, W)        pixels in [-1, 1]
      │ encoder, chunk by chunk: frame 0 alone, then frames 1–4, 5–8, …; quant_conv
    moments  (B, 2·z_dim, 1 + n, H/8, W/8)   [mean | logvar] of q(z | x)
      │ latent_dist.sample() or .mode()
    latents  (B, z_dim, 1 + n, H/8, W/8)     81 frames at 480×832 → (B, 16, 21, 60, 104)
      │ post_quant_conv; decoder, one latent frame at a time; clamp to [-1, 1]
    video    (B, 3, 1 + 4n, H, W)

Every conv is causal in time, so latent frame k depends only on video frames up to 4k: the first frame is
encoded on its own, like an image. Chunks see their past through a FrameCache (causal_conv.py), made fresh
for each encode and decode, so nothing is remembered between calls.

latents_mean / latents_std are NOT applied here. The Wan pipeline normalises per channel:
    after encode:  z_diffusion = (z - latents_mean) / latents_std
    before decode: z = z_diffusion · latents_std + latents_mean

Memory switches, with diffusers' names: `enable_slicing()` encodes and decodes the batch one clip at a time (same
output); `enable_tiling(...)` cuts frames larger than a tile into overlapping tiles and blends them (tiling.py:
the output changes a little at the seams). `decode_in_chunks` shows the time axis: any chunking of the latent
frames after the first decodes to the same video.

diffusers' config fields and state-dict keys are kept, so a diffusers checkpoint loads strict. Left out:
`return_dict`, and the Wan 2.2 variant (is_residual, patch_size), which is refused.
"""

from collections.abc import Mapping

import torch
from torch import nn

from ...schedulers.base import SchedulerConfig
from ..modeling import ModelMixin
from ..vae import AutoencoderKLOutput, DecoderOutput, DiagonalGaussianDistribution
from .causal_conv import CausalConv3d, FrameCache
from .decoder import Decoder3d
from .encoder import Encoder3d
from .tiling import CHUNK, TILE_DEFAULTS, check_tiling, map_tiles  # CHUNK = 4: frames per encoder chunk after the first
from .tiling import blend_h as _blend_h
from .tiling import blend_v as _blend_v

WAN21_LATENTS_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508]
WAN21_LATENTS_MEAN += [0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
WAN21_LATENTS_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743]
WAN21_LATENTS_STD += [3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]


class AutoencoderKLWan(ModelMixin, nn.Module):
    """Causal 3-D encoder → diagonal Gaussian over latents → causal 3-D decoder (diffusers' AutoencoderKLWan)."""

    def __init__(
        self,
        base_dim: int = 96,
        decoder_base_dim: int | None = None,  # None: the same as base_dim
        z_dim: int = 16,
        dim_mult: tuple[int, ...] = (1, 2, 4, 4),
        num_res_blocks: int = 2,
        attn_scales: tuple[float, ...] = (),
        temperal_downsample: tuple[bool, ...] = (False, True, True),  # sic: upstream's spelling, kept for configs
        dropout: float = 0.0,
        latents_mean: tuple[float, ...] = tuple(WAN21_LATENTS_MEAN),  # pipeline only, see the module docstring
        latents_std: tuple[float, ...] = tuple(WAN21_LATENTS_STD),
        is_residual: bool = False,  # Wan 2.2's VAE: refused (not built here)
        in_channels: int = 3,
        out_channels: int = 3,
        patch_size: int | None = None,  # Wan 2.2's VAE: refused
        scale_factor_temporal: int | None = 4,  # recorded for pipelines; the layout above decides the real factor
        scale_factor_spatial: int | None = 8,
    ):
        super().__init__()
        self.config = SchedulerConfig({k: v for k, v in locals().items() if k not in ("self", "__class__")})
        self.ignored_config = {}
        check_config(self.config)

        self.encoder = Encoder3d(
            in_channels=in_channels,
            dim=base_dim,
            z_dim=z_dim * 2,  # mean and logvar
            dim_mult=dim_mult,
            num_res_blocks=num_res_blocks,
            attn_scales=attn_scales,
            temperal_downsample=temperal_downsample,
            dropout=dropout,
        )
        self.quant_conv = CausalConv3d(z_dim * 2, z_dim * 2, 1)  # 1×1×1: per pixel, needs no frame cache
        self.post_quant_conv = CausalConv3d(z_dim, z_dim, 1)
        self.decoder = Decoder3d(
            dim=base_dim if decoder_base_dim is None else decoder_base_dim,
            z_dim=z_dim,
            dim_mult=dim_mult,
            num_res_blocks=num_res_blocks,
            temperal_upsample=tuple(temperal_downsample)[::-1],  # the decoder undoes the encoder's levels in reverse
            dropout=dropout,
            out_channels=out_channels,
        )
        # Memory switches, not config (diffusers' names and defaults): see enable_slicing, enable_tiling.
        self.use_slicing = False
        self.use_tiling = False
        self.tile_sample_min_height = TILE_DEFAULTS["tile_sample_min_height"]  # pixels
        self.tile_sample_min_width = TILE_DEFAULTS["tile_sample_min_width"]
        self.tile_sample_stride_height = TILE_DEFAULTS["tile_sample_stride_height"]  # overlap = min − stride
        self.tile_sample_stride_width = TILE_DEFAULTS["tile_sample_stride_width"]

    def encode(self, x: torch.Tensor) -> AutoencoderKLOutput:
        """Video (B, in_channels, 1 + 4n, H, W) in [-1, 1] → q(z | x) over (B, z_dim, 1 + n, H/8, W/8)."""
        check_video(x, self.config.in_channels)
        if self.use_slicing and x.shape[0] > 1:
            moments = torch.cat([self._encode(clip) for clip in x.split(1)])  # one clip at a time
        else:
            moments = self._encode(x)
        return AutoencoderKLOutput(latent_dist=DiagonalGaussianDistribution(moments))

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """Video (B, C, 1 + 4n, H, W) → moments (B, 2·z_dim, 1 + n, H/8, W/8), tiled if on and x is larger."""
        if self.use_tiling and (x.shape[-2] > self.tile_sample_min_height or x.shape[-1] > self.tile_sample_min_width):
            return self.tiled_encode(x)
        return self._encode_untiled(x)

    def _encode_untiled(self, x: torch.Tensor) -> torch.Tensor:
        """Video (B, C, 1 + 4n, H, W) → moments (B, 2·z_dim, 1 + n, H/8, W/8): frame 0 alone, then 4 at a time."""
        cache = FrameCache()  # this clip's past, for every causal conv of the encoder
        frames = x.shape[2]
        chunks = [x[:, :, :1]] + [x[:, :, i : i + CHUNK] for i in range(1, frames, CHUNK)]  # frame 0, then 4s
        out = torch.cat([self.encoder(chunk, cache) for chunk in chunks], dim=2)  # (B, 2·z_dim, 1 + n, h, w)
        return self.quant_conv(out)

    def decode(self, z: torch.Tensor) -> DecoderOutput:
        """Latents (B, z_dim, 1 + n, h, w) on the VAE's own scale → video (B, out_channels, 1 + 4n, 8h, 8w),
        clamped to [-1, 1]."""
        if z.ndim != 5 or z.shape[1] != self.config.z_dim:
            raise ValueError(
                f"z: got shape {tuple(z.shape)}; decode takes latents (B, {self.config.z_dim}, latent frames, h, w), "
                "as encode(x).latent_dist.sample() gives them."
            )
        if self.use_slicing and z.shape[0] > 1:
            return DecoderOutput(sample=torch.cat([self._decode(clip) for clip in z.split(1)]))  # one at a time
        return DecoderOutput(sample=self._decode(z))

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, z_dim, 1 + n, h, w) → video (B, C, 1 + 4n, 8h, 8w) in [-1, 1], tiled if on and z is larger."""
        f = self.spatial_factor
        if self.use_tiling and (
            z.shape[-2] > self.tile_sample_min_height // f or z.shape[-1] > self.tile_sample_min_width // f
        ):
            return self.tiled_decode(z).sample
        return self.decode_in_chunks(z).clamp(-1.0, 1.0)

    def decode_chunk(self, z: torch.Tensor, cache: FrameCache) -> torch.Tensor:
        """Latent frames (B, z_dim, t, h, w) that continue the clip whose past `cache` holds → video frames, unclamped.

        With an empty cache, z must be the clip's first latent frame alone (t = 1 → 1 video frame); after it,
        any t latent frames give 4·t video frames. `cache` now holds, for every causal conv of the decoder, the
        last ≤ 2 frames it read, ready for the next chunk.
        """
        return self.decoder(self.post_quant_conv(z), cache)  # post_quant_conv is 1×1×1: per frame, no past

    def decode_in_chunks(self, z: torch.Tensor, chunk_frames: int = 1) -> torch.Tensor:
        """Latents (B, z_dim, 1 + n, h, w) → video (B, C, 1 + 4n, 8h, 8w), unclamped: the first latent frame
        alone, then `chunk_frames` at a time, one FrameCache carrying the past. Any chunk_frames ≥ 1 gives the
        same video (to float rounding); larger chunks hold more frames in memory at once. decode uses 1, as upstream.
        """
        if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
            raise ValueError(f"chunk_frames: got {chunk_frames!r}; give a positive int of latent frames per chunk.")
        cache = FrameCache()  # this clip's past, for every causal conv of the decoder
        chunks = [z[:, :, :1]] + [z[:, :, k : k + chunk_frames] for k in range(1, z.shape[2], chunk_frames)]
        return torch.cat([self.decode_chunk(chunk, cache) for chunk in chunks], dim=2)

    # --- memory switches (diffusers' API) ------------------------------------------------------------------

    @property
    def spatial_factor(self) -> int:
        """Pixels per latent cell along H and W: 2 per level but the last (diffusers reads scale_factor_spatial,
        which equals this for every Wan 2.1 config)."""
        return 2 ** (len(self.config.dim_mult) - 1)

    def enable_slicing(self):
        """Encode and decode a batch one clip at a time: the same output, the activation peak of one clip."""
        self.use_slicing = True

    def disable_slicing(self):
        self.use_slicing = False

    def enable_tiling(
        self,
        tile_sample_min_height: int | None = None,
        tile_sample_min_width: int | None = None,
        tile_sample_stride_height: int | None = None,
        tile_sample_stride_width: int | None = None,
    ):
        """Encode / decode frames larger than a tile as overlapping tiles, blended (tiling.py). Sizes in pixels;
        None keeps the current value (defaults 256 tiles, 192 stride, as diffusers). Checked here, before any work."""
        given = dict(
            tile_sample_min_height=tile_sample_min_height,
            tile_sample_min_width=tile_sample_min_width,
            tile_sample_stride_height=tile_sample_stride_height,
            tile_sample_stride_width=tile_sample_stride_width,
        )
        sizes = {name: getattr(self, name) if value is None else value for name, value in given.items()}
        check_tiling(sizes, self.spatial_factor)  # upstream would silently take 0 as "keep", and floor 100 to 96
        for name, value in sizes.items():
            setattr(self, name, value)
        self.use_tiling = True

    def disable_tiling(self):
        self.use_tiling = False

    def tile_settings(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((tile_h, tile_w), (stride_h, stride_w)) in pixels, checked (the attributes may be set by hand)."""
        sizes = {name: getattr(self, name) for name in TILE_DEFAULTS}
        check_tiling(sizes, self.spatial_factor)
        return (self.tile_sample_min_height, self.tile_sample_min_width), (
            self.tile_sample_stride_height,
            self.tile_sample_stride_width,
        )

    def tiled_encode(self, x: torch.Tensor) -> torch.Tensor:
        """Video (B, C, 1 + 4n, H, W) → moments (B, 2·z_dim, 1 + n, H/8, W/8), tile by tile, blended in latent
        units (overlap (tile − stride)/8 cells). Returns the moments tensor, as upstream's does despite its name."""
        tile, stride = self.tile_settings()
        return map_tiles(self._encode_untiled, x, tile, stride, 1 / self.spatial_factor)

    def tiled_decode(self, z: torch.Tensor) -> DecoderOutput:
        """Latents (B, z_dim, 1 + n, h, w) → video (B, C, 1 + 4n, 8h, 8w) in [-1, 1], decoded tile by tile
        (tile/8 × tile/8 cells every stride/8), blended over tile − stride pixels, then clamped."""
        (tile_h, tile_w), (stride_h, stride_w) = self.tile_settings()
        f = self.spatial_factor
        video = map_tiles(self.decode_in_chunks, z, (tile_h // f, tile_w // f), (stride_h // f, stride_w // f), f)
        return DecoderOutput(sample=video.clamp(-1.0, 1.0))

    def blend_v(self, a: torch.Tensor, b: torch.Tensor, blend_extent: int) -> torch.Tensor:
        """Tile `a` (above) faded into `b` (below) over blend_extent rows (tiling.blend_v; b is not modified)."""
        return _blend_v(a, b, blend_extent)

    def blend_h(self, a: torch.Tensor, b: torch.Tensor, blend_extent: int) -> torch.Tensor:
        """Tile `a` (left) faded into `b` (right) over blend_extent columns (tiling.blend_h; b is not modified)."""
        return _blend_h(a, b, blend_extent)

    def forward(
        self, sample: torch.Tensor, sample_posterior: bool = False, generator: torch.Generator | None = None
    ) -> DecoderOutput:
        """Reconstruct: encode, take the posterior's mode (or a sample of it), decode."""
        posterior = self.encode(sample).latent_dist
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z)


def check_video(x: torch.Tensor, in_channels: int):
    """Refuse, before any computation, a video the chunking would silently cut (diffusers drops the tail)."""
    if x.ndim != 5 or x.shape[1] != in_channels:
        raise ValueError(
            f"x: got shape {tuple(x.shape)}; encode takes a video (B, {in_channels}, frames, H, W). Fix: add the "
            "frame axis, e.g. x.unsqueeze(2) for a batch of images (1 frame each)."
        )
    frames = x.shape[2]
    if (frames - 1) % CHUNK:
        fewer = (frames - 1) // CHUNK * CHUNK + 1
        raise ValueError(
            f"x: got {frames} frames; AutoencoderKLWan encodes 1 + 4n frames (1, 5, 9, 13, …): the first frame "
            f"alone, then {CHUNK} at a time. The nearest valid counts are {fewer} and {fewer + CHUNK}. Fix: trim "
            f"the clip to {fewer} frames or pad it to {fewer + CHUNK} (diffusers would silently drop the last "
            f"{frames - fewer})."
        )


def check_config(config: Mapping):
    """Refuse what this implementation does not build, naming the field, the value and the fix."""
    if config.is_residual or config.patch_size is not None:
        raise ValueError(
            f"is_residual / patch_size: got {config.is_residual!r} / {config.patch_size!r}; these select Wan 2.2's "
            "VAE, which difflab does not build. Fix: use the Wan 2.1 VAE config (is_residual=False, patch_size=None)."
        )
    levels = len(config.dim_mult)
    if len(config.temperal_downsample) != levels - 1:
        raise ValueError(
            f"temperal_downsample: got {list(config.temperal_downsample)} for dim_mult {list(config.dim_mult)}; "
            f"give one bool per downsampling level, {levels - 1} in all (Wan 2.1: [False, True, True])."
        )
    for field in ("latents_mean", "latents_std"):
        if len(config[field]) != config.z_dim:
            raise ValueError(
                f"{field}: got {len(config[field])} entries for z_dim {config.z_dim}; give one per latent channel."
            )
