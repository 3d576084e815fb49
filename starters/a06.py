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
    raise NotImplementedError(
        "a06: one dict per component; for modules count parameters, sum bytes (+ buffers), read the dtype"
    )


def swap_scheduler(pipeline: Pipeline, name: str) -> schedulers.Scheduler:
    """Replace `pipeline.scheduler` by the scheduler called `name` ('ddim', 'euler', 'dpm++', …), built from
    the current scheduler's config, and return the new scheduler.

    Every field the two schedulers share (beta schedule, timestep spacing, prediction type, …) keeps its
    value; fields only the old one has are set aside in the new one's `ignored_config`.
    """
    raise NotImplementedError(
        "a06: build `name` from the current scheduler's config, put it in the pipeline, return it"
    )
