"""The sampling loop every scheduler and pipeline shares, written once.

    x_T = ε·init_noise_sigma
    for t in timesteps:   x ← step(model(scale_model_input(x, t), t), t, x)

Each step is a trace stage ("denoise" → "step i" → "model" / "scheduler"), so `difflab.trace` can time it and
see its memory; with no trace active the stages cost nothing. Pipelines pass a `model` that wraps the UNet with
its conditioning and classifier-free guidance, and may start part-way down the timesteps (img2img).
"""

import torch

from .trace import stage, tag


def denoise(model, scheduler, latents, timesteps, generator=None, callback=None, **step_kwargs):
    """Step `latents` through `timesteps` (a tail of scheduler.timesteps); return the final latents.

    `callback(i, t, x, x0)` is called after every step with the new sample and the x̂0 estimate; if it returns
    a tensor, that tensor replaces x (inpainting uses this to paste the known region back in).
    """
    x = tag("latents", latents)
    del latents  # keep no second reference: x_T should be freed once the first step has replaced it
    with stage("denoise"):
        for i, t in enumerate(timesteps):
            with stage("step", step=i):
                model_input = scheduler.scale_model_input(x, t)
                with stage("model"):
                    model_output = model(model_input, t)
                with stage("scheduler"):
                    out = scheduler.step(model_output, t, x, generator=generator, **step_kwargs)
                x = tag("latents", out.prev_sample)
            if callback is not None:
                replacement = callback(i, t, x, out.pred_original_sample)
                x = x if replacement is None else replacement
    return x


def sample_loop(model, scheduler, noise, num_inference_steps: int, generator=None, callback=None):
    """Sample from pure `noise` with `model(x, t) → prediction` over all of the scheduler's timesteps."""
    scheduler.set_timesteps(num_inference_steps)
    # x_T = ε·init_noise_sigma, passed without a name here so that only denoise() holds it
    return denoise(model, scheduler, noise * scheduler.init_noise_sigma, scheduler.timesteps, generator, callback)


def sample_trajectory(model, scheduler, noise, num_inference_steps: int, generator=None):
    """Like sample_loop, but return every intermediate sample and x̂0: (steps+1, *noise.shape) and (steps, …)."""
    xs, x0s = [noise * scheduler.init_noise_sigma], []

    def record(i, t, x, x0):
        xs.append(x)
        x0s.append(x0)

    sample_loop(model, scheduler, noise, num_inference_steps, generator, record)
    return torch.stack(xs), torch.stack(x0s)
