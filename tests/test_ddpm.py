import diffusers
import pytest
import torch

from difflab.schedulers import DDPMScheduler

from parity import SD15, assert_same_loop, run_loop

SD15_DDPM = dict(SD15, clip_sample=False)  # SD 1.5's config turns clipping off


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_ddpm_matches_diffusers_on_sd15_config_with_the_same_generator(steps, prediction_type):
    config = dict(SD15_DDPM, prediction_type=prediction_type)
    assert_same_loop(DDPMScheduler(**config), diffusers.DDPMScheduler(**config), steps)


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("spacing", ["trailing", "linspace"])
def test_ddpm_matches_diffusers_on_trailing_and_linspace_spacing(spacing, steps):
    config = dict(SD15_DDPM, timestep_spacing=spacing, prediction_type="v_prediction")
    assert_same_loop(DDPMScheduler(**config), diffusers.DDPMScheduler(**config), steps)


@pytest.mark.parametrize("variance_type", ["fixed_small", "fixed_small_log", "fixed_large"])
def test_ddpm_variance_types_match_diffusers(variance_type):
    # linspace ends at t = 0, where diffusers adds no noise either (see the final-step test below).
    config = dict(SD15_DDPM, timestep_spacing="linspace", variance_type=variance_type)
    assert_same_loop(DDPMScheduler(**config), diffusers.DDPMScheduler(**config), 20)


def test_ddpm_clip_sample_and_thresholding_match_diffusers():
    for extra in (dict(clip_sample_range=0.5), dict(thresholding=True, sample_max_value=2.0)):
        config = dict(SD15, **extra)  # clip_sample=True is the default
        assert_same_loop(DDPMScheduler(**config), diffusers.DDPMScheduler(**config), 20)


@pytest.mark.parametrize(
    "extra",
    [
        dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02),
        dict(beta_schedule="squaredcos_cap_v2"),
        dict(rescale_betas_zero_snr=True, prediction_type="v_prediction", timestep_spacing="trailing"),
        dict(trained_betas=torch.linspace(0.0001, 0.03, 1000).tolist()),
    ],
)
def test_ddpm_matches_diffusers_on_other_beta_schedules(extra):
    config = dict(SD15_DDPM, **extra)
    assert_same_loop(DDPMScheduler(**config), diffusers.DDPMScheduler(**config), 20)


def test_ddpm_final_step_adds_no_noise_where_diffusers_does():
    # trailing, 7 steps: the list ends at t = 142, not 0. diffusers still adds noise of variance
    # β' = 1-ᾱ_142 to its final sample; ours returns x̂0, as Algorithm 2 does.
    config = dict(SD15_DDPM, timestep_spacing="trailing", variance_type="fixed_large")
    ours, theirs = DDPMScheduler(**config), diffusers.DDPMScheduler(**config)
    _, ours_samples, ours_x0 = run_loop(ours, 7)
    _, theirs_samples, _ = run_loop(theirs, 7)
    for a, b in zip(ours_samples[:-1], theirs_samples[:-1]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours_samples[-1], ours_x0[-1])
    assert (theirs_samples[-1] - ours_x0[-1]).abs().max() > 0.1


def test_ddpm_fixed_large_log_samples_like_fixed_large_where_diffusers_gives_nan():
    config = dict(SD15_DDPM, variance_type="fixed_large_log")
    _, ours, _ = run_loop(DDPMScheduler(**config), 7)
    _, large, _ = run_loop(DDPMScheduler(**dict(config, variance_type="fixed_large")), 7)
    _, theirs, _ = run_loop(diffusers.DDPMScheduler(**config), 7)
    for a, b in zip(ours, large):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert theirs[0].isnan().all()  # √(log β'), the square root of a negative number


def test_ddpm_add_noise_matches_diffusers():
    x0, eps = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    t = torch.tensor([0, 500, 999])
    expected = diffusers.DDPMScheduler(**SD15).add_noise(x0, eps, t)
    torch.testing.assert_close(DDPMScheduler(**SD15).add_noise(x0, eps, t), expected)


def test_ddpm_from_config_of_another_scheduler():
    euler_config = diffusers.EulerDiscreteScheduler(**SD15, use_karras_sigmas=True).config
    scheduler = DDPMScheduler.from_config(euler_config)
    assert scheduler.config.beta_schedule == "scaled_linear" and scheduler.config.steps_offset == 1
    assert scheduler.config.variance_type == "fixed_small"  # not in the Euler config: the default
    assert scheduler.ignored_config["use_karras_sigmas"] is True
    assert_same_loop(scheduler, diffusers.DDPMScheduler.from_config(euler_config), 7)


def test_ddpm_rejects_bad_arguments_with_named_errors():
    with pytest.raises(ValueError, match="num_inference_steps: got 0"):
        DDPMScheduler().set_timesteps(0)
    with pytest.raises(ValueError, match="num_inference_steps: got 1001"):
        DDPMScheduler().set_timesteps(1001)
    with pytest.raises(ValueError, match="variance_type: got 'learned_range'.*'fixed_small'"):
        DDPMScheduler(variance_type="learned_range")
    with pytest.raises(ValueError, match="variance_type: got 'tiny'"):
        DDPMScheduler(variance_type="tiny")
    with pytest.raises(ValueError, match="timestep_spacing: got 'evenly'"):
        DDPMScheduler(timestep_spacing="evenly")
    with pytest.raises(ValueError, match="prediction_type: got 'eps'"):
        DDPMScheduler(prediction_type="eps")
    with pytest.raises(ValueError, match="beta_schedule: got 'sigmoid'"):
        DDPMScheduler(beta_schedule="sigmoid")
    with pytest.raises(RuntimeError, match="set_timesteps"):
        DDPMScheduler().step(torch.zeros(1), 999, torch.zeros(1))
    scheduler = DDPMScheduler()
    scheduler.set_timesteps(10)
    with pytest.raises(ValueError, match="timestep: got 3.0"):
        scheduler.step(torch.zeros(1), 3, torch.zeros(1))
