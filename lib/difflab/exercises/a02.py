"""Checks for lab a02 (denoising step): prediction targets, one DDPM step and the zero-terminal-SNR rescale."""

import torch

from .. import noise
from ..schedulers import DDPMScheduler
from .core import Lab, Wrong
from .expect import call_keeping_inputs, describe, expect_tensor

lab = Lab("a02", "Denoising step")
SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
SHAPES = [(2, 4, 8, 8), (1, 3, 5, 7)]  # a batch of latents; one image with odd sizes


def draws(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def alpha_bars(batch: int):
    """ᾱ as the callers pass it: a float, a 0-d tensor, one value per sample (B, 1, 1, 1)."""
    per_sample = torch.linspace(0.9, 0.05, batch).reshape(batch, 1, 1, 1)
    return [0.7, torch.tensor(0.3), per_sample]


def shown(ab) -> str:
    """ᾱ as a message prints it: the number, or the per-sample values."""
    if isinstance(ab, torch.Tensor) and ab.ndim > 0:
        return str([round(v, 3) for v in ab.flatten().tolist()])
    return f"{float(ab):g}"


@lab.task("x0_from_eps", hint="x0 = (x_t - √(1-ᾱ)·ε) / √ᾱ; keep ᾱ broadcastable (a float or (B, 1, 1, 1)).")
def check_x0_from_eps(m):
    for seed, shape in enumerate(SHAPES):
        x_t, eps = draws(shape, seed)
        for ab in alpha_bars(shape[0]):
            what = f"x0_from_eps for x_t of shape {shape} at ᾱ = {shown(ab)}"
            got = call_keeping_inputs(m.x0_from_eps, {"x_t": x_t, "eps": eps, "alpha_bar_t": ab}, what)
            expect_tensor(got, noise.x0_from_eps(x_t, eps, ab), what)


@lab.task("v_target", hint="v = √ᾱ·ε - √(1-ᾱ)·x0: the noise gets √ᾱ, the clean sample gets -√(1-ᾱ).")
def check_v_target(m):
    for seed, shape in enumerate(SHAPES):
        x0, eps = draws(shape, seed + 10)
        for ab in alpha_bars(shape[0]):
            what = f"v_target for x0 of shape {shape} at ᾱ = {shown(ab)}"
            got = call_keeping_inputs(m.v_target, {"x0": x0, "noise": eps, "alpha_bar_t": ab}, what)
            expect_tensor(got, noise.v_target(x0, eps, ab), what)


@lab.task("ddpm_step", hint="use ᾱ_{t-1} = 1 at t = 0, and β_t = 1 - ᾱ_t/ᾱ_{t-1} (not the schedule's raw β).")
def check_ddpm_step(m):
    scheduler = DDPMScheduler(**SD, clip_sample=False, variance_type="fixed_small")
    scheduler.set_timesteps(scheduler.config.num_train_timesteps)  # every step: t-1 follows t
    for seed, shape in enumerate(SHAPES):
        x_t, eps = draws(shape, seed + 20)
        for t in (999, 500, 1, 0):
            z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(t))
            expected = scheduler.step(eps, t, x_t, generator=torch.Generator().manual_seed(t)).prev_sample
            what = f"ddpm_step at t = {t} for x_t of shape {shape}"
            arguments = {"x_t": x_t, "eps": eps, "t": t, "alpha_bar": scheduler.alphas_cumprod, "noise": z}
            expect_tensor(call_keeping_inputs(m.ddpm_step, arguments, what), expected, what, atol=1e-4)


def rescale_cases() -> dict:
    """Schedules to rescale: SD's, DDPM's linear, the cosine one, two short ones, and SD's in float64."""
    sd = noise.beta_schedule("scaled_linear", 1000, 0.00085, 0.012)
    return {
        "SD's scaled_linear betas": sd,
        "DDPM's linear betas": noise.beta_schedule("linear", 1000),
        "cosine betas": noise.beta_schedule("squaredcos_cap_v2", 1000),
        "3 linear betas": noise.beta_schedule("linear", 3, 0.1, 0.5),
        "2 linear betas": noise.beta_schedule("linear", 2, 0.2, 0.4),
        "SD's betas in float64": sd.double(),
    }


