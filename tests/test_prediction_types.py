"""Prediction types at the ends of the schedule: the exact toy denoiser at zero terminal SNR, what an ε-model
gives there, and where img2img's strength starts the schedule (labs a02/a03 run all three)."""

import types

import pytest
import torch
from diffusers import DDIMScheduler as TheirDDIM
from diffusers import DPMSolverMultistepScheduler as TheirDPM
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import StableDiffusionImg2ImgPipeline

from difflab import noise, schedulers, toy
from difflab.pipelines.image_to_image import strength_timesteps

SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
RING = toy.GaussianMixture2D.ring(std=0.12)
DATA_MEAN = (RING.weights[:, None] * RING.means).sum(0).float()  # E[x0], (2,)


def zero_snr_alpha_bar():
    return noise.alpha_bar(noise.rescale_zero_terminal_snr(noise.beta_schedule("scaled_linear", 1000, 0.00085, 0.012)))


def test_exact_denoiser_at_zero_terminal_snr_gives_eps_equal_to_the_input_and_v_equal_to_minus_the_mean():
    ab = zero_snr_alpha_bar()
    assert ab[-1] == 0
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    eps = toy.ExactDenoiser(RING, ab, "epsilon")(x, 999)
    v = toy.ExactDenoiser(RING, ab, "v_prediction")(x, 999)
    x0 = toy.ExactDenoiser(RING, ab, "sample")(x, 999)
    assert torch.equal(eps, x)  # x_T = ε exactly: the ε target says nothing about x0
    torch.testing.assert_close(x0, DATA_MEAN.expand(64, 2))  # E[x0 | pure noise] = E[x0]
    torch.testing.assert_close(v, -x0)  # v = √ᾱ·ε - √(1-ᾱ)·x0 = -x0 at ᾱ = 0
    assert torch.isnan(noise.x0_from_eps(x, eps, ab[-1])).all()  # (x_T - ε̂)/√ᾱ = 0/0


def test_exact_denoiser_targets_agree_one_step_before_zero_terminal_snr():
    ab = zero_snr_alpha_bar()
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    x0 = toy.ExactDenoiser(RING, ab, "sample")(x, 998)
    v = toy.ExactDenoiser(RING, ab, "v_prediction")(x, 998)
    torch.testing.assert_close(noise.x0_from_v(x, v, ab[998]), x0, rtol=1e-5, atol=1e-6)


def test_epsilon_model_at_zero_terminal_snr_makes_ddim_nan_here_and_in_diffusers():
    config = dict(**SD, rescale_betas_zero_snr=True, timestep_spacing="trailing", clip_sample=False)
    ours, theirs = schedulers.DDIMScheduler(**config), TheirDDIM(**config)
    for scheduler in (ours, theirs):
        scheduler.set_timesteps(10)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(2))
    eps = toy.ExactDenoiser(RING, ours.alphas_cumprod, "epsilon")(x, 999)  # = x
    assert torch.isnan(ours.step(eps, 999, x).pred_original_sample).all()
    assert torch.isnan(theirs.step(eps, 999, x).pred_original_sample).all()


def test_v_model_at_zero_terminal_snr_starts_ddim_from_the_data_mean():
    ddim = schedulers.DDIMScheduler(
        **SD,
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
        clip_sample=False,
        prediction_type="v_prediction",
    )
    ddim.set_timesteps(10)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    v = toy.ExactDenoiser(RING, ddim.alphas_cumprod, "v_prediction")(x, 999)
    torch.testing.assert_close(ddim.step(v, 999, x).pred_original_sample, DATA_MEAN.expand(4, 2))


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("steps, strength", [(50, 0.8), (50, 0.58), (10, 0.3), (4, 1.0), (7, 0.05)])
def test_strength_timesteps_match_diffusers_get_timesteps(spacing, steps, strength):
    config = dict(**SD, timestep_spacing=spacing, steps_offset=1)
    ours, theirs = schedulers.DDIMScheduler(**config), TheirDDIM(**config)
    theirs.set_timesteps(steps)
    expected, _ = StableDiffusionImg2ImgPipeline.get_timesteps(
        types.SimpleNamespace(scheduler=theirs), steps, strength, None
    )
    assert strength_timesteps(ours, steps, strength).tolist() == expected.tolist()


def test_strength_timesteps_with_a_multistep_scheduler_match_diffusers():
    ours, theirs = schedulers.DPMSolverMultistepScheduler(**SD), TheirDPM(**SD)
    theirs.set_timesteps(20)
    expected, _ = StableDiffusionImg2ImgPipeline.get_timesteps(types.SimpleNamespace(scheduler=theirs), 20, 0.6, None)
    assert strength_timesteps(ours, 20, 0.6).tolist() == expected.tolist()
