"""Checks for lab a01 (forward noise): the learner's functions against difflab.noise."""

import torch

from .. import noise
from ..noise import BETA_SCHEDULES
from .core import Lab, Wrong
from .expect import call_keeping_inputs, expect_tensor

lab = Lab("a01", "Forward noise process")


@lab.task("alpha_bar", hint="ᾱ is a running product over time: torch.cumprod(1 - betas, dim=0).")
def check_alpha_bar(m):
    cases = {f"{name} betas": noise.beta_schedule(name, 1000, 0.00085, 0.012) for name in BETA_SCHEDULES}
    cases["linear betas in float64"] = noise.beta_schedule("linear", 1000).double()  # the dtype is the caller's
    cases["a single beta"] = torch.tensor([0.02])  # T = 1: ᾱ_0 = 1 - β_0
    for what, betas in cases.items():
        got = call_keeping_inputs(m.alpha_bar, {"betas": betas}, f"alpha_bar({what})")
        expect_tensor(got, noise.alpha_bar(betas), f"alpha_bar({what})")


def in_dtype_of_x0(got, x0: torch.Tensor, what: str):
    """A float32 x_t for float16 x0 is the float32 table promoting the result: say so rather than 'wrong dtype'."""
    if x0.dtype == torch.float16 and isinstance(got, torch.Tensor) and got.dtype == torch.float32:
        raise Wrong(
            f"{what} returned {got.dtype}, not x0's {x0.dtype}: multiplying float16 latents by the float32 ᾱ "
            "table promotes the result to float32 (twice the memory, and the float16 UNet then refuses it). "
            "Take ᾱ in x0's dtype first: alpha_bar.to(x0.dtype), or alpha_bar.to(x0) for its device too."
        )


@lab.task(
    "add_noise",
    hint="take ᾱ in x0's dtype, index it with t, reshape to (B, 1, …, 1) so it broadcasts, and take square roots "
    "of ᾱ and 1 - ᾱ.",
)
def check_add_noise(m):
    g = torch.Generator().manual_seed(0)
    ab = noise.alpha_bar(noise.beta_schedule("scaled_linear", 1000, 0.00085, 0.012))
    cases = [  # x0's shape, its dtype
        ((3, 4, 8, 8), torch.float32),  # images
        ((2, 5), torch.float32),  # vectors
        ((2, 3, 4, 6, 6), torch.float32),  # video latents
        ((1, 3, 5, 7), torch.float32),  # one image, odd sizes
        ((2, 4, 8, 8), torch.float16),  # a float16 pipeline's latents, with the float32 table
    ]
    for shape, dtype in cases:
        x0, eps = torch.randn(shape, generator=g).to(dtype), torch.randn(shape, generator=g).to(dtype)
        t = torch.randint(0, 1000, (shape[0],), generator=g)
        t[0] = 999
        what = f"add_noise for {'' if dtype == torch.float32 else 'float16 '}x0 of shape {shape}"
        arguments = {"x0": x0, "noise": eps, "t": t, "alpha_bar": ab}
        got = call_keeping_inputs(m.add_noise, arguments, what)
        in_dtype_of_x0(got, x0, what)
        tolerance = dict(atol=1e-5, rtol=1e-4) if dtype == torch.float32 else dict(atol=2e-3, rtol=2e-3)
        expect_tensor(got, noise.add_noise(x0, eps, t, ab), what, **tolerance)


@lab.task("snr", hint="SNR = ᾱ / (1 - ᾱ): a ratio of variances, so no square roots.")
def check_snr(m):
    cases = {
        "alpha_bar": noise.alpha_bar(noise.beta_schedule("linear", 1000)),
        "alpha_bar in float64": noise.alpha_bar(noise.beta_schedule("squaredcos_cap_v2", 1000).double()),
        "a single alpha_bar": torch.tensor([0.5]),  # SNR 1: as much signal as noise
    }
    for what, ab in cases.items():
        got = call_keeping_inputs(m.snr, {"alpha_bar": ab}, f"snr({what})")
        expect_tensor(got, noise.snr(ab), f"snr({what})", rtol=1e-4)