def rescaled_alpha_bar_linearly(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ shifted and scaled directly (not √ᾱ): the same end points as Algorithm 1, a different curve between."""
    ab = noise.alpha_bar(betas.double())
    return (ab - ab[-1]) * (ab[0] / (ab[0] - ab[-1]))


def diagnose_rescale(got: torch.Tensor, betas: torch.Tensor, expected: torch.Tensor, what: str):
    """Name the mistake behind a wrong rescale, from the ᾱ its betas imply."""
    T = len(betas)
    if isinstance(got, torch.Tensor) and got.shape == (T - 1,):
        raise Wrong(
            f"{what} returned {T - 1} betas for a schedule of {T}: undoing the cumulative product gives "
            "α_t = ᾱ_t/ᾱ_{t-1} for t ≥ 1 only; the first one is α_0 = ᾱ_0 itself (torch.cat it in front)."
        )
    if not isinstance(got, torch.Tensor) or got.shape != betas.shape or not torch.isfinite(got).all():
        return  # expect_tensor says what is wrong with it
    close = dict(rtol=1e-4, atol=1e-6)
    if torch.allclose(got.double(), 1 - expected.double(), **close):
        raise Wrong(f"{what} returned the α_t = 1 - β_t of the new schedule, not its β_t: return 1 - α.")
    ab_got, ab_old = noise.alpha_bar(got.double()), noise.alpha_bar(betas.double())
    if ab_got[-1] != 0:
        raise Wrong(
            f"{what}: the rescaled schedule ends at ᾱ_T = {ab_got[-1].item():.3g}, not exactly 0. Shift √ᾱ by its "
            "last value so the last step is pure noise (then β_T = 1)."
        )
    if not torch.isclose(ab_got[0], ab_old[0], rtol=1e-6, atol=0):
        if torch.isclose(ab_got[0], ab_old[0].sqrt(), rtol=1e-5, atol=0):
            reason = "its ᾱ_t are the rescaled √ᾱ_t: square them back before undoing the cumulative product."
        elif torch.isclose(ab_got[0], ab_old[0] ** 2, rtol=1e-5, atol=0):
            reason = "its ᾱ_0 is the old ᾱ_0 squared: you shifted and scaled ᾱ, then squared. Shift and scale √ᾱ."
        elif torch.isclose(ab_got[0], (ab_old[0].sqrt() - ab_old[-1].sqrt()) ** 2, rtol=1e-5, atol=0):
            reason = (
                "the shift that makes √ᾱ_T = 0 also lowered √ᾱ_0; scale by √ᾱ_0/(√ᾱ_0 - √ᾱ_T) afterwards so the "
                "first (least noisy) step keeps its noise level."
            )
        else:
            reason = "Algorithm 1 keeps the first value: shift √ᾱ so it ends at 0, then scale so √ᾱ_0 is unchanged."
        raise Wrong(f"{what} changed ᾱ_0 from {ab_old[0].item():.6g} to {ab_got[0].item():.6g}: {reason}")
    if torch.allclose(ab_got, rescaled_alpha_bar_linearly(betas), rtol=1e-4, atol=1e-7):
        raise Wrong(
            f"{what}: the end points are right, but you shifted and scaled ᾱ itself. Algorithm 1 shifts and scales "
            "√ᾱ, the signal amplitude, so ᾱ in between follows a different (squared) curve."
        )


@lab.task(
    "rescale_zero_terminal_snr",
    hint="√ᾱ = sqrt(cumprod(1 - β)); shift by √ᾱ_T, scale by √ᾱ_0/(√ᾱ_0 - √ᾱ_T); square; α_0 = ᾱ_0 and "
    "α_t = ᾱ_t/ᾱ_{t-1}; β = 1 - α. Keep the input's dtype and do not write into it.",
)
def check_rescale_zero_terminal_snr(m):
    for name, betas in rescale_cases().items():
        what = f"rescale_zero_terminal_snr({name})"
        got = call_keeping_inputs(m.rescale_zero_terminal_snr, {"betas": betas}, what)
        expected = noise.rescale_zero_terminal_snr(betas)
        if isinstance(got, torch.Tensor) and got.shape == betas.shape and got.dtype != betas.dtype:
            raise Wrong(f"{what} returned {describe(got)}; the betas came in as {betas.dtype}: keep their dtype.")
        tolerance = dict(atol=1e-6, rtol=1e-4)
        right = isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == expected.dtype
        if not (right and torch.allclose(got, expected, **tolerance)):
            diagnose_rescale(got, betas, expected, what)
        expect_tensor(got, expected, what, **tolerance)
        ab_end = noise.alpha_bar(got.double())[-1]
        if ab_end != 0:  # close is not enough: the point is that the last step is pure noise
            raise Wrong(
                f"{what}: ᾱ_T = {ab_end.item():.3g}, not exactly 0 (β_T = {got[-1].item():.9f}). Shift √ᾱ by its "
                "own last value, so that the last entry is exactly 0 and β_T = 1."
            )
