"""The sampling loop every scheduler shares, written once (the pipelines add conditioning around it).

    x_T = ε·init_noise_sigma
    for t in timesteps:   x ← step(model(scale_model_input(x, t), t), t, x)

Each step is a trace stage ("denoise" → "step i" → "model" / "scheduler"), so `difflab.trace` can time it and
see its memory; with no trace active the stages cost nothing.
"""

import torch

from .trace import stage, tag


def sample_loop(model, scheduler, noise, num_inference_steps: int, generator=None, callback=None):
    """Run `scheduler` from `noise` with `model(x, t) → prediction`; return the final sample.

    `callback(i, t, x, x0)` is called after every step with the new sample and the x̂0 estimate.
    """
    scheduler.set_timesteps(num_inference_steps)
    x = tag("latents", noise * scheduler.init_noise_sigma)  # x_T
    with stage("denoise"):
        for i, t in enumerate(scheduler.timesteps):
            with stage("step", step=i):
                model_input = scheduler.scale_model_input(x, t)
                with stage("model"):
                    model_output = model(model_input, t)
                with stage("scheduler"):
                    out = scheduler.step(model_output, t, x, generator=generator)
                x = tag("latents", out.prev_sample)
            if callback is not None:
                callback(i, t, x, out.pred_original_sample)
    return x


def sample_trajectory(model, scheduler, noise, num_inference_steps: int, generator=None):
    """Like sample_loop, but return every intermediate sample and x̂0: (steps+1, *noise.shape) and (steps, …)."""
    xs, x0s = [noise * scheduler.init_noise_sigma], []

    def record(i, t, x, x0):
        xs.append(x)
        x0s.append(x0)

    sample_loop(model, scheduler, noise, num_inference_steps, generator, record)
    return torch.stack(xs), torch.stack(x0s)
