"""Remedies for over-guidance in TextToImagePipeline: guidance_rescale (diffusers' rescale_noise_cfg) and
guidance_interval, on the shipped shapes-sd model (64×64, a few steps)."""

import diffusers
import numpy as np
import pytest
import torch
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg as diffusers_rescale

import difflab
from difflab.pipelines.text_to_image import cfg_combine, guided_steps, rescale_noise_cfg
from difflab.pretrained import weights_folder
from difflab.sampling import sample_loop

PROMPTS = ["a red circle", "a large blue square on the left", "a small green triangle"]  # an odd batch


@pytest.fixture(scope="module")
def pipe():
    return difflab.load_pipeline("shapes-sd", device="cpu")


def generate(pipe, seed=0, steps=3, guidance_scale=7.5, prompt=PROMPTS, **kwargs):
    generator = torch.Generator().manual_seed(seed)
    return pipe(
        prompt, num_inference_steps=steps, guidance_scale=guidance_scale, generator=generator, output_type="latent",
        **kwargs,
    )  # fmt: skip


class CountCalls:
    """Counts UNet calls and their batch sizes while the block runs (the hook is removed on exit)."""

    def __init__(self, module):
        self.module, self.batches = module, []

    def __enter__(self):
        self.handle = self.module.register_forward_hook(lambda m, args, out: self.batches.append(args[0].shape[0]))
        return self.batches

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize("shape", [(1, 4, 8, 8), (2, 4, 8, 8), (3, 3, 5, 7), (1, 4, 3, 6, 6), (2, 16)])
@pytest.mark.parametrize("phi", [0.0, 0.3, 0.7, 1.0])
def test_rescale_noise_cfg_equals_diffusers(shape, phi):
    g = torch.Generator().manual_seed(len(shape) * 10 + shape[0])
    noise_uncond, noise_text = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    noise_cfg = cfg_combine(noise_uncond, noise_text, 7.5)
    before = noise_cfg.clone(), noise_text.clone()
    ours = rescale_noise_cfg(noise_cfg, noise_text, phi)
    assert torch.equal(noise_cfg, before[0]) and torch.equal(noise_text, before[1])  # inputs unchanged
    torch.testing.assert_close(ours, diffusers_rescale(noise_cfg, noise_text, phi), rtol=0, atol=0)


def test_rescale_gives_each_sample_the_conditional_spread_at_phi_one():
    g = torch.Generator().manual_seed(0)
    noise_text = torch.randn(3, 4, 5, 7, generator=g) * torch.tensor([0.5, 1.0, 2.0]).view(3, 1, 1, 1)
    noise_cfg = 3 * torch.randn(3, 4, 5, 7, generator=g)
    rescaled = rescale_noise_cfg(noise_cfg, noise_text, 1.0)
    torch.testing.assert_close(rescaled.flatten(1).std(1), noise_text.flatten(1).std(1))


def test_the_pipeline_with_guidance_rescale_matches_diffusers_image_for_image(pipe):
    theirs = diffusers.StableDiffusionPipeline.from_pretrained(weights_folder("shapes-sd"), local_files_only=True)
    theirs.set_progress_bar_config(disable=True)
    kwargs = dict(prompt=PROMPTS[:2], num_inference_steps=4, guidance_scale=9.0, guidance_rescale=0.7)
    expected = theirs(**kwargs, output_type="np", generator=torch.Generator().manual_seed(3)).images
    got = pipe(**kwargs, output_type="np", generator=torch.Generator().manual_seed(3))
    plain = pipe(**(kwargs | {"guidance_rescale": 0.0}), output_type="np", generator=torch.Generator().manual_seed(3))
    assert np.abs(got - expected).max() <= 1e-4
    assert np.abs(got - plain).max() > 1e-2  # and the rescale changed the images


def test_guidance_rescale_gives_the_same_images_batched_and_two_pass(pipe):
    batched = generate(pipe, seed=1, guidance_rescale=0.7, cfg="batched")
    two_pass = generate(pipe, seed=1, guidance_rescale=0.7, cfg="two_pass")
    # latents of magnitude up to ~8: float32 reduction order differs between batch 2B and batch B (~6e-5 here,
    # the same as without rescale)
    torch.testing.assert_close(batched, two_pass, rtol=1e-4, atol=2e-4)


