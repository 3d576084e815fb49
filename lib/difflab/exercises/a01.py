"""Checks for lab a01 (forward noise): the learner's functions against difflab.noise."""

import torch

from .. import noise
from .core import Lab
from .expect import expect_tensor

lab = Lab("a01", "Forward noise process")


@lab.task("alpha_bar", hint="ᾱ is a running product over time: torch.cumprod(1 - betas, dim=0).")
def check_alpha_bar(m):
    for name in ("linear", "scaled_linear", "squaredcos_cap_v2"):
        betas = noise.beta_schedule(name, 1000, 0.00085, 0.012)
        expect_tensor(m.alpha_bar(betas), noise.alpha_bar(betas), f"alpha_bar({name} betas)")


@lab.task(
    "add_noise",
    hint="index alpha_bar with t, reshape to (B, 1, …, 1) so it broadcasts, and take square roots of ᾱ and 1 - ᾱ.",
)
def check_add_noise(m):
    g = torch.Generator().manual_seed(0)
    ab = noise.alpha_bar(noise.beta_schedule("scaled_linear", 1000, 0.00085, 0.012))
    for shape in [(3, 4, 8, 8), (2, 5), (2, 3, 4, 6, 6)]:  # images, vectors, video latents
        x0, eps = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        t = torch.randint(0, 1000, (shape[0],), generator=g)
        t[0] = 999
        expect_tensor(
            m.add_noise(x0, eps, t, ab), noise.add_noise(x0, eps, t, ab), f"add_noise for x0 of shape {shape}"
        )


@lab.task("snr", hint="SNR = ᾱ / (1 - ᾱ): a ratio of variances, so no square roots.")
def check_snr(m):
    ab = noise.alpha_bar(noise.beta_schedule("linear", 1000))
    expect_tensor(m.snr(ab), noise.snr(ab), "snr(alpha_bar)", rtol=1e-4)
