"""Hostile arguments to the three pipelines: each is refused by name, before any model runs or memory is allocated.

The refusal tests wrap the call in `no_model_runs`, which makes every module of the pipeline raise if its forward
is called: a check that came after the first model call would fail the test with "… ran".
"""

import warnings
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image
from test_pipelines import SCHEDULER, UNET, VAE, text_encoder

import difflab
from difflab import models, schedulers
from difflab.pipelines import Image2ImagePipeline, InpaintPipeline, TextToImagePipeline
from difflab.pipelines.memory import UNET_MAPS_PLAIN, VAE_MAPS, estimate_memory
from difflab.text.tokenizer import build_clip_tokenizer

SIZE = 32  # the tiny VAE halves once: 32×32 images, 16×16 latents


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    tokenizer = build_clip_tokenizer(tmp_path_factory.mktemp("tokenizer"))
    torch.manual_seed(0)
    return dict(
        tokenizer=tokenizer,
        text_encoder=text_encoder(tokenizer),
        unet=models.UNet2DConditionModel(**UNET).eval(),
        vae=models.AutoencoderKL(**VAE).eval(),
        scheduler=schedulers.get("ddim", clip_sample=False, set_alpha_to_one=False, **SCHEDULER),
    )


@pytest.fixture(scope="module")
def t2i(parts):
    return TextToImagePipeline(**parts)


@pytest.fixture(scope="module")
def img2img(parts):
    return Image2ImagePipeline(**parts)


@pytest.fixture(scope="module")
def inpaint(parts):
    return InpaintPipeline(**parts)


