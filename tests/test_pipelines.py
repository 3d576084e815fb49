import diffusers
import numpy as np
import pytest
import torch
import transformers

import difflab
from difflab import models, schedulers
from difflab.pipelines import Image2ImagePipeline, InpaintPipeline, TextToImagePipeline
from difflab.text.tokenizer import build_clip_tokenizer

# diffusers' own tiny Stable Diffusion test components (tests/pipelines/stable_diffusion), with our offline tokenizer.
UNET = dict(
    block_out_channels=(4, 8),
    layers_per_block=1,
    sample_size=32,
    in_channels=4,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=32,
    norm_num_groups=2,
)
VAE = dict(
    block_out_channels=[4, 8],
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 2,
    up_block_types=["UpDecoderBlock2D"] * 2,
    latent_channels=4,
    norm_num_groups=2,
)
SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
DDIM_EXTRA = dict(clip_sample=False, set_alpha_to_one=False)  # what StableDiffusionPipeline forces on DDIM configs


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_clip_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def text_encoder(tokenizer):
    torch.manual_seed(0)
    config = transformers.CLIPTextConfig(
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=5,
        layer_norm_eps=1e-5,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return transformers.CLIPTextModel(config).eval()


def both_pipelines(tokenizer, scheduler_name="ddim"):
    """A diffusers StableDiffusionPipeline and a difflab TextToImagePipeline with identical weights."""
    torch.manual_seed(0)
    unet, vae = diffusers.UNet2DConditionModel(**UNET), diffusers.AutoencoderKL(**VAE)
    ours_unet, ours_vae = models.UNet2DConditionModel(**UNET), models.AutoencoderKL(**VAE)
    ours_unet.load_state_dict(unet.state_dict())
    ours_vae.load_state_dict(vae.state_dict())
    encoder = text_encoder(tokenizer)
    config = SCHEDULER | (DDIM_EXTRA if scheduler_name == "ddim" else {})
    theirs_scheduler = {
        "ddim": diffusers.DDIMScheduler,
        "euler": diffusers.EulerDiscreteScheduler,
        "dpm++": diffusers.DPMSolverMultistepScheduler,
        "euler_a": diffusers.EulerAncestralDiscreteScheduler,
    }[scheduler_name](**config)
    theirs = diffusers.StableDiffusionPipeline(
        vae=vae,
        text_encoder=encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=theirs_scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    theirs.set_progress_bar_config(disable=True)
    ours = TextToImagePipeline(
        tokenizer=tokenizer,
        text_encoder=encoder,
        unet=ours_unet.eval(),
        vae=ours_vae.eval(),
        scheduler=schedulers.get(scheduler_name, **config),
    )
    return ours, theirs


@pytest.mark.parametrize("scheduler_name", ["ddim", "euler", "dpm++"])
@pytest.mark.parametrize("guidance_scale", [1.0, 6.0])
def test_text_to_image_matches_diffusers_image_for_image(tokenizer, scheduler_name, guidance_scale):
    ours, theirs = both_pipelines(tokenizer, scheduler_name)
    kwargs = dict(
        prompt=["a red circle", "a small blue square on the left"],
        num_inference_steps=5,
        guidance_scale=guidance_scale,
        height=64,
        width=64,
        output_type="np",
    )
    expected = theirs(**kwargs, generator=torch.Generator().manual_seed(0)).images
    got = ours(**kwargs, generator=torch.Generator().manual_seed(0))
    assert got.shape == expected.shape == (2, 64, 64, 3)
    assert np.abs(got - expected).max() <= 1e-4


def test_a_stochastic_sampler_draws_each_images_noise_from_its_own_generator_as_diffusers_does(tokenizer):
    # euler_a adds fresh noise every step: with one generator per image, image i depends on generator i alone.
    ours, theirs = both_pipelines(tokenizer, "euler_a")
    kwargs = dict(prompt=["a red circle", "a blue square"], num_inference_steps=4, height=64, width=64)
    seeds = lambda *s: [torch.Generator().manual_seed(i) for i in s]
    expected = theirs(**kwargs, output_type="np", generator=seeds(3, 4)).images
    got = ours(**kwargs, output_type="np", generator=seeds(3, 4))
    assert np.abs(got - expected).max() <= 1e-4
    alone = ours("a blue square", num_inference_steps=4, height=64, width=64, output_type="np", generator=seeds(4))
    assert np.abs(got[1:] - alone).max() <= 1e-5


def test_batched_and_two_pass_guidance_give_the_same_image(tokenizer):
    ours, _ = both_pipelines(tokenizer)
    kwargs = dict(
        prompt="a red circle",
        negative_prompt="blurry",
        num_inference_steps=4,
        guidance_scale=5.0,
        height=32,
        width=32,
        output_type="pt",
    )
    batched = ours(**kwargs, cfg="batched", generator=torch.Generator().manual_seed(1))
    two_pass = ours(**kwargs, cfg="two_pass", generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(batched, two_pass, rtol=1e-4, atol=1e-5)


def test_a_difflab_folder_loads_in_diffusers_and_a_diffusers_folder_loads_in_difflab(tokenizer, tmp_path):
    ours, theirs = both_pipelines(tokenizer)
    ours.save_pretrained(tmp_path / "ours")
    theirs.save_pretrained(tmp_path / "theirs", safe_serialization=True)
    from_ours = diffusers.StableDiffusionPipeline.from_pretrained(tmp_path / "ours", local_files_only=True)
    from_theirs = TextToImagePipeline.from_pretrained(tmp_path / "theirs")
    kwargs = dict(
        prompt="a green triangle", num_inference_steps=3, guidance_scale=4.0, height=32, width=32, output_type="np"
    )
    reference = theirs(**kwargs, generator=torch.Generator().manual_seed(2)).images
    assert np.abs(from_ours(**kwargs, generator=torch.Generator().manual_seed(2)).images - reference).max() <= 1e-4
    assert np.abs(from_theirs(**kwargs, generator=torch.Generator().manual_seed(2)) - reference).max() <= 1e-4
    assert type(from_theirs.scheduler) is schedulers.DDIMScheduler


def test_loading_a_pipeline_is_all_or_nothing_and_swaps_unknown_schedulers(tokenizer, tmp_path):
    ours, _ = both_pipelines(tokenizer)
    ours.save_pretrained(tmp_path)
    index = tmp_path / "model_index.json"  # as Stable Diffusion 1.5's folder ships it
    index.write_text(index.read_text().replace('"DDIMScheduler"', '"PNDMScheduler"'))
    with pytest.raises(difflab.loading.CheckpointError, match="PNDMScheduler, which difflab does not implement"):
        TextToImagePipeline.from_pretrained(tmp_path)
    swapped = TextToImagePipeline.from_pretrained(tmp_path, scheduler="euler")
    assert type(swapped.scheduler) is schedulers.EulerDiscreteScheduler
    weights = tmp_path / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    with pytest.raises(difflab.loading.CheckpointError, match="truncated"):
        TextToImagePipeline.from_pretrained(tmp_path, scheduler="ddim")


def test_every_pipeline_stage_is_traced(tokenizer):
    ours, _ = both_pipelines(tokenizer)
    with difflab.trace(ours) as tr:
        ours("a red circle", num_inference_steps=2, height=32, width=32, output_type="pt")
    names = {s.name for s in tr.stages()}
    assert {"pipeline", "encode_prompt", "prepare_latents", "denoise", "step", "model", "scheduler", "decode"} <= names
    assert tr.memory.where(stage="pipeline")[0]["conditioning"] > 0
    assert {"unet", "vae", "text_encoder"} <= {r["component"] for r in tr.weight_table}


def test_image_to_image_and_inpainting_run_and_keep_what_they_should(tokenizer):
    ours, _ = both_pipelines(tokenizer)
    parts = ours.components
    image = difflab.toy.picture(32)[None]
    img2img = Image2ImagePipeline(**parts)
    kept = img2img(
        "a red circle",
        image=image,
        strength=0.0,
        num_inference_steps=4,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    roundtrip = (ours.decode(img2img.encode_image(image, torch.Generator().manual_seed(0))) / 2 + 0.5).clamp(0, 1)
    assert kept.shape == (1, 3, 32, 32) and (kept - roundtrip).abs().max() < 0.05
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :16] = 1  # repaint the left half
    inpainted = InpaintPipeline(**parts)(
        "a red circle",
        image=image,
        mask_image=mask,
        num_inference_steps=4,
        output_type="latent",
        generator=torch.Generator().manual_seed(0),
    )
    known = img2img.encode_image(image, torch.Generator().manual_seed(0))
    assert inpainted.shape == known.shape
    torch.testing.assert_close(inpainted[..., 8:], known[..., 8:])  # latent columns 8-15 lie outside the mask


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(height=61), "height: got 61; valid values are positive multiples of 2"),  # the tiny VAE halves once
        (dict(width=0), "width: got 0"),
        (dict(num_inference_steps=0), "num_inference_steps: got 0"),
        (dict(guidance_scale=-1.0), "guidance_scale: got -1.0; valid values are finite numbers 0 … 100"),
        (dict(prompt=["a", "b"], negative_prompt=["x", "y", "z"]), "negative_prompt: got 3 negative prompts for 2"),
        (dict(prompt=""), None),
        (dict(prompt=[]), "prompt: got"),
        (dict(cfg="triple", guidance_scale=3.0), "cfg: got 'triple'"),
        (dict(output_type="jpeg"), "output_type: got 'jpeg'"),
    ],
)
def test_bad_arguments_name_the_argument_the_value_and_the_valid_values(tokenizer, kwargs, message):
    ours, _ = both_pipelines(tokenizer)
    call = dict(prompt="a red circle", num_inference_steps=1, height=32, width=32) | kwargs
    if message is None:
        ours(**call)  # an empty prompt is valid: it is the unconditional prompt
        return
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ours(**call)


def test_img2img_strength_and_inpaint_mask_size_are_checked(tokenizer):
    ours, _ = both_pipelines(tokenizer)
    image = difflab.toy.picture(32)[None]
    with pytest.raises(ValueError, match="strength: got 1.5; valid values are finite numbers 0 … 1"):
        Image2ImagePipeline(**ours.components)("a", image=image, strength=1.5)
    with pytest.raises(ValueError, match=r"mask_image: got size \(16, 16\) but image is \(32, 32\)"):
        InpaintPipeline(**ours.components)("a", image=image, mask_image=torch.ones(1, 1, 16, 16))
