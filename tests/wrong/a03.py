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

WRONG += [
    (  # eta = 0 needs no noise, and the caller passes None
        "ddim_step",
        "return x_prev + sigma * noise if eta > 0 else x_prev",
        "return x_prev + sigma * noise",
        "with noise=None raised TypeError",
    ),
    (
        "dpmpp_2m_step",
        "h = lam(alpha_bar_next) - lam(alpha_bar_now)",
        "h = lam(alpha_bar_now) - lam(alpha_bar_next)",
        "h = λ_now - λ_next",
    ),
    (
        "dpmpp_2m_step",
        "return 0.5 * torch.log(alpha_bar / (1 - alpha_bar))",
        "return torch.log(alpha_bar / (1 - alpha_bar))",
        "½ ln SNR",
    ),
    ("dpmpp_2m_step", "(sigma_next / sigma_now) * x", "(alpha_next / alpha_bar_now.sqrt()) * x", "σ_next/σ_now"),
    (
        "dpmpp_2m_step",
        "r = (lam(alpha_bar_now) - lam(alpha_bar_before)) / h",
        "r = h / (lam(alpha_bar_now) - lam(alpha_bar_before))",
        "r = h_before/h",
    ),
    (
        "dpmpp_2m_step",
        "D = (1 + 1 / (2 * r)) * x0_now - 1 / (2 * r) * x0_before",
        "D = (1 + 1 / r) * x0_now - 1 / r * x0_before",
        "at the middle",
    ),
    (
        "dpmpp_2m_step",
        "D = (1 + 1 / (2 * r)) * x0_now - 1 / (2 * r) * x0_before",
        "D = (1 + 1 / (2 * r)) * x0_before - 1 / (2 * r) * x0_now",
        "the wrong way",
    ),
    (
        "dpmpp_2m_step",
        "if x0_before is not None and alpha_bar_next < 1:",
        "if x0_before is not None:",
        "the final step must be first order",
    ),
    ("dpmpp_2m_step", "if x0_before is not None and alpha_bar_next < 1:", "if False:", "first-order update"),
    (  # scaling x in place: the caller's sample changes under it
        "dpmpp_2m_step",
        "return (sigma_next / sigma_now) * x + alpha_next",
        "x *= sigma_next / sigma_now\n    return x + alpha_next",
        "changed its argument `x` in place",
    ),
]
