"""Checks for lab a05 (VAE latent space): latent shapes, latent scaling and the scaling factor's estimate."""

import torch

from ..configs.arithmetic import latent_shape
from .core import Lab, Wrong
from .expect import describe, expect_tensor, expect_value, expect_value_error

lab = Lab("a05", "VAE latent space")

# (scaling_factor, shift_factor) as the VAE configs ship them; the course VAE's factor is estimated (about 0.88)
VAE_FACTORS = {"SD 1.x": (0.18215, None), "SDXL": (0.13025, None), "SD 3": (1.5305, 0.0609), "FLUX.1": (0.3611, 0.1159)}


def sd_style_config(latent_channels: int, vae_scale_factor: int) -> dict:
    """The two fields of an SD-style vae/config.json that fix the latent shape (every level but the last halves)."""
    levels = vae_scale_factor.bit_length()  # f = 2^(levels - 1)
    return {"latent_channels": latent_channels, "block_out_channels": [64] * levels}


def expect_refused(m, args: tuple, name: str):
    """latent_shape(*args) must raise ValueError whose message names the argument `name` and its value."""
    value = args[0] if name == "height" else args[1]
    expect_value_error(
        lambda: m.latent_shape(*args),
        f"latent_shape{args}",
        [name, str(value)],
        should_name="the argument and the value received",
        why=f"{name} {value} is not a positive multiple of {args[3]}",
    )


@lab.task(
    "latent_shape",
    hint="check height and width first (value % f); then (C, height // f, width // f), with integer division.",
)
def check_latent_shape(m):
    cases = [  # height, width, latent_channels, vae_scale_factor
        (64, 64, 4, 8),  # the course's VAE
        (512, 512, 4, 8),  # SD 1.5
        (512, 768, 4, 8),  # SD 1.5, landscape: rows come from height
        (1024, 768, 16, 8),  # SD 3 / FLUX.1 portrait
        (1024, 1024, 32, 32),  # a DC-AE-style deep-compression autoencoder (f 32, 32 channels)
        (8, 72, 4, 8),  # the smallest image: one latent row, and an odd number (9) of columns
        (7, 5, 3, 1),  # f = 1: a latent grid as fine as the pixels (any positive size fits)
    ]
    for height, width, channels, f in cases:
        got = m.latent_shape(height, width, channels, f)
        what = f"latent_shape({height}, {width}, {channels}, {f})"
        if not isinstance(got, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) for n in got):
            raise Wrong(f"{what} should return a tuple of ints, got {describe(got)}.")
        expected = latent_shape(sd_style_config(channels, f), height, width)
        if got != expected:
            raise Wrong(f"{what}: expected {expected} (channels, height / f, width / f), got {got}.")
    expect_refused(m, (500, 512, 4, 8), "height")
    expect_refused(m, (512, 70, 4, 8), "width")
    expect_refused(m, (64, 64, 4, 128), "height")  # 64 pixels cannot fill even one 128-pixel cell
    expect_refused(m, (0, 64, 4, 8), "height")  # 0 is a multiple of 8, but no image: no latent either


@lab.task(
    "scale_latents",
    hint="z_diffusion = (z - shift) · scale: subtract first, then multiply (not divide: dividing is for decoding).",
)
def check_scale_latents(m):
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(5)) * 1.3 + 0.2  # (B, C, h, w)
    original = latents.clone()
    for name, (scale, shift) in VAE_FACTORS.items():
        expected = (latents - (shift or 0.0)) * scale
        got = m.scale_latents(latents, scale, shift)
        if not torch.equal(latents, original):
            raise Wrong(f"scale_latents changed its input in place (with {name}'s factors); return a new tensor.")
        expect_tensor(got, expected, f"scale_latents with {name}'s scaling_factor {scale}, shift_factor {shift}")
        expect_tensor(got / scale + (shift or 0.0), latents, f"decoding's inverse, z / {scale} + {shift or 0}")
    expect_tensor(m.scale_latents(latents, 0.88, 0.0), latents * 0.88, "scale_latents with shift_factor 0.0")
    one = torch.randn(1, 4, 5, 7, generator=torch.Generator().manual_seed(8))  # batch 1, odd sizes
    expect_tensor(m.scale_latents(one, 0.18215), one * 0.18215, "scale_latents on one (1, 4, 5, 7) latent")
    video = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(6)).half()  # (B, C, T, h, w)
    expected = ((video.float() - 0.1159) * 0.3611).half()
    expect_tensor(m.scale_latents(video, 0.3611, 0.1159), expected, "scale_latents on float16 video latents", 2e-3)


@lab.task(
    "estimate_scaling_factor",
    hint="one number for the whole tensor: 1 / latents.std(), as a Python float (.item()); not per channel.",
)
def check_estimate_scaling_factor(m):
    g = torch.Generator().manual_seed(7)
    channel_std = torch.tensor([1.0, 4.0, 6.0, 9.0]).view(1, 4, 1, 1)
    channel_mean = torch.tensor([3.0, -2.0, 0.5, -4.0]).view(1, 4, 1, 1)
    latents = torch.randn(16, 4, 8, 8, generator=g) * channel_std + channel_mean  # SD-like: std ≈ 5.5 overall
    original = latents.clone()
    got = m.estimate_scaling_factor(latents)
    if isinstance(got, torch.Tensor) and got.numel() > 1:
        raise Wrong(
            f"estimate_scaling_factor returned {describe(got)}: one factor per channel. The VAE config holds a "
            "single scaling_factor, computed over all values at once."
        )
    if not isinstance(got, (float, int)) or isinstance(got, bool):
        raise Wrong(f"estimate_scaling_factor should return a Python float, got {describe(got)}; use .item().")
    expected = 1.0 / latents.std().item()
    if abs(got - 1.0 / latents.std(dim=(0, 2, 3)).mean().item()) < 1e-3 * expected:
        raise Wrong(
            f"estimate_scaling_factor returned {got:.6g}, one over the mean of the per-channel stds; the factor is "
            f"1 / the std of all values together ({expected:.6g}), which also counts how the channel means differ."
        )
    expect_value(got, expected, "estimate_scaling_factor(latents with std 5.5 overall)", atol=1e-3 * expected)
    if not torch.equal(latents, original):
        raise Wrong("estimate_scaling_factor changed the latents in place; it should only measure them.")
    course_like = torch.randn(8, 4, 8, 8, generator=g) * 1.135  # the course VAE's latents: std 1.135
    expected = 1.0 / course_like.std().item()
    expect_value(m.estimate_scaling_factor(course_like), expected, "estimate_scaling_factor(std 1.135)", 1e-3)
    one = torch.randn(1, 4, 8, 8, generator=g) * 2.0  # a single image's latents: 256 values (N = 1)
    expected = 1.0 / one.std().item()  # the population std (÷256, not ÷255) is 0.2 % off: close enough
    what = "estimate_scaling_factor(one image's latents)"
    expect_value(m.estimate_scaling_factor(one), expected, what, atol=5e-3 * expected)
