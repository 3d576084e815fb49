"""Plausible wrong implementations of lab a02's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    ("x0_from_eps", "/ alpha_bar_t.sqrt()", "/ alpha_bar_t", "first mismatch"),
    ("v_target", "alpha_bar_t.sqrt() * noise - (1 - alpha_bar_t).sqrt() * x0", "noise - x0", "v_target at"),
    ("ddpm_step", "variance = (1 - ab_prev) / (1 - ab_t) * beta_t", "variance = beta_t", "ddpm_step at t = "),
]
