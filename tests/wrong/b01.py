"""Plausible wrong implementations of lab b01's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "param_count",
        "return sum(p.numel() for p in model.parameters())",
        "return sum(t.numel() for t in model.state_dict().values())",
        "counts the model's buffer",
    ),
]
