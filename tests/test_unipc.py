import re

import diffusers
import pytest
import torch

from difflab import schedulers
from difflab.schedulers import DPMSolverMultistepScheduler, SchedulerOutput, UniPCMultistepScheduler

from parity import SD15, assert_same_loop, run_loop

# diffusers' UniPC builds σ with np.array(tensor), which numpy 2 warns about
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

FLOW = dict(prediction_type="flow_prediction", use_flow_sigmas=True)  # the fields Wan2.1's scheduler sets
WAN21 = dict(FLOW, num_train_timesteps=1000, flow_shift=3.0)  # 480p; the 720p config has flow_shift=5.0


class Oracle:
    """diffusers' UniPC takes no generator and returns no pred_original_sample, which run_loop uses: wrap step."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def __getattr__(self, name):
        return getattr(self.scheduler, name)

    def step(self, model_output, timestep, sample, generator=None):
        return SchedulerOutput(prev_sample=self.scheduler.step(model_output, timestep, sample).prev_sample)


def oracle(**config):
    return Oracle(diffusers.UniPCMultistepScheduler(**config))


def assert_matches_diffusers(steps, shape=(2, 4, 8, 8), **config):
    """The same timesteps and σ exactly, and every sample of the loop within 1e-5."""
    ours, theirs = UniPCMultistepScheduler(**config), oracle(**config)
    assert_same_loop(ours, theirs, steps, shape=shape)
    assert torch.equal(ours.timesteps, theirs.timesteps) and torch.equal(ours.sigmas, theirs.sigmas)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 10, 25, 37])
@pytest.mark.parametrize("flow_shift", [1.0, 3.0, 5.0])
def test_unipc_flow_mode_matches_diffusers(flow_shift, steps):
    # 3 and 37 steps put σ·T on whole numbers (1 - 0.999·i/N), where truncating them is decided by rounding
    assert_matches_diffusers(steps, **FLOW, flow_shift=flow_shift)


@pytest.mark.parametrize("lower_order_final", [True, False])
@pytest.mark.parametrize("solver_order", [1, 2, 3])
@pytest.mark.parametrize("solver_type", ["bh1", "bh2"])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_unipc_matches_diffusers_on_sd15_schedule(
    spacing, prediction_type, solver_type, solver_order, lower_order_final
):
    # final σ = σ_min where diffusers' last step to σ = 0 is not finite (see the tests at the end)
    final = "zero" if lower_order_final and solver_type == "bh2" else "sigma_min"
    config = dict(SD15, timestep_spacing=spacing, prediction_type=prediction_type, solver_type=solver_type)
    config.update(solver_order=solver_order, lower_order_final=lower_order_final, final_sigmas_type=final)
    for steps in (1, 2, 7, 20):
        assert_matches_diffusers(steps, **config)


@pytest.mark.parametrize(
    "config",
    [
        dict(SD15, use_karras_sigmas=True),
        dict(SD15, use_karras_sigmas=True, final_sigmas_type="sigma_min", prediction_type="v_prediction"),
        dict(SD15, thresholding=True, sample_max_value=2.0, prediction_type="sample"),
        dict(SD15, timestep_spacing="trailing", rescale_betas_zero_snr=True, prediction_type="v_prediction"),
        dict(beta_schedule="squaredcos_cap_v2"),
        dict(SD15, disable_corrector=[0, 1, 5]),
        dict(WAN21, disable_corrector=[0]),
        dict(WAN21, solver_order=3),
        dict(WAN21, flow_shift=5.0, final_sigmas_type="sigma_min", lower_order_final=False),
    ],
    ids=[
        "karras",
        "karras-sigma_min",
        "thresholding",
        "zero_snr",
        "cosine",
        "no-corrector",
        "wan-no-corr",
        "wan-3",
        "wan-5",
    ],
)
def test_unipc_matches_diffusers_on_karras_thresholding_zero_snr_and_disabled_corrector(config):
    for steps in (2, 7, 20):
        assert_matches_diffusers(steps, **config)


@pytest.mark.parametrize("shape", [(1, 4, 8, 8), (1, 3, 5, 7), (2, 16, 3, 6, 5)], ids=["batch1", "odd", "video"])
@pytest.mark.parametrize("config", [WAN21, SD15], ids=["wan", "sd15"])
def test_unipc_matches_diffusers_for_batch_one_odd_and_video_shapes(config, shape):
    assert_matches_diffusers(10, shape=shape, **config)


def test_unipc_flow_timesteps_are_truncated_shifted_sigmas():
    scheduler = UniPCMultistepScheduler(**WAN21)
    scheduler.set_timesteps(2)
    # σ = 1 - 1e-6 and shift(0.5005) = 0.750375: ×1000 and truncated, not rounded
    assert scheduler.timesteps.tolist() == [999, 750]
    assert scheduler.sigmas[0] == torch.tensor(1 - 1e-6) < 1  # nudged off 1, where α = 1 - σ = 0
    torch.testing.assert_close(scheduler.sigmas, torch.tensor([1 - 1e-6, 0.750375, 0.0]), rtol=0, atol=1e-6)
    scheduler = UniPCMultistepScheduler(**FLOW)
    scheduler.set_timesteps(4)
    assert scheduler.timesteps.tolist() == [999, 750, 500, 250]  # σ = 1 … 1/T in N+1 points, the last left out


def test_unipc_config_round_trips_through_diffusers_config_dicts():
    theirs = diffusers.UniPCMultistepScheduler(**WAN21)
    ours = UniPCMultistepScheduler.from_config(theirs.config)
    assert set(ours.ignored_config) == {"_use_default_values"}
    assert {k: v for k, v in theirs.config.items() if not k.startswith("_")} == dict(ours.config)
    assert_same_loop(ours, Oracle(diffusers.UniPCMultistepScheduler.from_config(ours.config)), 10)
    assert isinstance(schedulers.get("UniPCMultistepScheduler", **theirs.config), UniPCMultistepScheduler)
    assert schedulers.by_name("unipc") is UniPCMultistepScheduler
    assert "UniPCMultistepScheduler" not in schedulers.NOT_IMPLEMENTED


def test_unipc_from_dpm_config_maps_its_solver_type_to_bh2_as_diffusers_does():
    ours = UniPCMultistepScheduler.from_config(DPMSolverMultistepScheduler(**SD15).config)
    theirs = diffusers.UniPCMultistepScheduler.from_config(diffusers.DPMSolverMultistepScheduler(**SD15).config)
    assert ours.config.solver_type == theirs.config.solver_type == "bh2"
    assert {"algorithm_type", "euler_at_final"} <= set(ours.ignored_config)
    assert_same_loop(ours, Oracle(theirs), 20)


def test_unipc_add_noise_matches_diffusers_in_flow_and_vp_modes():
    x0, eps = torch.randn(3, 4, 5, 6), torch.randn(3, 4, 5, 6)
    for config in (WAN21, SD15):
        ours, theirs = UniPCMultistepScheduler(**config), diffusers.UniPCMultistepScheduler(**config)
        ours.set_timesteps(10)
        theirs.set_timesteps(10)
        t = ours.timesteps[[0, 4, 9]]
        torch.testing.assert_close(ours.add_noise(x0, eps, t), theirs.add_noise(x0, eps, t), rtol=0, atol=1e-6)


@pytest.mark.parametrize("config", [SD15, WAN21], ids=["sd15", "wan"])
def test_unipc_last_step_to_sigma_zero_lands_on_the_clean_estimate(config):
    _, samples, x0s = run_loop(UniPCMultistepScheduler(**config), 10)
    torch.testing.assert_close(samples[-1], x0s[-1])


def test_unipc_history_is_sampling_state_reset_by_set_timesteps():
    scheduler = UniPCMultistepScheduler(**WAN21, solver_order=3)
    config = dict(scheduler.config)
    _, first, _ = run_loop(scheduler, 20)
    assert len(scheduler.model_outputs) == 3 and scheduler.step_index == 20 and scheduler.last_order == 1
    _, second, _ = run_loop(scheduler, 20)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert scheduler.config == config


def test_unipc_1_without_its_corrector_is_dpm_solver_pp_order_1():
    # UniP-1 is x_t = (σ_t/σ_s)·x_s - α_t·(e^{-h} - 1)·x̂0_s, DPM-Solver++'s first order step (DDIM)
    config = dict(SD15, solver_order=1)
    _, dpm, _ = run_loop(DPMSolverMultistepScheduler(**config), 10)
    _, predictor_only, _ = run_loop(UniPCMultistepScheduler(**config, disable_corrector=list(range(10))), 10)
    _, corrected, _ = run_loop(UniPCMultistepScheduler(**config), 10)
    for a, b in zip(predictor_only, dpm):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert (corrected[-1] - dpm[-1]).abs().max() > 1e-2  # UniC-1 moves every step after the first


@pytest.mark.parametrize(
    "extra", [dict(lower_order_final=False), dict(solver_type="bh1")], ids=["higher-order-final", "bh1"]
)
@pytest.mark.parametrize("config", [SD15, WAN21], ids=["sd15", "wan"])
def test_unipc_final_step_to_zero_is_first_order_where_diffusers_is_not_finite(config, extra):
    # h = ∞ on the step to σ = 0: diffusers' D_k divide by r_k = 0 (±inf), and bh1's B(h)·0 is ∞·0 (NaN)
    _, ours, x0s = run_loop(UniPCMultistepScheduler(**config, **extra), 10)
    _, theirs, _ = run_loop(oracle(**config, **extra), 10)
    for a, b in zip(ours[:-1], theirs[:-1]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert not torch.isfinite(theirs[-1]).all()
    torch.testing.assert_close(ours[-1], x0s[-1])


def test_unipc_rejects_bad_arguments_with_named_errors():
    with pytest.raises(ValueError, match="num_inference_steps: got 0"):
        UniPCMultistepScheduler().set_timesteps(0)
    for field, value in [
        ("solver_order", 4),
        ("solver_type", "bh3"),
        ("prediction_type", "velocity"),
        ("timestep_spacing", "evenly"),
        ("final_sigmas_type", "one"),
        ("predict_x0", False),
        ("solver_p", "ddim"),
        ("use_exponential_sigmas", True),
        ("use_beta_sigmas", True),
        ("use_dynamic_shifting", True),
        ("time_shift_type", "linear"),
        ("sigma_min", 0.1),
        ("sigma_max", 10.0),
        ("shift_terminal", 0.1),
        ("disable_corrector", [0.5]),
        ("disable_corrector", 0),
        ("use_flow_sigmas", True),
    ]:
        with pytest.raises(ValueError, match=re.escape(f"{field}: got {value!r}")):
            UniPCMultistepScheduler(**{field: value})
    with pytest.raises(ValueError, match="use_flow_sigmas: got False with prediction_type='flow_prediction'"):
        UniPCMultistepScheduler(prediction_type="flow_prediction")
    with pytest.raises(ValueError, match="timestep_spacing: got 'trailing' with use_flow_sigmas=True"):
        UniPCMultistepScheduler(**FLOW, timestep_spacing="trailing")
    with pytest.raises(ValueError, match="use_karras_sigmas: got True with use_flow_sigmas=True"):
        UniPCMultistepScheduler(**FLOW, use_karras_sigmas=True)
    with pytest.raises(ValueError, match="flow_shift: got 0"):
        UniPCMultistepScheduler(**FLOW, flow_shift=0)
    with pytest.raises(ValueError, match="beta_schedule: got 'cosine'"):
        UniPCMultistepScheduler(beta_schedule="cosine")
    scheduler = UniPCMultistepScheduler(**WAN21)
    with pytest.raises(RuntimeError, match="set_timesteps"):
        scheduler.step(torch.zeros(1), 999, torch.zeros(1))
    scheduler.set_timesteps(10)
    scheduler.step(torch.zeros(1), scheduler.timesteps[0], torch.zeros(1))
    with pytest.raises(
        ValueError, match=f"timestep: got 999.0 but this multistep run expects {scheduler.timesteps[1]}"
    ):
        scheduler.step(torch.zeros(1), scheduler.timesteps[0], torch.zeros(1))
