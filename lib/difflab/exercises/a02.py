"""Checks for lab a02 (denoising step): prediction targets and one DDPM step, against the library."""

import torch

from .. import noise
from ..schedulers import DDPMScheduler
from .core import Lab
from .expect import expect_tensor

lab = Lab("a02", "Denoising step")
SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def draws(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@lab.task("x0_from_eps", hint="x0 = (x_t - √(1-ᾱ)·ε) / √ᾱ; keep ᾱ broadcastable (a float or (B, 1, 1, 1)).")
def check_x0_from_eps(m):
    x_t, eps = draws((2, 4, 8, 8), 0)
    for ab in (0.7, torch.tensor([0.9, 0.05]).reshape(2, 1, 1, 1)):
        expect_tensor(m.x0_from_eps(x_t, eps, ab), noise.x0_from_eps(x_t, eps, ab), f"x0_from_eps at ᾱ = {ab}")


@lab.task("v_target", hint="v = √ᾱ·ε - √(1-ᾱ)·x0: the noise gets √ᾱ, the clean sample gets -√(1-ᾱ).")
def check_v_target(m):
    x0, eps = draws((2, 4, 8, 8), 1)
    for ab in (0.3, torch.tensor([0.99, 0.2]).reshape(2, 1, 1, 1)):
        expect_tensor(m.v_target(x0, eps, ab), noise.v_target(x0, eps, ab), f"v_target at ᾱ = {ab}")


@lab.task("ddpm_step", hint="use ᾱ_{t-1} = 1 at t = 0, and β_t = 1 - ᾱ_t/ᾱ_{t-1} (not the schedule's raw β).")
def check_ddpm_step(m):
    scheduler = DDPMScheduler(**SD, clip_sample=False, variance_type="fixed_small")
    scheduler.set_timesteps(scheduler.config.num_train_timesteps)  # every step: t-1 follows t
    x_t, eps = draws((2, 4, 8, 8), 2)
    for t in (999, 500, 1, 0):
        z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(t))
        expected = scheduler.step(eps, t, x_t, generator=torch.Generator().manual_seed(t)).prev_sample
        got = m.ddpm_step(x_t, eps, t, scheduler.alphas_cumprod, z)
        expect_tensor(got, expected, f"ddpm_step at t = {t}", atol=1e-4)
