import math

import diffusers
import pytest
import torch

from difflab.schedulers import FlowMatchEulerDiscreteScheduler, SchedulerOutput
from difflab.schedulers.flow_match import shift_sigmas

from parity import assert_same_loop, run_loop

SD3 = {"num_train_timesteps": 1000, "shift": 3.0}  # SD3's scheduler_config.json, minus _class_name


class Oracle:
    """diffusers' flow scheduler lacks init_noise_sigma, scale_model_input and pred_original_sample."""

    init_noise_sigma = 1.0

    def __init__(self, scheduler, **set_timesteps_kwargs):
        self.scheduler, self.kwargs = scheduler, set_timesteps_kwargs

    def __getattr__(self, name):
        return getattr(self.scheduler, name)

    def set_timesteps(self, num_inference_steps):
        self.scheduler.set_timesteps(num_inference_steps, **self.kwargs)

    def scale_model_input(self, sample, timestep):
        return sample

    def step(self, *args, **kwargs):
        return SchedulerOutput(prev_sample=self.scheduler.step(*args, **kwargs).prev_sample)


class WithMu(FlowMatchEulerDiscreteScheduler):
    """Our scheduler with μ fixed, so run_loop's set_timesteps(n) can drive a dynamically shifted schedule."""

    def set_timesteps(self, num_inference_steps, device=None, mu=0.8):
        super().set_timesteps(num_inference_steps, device, mu=mu)


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("config", [{}, SD3], ids=["defaults-shift1", "sd3-shift3"])
def test_flow_matches_diffusers(config, steps):
    ours = FlowMatchEulerDiscreteScheduler(**config)
    assert_same_loop(ours, Oracle(diffusers.FlowMatchEulerDiscreteScheduler(**config)), steps)


@pytest.mark.parametrize("time_shift_type", ["exponential", "linear"])
def test_flow_dynamic_shifting_with_mu_matches_diffusers(time_shift_type):
    config = dict(use_dynamic_shifting=True, time_shift_type=time_shift_type)
    theirs = Oracle(diffusers.FlowMatchEulerDiscreteScheduler(**config), mu=0.8)
    assert_same_loop(WithMu(**config), theirs, 28)


@pytest.mark.parametrize("extra", [dict(shift_terminal=0.1), dict(stochastic_sampling=True)])
def test_flow_shift_terminal_and_stochastic_sampling_match_diffusers(extra):
    config = {**SD3, **extra}
    ours = FlowMatchEulerDiscreteScheduler(**config)
    assert_same_loop(ours, Oracle(diffusers.FlowMatchEulerDiscreteScheduler(**config)), 20)


@pytest.mark.parametrize("config", [{}, SD3, dict(shift_terminal=0.1)], ids=["defaults", "sd3", "terminal"])
def test_flow_sigmas_and_timesteps_equal_diffusers(config):
    ours, theirs = FlowMatchEulerDiscreteScheduler(**config), diffusers.FlowMatchEulerDiscreteScheduler(**config)
    ours.set_timesteps(28)
    theirs.set_timesteps(28)
    assert torch.equal(ours.sigmas, theirs.sigmas) and torch.equal(ours.timesteps, theirs.timesteps)
    assert ours.sigmas[0] == 1 and ours.sigmas[-1] == 0 and ours.sigmas.shape == (29,)
    assert torch.equal(ours.timesteps, ours.sigmas[:-1] * 1000)  # timesteps are σ·T, floats
    assert ours.init_noise_sigma == 1


def test_shift_sigmas_moves_sigmas_up_for_shift_above_one():
    sigmas = torch.linspace(1, 0, 11, dtype=torch.float64)
    shifted = shift_sigmas(sigmas, 3.0)
    assert shifted[0] == 1 and shifted[-1] == 0  # the end points stay put
    assert (shifted[1:-1] > sigmas[1:-1]).all()
    assert (shifted > 0.5).sum() > (sigmas > 0.5).sum()  # more of the steps spent at high noise
    assert torch.equal(shift_sigmas(sigmas, 1.0), sigmas)
    assert (shift_sigmas(sigmas, 0.5)[1:-1] < sigmas[1:-1]).all()
    # the exponential time shift of dynamic shifting is the same map with s = e^μ
    torch.testing.assert_close(shift_sigmas(0.3, math.exp(0.8)), math.exp(0.8) / (math.exp(0.8) + 1 / 0.3 - 1))