@contextmanager
def no_model_runs(pipe):
    """Every module of every model component raises if its forward is called (hooks removed on exit)."""

    def refuse(module, args):
        raise AssertionError(f"{type(module).__name__} ran before the arguments were checked")

    modules = [m for part in pipe.components.values() if isinstance(part, torch.nn.Module) for m in part.modules()]
    handles = [m.register_forward_pre_hook(refuse) for m in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def refused(pipe, message: str, **kwargs):
    """Call `pipe` and expect a ValueError matching `message` (a literal, not a regex), with no model run."""
    with no_model_runs(pipe), pytest.raises(ValueError) as error:
        pipe(**kwargs)
    assert message in str(error.value), str(error.value)
    return str(error.value)


def image(size: int = SIZE) -> torch.Tensor:
    return difflab.toy.picture(size)[None]  # (1, 3, H, W) in [-1, 1]


FAKE_CUDA_GENERATOR = mock.NonCallableMock(spec=torch.Generator, device=torch.device("cuda", 0))

TEXT_TO_IMAGE_REFUSALS = [
    (dict(guidance_scale=float("nan")), "guidance_scale: got nan; valid values are finite numbers 0 … 100"),
    (dict(guidance_scale=float("inf")), "guidance_scale: got inf"),
    (dict(guidance_scale=-float("inf")), "guidance_scale: got -inf"),
    (dict(guidance_scale=1e30), "guidance_scale: got 1e+30"),
    (dict(guidance_scale=100.5), "guidance_scale: got 100.5"),
    (dict(guidance_scale="7.5"), "guidance_scale: got '7.5'"),
    (dict(guidance_scale=True), "guidance_scale: got True"),
    (dict(num_images_per_prompt=0), "num_images_per_prompt: got 0; valid values are whole numbers ≥ 1"),
    (dict(num_images_per_prompt=-1), "num_images_per_prompt: got -1"),
    (dict(num_images_per_prompt=2.5), "num_images_per_prompt: got 2.5"),
    (dict(num_images_per_prompt=True), "num_images_per_prompt: got True"),
    (dict(num_images_per_prompt=np.float64(2.0)), "num_images_per_prompt: got np.float64(2.0)"),
    (dict(num_inference_steps=2.0), "num_inference_steps: got 2.0; valid values are whole numbers 1 … 1000"),
    (dict(num_inference_steps=np.int64(0)), "num_inference_steps: got np.int64(0)"),
    (dict(num_inference_steps=True), "num_inference_steps: got True"),
    (dict(num_inference_steps=1001), "num_inference_steps: got 1001; the model was trained with 1000"),
    (dict(height=33), "height: got 33; valid values are positive multiples of 2"),
    (dict(height=-32), "height: got -32"),
    (dict(width="32"), "width: got '32'"),
    (dict(width=32.0), "width: got 32.0"),
    (dict(generator=0), "generator: got an object of type int; valid values are None, a torch.Generator"),
    (dict(generator=np.random.default_rng(0)), "generator: got an object of type Generator"),
    (dict(generator=[torch.Generator()] * 3), "generator: got a list of 3 generators for 1 images"),
    (dict(generator=[None]), "generator: got an object of type NoneType"),
    (dict(generator=FAKE_CUDA_GENERATOR), "generator: got a torch.Generator on cuda:0; difflab draws noise on the CPU"),
    (dict(prompt=None), "prompt: got None; pass a string or a non-empty list of strings"),
    (dict(prompt=5), "prompt: got 5"),
    (dict(prompt=["a red circle", 3]), "prompt: got ['a red circle', 3]"),
    (dict(prompt=("a", "b")), "prompt: got ('a', 'b')"),
    (dict(negative_prompt=3), "negative_prompt: got 3; pass None, a string or a list of strings"),
    (dict(negative_prompt=["blurry", None]), "negative_prompt: got ['blurry', None]"),
    (dict(eta=float("nan")), "eta: got nan; valid values are finite numbers 0 … 1"),
    (dict(eta=-0.1), "eta: got -0.1"),
    (dict(cfg="triple"), "cfg: got 'triple'; valid values are 'batched', 'two_pass'"),
    (dict(output_type="jpeg"), "output_type: got 'jpeg'; valid values are 'pil', 'np', 'pt', 'latent'"),
    (dict(callback=5), "callback: got an object of type int"),
    (dict(latents=torch.zeros(1, 4, 8, 8)), "latents: got shape (1, 4, 8, 8); for these arguments it must be"),
    (dict(latents=torch.full((1, 4, 16, 16), float("nan"))), "latents: got a tensor with NaN or inf values"),
    (dict(latents=torch.zeros(1, 4, 16, 16, dtype=torch.int64)), "latents: got a tensor of torch.int64"),
]


def case_id(value) -> str:
    """A test id that is the same in every process (xdist compares them): argument names and the message start."""
    return "+".join(value) if isinstance(value, dict) else str(value)[:40]


@pytest.mark.parametrize("kwargs, message", TEXT_TO_IMAGE_REFUSALS, ids=case_id)
def test_text_to_image_refuses_before_any_model_runs(t2i, kwargs, message):
    refused(t2i, message, **(dict(prompt="a red circle", num_inference_steps=2, height=SIZE, width=SIZE) | kwargs))


def test_a_huge_size_is_refused_from_the_estimate_at_once_and_allocates_nothing(t2i):
    with difflab.trace(t2i) as tr:
        message = refused(
            t2i, "height × width = 100000 × 100000 for 1 image(s) needs about", prompt="a", height=100000, width=100000
        )
    assert "over the limit of" in message and "DIFFLAB_MEMORY_LIMIT_GB=" in message
    assert tr.stages() == [] and tr.memory[0]["activations"] < 2**20  # no stage entered, under 1 MiB allocated


def test_many_images_are_refused_like_a_huge_size(t2i):
    refused(t2i, "for 10000000 image(s) needs about", prompt="a", height=SIZE, width=SIZE, num_images_per_prompt=10**7)


def test_the_memory_limit_comes_from_the_environment_when_set(t2i, monkeypatch):
    monkeypatch.setenv("DIFFLAB_MEMORY_LIMIT_GB", "0.0001")
    message = refused(t2i, "over the limit of 104.9 KiB (set by DIFFLAB_MEMORY_LIMIT_GB=0.0001)", prompt="a")
    assert "raise the limit with DIFFLAB_MEMORY_LIMIT_GB=0.1" in message
    monkeypatch.setenv("DIFFLAB_MEMORY_LIMIT_GB", "lots")
    refused(t2i, "DIFFLAB_MEMORY_LIMIT_GB: got 'lots'; valid values are positive numbers of GiB", prompt="a")


def test_the_estimate_follows_its_formula_and_is_within_2x_of_the_ledger(t2i):
    estimate = estimate_memory(t2i, 64, 64, batch=1, guided_batch=2)
    # The tiny UNet's widest level is its first, without attention: 14·4 channels beat 26·8/4 at level 1.
    assert estimate.unet == 2 * 32 * 32 * 4 * UNET_MAPS_PLAIN * UNET["block_out_channels"][0]  # b_cfg·h·w·s·M_0·C_0
    assert estimate.vae == VAE_MAPS * 1 * VAE["block_out_channels"][1] * 64 * 64 * 4  # b·C_full·H·W·s
    with difflab.trace(t2i, shapes=False, timings=False) as tr:
        t2i("a red circle", num_inference_steps=1, guidance_scale=5.0, height=64, width=64, output_type="pt")
    measured = tr.memory[0]["peak"] - tr.memory[0]["weights"]  # working memory the ledger saw
    assert 1.0 <= estimate.working / measured <= 2.0, (estimate, measured)


def test_numpy_numbers_are_accepted_and_give_the_same_image(t2i):
    plain = dict(num_inference_steps=2, height=SIZE, width=SIZE, guidance_scale=3.0, num_images_per_prompt=2)
    numpy = dict(num_inference_steps=np.int64(2), height=np.int32(SIZE), width=np.int64(SIZE))
    numpy |= dict(guidance_scale=np.float32(3.0), num_images_per_prompt=np.int64(2))
    run = lambda kwargs: t2i("a red circle", **kwargs, output_type="pt", generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(run(numpy), run(plain))


def test_a_list_of_generators_gives_each_image_its_own_seed(t2i):
    kwargs = dict(num_inference_steps=2, height=SIZE, width=SIZE, output_type="pt")  # DDIM, eta 0: deterministic
    both = t2i(
        ["a red circle", "a blue square"], generator=[torch.Generator().manual_seed(s) for s in (1, 2)], **kwargs
    )
    second = t2i("a blue square", generator=torch.Generator().manual_seed(2), **kwargs)
    torch.testing.assert_close(both[1:], second)


def test_a_long_prompt_warns_once_per_call_naming_what_was_cut(t2i):
    long = "a red circle " + "on the left " * 30  # 3 + 90 words, one token each: 18 past the 75 that fit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t2i(long, negative_prompt="blurry " * 80, num_inference_steps=2, height=SIZE, width=SIZE, output_type="latent")
    assert len(caught) == 1  # one warning for the call: not per prompt, not per step
    text = str(caught[0].message)
    assert "at most 77 tokens" in text and "prompt: 18 tokens dropped, 'on the left on the left" in text
    assert "negative_prompt: 5 tokens dropped, 'blurry blurry blurry blurry blurry'" in text


def test_a_prompt_that_fits_is_silent(t2i):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t2i("a red circle " * 25, num_inference_steps=1, height=SIZE, width=SIZE, output_type="latent")  # 75 tokens


IMAGE_REFUSALS = [
    (dict(image=None), "image: got a NoneType; valid values are a PIL image"),
    (dict(image="cat.png"), "image: got a str"),
    (dict(image=[]), "image: got an empty list"),
    (dict(image=[Image.new("RGB", (32, 32)), "x"]), "image: got a list of Image, str; a list must hold PIL images"),
    (dict(image=[Image.new("RGB", (32, 32)), Image.new("RGB", (64, 32))]), "image: got PIL images of different"),
    (dict(image=torch.zeros(1, 4, SIZE, SIZE)), "image: got a Tensor of shape (1, 4, 32, 32)"),
    (dict(image=torch.full((1, 3, SIZE, SIZE), float("nan"))), "image: got values that include NaN"),
    (dict(image=torch.full((1, 3, SIZE, SIZE), 255.0)), "image: got values in [255, 255]; valid values are -1 … 1"),
    (dict(image=torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8)), "image: got a tensor of torch.uint8"),
    (dict(image=np.full((SIZE, SIZE, 3), 200.0)), "image: got values in [200, 200]; valid values are 0 … 1"),
    (dict(image=np.full((SIZE, SIZE, 3), np.nan)), "image: got values that include NaN"),
    (dict(image=np.zeros((SIZE, SIZE, 3), np.int32)), "image: got a numpy array of int32"),
    (dict(image=torch.zeros(1, 3, 33, SIZE)), "image height: got 33; valid values are positive multiples of 2"),
    (dict(image=torch.zeros(2, 3, SIZE, SIZE), prompt=["a"] * 3), "image: got 2 images for 3 prompts"),
    (dict(strength=float("nan")), "strength: got nan; valid values are finite numbers 0 … 1"),
    (dict(strength=1.5), "strength: got 1.5"),
    (dict(strength=-0.1), "strength: got -0.1"),
    (dict(strength="0.5"), "strength: got '0.5'"),
    (dict(guidance_scale=float("inf")), "guidance_scale: got inf"),
    (dict(generator="seed"), "generator: got an object of type str"),
]


@pytest.mark.parametrize("kwargs, message", IMAGE_REFUSALS, ids=case_id)
def test_image_to_image_refuses_before_any_model_runs(img2img, kwargs, message):
    refused(img2img, message, **(dict(prompt="a red circle", image=image(), num_inference_steps=2) | kwargs))


def test_a_huge_image_is_refused_before_its_pixels_are_read(img2img):
    huge = np.broadcast_to(np.zeros(3, np.uint8), (100000, 100000, 3))  # 30 GB of pixels, but a zero-copy view
    refused(img2img, "height × width = 100000 × 100000 for 1 image(s) needs about", prompt="a", image=huge)


MASK_REFUSALS = [
    (dict(mask_image=None), "mask_image: got a NoneType; valid values are a PIL image"),
    (dict(mask_image=torch.ones(1, 1, 16, 16)), "mask_image: got size (16, 16) but image is (32, 32) (H, W)"),
    (
        dict(mask_image=torch.full((1, 1, SIZE, SIZE), 255.0)),
        "mask_image: got values in [255, 255]; valid values are 0 … 1",
    ),
    (dict(mask_image=torch.full((SIZE, SIZE), float("nan"))), "mask_image: got values that include NaN"),
    (dict(mask_image=np.full((SIZE, SIZE), -1.0)), "mask_image: got values in [-1, -1]"),
    (dict(mask_image=torch.ones(3, 1, SIZE, SIZE)), "mask_image: got 3 masks for 1 images"),
    (dict(mask_image=torch.ones(1, 3, SIZE, SIZE)), "mask_image: got a Tensor of shape (1, 3, 32, 32)"),
    (dict(image=torch.full((1, 3, SIZE, SIZE), float("nan"))), "image: got values that include NaN"),
]


@pytest.mark.parametrize("kwargs, message", MASK_REFUSALS, ids=case_id)
def test_inpainting_refuses_before_any_model_runs(inpaint, kwargs, message):
    call = dict(prompt="a red circle", image=image(), mask_image=torch.ones(1, 1, SIZE, SIZE), num_inference_steps=2)
    refused(inpaint, message, **(call | kwargs))


def test_numpy_and_pil_images_give_what_the_model_range_tensor_gives(img2img):
    pixels = ((image()[0].permute(1, 2, 0) + 1) * 127.5).round().numpy().astype(np.uint8)  # (H, W, 3) in 0 … 255
    as_tensor = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1
    run = lambda im: img2img(
        "a red circle",
        image=im,
        num_inference_steps=2,
        output_type="latent",
        generator=torch.Generator().manual_seed(0),
    )
    expected = run(as_tensor)
    for accepted in (pixels, pixels / 255.0, Image.fromarray(pixels), [Image.fromarray(pixels)]):
        torch.testing.assert_close(run(accepted), expected, rtol=1e-4, atol=1e-4)


def test_inpainting_takes_numpy_masks_and_a_list_of_generators(inpaint):
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:, : SIZE // 2] = 255  # repaint the left half
    generators = [torch.Generator().manual_seed(s) for s in (0, 1)]
    out = inpaint(
        "a red circle",
        image=image(),
        mask_image=mask,
        num_inference_steps=2,
        num_images_per_prompt=2,
        generator=generators,
        output_type="pt",
    )
    assert out.shape == (2, 3, SIZE, SIZE) and torch.isfinite(out).all()
