"""Plausible wrong implementations of lab b04's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    ("flow_target", "return noise - x0", "return x0 - noise", "the negative of the velocity"),
    (
        "shift_sigmas",
        "return shift * sigmas / (1 + (shift - 1) * sigmas)",
        "return sigmas / (shift - (shift - 1) * sigmas)",
        "the inverse shift",
    ),
    (
        "flow_step",
        "return sample + (sigma_next - sigma) * velocity",
        "return sample + (sigma - sigma_next) * velocity",
        "sign of the step flipped",
    ),
    (
        "add_flow_noise",
        "sigma = sigma.reshape(-1, *[1] * (x0.ndim - 1)) if sigma.ndim == 1 else sigma",
        "sigma = sigma",
        "Reshape it to (2, 1, 1, 1, 1)",
    ),
    (
        "add_flow_noise",
        "return (1 - sigma) * x0 + sigma * noise",
        "return sigma * x0 + (1 - sigma) * noise",
        "swapped the weights",
    ),
    ("flow_sample", "velocity = model(x, 1000 * sigma)", "velocity = model(x, sigma)", "told the model t = σ"),
    (
        "flow_step",
        "return sample + (sigma_next - sigma) * velocity",
        "sample += (sigma_next - sigma) * velocity\n    return sample",
        "changed its argument `sample` in place",
    ),
    (
        "shift_sigmas",
        "return shift * sigmas / (1 + (shift - 1) * sigmas)",
        "return shift * sigmas / (1 + shift * sigmas)",
        "shift_sigmas(the 11 points",
    ),
]
