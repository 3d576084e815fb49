"""Checks for lab a03 (scheduler reading): the learner's updates against the library's schedulers."""

import torch

from ..schedulers import DDIMScheduler, EulerDiscreteScheduler
from ..schedulers.euler import karras_sigmas
from .core import Lab, Wrong
from .expect import expect_inputs_unchanged, expect_tensor

lab = Lab("a03", "Scheduler reading")
SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)


def draws(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@lab.task("ddim_step", hint="σ is 0 when eta = 0; the ε direction gets √(1 - ᾱ_prev - σ²), not √(1 - ᾱ_prev).")
def check_ddim_step(m):
    scheduler = DDIMScheduler(**SD, clip_sample=False, set_alpha_to_one=False)
    scheduler.set_timesteps(10)
    x_t, eps, z = draws((2, 4, 8, 8), 3)
    for eta in (0.0, 1.0):
        for i in (0, 5, 9):
            t = scheduler.timesteps[i]
            expected = scheduler.step(eps, t, x_t, eta=eta, variance_noise=z).prev_sample
            ab_t, ab_prev = scheduler.alphas_cumprod[t], scheduler.previous_alpha_bar(t)
            got = m.ddim_step(x_t, eps, ab_t, ab_prev, eta=eta, noise=z)
            expect_tensor(got, expected, f"ddim_step at t = {int(t)}, eta = {eta}", atol=1e-4)


@lab.task("karras_sigmas", hint="interpolate in σ^(1/ρ) between σ_max and σ_min, then raise to the power ρ.")
def check_karras_sigmas(m):
    for n in (10, 25, 2, 1):
        for rho in (7.0, 3.0):
            expected = karras_sigmas(0.0292, 14.6146, n, rho).float()
            got = m.karras_sigmas(0.0292, 14.6146, n, rho)
            if n == 1 and isinstance(got, torch.Tensor) and got.numel() == 1 and not torch.isfinite(got).all():
                raise Wrong(
                    f"karras_sigmas(…, n=1) gave {got.tolist()}, where [σ_max] = [14.6146] was expected: i/(n-1) "
                    "divides 0 by 0 when n = 1. torch.linspace(0, 1, n) gives the ramp [0.] for one step."
                )
            expect_tensor(got, expected, f"karras_sigmas(0.0292, 14.6146, n={n}, rho={rho})", rtol=1e-5)


@lab.task("euler_step", hint="for ε-prediction the slope dx/dσ is ε itself; step by σ_next - σ (negative).")
def check_euler_step(m):
    scheduler = EulerDiscreteScheduler(**SD)
    scheduler.set_timesteps(10)
    x, eps, _ = draws((2, 4, 8, 8), 4)
    for i in range(10):
        expected = scheduler.step(eps, scheduler.timesteps[i], x).prev_sample
        originals = {"x": x.clone(), "eps": eps.clone()}
        got = m.euler_step(x, eps, scheduler.sigmas[i], scheduler.sigmas[i + 1])
        expect_inputs_unchanged(originals, {"x": x, "eps": eps}, "euler_step")
        expect_tensor(got, expected, f"euler_step from σ = {scheduler.sigmas[i]:.4g}", atol=1e-4)
