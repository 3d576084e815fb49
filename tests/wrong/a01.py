"""Plausible wrong implementations of lab a01's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    ("alpha_bar", "torch.cumprod(1 - betas, dim=0)", "torch.cumsum(1 - betas, dim=0)", "first mismatch at index (1,)"),
    (
        "alpha_bar",
        "torch.cumprod(1 - betas, dim=0)",
        "torch.cumprod(1 - betas, dim=0)[1:]",
        "expected shape (1000,), got (999,)",
    ),
    ("add_noise", "ab.sqrt() * x0 + (1 - ab).sqrt() * noise", "ab * x0 + (1 - ab) * noise", "first mismatch"),
    ("add_noise", "reshape(-1, *([1] * (x0.ndim - 1)))", "reshape(-1, 1, 1, 1)", "x0 of shape (2, 5)"),
    ("snr", "alpha_bar / (1 - alpha_bar)", "(alpha_bar / (1 - alpha_bar)).double()", "expected dtype torch.float32"),
    ("snr", "alpha_bar / (1 - alpha_bar)", "alpha_bar.tolist()", "should return a torch.Tensor, got list"),
    ("alpha_bar", "cumprod(1 - betas, dim=0)", "cumprod(1 - betas.float(), dim=0)", "expected dtype torch.float64"),
    ("alpha_bar", "cumprod(1 - betas, dim=0)", "cumprod(betas.neg_().add_(1), dim=0)", "changed its argument `betas`"),
    ("add_noise", "alpha_bar.to(x0)[t]", "alpha_bar[t]", "promotes the result to float32"),
    ("add_noise", "alpha_bar.to(x0)[t]", "alpha_bar.to(x0)[t - 1]", "first mismatch"),
    (
        "add_noise",
        "return ab.sqrt() * x0 + (1 - ab).sqrt() * noise",
        "return x0.mul_(ab.sqrt()).add_((1 - ab).sqrt() * noise)",
        "changed its argument `x0` in place",
    ),
    ("snr", "return alpha_bar / (1 - alpha_bar)", "return alpha_bar.div_(1 - alpha_bar)", "changed its argument"),
    ("snr", "return alpha_bar / (1 - alpha_bar)", "return (alpha_bar / (1 - alpha_bar)).sqrt()", "expected 9997.34"),
]
