"""Plausible wrong implementations of lab a03's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    ("ddim_step", "(1 - alpha_bar_prev - sigma**2).sqrt()", "(1 - alpha_bar_prev).sqrt()", "eta = 1.0"),
    ("karras_sigmas", "ramp * (bottom - top)) ** rho", "ramp * (bottom - top)) ** 2", "karras_sigmas(0.0292"),
    ("euler_step", "(sigma_next - sigma) * eps", "(sigma - sigma_next) * eps", "euler_step from σ"),
    (
        "euler_step",
        "return x + (sigma_next - sigma) * eps",
        "x += (sigma_next - sigma) * eps\n    return x",
        "changed its argument `x` in place",
    ),
    (
        "karras_sigmas",
        "ramp = torch.linspace(0, 1, n, dtype=torch.float64)",
        "ramp = torch.arange(n, dtype=torch.float64) / (n - 1)",
        "divides 0 by 0 when n = 1",
    ),
]
