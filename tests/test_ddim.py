import diffusers
import pytest
import torch

from difflab.schedulers import DDIMScheduler

from parity import SD15, assert_same_loop, run_loop


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_ddim_matches_diffusers_on_sd15_config(steps, prediction_type):
    config = dict(SD15, clip_sample=False, set_alpha_to_one=False, prediction_type=prediction_type)
    assert_same_loop(DDIMScheduler(**config), diffusers.DDIMScheduler(**config), steps)


@pytest.mark.parametrize("spacing", ["trailing", "linspace", "leading"])
def test_ddim_matches_diffusers_when_steps_divide_the_schedule(spacing):
    # Where t - T//N is the next list entry, diffusers' rule and ours agree: trailing and leading when N
    # divides T, linspace only at N = T (its gaps are (T-1)/(N-1), never T//N otherwise).
    config = dict(SD15, clip_sample=False, timestep_spacing=spacing, set_alpha_to_one=True)
    steps = 1000 if spacing == "linspace" else 20
    assert_same_loop(DDIMScheduler(**config), diffusers.DDIMScheduler(**config), steps)


def test_ddim_eta_one_matches_diffusers_with_the_same_generator():
    config = dict(SD15, clip_sample=False, set_alpha_to_one=False)
    assert_same_loop(DDIMScheduler(**config), diffusers.DDIMScheduler(**config), 20, eta=1.0)


def test_ddim_clip_sample_and_thresholding_match_diffusers():
    for extra in (
        dict(clip_sample=True, clip_sample_range=0.5),
        dict(thresholding=True, sample_max_value=2.0),
    ):
        config = dict(SD15, **extra)
        assert_same_loop(DDIMScheduler(**config), diffusers.DDIMScheduler(**config), 20)


@pytest.mark.parametrize("schedule", ["linear", "squaredcos_cap_v2"])
def test_ddim_matches_diffusers_on_other_beta_schedules(schedule):
    config = dict(beta_schedule=schedule, clip_sample=False, timestep_spacing="trailing", rescale_betas_zero_snr=False)
    assert_same_loop(DDIMScheduler(**config), diffusers.DDIMScheduler(**config), 50)


def test_ddim_steps_to_its_own_next_timestep_where_diffusers_does_not():
    # trailing, 7 steps: timesteps 999, 856, 713, 570, 428, 285, 142. diffusers steps from 999 to
    # 999 - 1000//7 = 857 (not in the list) and from 142 to 0 instead of to the clean sample.
    config = dict(SD15, clip_sample=False, timestep_spacing="trailing", set_alpha_to_one=True)
    ours, theirs = DDIMScheduler(**config), diffusers.DDIMScheduler(**config)
    ours.set_timesteps(7)
    assert ours.timesteps.tolist() == [999, 856, 713, 570, 428, 285, 142]
    assert ours.previous_alpha_bar(999) == ours.alphas_cumprod[856]
    assert ours.previous_alpha_bar(142) == 1.0  # set_alpha_to_one: the last step lands on x̂0
    _, ours_samples, ours_x0 = run_loop(ours, 7)
    _, theirs_samples, _ = run_loop(theirs, 7)
    assert (ours_samples[0] - theirs_samples[0]).abs().max() > 1e-3
    # Our last step returns the clean estimate itself; diffusers' is still noised to ᾱ_0.
    torch.testing.assert_close(ours_samples[-1], ours_x0[-1])
    assert (theirs_samples[-1] - ours_x0[-1]).abs().max() > 1e-3


def test_ddim_config_is_read_only_and_from_config_round_trips():
    scheduler = DDIMScheduler(**SD15)
    with pytest.raises(TypeError, match="read-only"):
        scheduler.config["beta_end"] = 0.02
    with pytest.raises(TypeError, match="read-only"):
        scheduler.config.beta_end = 0.02
    swapped = DDIMScheduler.from_config({**scheduler.config, "_class_name": "PNDMScheduler", "skip_prk_steps": True})
    assert swapped.config == scheduler.config
    assert swapped.ignored_config == {"_class_name": "PNDMScheduler", "skip_prk_steps": True}
    trailing = DDIMScheduler.from_config(scheduler.config, timestep_spacing="trailing")
    assert trailing.config.timestep_spacing == "trailing" and scheduler.config.timestep_spacing == "leading"


def test_ddim_rejects_bad_arguments_with_named_errors():
    with pytest.raises(ValueError, match="num_inference_steps: got 0"):
        DDIMScheduler().set_timesteps(0)
    with pytest.raises(ValueError, match="num_inference_steps: got 1001"):
        DDIMScheduler().set_timesteps(1001)
    with pytest.raises(
        ValueError, match="steps_offset: got 1, which with leading spacing and num_inference_steps=1000"
    ):
        DDIMScheduler(steps_offset=1).set_timesteps(1000)
    with pytest.raises(ValueError, match="timestep_spacing: got 'evenly'"):
        DDIMScheduler(timestep_spacing="evenly").set_timesteps(10)
    with pytest.raises(ValueError, match="beta_schedule: got 'cosine'"):
        DDIMScheduler(beta_schedule="cosine")
    with pytest.raises(ValueError, match="prediction_type: got 'eps'"):
        DDIMScheduler(prediction_type="eps")
    scheduler = DDIMScheduler()
    scheduler.set_timesteps(10)
    with pytest.raises(ValueError, match="eta: got -1"):
        scheduler.step(torch.zeros(1), scheduler.timesteps[0], torch.zeros(1), eta=-1)
    with pytest.raises(ValueError, match="timestep: got 3.0"):
        scheduler.step(torch.zeros(1), 3, torch.zeros(1))
