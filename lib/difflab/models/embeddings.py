"""How the UNet hears the timestep: a sinusoidal code (Vaswani et al. 2017, §3.5; Ho et al. 2020) and an MLP.

For timestep t and k = 0 … half-1, with half = dim // 2:

    ω_k = exp(-ln(max_period) · k / (half - downscale_freq_shift))    frequencies from 1 down to ~1/max_period
    emb = [sin(scale·t·ω_k) for all k, cos(scale·t·ω_k) for all k]      (B, dim)

Stable Diffusion uses flip_sin_to_cos=True (cosines first) and downscale_freq_shift=0, as its original code did.
TimestepEmbedding then maps that fixed code to a learned one: Linear → SiLU → Linear, (B, 320) → (B, 1280) in SD.
Every ResnetBlock2D adds its own projection of this vector to its feature map.
"""

import math

import torch
from torch import nn

from .resnet import activation


def timestep_embedding(
    timesteps: torch.Tensor,
    dim: int,
    flip_sin_to_cos: bool = False,
    downscale_freq_shift: float = 1,
    scale: float = 1,
    max_period: int = 10000,
) -> torch.Tensor:
    """Sinusoidal code of timesteps (B,), integer or fractional → (B, dim) float32; an odd dim gets a zero column."""
    if timesteps.ndim != 1:
        raise ValueError(
            f"timesteps: got shape {tuple(timesteps.shape)}; pass a 1-D tensor with one timestep per sample."
        )
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=timesteps.device)
    frequencies = torch.exp(-math.log(max_period) * k / (half - downscale_freq_shift))  # ω_k: (half,)
    angles = scale * (timesteps[:, None].float() * frequencies[None, :])  # t·ω_k: (B, half)
    sin, cos = torch.sin(angles), torch.cos(angles)
    emb = torch.cat([cos, sin] if flip_sin_to_cos else [sin, cos], dim=-1)  # (B, 2·half)
    if dim % 2 == 1:
        emb = nn.functional.pad(emb, (0, 1))  # (B, dim)
    return emb


class Timesteps(nn.Module):
    """timestep_embedding as a module (no weights), so the UNet lists it among its layers as `time_proj`."""

    def __init__(self, num_channels: int, flip_sin_to_cos: bool, downscale_freq_shift: float, scale: float = 1):
        super().__init__()
        self.num_channels = num_channels
        self.flip_sin_to_cos = flip_sin_to_cos
        self.downscale_freq_shift = downscale_freq_shift
        self.scale = scale

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        return timestep_embedding(
            timesteps, self.num_channels, self.flip_sin_to_cos, self.downscale_freq_shift, self.scale
        )


class TimestepEmbedding(nn.Module):
    """The learned part: linear_1 → act → linear_2, (B, in_channels) → (B, time_embed_dim)."""

    def __init__(self, in_channels: int, time_embed_dim: int, act_fn: str = "silu"):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, time_embed_dim)
        self.act = activation(act_fn)
        self.linear_2 = nn.Linear(time_embed_dim, time_embed_dim)

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(sample)))
