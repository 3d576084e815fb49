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
        "component_summary",
        'row["parameters"] = sum(p.numel() for p in parameters)',
        'row["parameters"] = sum(t.numel() for t in part.state_dict().values())',
        "includes the buffers (embeddings.position_ids), which state_dict() lists too",
    ),
    (
        "component_summary",
        'row["dtype"] = parameters[0].dtype',
        'row["dtype"] = next(iter(part.state_dict().values())).dtype',
        "the dtype of the buffer embeddings.position_ids",
    ),
    ("component_summary", "tensors = [*parameters, *part.buffers()]", "tensors = parameters", "leaves out the buffers"),
    (
        "component_summary",
        "for name, part in pipeline.components.items():",
        "for name, part in sorted(pipeline.components.items()):",
        "follow pipeline.components",
    ),
    (
        "component_summary",
        "parameters = list(part.parameters())",
        "parameters = list(part.float().parameters())",  # Module.float() converts in place, unlike Tensor.float()
        "changed the pipeline's unet",
    ),
    (
        "swap_scheduler",
        "schedulers.get(name, **pipeline.scheduler.config)",
        "schedulers.get(name)",
        "from the old one's config, not from defaults",
    ),
    (
        "swap_scheduler",
        "schedulers.get(name, **pipeline.scheduler.config)",
        "schedulers.get(name, **{k: pipeline.scheduler.config[k] "
        "for k in ('beta_start', 'beta_end', 'beta_schedule')})",  # the schedule only: prediction_type etc. lost
        "steps_offset was 1 and is now 0",
    ),
    (
        "swap_scheduler",
        "schedulers.get(name, **pipeline.scheduler.config)",
        "schedulers.get(name, **pipeline.scheduler.config, **pipeline.scheduler.ignored_config)",
        "not its ignored_config",
    ),
    (
        "swap_scheduler",
        "schedulers.get(name, **pipeline.scheduler.config)",
        "type(pipeline.scheduler).from_config(pipeline.scheduler.config)",
        "expected EulerDiscreteScheduler, got DDIMScheduler",
    ),
    (
        "swap_scheduler",
        "pipeline.scheduler = scheduler",
        'pipeline.components["scheduler"] = scheduler',
        "pipeline.components builds a new dict each time",
    ),
]
