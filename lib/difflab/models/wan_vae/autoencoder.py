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

diffusers' config fields and state-dict keys are kept, so a diffusers checkpoint loads strict. Left out: tiling,
slicing, `return_dict`, and the Wan 2.2 variant (is_residual, patch_size), which is refused.
"""

import inspect
from collections.abc import Mapping

import torch
from torch import nn

from ...schedulers.base import SchedulerConfig
from ..config_schema import config_dict
from ..modeling import ModelMixin
from ..vae import AutoencoderKLOutput, DecoderOutput, DiagonalGaussianDistribution
from .causal_conv import CausalConv3d, FrameCache
from .decoder import Decoder3d
from .encoder import Encoder3d

CHUNK = 4  # frames per encoder chunk after the first (hard-coded upstream): hence clips of 1 + 4n frames

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

    @classmethod
    def from_config(cls, config: Mapping, **overrides) -> "AutoencoderKLWan":
        """Build from a config dict (a vae/config.json); unknown keys go to `ignored_config`, as in diffusers."""
        fields = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        merged = {**config_dict(config, cls), **overrides}
        model = cls(**{k: v for k, v in merged.items() if k in fields})
        model.ignored_config = {k: v for k, v in merged.items() if k not in fields}
        return model

    def encode(self, x: torch.Tensor) -> AutoencoderKLOutput:
        """Video (B, in_channels, 1 + 4n, H, W) in [-1, 1] → q(z | x) over (B, z_dim, 1 + n, H/8, W/8)."""
        check_video(x, self.config.in_channels)
        cache = FrameCache()  # this clip's past, for every causal conv of the encoder
        frames = x.shape[2]
        chunks = [x[:, :, :1]] + [x[:, :, i : i + CHUNK] for i in range(1, frames, CHUNK)]  # frame 0, then 4s
        out = torch.cat([self.encoder(chunk, cache) for chunk in chunks], dim=2)  # (B, 2·z_dim, 1 + n, h, w)
        moments = self.quant_conv(out)
        return AutoencoderKLOutput(latent_dist=DiagonalGaussianDistribution(moments))

    def decode(self, z: torch.Tensor) -> DecoderOutput:
        """Latents (B, z_dim, 1 + n, h, w) on the VAE's own scale → video (B, out_channels, 1 + 4n, 8h, 8w),
        clamped to [-1, 1]."""
        if z.ndim != 5 or z.shape[1] != self.config.z_dim:
            raise ValueError(
                f"z: got shape {tuple(z.shape)}; decode takes latents (B, {self.config.z_dim}, latent frames, h, w), "
                "as encode(x).latent_dist.sample() gives them."
            )
        z = self.post_quant_conv(z)
        cache = FrameCache()
        frames = [self.decoder(z[:, :, k : k + 1], cache) for k in range(z.shape[2])]  # 1 frame, then 4 each
        return DecoderOutput(sample=torch.cat(frames, dim=2).clamp(-1.0, 1.0))

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
