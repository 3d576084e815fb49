import re

import diffusers
import pytest
import torch

from difflab.schedulers import DDIMScheduler, DPMSolverMultistepScheduler, SchedulerOutput

from parity import SD15, assert_same_loop, run_loop


class Oracle:
    """diffusers' DPM-Solver returns no pred_original_sample, which run_loop reads: wrap its step."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def __getattr__(self, name):
        return getattr(self.scheduler, name)

    def step(self, *args, **kwargs):
        return SchedulerOutput(prev_sample=self.scheduler.step(*args, **kwargs).prev_sample)


def oracle(**config):
    return Oracle(diffusers.DPMSolverMultistepScheduler(**config))


def assert_matches_diffusers(steps, **config):
    assert_same_loop(DPMSolverMultistepScheduler(**config), oracle(**config), steps)


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("solver_order", [1, 2])
def test_dpm_matches_diffusers_on_sd15_config(steps, prediction_type, solver_order):
    assert_matches_diffusers(steps, **SD15, prediction_type=prediction_type, solver_order=solver_order)


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("spacing", ["trailing", "linspace"])
def test_dpm_matches_diffusers_on_trailing_and_linspace_spacing(steps, spacing):
    assert_matches_diffusers(steps, **dict(SD15, timestep_spacing=spacing))


@pytest.mark.parametrize("steps", [7, 20, 50])
@pytest.mark.parametrize("solver_type", ["midpoint", "heun"])
@pytest.mark.parametrize("solver_order", [2, 3])
def test_dpm_matches_diffusers_for_midpoint_heun_and_third_order(steps, solver_type, solver_order):
    assert_matches_diffusers(steps, **SD15, solver_type=solver_type, solver_order=solver_order)


@pytest.mark.parametrize("steps", [1, 7, 20, 50])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_dpm_matches_diffusers_with_karras_sigmas(steps, prediction_type):
    assert_matches_diffusers(steps, **SD15, use_karras_sigmas=True, prediction_type=prediction_type)


@pytest.mark.filterwarnings("ignore:.*algorithm_type dpmsolver is deprecated:FutureWarning")
@pytest.mark.parametrize("solver_order", [1, 2, 3])
@pytest.mark.parametrize("solver_type", ["midpoint", "heun"])
def test_dpm_noise_prediction_variant_matches_diffusers(solver_order, solver_type):
    config = dict(SD15, algorithm_type="dpmsolver", final_sigmas_type="sigma_min")
    assert_matches_diffusers(20, **config, solver_order=solver_order, solver_type=solver_type)


@pytest.mark.parametrize(
    "extra",
    [
        dict(euler_at_final=True, lower_order_final=False),
        dict(lower_order_final=False, final_sigmas_type="sigma_min"),
        dict(final_sigmas_type="sigma_min", solver_type="heun"),
        dict(thresholding=True, sample_max_value=2.0, prediction_type="sample"),
        dict(timestep_spacing="trailing", rescale_betas_zero_snr=True, prediction_type="v_prediction"),
    ],
)
@pytest.mark.parametrize("steps", [7, 20])
def test_dpm_matches_diffusers_on_final_step_options_thresholding_and_zero_snr(extra, steps):
    assert_matches_diffusers(steps, **{**SD15, **extra})


@pytest.mark.parametrize("spacing", ["linspace", "trailing", "leading"])
def test_dpm_matches_diffusers_on_cosine_schedule_with_clipped_lambda(spacing):
    config = dict(beta_schedule="squaredcos_cap_v2", lambda_min_clipped=-5.1, timestep_spacing=spacing)
    assert_matches_diffusers(20, **config)


@pytest.mark.parametrize(
    "config",
    [SD15, dict(SD15, timestep_spacing="trailing"), dict(SD15, use_karras_sigmas=True), {}],
    ids=["sd15", "trailing", "karras", "defaults"],
)
@pytest.mark.parametrize("final_sigmas_type", ["zero", "sigma_min"])
def test_dpm_sigmas_and_timesteps_equal_diffusers(config, final_sigmas_type):
    ours = DPMSolverMultistepScheduler(**config, final_sigmas_type=final_sigmas_type)
    theirs = diffusers.DPMSolverMultistepScheduler(**config, final_sigmas_type=final_sigmas_type)
    ours.set_timesteps(13)
    theirs.set_timesteps(13)
    assert torch.equal(ours.timesteps, theirs.timesteps)
    assert torch.equal(ours.sigmas, theirs.sigmas)
    assert ours.sigmas.shape == (14,)  # one σ per step, then the final σ
    assert ours.sigmas[-1] == (0.0 if final_sigmas_type == "zero" else ours.train_sigmas[0])


def test_dpm_leading_and_linspace_spacing_differ_from_ddims():
    ddim, dpm = DDIMScheduler(**SD15), DPMSolverMultistepScheduler(**SD15)
    ddim.set_timesteps(10)
    dpm.set_timesteps(10)
    assert ddim.timesteps.tolist() == [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]  # i·⌊T/N⌋ + 1
    assert dpm.timesteps.tolist() == [901, 811, 721, 631, 541, 451, 361, 271, 181, 91]  # i·⌊T/(N+1)⌋ + 1
    dpm = DPMSolverMultistepScheduler(timestep_spacing="linspace")
    dpm.set_timesteps(4)
    assert dpm.timesteps.tolist() == [999, 749, 500, 250]  # i·999/4 for i = 4 … 1, never 0


def test_dpm_from_ddim_config_matches_diffusers_from_its_ddim_config():
    ours = DPMSolverMultistepScheduler.from_config(DDIMScheduler(**SD15).config)
    theirs = Oracle(diffusers.DPMSolverMultistepScheduler.from_config(diffusers.DDIMScheduler(**SD15).config))
    assert {"clip_sample", "set_alpha_to_one"} <= set(ours.ignored_config)
    assert ours.config.timestep_spacing == "leading" and ours.config.algorithm_type == "dpmsolver++"
    assert_same_loop(ours, theirs, 20)


def test_dpm_last_step_to_sigma_zero_lands_on_the_clean_estimate():
    _, samples, x0s = run_loop(DPMSolverMultistepScheduler(**SD15), 20)
    torch.testing.assert_close(samples[-1], x0s[-1])


def test_dpm_history_is_sampling_state_reset_by_set_timesteps():
    scheduler = DPMSolverMultistepScheduler(**SD15, solver_order=3)
    config = dict(scheduler.config)
    _, first, _ = run_loop(scheduler, 20)
    assert len(scheduler.model_outputs) == 3 and scheduler.step_index == 20
    _, second, _ = run_loop(scheduler, 20)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert scheduler.config == config


def test_dpm_zero_length_final_step_keeps_x_where_diffusers_gives_nan():
    # Karras sigmas end on σ_min and final_sigmas_type="sigma_min" appends σ_min again: the last step has
    # h = 0, and with 20 steps it is second order, where heun's (e^{-h} - 1)/h is 0/0 in diffusers.
    config = dict(SD15, use_karras_sigmas=True, final_sigmas_type="sigma_min", solver_type="heun")
    _, ours, _ = run_loop(DPMSolverMultistepScheduler(**config), 20)
    _, theirs, _ = run_loop(oracle(**config), 20)
    for a, b in zip(ours[:-1], theirs[:-1]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert torch.isnan(theirs[-1]).all()
    assert torch.equal(ours[-1], ours[-2])


def test_dpm_karras_timesteps_are_rounded_on_cosine_schedule_where_diffusers_truncates():
    config = dict(beta_schedule="squaredcos_cap_v2", use_karras_sigmas=True)
    ours, theirs = DPMSolverMultistepScheduler(**config), diffusers.DPMSolverMultistepScheduler(**config)
    ours.set_timesteps(20)
    theirs.set_timesteps(20)
    assert torch.equal(ours.sigmas, theirs.sigmas)
    difference = ours.timesteps - theirs.timesteps
    assert set(difference.tolist()) == {0, 1}  # round(t) vs ⌊t⌋


def test_dpm_rejects_bad_arguments_with_named_errors():
    with pytest.raises(ValueError, match="num_inference_steps: got 0"):
        DPMSolverMultistepScheduler().set_timesteps(0)
    for field, value in [
        ("solver_order", 4),
        ("solver_type", "bh2"),
        ("algorithm_type", "sde-dpmsolver++"),
        ("prediction_type", "flow_prediction"),
        ("timestep_spacing", "evenly"),
        ("final_sigmas_type", "one"),
        ("use_lu_lambdas", True),
        ("use_exponential_sigmas", True),
        ("use_beta_sigmas", True),
        ("use_flow_sigmas", True),
        ("variance_type", "learned_range"),
    ]:
        with pytest.raises(ValueError, match=re.escape(f"{field}: got {value!r}")):
            DPMSolverMultistepScheduler(**{field: value})
    with pytest.raises(ValueError, match="final_sigmas_type: got 'zero' with algorithm_type='dpmsolver'"):
        DPMSolverMultistepScheduler(algorithm_type="dpmsolver")
    with pytest.raises(ValueError, match="beta_schedule: got 'cosine'"):
        DPMSolverMultistepScheduler(beta_schedule="cosine")
    scheduler = DPMSolverMultistepScheduler()
    with pytest.raises(RuntimeError, match="set_timesteps"):
        scheduler.step(torch.zeros(1), 999, torch.zeros(1))
    scheduler.set_timesteps(10)
    scheduler.step(torch.zeros(1), scheduler.timesteps[0], torch.zeros(1))
    with pytest.raises(
        ValueError, match=f"timestep: got 999.0 but this multistep run expects {scheduler.timesteps[1]}"
    ):
        scheduler.step(torch.zeros(1), scheduler.timesteps[0], torch.zeros(1))
