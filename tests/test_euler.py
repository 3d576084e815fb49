import diffusers
import pytest
import torch

from difflab.schedulers import DDIMScheduler, EulerDiscreteScheduler
from difflab.schedulers.euler import karras_sigmas

from parity import SD15, assert_same_loop


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_euler_matches_diffusers_on_sd15_config_and_every_spacing(spacing, prediction_type, steps):
    config = dict(SD15, timestep_spacing=spacing, prediction_type=prediction_type)
    assert_same_loop(EulerDiscreteScheduler(**config), diffusers.EulerDiscreteScheduler(**config), steps)


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_euler_matches_diffusers_with_karras_sigmas(spacing, prediction_type, steps):
    config = dict(SD15, timestep_spacing=spacing, prediction_type=prediction_type, use_karras_sigmas=True)
    assert_same_loop(EulerDiscreteScheduler(**config), diffusers.EulerDiscreteScheduler(**config), steps)


def test_euler_matches_diffusers_with_karras_sigmas_between_set_sigma_min_and_max():
    config = dict(SD15, use_karras_sigmas=True, sigma_min=0.1, sigma_max=10.0)
    ours = EulerDiscreteScheduler(**config)
    assert_same_loop(ours, diffusers.EulerDiscreteScheduler(**config), 20)
    assert ours.sigmas[0].item() == pytest.approx(10.0) and ours.sigmas[-2].item() == pytest.approx(0.1)


CHURN_EVERYWHERE = dict(s_churn=1.0)
CHURN_IN_A_WINDOW = dict(s_churn=10.0, s_tmin=0.5, s_tmax=5.0, s_noise=1.003)


@pytest.mark.parametrize("churn", [CHURN_EVERYWHERE, CHURN_IN_A_WINDOW], ids=["everywhere", "window"])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_euler_with_churn_matches_diffusers_with_the_same_generator(prediction_type, churn):
    config = dict(SD15, prediction_type=prediction_type)
    ours, theirs = EulerDiscreteScheduler(**config), diffusers.EulerDiscreteScheduler(**config)
    assert_same_loop(ours, theirs, 20, **churn)


@pytest.mark.parametrize(
    "extra",
    [
        dict(final_sigmas_type="sigma_min", use_karras_sigmas=True),
        dict(timestep_type="continuous", prediction_type="v_prediction"),
        dict(rescale_betas_zero_snr=True, prediction_type="v_prediction", timestep_spacing="trailing"),
        dict(beta_schedule="squaredcos_cap_v2", prediction_type="sample"),
    ],
    ids=["final_sigma_min", "continuous", "zero_snr", "cosine_sample"],
)
def test_euler_matches_diffusers_on_other_config_fields(extra):
    config = dict(SD15, **extra)
    assert_same_loop(EulerDiscreteScheduler(**config), diffusers.EulerDiscreteScheduler(**config), 20)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_euler_sigmas_noise_scale_and_input_scale_equal_diffusers(spacing):
    config = dict(SD15, timestep_spacing=spacing)
    ours, theirs = EulerDiscreteScheduler(**config), diffusers.EulerDiscreteScheduler(**config)
    ours.set_timesteps(7)
    theirs.set_timesteps(7)
    torch.testing.assert_close(ours.sigmas, theirs.sigmas, rtol=0, atol=0)
    assert ours.sigmas[-1] == 0 and len(ours.sigmas) == 8
    assert ours.init_noise_sigma == float(theirs.init_noise_sigma)
    x = torch.randn(2, 4, 8, 8)
    for t in ours.timesteps:
        expected = theirs.scale_model_input(x, t)
        torch.testing.assert_close(ours.scale_model_input(x, t), expected, rtol=0, atol=0)
        theirs._step_index += 1  # diffusers counts steps instead of looking the timestep up


def test_euler_add_noise_is_x0_plus_sigma_eps_as_in_diffusers():
    ours, theirs = EulerDiscreteScheduler(**SD15), diffusers.EulerDiscreteScheduler(**SD15)
    ours.set_timesteps(20)
    theirs.set_timesteps(20)
    x0, eps = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    t = ours.timesteps[[0, 10, 19]]
    torch.testing.assert_close(ours.add_noise(x0, eps, t), theirs.add_noise(x0, eps, t))
    torch.testing.assert_close(ours.add_noise(x0, eps, t[1:2]), x0 + ours.sigmas[10] * eps)


def test_karras_sigmas_are_evenly_spaced_in_sigma_to_the_one_over_rho():
    torch.testing.assert_close(karras_sigmas(0.1, 10.0, 3, rho=1.0), torch.tensor([10.0, 5.05, 0.1]).double())
    sigmas = karras_sigmas(0.03, 14.6, 10)  # ρ = 7
    roots = sigmas ** (1 / 7)
    torch.testing.assert_close(roots.diff(), roots.diff()[:1].expand(9))
    assert sigmas[0].item() == pytest.approx(14.6) and sigmas[-1].item() == pytest.approx(0.03)


def test_euler_from_config_of_another_scheduler():
    ddim = DDIMScheduler(**SD15, set_alpha_to_one=False)
    scheduler = EulerDiscreteScheduler.from_config(ddim.config)
    assert scheduler.config.timestep_spacing == "leading" and scheduler.config.steps_offset == 1
    assert scheduler.ignored_config["set_alpha_to_one"] is False
    assert_same_loop(scheduler, diffusers.EulerDiscreteScheduler.from_config(ddim.config), 7)


def test_euler_rejects_bad_arguments_with_named_errors():
    with pytest.raises(ValueError, match="use_exponential_sigmas: got True.*use_karras_sigmas"):
        EulerDiscreteScheduler(use_exponential_sigmas=True)
    with pytest.raises(ValueError, match="use_beta_sigmas: got True"):
        EulerDiscreteScheduler(use_beta_sigmas=True)
    with pytest.raises(ValueError, match="interpolation_type: got 'log_linear'.*'linear'"):
        EulerDiscreteScheduler(interpolation_type="log_linear")
    with pytest.raises(ValueError, match="final_sigmas_type: got 'one'"):
        EulerDiscreteScheduler(final_sigmas_type="one")
    with pytest.raises(ValueError, match="timestep_type: got 'integer'"):
        EulerDiscreteScheduler(timestep_type="integer")
    with pytest.raises(ValueError, match="timestep_spacing: got 'evenly'"):
        EulerDiscreteScheduler(timestep_spacing="evenly")
    with pytest.raises(ValueError, match="prediction_type: got 'eps'"):
        EulerDiscreteScheduler(prediction_type="eps")
    with pytest.raises(ValueError, match="num_inference_steps: got 0"):
        EulerDiscreteScheduler().set_timesteps(0)
    with pytest.raises(RuntimeError, match="set_timesteps"):
        _ = EulerDiscreteScheduler().init_noise_sigma
    scheduler = EulerDiscreteScheduler()
    scheduler.set_timesteps(7)  # linspace: 999, 832.5, …
    with pytest.raises(ValueError, match="timestep: got 832.0"):
        scheduler.step(torch.zeros(1), 832, torch.zeros(1))