def test_flow_step_is_an_euler_step_and_predicts_x0_as_x_minus_sigma_v():
    _, samples, x0s = run_loop(FlowMatchEulerDiscreteScheduler(**SD3), 7)
    torch.testing.assert_close(samples[-1], x0s[-1])  # the last step, to σ = 0, lands on x̂0
    scheduler = FlowMatchEulerDiscreteScheduler(**SD3)
    scheduler.set_timesteps(7)
    x, v = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    out = scheduler.step(v, scheduler.timesteps[2], x)
    sigma, sigma_next = scheduler.sigmas[2], scheduler.sigmas[3]
    torch.testing.assert_close(out.prev_sample, x + (sigma_next - sigma) * v)
    torch.testing.assert_close(out.pred_original_sample, x - sigma * v)


def test_flow_scale_noise_and_add_noise_match_diffusers_scale_noise():
    ours, theirs = FlowMatchEulerDiscreteScheduler(**SD3), diffusers.FlowMatchEulerDiscreteScheduler(**SD3)
    ours.set_timesteps(20)
    theirs.set_timesteps(20)
    x0, noise = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    per_sample = ours.timesteps[[3, 11]]  # one timestep per sample
    expected = theirs.scale_noise(x0, per_sample, noise)
    assert torch.equal(ours.scale_noise(x0, per_sample, noise), expected)
    assert torch.equal(ours.add_noise(x0, noise, per_sample), expected)  # the base class's argument order
    sigma = ours.sigmas[5]
    torch.testing.assert_close(ours.scale_noise(x0, ours.timesteps[5], noise), (1 - sigma) * x0 + sigma * noise)


def test_flow_from_sd3_config_keeps_its_fields_and_sets_aside_the_rest():
    config = {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.29.0", **SD3}
    scheduler = FlowMatchEulerDiscreteScheduler.from_config(config)
    assert scheduler.config.shift == 3.0 and scheduler.config.use_dynamic_shifting is False
    assert set(scheduler.ignored_config) == {"_class_name", "_diffusers_version"}
    theirs = diffusers.FlowMatchEulerDiscreteScheduler.from_config(config)
    assert_same_loop(scheduler, Oracle(theirs), 20)


def test_flow_rejects_bad_arguments_with_named_errors():
    with pytest.raises(ValueError, match="num_inference_steps: got 0"):
        FlowMatchEulerDiscreteScheduler().set_timesteps(0)
    for field in ("invert_sigmas", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"):
        with pytest.raises(ValueError, match=f"{field}: got True"):
            FlowMatchEulerDiscreteScheduler(**{field: True})
    with pytest.raises(ValueError, match="time_shift_type: got 'quadratic'"):
        FlowMatchEulerDiscreteScheduler(time_shift_type="quadratic")
    with pytest.raises(ValueError, match="shift: got 0"):
        FlowMatchEulerDiscreteScheduler(shift=0)
    with pytest.raises(ValueError, match="mu: got None"):
        FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True).set_timesteps(20)
    with pytest.raises(ValueError, match="mu: got 0.8"):
        FlowMatchEulerDiscreteScheduler().set_timesteps(20, mu=0.8)
    scheduler = FlowMatchEulerDiscreteScheduler()
    with pytest.raises(RuntimeError, match="set_timesteps"):
        scheduler.step(torch.zeros(1), 1000.0, torch.zeros(1))
    scheduler.set_timesteps(10)
    with pytest.raises(ValueError, match="timestep: got 3.0"):
        scheduler.step(torch.zeros(1), 3, torch.zeros(1))
