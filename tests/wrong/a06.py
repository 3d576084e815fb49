"""Plausible wrong implementations of lab a06's tasks: (task, line in the solution, its wrong version,
words the checker's reason must contain)."""

WRONG = [
    (
        "component_summary",
        "t.numel() * t.element_size() for t in tensors",
        "t.numel() * 4 for t in tensors",
        "4 bytes per element",
    ),
    (
        "swap_scheduler",
        "schedulers.get(name, **pipeline.scheduler.config)",
        "schedulers.get(name)",
        "from the old one's config, not from defaults",
    ),
]