def test_guidance_rescale_zero_gives_exactly_plain_guidance(pipe):
    """The images of plain CFG: the pipeline's loop with cfg_combine alone, as before guidance_rescale existed."""
    prompt_embeds, negative_embeds = pipe.conditioning(PROMPTS, None, 1, 7.5)
    both = torch.cat([negative_embeds, prompt_embeds])

    def plain(x, t):
        return cfg_combine(*pipe.unet(torch.cat([x, x]), t, encoder_hidden_states=both).sample.chunk(2), 7.5)

    noise = torch.randn(pipe.latent_shape(3, 64, 64), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = sample_loop(plain, pipe.scheduler, noise, 3)
    assert torch.equal(generate(pipe, seed=2, guidance_rescale=0.0), expected)
    assert torch.equal(generate(pipe, seed=2), expected)


def test_guidance_rescale_does_nothing_without_guidance(pipe):
    assert torch.equal(generate(pipe, guidance_scale=1.0, guidance_rescale=0.7), generate(pipe, guidance_scale=1.0))


def test_the_whole_interval_is_the_same_as_no_interval(pipe):
    assert torch.equal(generate(pipe, steps=4, guidance_interval=(0.0, 1.0)), generate(pipe, steps=4))


def test_guided_steps_are_those_with_start_le_i_over_n_lt_end():
    timesteps = torch.tensor([999, 749, 499, 249])
    assert guided_steps(timesteps, 0.0, 1.0) == {999.0, 749.0, 499.0, 249.0}
    assert guided_steps(timesteps, 0.25, 0.75) == {749.0, 499.0}  # i/N = 0.25, 0.5; 0.75 is excluded
    assert guided_steps(timesteps, 0.3, 0.4) == set()  # no step starts inside: guidance never runs
    assert guided_steps(timesteps[:1], 0.0, 0.5) == {999.0}  # one step


def test_a_narrow_interval_skips_the_unconditional_call_and_changes_the_image(pipe):
    with CountCalls(pipe.unet) as full:
        everywhere = generate(pipe, steps=4)
    with CountCalls(pipe.unet) as narrow:
        middle = generate(pipe, steps=4, guidance_interval=(0.25, 0.75))
    b = len(PROMPTS)
    assert full == [2 * b] * 4
    assert narrow == [b, 2 * b, 2 * b, b]  # steps 0 and 3: the conditional prediction alone, one call of batch B
    assert (everywhere - middle).abs().max() > 1e-2
    with CountCalls(pipe.unet) as two_pass:
        generate(pipe, steps=4, guidance_interval=(0.25, 0.75), cfg="two_pass")
    assert two_pass == [b] * 6


def test_an_interval_with_rescale_is_the_same_batched_and_two_pass(pipe):
    kwargs = dict(steps=4, guidance_interval=(0.0, 0.5), guidance_rescale=0.5)
    torch.testing.assert_close(
        generate(pipe, cfg="batched", **kwargs), generate(pipe, cfg="two_pass", **kwargs), rtol=1e-4, atol=2e-4
    )


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), float("inf"), "0.7", True, None])
def test_a_bad_guidance_rescale_is_refused_by_name_before_any_work(pipe, value):
    with CountCalls(pipe.unet) as calls, pytest.raises(ValueError, match=r"guidance_rescale: got .*valid values"):
        generate(pipe, guidance_rescale=value)
    assert calls == []


@pytest.mark.parametrize(
    "value",
    [(0.5, 0.5), (0.8, 0.2), (-0.1, 0.5), (0.0, 1.5), (0.2,), (0.1, 0.2, 0.3), "0,1", (0.0, float("nan")), 0.5],
)
def test_a_bad_guidance_interval_is_refused_by_name_before_any_work(pipe, value):
    with CountCalls(pipe.unet) as calls, pytest.raises(ValueError, match=r"guidance_interval: got .*valid values"):
        generate(pipe, guidance_interval=value)
    assert calls == []


def test_guidance_interval_accepts_lists_and_numpy_numbers(pipe):
    expected = generate(pipe, steps=2, guidance_interval=(0.0, 0.5))
    assert torch.equal(generate(pipe, steps=2, guidance_interval=[0, np.float64(0.5)]), expected)
