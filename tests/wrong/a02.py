"""Plausible wrong implementations of lab a02's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

SHIFT_AND_SCALE = """    first, last = root_ab[0], root_ab[-1]
    root_ab = (root_ab - last) * (first / (first - last))  # shift: √ᾱ_{T-1} = 0; scale: √ᾱ_0 as before"""

WRONG = [
    ("x0_from_eps", "/ alpha_bar_t.sqrt()", "/ alpha_bar_t", "first mismatch"),
    (  # subtracting in place: right numbers, and the caller's x_t is gone
        "x0_from_eps",
        "return (x_t - (1 - alpha_bar_t).sqrt() * eps) / alpha_bar_t.sqrt()",
        "x_t -= (1 - alpha_bar_t).sqrt() * eps\n    return x_t / alpha_bar_t.sqrt()",
        "changed its argument `x_t` in place",
    ),
    ("v_target", "alpha_bar_t.sqrt() * noise - (1 - alpha_bar_t).sqrt() * x0", "noise - x0", "v_target for"),
    ("ddpm_step", "variance = (1 - ab_prev) / (1 - ab_t) * beta_t", "variance = beta_t", "ddpm_step at t = "),
    (  # ᾱ_{t-1} at t = 0 read as alpha_bar[-1]: Python's last entry, ᾱ_999
        "ddpm_step",
        "ab_prev = alpha_bar[t - 1] if t > 0 else torch.tensor(1.0)",
        "ab_prev = alpha_bar[t - 1]",
        "ddpm_step at t = 0",
    ),
    (  # shift only: ᾱ_T = 0, but the least noisy step gets noisier
        "rescale_zero_terminal_snr",
        "root_ab = (root_ab - last) * (first / (first - last))",
        "root_ab = root_ab - last",
        "scale by √ᾱ_0/(√ᾱ_0 - √ᾱ_T)",
    ),
    (  # the square in the wrong place: ᾱ shifted and scaled, then squared
        "rescale_zero_terminal_snr",
        "root_ab = torch.cumprod(1 - betas, dim=0).sqrt()",
        "root_ab = torch.cumprod(1 - betas, dim=0)",
        "Shift and scale √ᾱ",
    ),
    (  # no square roots at all: ᾱ shifted and scaled, right end points, wrong curve in between
        "rescale_zero_terminal_snr",
        ".sqrt()  # √ᾱ_t, (T,): the signal amplitude\n" + SHIFT_AND_SCALE + "\n    ab = root_ab**2",
        "  # ᾱ_t, (T,)\n" + SHIFT_AND_SCALE + "\n    ab = root_ab",
        "you shifted and scaled ᾱ itself",
    ),
    ("rescale_zero_terminal_snr", "ab = root_ab**2", "ab = root_ab", "square them back"),
    ("rescale_zero_terminal_snr", "return 1 - alphas", "return alphas", "not its β_t"),
    (
        "rescale_zero_terminal_snr",
        "alphas = torch.cat([ab[:1], ab[1:] / ab[:-1]])",
        "alphas = ab[1:] / ab[:-1]",
        "α_0 = ᾱ_0",
    ),
    ("rescale_zero_terminal_snr", "return 1 - alphas", "return betas.copy_(1 - alphas)", "changed its argument"),
    (  # float64 for accuracy, and float64 out for float32 betas
        "rescale_zero_terminal_snr",
        "torch.cumprod(1 - betas, dim=0).sqrt()",
        "torch.cumprod(1 - betas.double(), dim=0).sqrt()",
        "keep their dtype",
    ),
]
