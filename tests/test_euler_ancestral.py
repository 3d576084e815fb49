import diffusers
import pytest
import torch

from difflab.schedulers import DDIMScheduler, EulerAncestralDiscreteScheduler

from parity import SD15, assert_same_loop, run_loop

DiffusersAncestral = diffusers.EulerAncestralDiscreteScheduler


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_euler_ancestral_matches_diffusers_with_the_same_generator(spacing, prediction_type, steps):
    config = dict(SD15, timestep_spacing=spacing, prediction_type=prediction_type)
    ours, theirs = EulerAncestralDiscreteScheduler(**config), DiffusersAncestral(**config)
    assert_same_loop(ours, theirs, steps)


def test_euler_ancestral_matches_diffusers_with_zero_terminal_snr():
    config = dict(SD15, rescale_betas_zero_snr=True, prediction_type="v_prediction", timestep_spacing="trailing")
    ours, theirs = EulerAncestralDiscreteScheduler(**config), DiffusersAncestral(**config)
    assert_same_loop(ours, theirs, 20)  # σ_max ≈ 4096 magnifies any 1-ulp difference in the betas


def test_euler_ancestral_is_ddim_with_eta_one_in_sigma_form():
    # Same timesteps, same model input x/√(σ²+1) = x_t, same noise: x_VE·√ᾱ_s equals DDIM's x_s at every step.
    config = dict(SD15, clip_sample=False, set_alpha_to_one=True)
    ancestral = EulerAncestralDiscreteScheduler.from_config(config)
    timesteps, ancestral_samples, _ = run_loop(ancestral, 20)
    _, ddim_samples, _ = run_loop(DDIMScheduler(**config), 20, eta=1.0)
    alpha_bar_next = torch.cat([ancestral.alphas_cumprod[timesteps[1:].long()], torch.ones(1)])
    for x_ve, x_vp, ab in zip(ancestral_samples, ddim_samples, alpha_bar_next):
        torch.testing.assert_close(x_ve * ab.sqrt(), x_vp, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_euler_ancestral_sigmas_noise_scale_and_input_scale_equal_diffusers(spacing):
    config = dict(SD15, timestep_spacing=spacing)
    ours, theirs = EulerAncestralDiscreteScheduler(**config), DiffusersAncestral(**config)
    ours.set_timesteps(7)
    theirs.set_timesteps(7)
    torch.testing.assert_close(ours.sigmas, theirs.sigmas, rtol=0, atol=0)
    assert ours.init_noise_sigma == float(theirs.init_noise_sigma)
    x = torch.randn(2, 4, 8, 8)
    t = ours.timesteps[0]
    torch.testing.assert_close(ours.scale_model_input(x, t), theirs.scale_model_input(x, t), rtol=0, atol=0)


def test_euler_ancestral_from_config_of_another_scheduler():
    euler_config = diffusers.EulerDiscreteScheduler(**SD15, use_karras_sigmas=True).config
    scheduler = EulerAncestralDiscreteScheduler.from_config(euler_config)
    assert scheduler.config.timestep_spacing == "leading"
    assert scheduler.ignored_config["use_karras_sigmas"] is True
    theirs = DiffusersAncestral.from_config(euler_config)
    assert_same_loop(scheduler, theirs, 7)


def test_euler_ancestral_rejects_bad_arguments_with_named_errors():
    with pytest.raises(ValueError, match="num_inference_steps: got 0"):
        EulerAncestralDiscreteScheduler().set_timesteps(0)
    with pytest.raises(ValueError, match="timestep_spacing: got 'evenly'"):
        EulerAncestralDiscreteScheduler(timestep_spacing="evenly")
    with pytest.raises(ValueError, match="prediction_type: got 'eps'"):
        EulerAncestralDiscreteScheduler(prediction_type="eps")
    with pytest.raises(RuntimeError, match="set_timesteps"):
        EulerAncestralDiscreteScheduler().step(torch.zeros(1), 999.0, torch.zeros(1))
