"""Checks for lab a03 (scheduler reading): the learner's updates against the library's schedulers."""

import torch

from ..schedulers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler
from ..schedulers.euler import karras_sigmas
from .core import Lab, Wrong
from .expect import call_keeping_inputs, expect_tensor

lab = Lab("a03", "Scheduler reading")
SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
SHAPES = [(2, 4, 8, 8), (1, 3, 5, 7)]  # a batch of latents; one image with odd sizes


def draws(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@lab.task("ddim_step", hint="σ is 0 when eta = 0; the ε direction gets √(1 - ᾱ_prev - σ²), not √(1 - ᾱ_prev).")
def check_ddim_step(m):
    scheduler = DDIMScheduler(**SD, clip_sample=False, set_alpha_to_one=False)
    scheduler.set_timesteps(10)
    for seed, shape in enumerate(SHAPES):
        x_t, eps, z = draws(shape, seed + 3)
        for eta in (0.0, 1.0):
            for i in (0, 5, 9):
                t = scheduler.timesteps[i]
                expected = scheduler.step(eps, t, x_t, eta=eta, variance_noise=z).prev_sample
                ab_t, ab_prev = scheduler.alphas_cumprod[t], scheduler.previous_alpha_bar(t)
                what = f"ddim_step at t = {int(t)}, eta = {eta}, for x_t of shape {shape}"
                noise = z if eta > 0 else None  # the docstring's promise: no noise is needed when eta = 0
                arguments = {"x_t": x_t, "eps": eps, "alpha_bar_t": ab_t, "alpha_bar_prev": ab_prev, "eta": eta}
                try:
                    got = call_keeping_inputs(m.ddim_step, {**arguments, "noise": noise}, what)
                except TypeError as e:
                    if noise is None and "NoneType" in str(e):
                        raise Wrong(
                            f"{what} with noise=None raised TypeError ({e}). With eta = 0, σ = 0 and nothing random "
                            "is added, so callers pass noise=None: add σ·noise only when eta > 0."
                        ) from None
                    raise
                expect_tensor(got, expected, what, atol=1e-4)


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
    for seed, shape in enumerate(SHAPES):
        x, eps, _ = draws(shape, seed + 4)
        for i in range(10):
            expected = scheduler.step(eps, scheduler.timesteps[i], x).prev_sample
            what = f"euler_step from σ = {scheduler.sigmas[i]:.4g} for x of shape {shape}"
            arguments = {"x": x, "eps": eps, "sigma": scheduler.sigmas[i], "sigma_next": scheduler.sigmas[i + 1]}
            expect_tensor(call_keeping_inputs(m.euler_step, arguments, what), expected, what, atol=1e-4)


# DPM-Solver++(2M). The scheduler is the oracle; the named wrong updates below only turn a mismatch into a reason.


def lam(alpha_bar: torch.Tensor) -> torch.Tensor:
    """λ = ln(α/σ) = ½ ln SNR, from ᾱ (float64; +∞ at ᾱ = 1)."""
    return 0.5 * torch.log(alpha_bar / (1 - alpha_bar))


def dpmpp_mistakes(x, x0_now, x0_before, ab_before, ab_now, ab_next) -> dict[str, torch.Tensor]:
    """What a step gives under each common mistake (float64), keyed by the reason that names it."""
    x, x0_now = x.double(), x0_now.double()
    h, a_next = lam(ab_next) - lam(ab_now), ab_next.sqrt()
    ratio = ((1 - ab_next) / (1 - ab_now)).sqrt()  # σ_next/σ_now

    def step(D, h=h, ratio=ratio):
        return ratio * x + a_next * (1 - torch.exp(-h)) * D

    if x0_before is None or ab_next == 1:  # a first-order step: D = x0_now
        return {
            "it matches the update with h = λ_now - λ_next. h is the step's length λ_next - λ_now, positive because "
            "the noise falls and λ grows.": step(x0_now, h=-h),
            "it matches the update with λ = ln SNR, which makes every h twice too long: λ = ln(α/σ) = ½ ln SNR.": step(
                x0_now, h=2 * h
            ),
            "it scales x by α_next/α_now. For a model of x̂0 the exact linear part is σ_next/σ_now "
            "(α_next/α_now belongs to the ε form, DPM-Solver without ++).": step(x0_now, ratio=a_next / ab_now.sqrt()),
        }
    x0_before = x0_before.double()
    r = (lam(ab_now) - lam(ab_before)) / h  # the previous step's length over this one's

    def line(u, newer=x0_now, older=x0_before, r=r):  # the line through both x̂0, read at λ_now + u·h
        return newer + (u / r) * (newer - older)

    return {
        "its D uses r = h/h_before; r is the previous step's length over this one's, r = h_before/h "
        "(λ_now - λ_before over λ_next - λ_now).": step(line(0.5, r=1 / r)),
        "its D is the line's value at the end of the step, λ_next; Algorithm 2 reads it at the middle, "
        "λ_now + h/2, which puts 1/(2r) where you have 1/r.": step(line(1.0)),
        "its D runs the line the wrong way, from x0_now back past x0_before; read the line beyond the newest "
        "prediction, at λ_now + h/2: D = x0_now + (x0_now - x0_before)/(2r).": step(line(0.5, x0_before, x0_now)),
        "it is the first-order update (D = x0_now) at a step that has a previous prediction; from the second step "
        "on, D comes from the line through x0_before and x0_now.": step(x0_now),
    }


def expect_dpmpp_step(got, expected, arguments: dict, what: str):
    """The learner's step against the scheduler's, naming the mistake when one of the common ones fits."""
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and not torch.isfinite(got).all():
        if arguments["alpha_bar_next"] == 1:
            raise Wrong(
                f"{what} gave non-finite values. There λ_next = +∞, so h = ∞ and r = h_before/h = 0, and the line's "
                "1/(2r) is infinite: the final step must be first order (D = x0_now), and its update then returns "
                "x0_now exactly."
            )
    tolerance = dict(atol=1e-4, rtol=1e-4)
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and not torch.allclose(got, expected, **tolerance):
        for reason, wrong in dpmpp_mistakes(*arguments.values()).items():
            if torch.allclose(got.double(), wrong, **tolerance):
                raise Wrong(f"{what} is off: {reason}")
    expect_tensor(got, expected, what, **tolerance)


DPMPP_RUNS = [  # (what the run is called, scheduler config, steps, sample shape)
    ("SD's schedule, trailing spacing", dict(timestep_spacing="trailing"), 10, (1, 3, 5, 7)),
    ("Karras sigmas", dict(use_karras_sigmas=True), 7, (3, 2)),
]


@lab.task(
    "dpmpp_2m_step",
    hint="λ = ½ ln(ᾱ/(1-ᾱ)); h = λ_next - λ_now; σ_next·∫ e^λ dλ = α_next·(1 - e^{-h}); the line through the two "
    "x̂0 at λ_now + h/2 is x0_now + (h/2)·(x0_now - x0_before)/(λ_now - λ_before). First and final steps: D = x0_now.",
)
def check_dpmpp_2m_step(m):
    for run, config, n, shape in DPMPP_RUNS:
        scheduler = DPMSolverMultistepScheduler(**SD, **config, prediction_type="sample", final_sigmas_type="zero")
        scheduler.set_timesteps(n)
        alpha_bars = 1 / (1 + scheduler.sigmas.double() ** 2)  # ᾱ of each level, then 1 (σ = 0) at the end
        g = torch.Generator().manual_seed(n)
        x0_before = None
        for i, t in enumerate(scheduler.timesteps):
            x, x0_now = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
            expected = scheduler.step(x0_now, t, x).prev_sample  # "sample": the model output is x̂0 itself
            kind = "first step, first order" if i == 0 else "final step to σ = 0" if i == n - 1 else "second order"
            what = f"dpmpp_2m_step at step {i} of {n} ({kind}; {run}; x of shape {shape})"
            arguments = {
                "x": x,
                "x0_now": x0_now,
                "x0_before": x0_before,
                "alpha_bar_before": alpha_bars[i - 1] if i > 0 else None,
                "alpha_bar_now": alpha_bars[i],
                "alpha_bar_next": alpha_bars[i + 1],
            }
            got = call_keeping_inputs(m.dpmpp_2m_step, arguments, what)
            expect_dpmpp_step(got, expected, arguments, what)
            x0_before = x0_now
