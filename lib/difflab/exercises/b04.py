"""Checks for lab b04 (scheduler loop reading, flow matching): the learner's pieces against difflab's own.

Every task runs on video-shaped latents (B, C, F, H, W) as well as on smaller tensors; where a wrong answer
matches a common mistake exactly, the reason names the mistake.
"""

import torch

from .. import noise, toy
from ..sampling import sample_loop
from ..schedulers import FlowMatchEulerDiscreteScheduler
from ..schedulers.flow_match import shift_sigmas
from .core import Lab, Wrong
from .expect import call_keeping_inputs, expect_tensor

lab = Lab("b04", "Scheduler loop reading (flow matching)", preload=("difflab.toy",))
# a Wan-like latent batch (B, C, F, H, W); one with W = B, where a (B,) σ broadcast along W runs without error
SHAPES = [(2, 16, 5, 8, 8), (3, 4, 2, 5, 3), (4, 6)]
SHIFTS = (1.0, 3.0, 5.0, 8.0, 0.5)


def draws(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def close(got, expected) -> bool:
    return (
        isinstance(got, torch.Tensor)
        and got.shape == expected.shape
        and torch.allclose(got.double(), expected.double(), atol=1e-5, rtol=1e-4)
    )


@lab.task("shift_sigmas", hint="σ' = s·σ / (1 + (s-1)·σ); σ = 0 and σ = 1 stay where they are.")
def check_shift_sigmas(m):
    grids = {
        "the 11 points 1, 0.9, …, 0": torch.linspace(1, 0, 11),
        "a (2, 3) float64 tensor": torch.tensor([[0.05, 0.2, 0.5], [0.7, 0.95, 1.0]], dtype=torch.float64),
        "a 0-d tensor σ = 0.5": torch.tensor(0.5),
    }
    for what, sigmas in grids.items():
        for shift in SHIFTS:
            call = f"shift_sigmas({what}, shift={shift:g})"
            got = call_keeping_inputs(m.shift_sigmas, {"sigmas": sigmas, "shift": shift}, call)
            expected = shift_sigmas(sigmas, shift)
            if shift != 1 and close(got, sigmas / (shift - (shift - 1) * sigmas)):
                raise Wrong(
                    f"{call} gave the inverse shift σ/(s - (s-1)·σ), which moves σ down for s > 1. The shift "
                    "must keep σ high for longer: σ' = s·σ / (1 + (s-1)·σ) turns 0.5 into 0.75 for s = 3."
                )
            expect_tensor(got, expected, call, atol=1e-6)


@lab.task("flow_target", hint="x_σ = (1-σ)·x0 + σ·ε is linear in σ, so dx_σ/dσ = ε - x0 at every σ.")
def check_flow_target(m):
    for seed, shape in enumerate(SHAPES):
        x0, eps = draws(shape, seed)
        call = f"flow_target for x0 of shape {shape}"
        got = call_keeping_inputs(m.flow_target, {"x0": x0, "noise": eps}, call)
        if close(got, x0 - eps):
            raise Wrong(
                f"{call} returned x0 - ε, the negative of the velocity. v = dx_σ/dσ points from the data (σ = 0) "
                "towards the noise (σ = 1): ε - x0. With your sign the sampler's steps would run the wrong way."
            )
        expect_tensor(got, noise.flow_velocity(x0, eps), call)


def sigma_cases(batch: int):
    """σ as callers pass it: a float, a 0-d tensor, and one σ per sample (B,), with a description."""
    per_sample = torch.linspace(0.9, 0.1, batch)
    return [(0.3, "σ = 0.3 (a float)"), (torch.tensor(0.8), "σ = tensor(0.8)"), (per_sample, "one σ per sample")]


@lab.task("add_flow_noise", hint="reshape a (B,) σ to (B, 1, 1, …) (x0.ndim - 1 ones) before the arithmetic.")
def check_add_flow_noise(m):
    for seed, shape in enumerate(SHAPES):
        x0, eps = draws(shape, seed + 10)
        for sigma, described in sigma_cases(shape[0]):
            call = f"add_flow_noise for x0 of shape {shape} with {described}"
            s = noise.expand_to(torch.as_tensor(sigma), x0)  # (B, 1, …, 1) or 0-d, as the schedulers' add_noise
            expected = noise.flow_interpolate(x0, eps, s)
            per_sample = isinstance(sigma, torch.Tensor) and sigma.ndim == 1
            arguments = {"x0": x0, "noise": eps, "sigma": sigma}
            try:
                got = call_keeping_inputs(m.add_flow_noise, arguments, call)
            except RuntimeError as e:
                if per_sample and "must match the size" in str(e):
                    raise Wrong(
                        f"{call} raised RuntimeError ({e}). σ is given per sample, shape ({shape[0]},), and "
                        f"broadcasting lines it up with the last axis of x0. Reshape it to ({shape[0]}, "
                        f"{', '.join(['1'] * (len(shape) - 1))}) so each σ scales one whole sample."
                    ) from None
                raise
            if per_sample and shape[-1] == shape[0] and close(got, (1 - sigma) * x0 + sigma * eps):
                raise Wrong(
                    f"{call} multiplied the last axis of x0 by the σ's, not each sample by its own σ "
                    f"(here the last axis has {shape[-1]} entries, like the batch, so broadcasting raised no "
                    f"error). Reshape σ from ({shape[0]},) to ({shape[0]}, {', '.join(['1'] * (len(shape) - 1))})."
                )
            if close(got, noise.flow_interpolate(eps, x0, s)):
                raise Wrong(
                    f"{call} swapped the weights: x0 got σ and the noise 1 - σ. σ = 1 is pure noise and σ = 0 the "
                    "clean data: x_σ = (1-σ)·x0 + σ·ε."
                )
            expect_tensor(got, expected, call)


@lab.task(
    "flow_step",
    hint="x_next = x + (σ_next - σ)·v̂: σ_next < σ, so the step goes against v̂, from the noise towards the data.",
)
def check_flow_step(m):
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    scheduler.set_timesteps(10)
    for seed, shape in enumerate(SHAPES):
        x, v = draws(shape, seed + 20)
        for i in (0, 4, 9):  # the first step, one in the middle, and the last one, to σ = 0
            sigma, sigma_next = scheduler.sigmas[i], scheduler.sigmas[i + 1]
            call = f"flow_step from σ = {sigma:.4f} to σ_next = {sigma_next:.4f} for x of shape {shape}"
            arguments = {"sample": x, "velocity": v, "sigma": sigma, "sigma_next": sigma_next}
            got = call_keeping_inputs(m.flow_step, arguments, call)
            expected = scheduler.step(v, scheduler.timesteps[i], x).prev_sample
            if close(got, x + (sigma - sigma_next) * v):
                raise Wrong(
                    f"{call} has the sign of the step flipped: it moved along v̂, towards more noise. The step is "
                    "(σ_next - σ)·v̂, negative because σ falls, so x moves against v̂, towards the data."
                )
            expect_tensor(got, expected, call)


RING = toy.GaussianMixture2D.ring()


@lab.task(
    "flow_sample",
    hint="for σ, σ_next in zip(sigmas[:-1], sigmas[1:]): v = model(x, 1000·σ); x = x + (σ_next - σ)·v.",
)
def check_flow_sample(m):
    model = toy.ExactDenoiser(RING, prediction_type="flow")  # v̂(x, t) with σ = t / 1000, exact for the ring
    start = torch.randn(200, 2, generator=torch.Generator().manual_seed(4))
    for shift, steps in ((1.0, 4), (3.0, 10)):
        scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
        scheduler.set_timesteps(steps)
        sigmas = scheduler.sigmas.clone()
        call = f"flow_sample on the exact ring model, {steps} steps with shift {shift:g}, noise of shape (200, 2)"
        got = call_keeping_inputs(m.flow_sample, {"model": model, "noise": start, "sigmas": sigmas}, call)
        expected = sample_loop(model, FlowMatchEulerDiscreteScheduler(shift=shift), start, steps)
        told_sigma = start
        for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
            told_sigma = told_sigma + (sigma_next - sigma) * model(told_sigma, sigma)
        if close(got, told_sigma):
            raise Wrong(
                f"{call} told the model t = σ. The model was trained with timesteps t = 1000·σ, so model(x, σ) "
                "asks it about a nearly clean sample (σ/1000) while x is noisy; pass 1000 * sigma."
            )
        expect_tensor(got, expected, call, atol=1e-4)
