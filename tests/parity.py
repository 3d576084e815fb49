"""Drive a difflab scheduler and its diffusers namesake through the same sampling loop.

The "model" is a fixed synthetic function of (x, t), so any difference comes from the schedulers alone.
Stochastic schedulers get two generators with the same seed, so both draw the same noise.
"""

import torch

SD15 = dict(  # Stable Diffusion 1.5's scheduler_config.json, in the fields all DDPM-family schedulers share
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    steps_offset=1,
    timestep_spacing="leading",
)


def synthetic_model_output(x: torch.Tensor, t) -> torch.Tensor:
    """A smooth, bounded stand-in for a denoiser that depends on both the sample and the timestep."""
    t = float(t) / 1000
    return 0.8 * torch.tanh(x) + 0.3 * torch.sin(3 * x + t) - 0.2 * t


def run_loop(scheduler, num_inference_steps, seed=0, shape=(2, 4, 8, 8), **step_kwargs):
    """Run a whole sampling loop; return the timesteps and every prev_sample and pred_original_sample."""
    scheduler.set_timesteps(num_inference_steps)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen) * scheduler.init_noise_sigma
    step_gen = torch.Generator().manual_seed(seed + 1)
    samples, x0s = [], []
    for t in scheduler.timesteps:
        model_output = synthetic_model_output(scheduler.scale_model_input(x, t), t)
        out = scheduler.step(model_output, t, x, generator=step_gen, **step_kwargs)
        x = out.prev_sample
        samples.append(x)
        x0s.append(out.pred_original_sample)
    return scheduler.timesteps.clone(), samples, x0s


def assert_same_loop(ours, theirs, num_inference_steps, atol=1e-5, **step_kwargs):
    """Every prev_sample of the two loops within `atol` (and the same timesteps)."""
    t_ours, ours_samples, _ = run_loop(ours, num_inference_steps, **step_kwargs)
    t_theirs, theirs_samples, _ = run_loop(theirs, num_inference_steps, **step_kwargs)
    torch.testing.assert_close(t_ours.double(), t_theirs.double(), rtol=0, atol=1e-4)
    assert len(ours_samples) == len(theirs_samples)
    for i, (a, b) in enumerate(zip(ours_samples, theirs_samples)):
        err = (a - b).abs().max().item()
        assert err <= atol, f"step {i} (t={t_ours[i].item()}): max |difflab - diffusers| = {err:.3g} > {atol}"
