"""Lab a06 · Diffusers pipeline components — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check a06` in a terminal
(or `difflab.check("a06")` in the notebook). Compare with `Pipeline.components` in
lib/difflab/pipelines/base.py and `schedulers.get` / `Scheduler.from_config` in lib/difflab/schedulers/
once yours pass.
"""

import torch

from difflab import schedulers
from difflab.pipelines import Pipeline

Row = dict[str, str | int | torch.dtype | None]  # one component: name, class, parameters, bytes, dtype


def component_summary(pipeline: Pipeline) -> list[Row]:
    """One row per component, in the pipeline's order (`pipeline.components`):

        {"name": "unet", "class": "UNet2DConditionModel", "parameters": 6133444, "bytes": 24533776,
         "dtype": torch.float32}

    parameters: the number of elements in the module's parameters (tied parameters counted once).
    bytes: numel × element size summed over its parameters *and* buffers (what its weights take in memory).
    dtype: the dtype of its parameters. A component that is not a torch.nn.Module (tokenizer, scheduler)
    has no weights: parameters 0, bytes 0, dtype None.
    """
    # BEGIN SOLUTION: one dict per component; for modules count parameters, sum bytes (+ buffers), read the dtype
    rows = []
    for name, part in pipeline.components.items():
        row = {"name": name, "class": type(part).__name__, "parameters": 0, "bytes": 0, "dtype": None}
        if isinstance(part, torch.nn.Module):
            parameters = list(part.parameters())
            tensors = [*parameters, *part.buffers()]
            row["parameters"] = sum(p.numel() for p in parameters)
            row["bytes"] = sum(t.numel() * t.element_size() for t in tensors)
            row["dtype"] = parameters[0].dtype
        rows.append(row)
    return rows
    # END SOLUTION


def swap_scheduler(pipeline: Pipeline, name: str) -> schedulers.Scheduler:
    """Replace `pipeline.scheduler` by the scheduler called `name` ('ddim', 'euler', 'dpm++', …), built from
    the current scheduler's config, and return the new scheduler.

    Every field the two schedulers share (beta schedule, timestep spacing, prediction type, …) keeps its
    value; fields only the old one has are set aside in the new one's `ignored_config`.
    """
    # BEGIN SOLUTION: build `name` from the current scheduler's config, put it in the pipeline, return it
    scheduler = schedulers.get(name, **pipeline.scheduler.config)
    pipeline.scheduler = scheduler
    return scheduler
    # END SOLUTION
