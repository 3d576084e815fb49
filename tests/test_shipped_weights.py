"""The trained models shipped in the package: they load offline, fit the size budget, and behave."""

import diffusers
import numpy as np
import torch

import difflab
from difflab.data import moving_shapes, shapes
from difflab.eval import accuracy, prompt_adherence, temporal_consistency, video_adherence
from difflab.pretrained import weights_folder

# megabytes each shipped model may take (the issue that brought it says): the image models 25 together, video 20
BUDGET_MB = {("shapes-judge", "shapes-sd"): 25, ("shapes-video",): 20}


def megabytes(name: str) -> float:
    return sum(f.stat().st_size for f in weights_folder(name).rglob("*") if f.is_file()) / 1e6


def test_every_shipped_model_fits_its_budget():
    assert sorted(name for names in BUDGET_MB for name in names) == difflab.pretrained.available()
    for names, budget in BUDGET_MB.items():
        assert sum(megabytes(name) for name in names) <= budget, f"{names}: over {budget} MB"


def test_shapes_sd_loads_in_difflab_and_in_diffusers_and_both_draw_the_same_image():
    ours = difflab.load_pipeline("shapes-sd", device="cpu")
    theirs = diffusers.StableDiffusionPipeline.from_pretrained(weights_folder("shapes-sd"), local_files_only=True)
    theirs.set_progress_bar_config(disable=True)
    assert type(theirs.scheduler).__name__ == type(ours.scheduler).__name__ == "DPMSolverMultistepScheduler"
    kwargs = dict(
        prompt=["a red circle", "a large blue square on the left"],
        num_inference_steps=8,
        guidance_scale=5.0,
        output_type="np",
    )
    expected = theirs(**kwargs, generator=torch.Generator().manual_seed(0)).images
    got = ours(**kwargs, generator=torch.Generator().manual_seed(0))
    assert got.shape == (2, 64, 64, 3) and np.abs(got - expected).max() <= 1e-4


def test_the_judge_reads_held_out_images_correctly():
    judge = difflab.load_judge()
    for attribute, value in accuracy(judge, n=300, seed=11).items():
        assert value >= 0.95, f"{attribute}: {value:.1%}"


def test_generated_images_follow_colour_and_shape_prompts():
    pipe, judge = difflab.load_pipeline("shapes-sd", device="cpu"), difflab.load_judge()
    prompts = [f"a {c} {s}" for c, s in zip(shapes.COLORS, ["circle", "square", "triangle"] * 3)]
    images = pipe(
        prompts,
        num_inference_steps=20,
        guidance_scale=5.0,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    scores = prompt_adherence(images, prompts, judge)
    assert scores["color"] >= 6 / 7 and scores["shape"] >= 5 / 7, scores


def test_generated_images_follow_position_prompts():
    pipe, judge = difflab.load_pipeline("shapes-sd", device="cpu"), difflab.load_judge()
    colours, phrases = list(shapes.COLORS), list(shapes.POSITION_PHRASES.values())
    prompts = [f"a {colours[i % 7]} {shapes.SHAPES[i % 3]} {phrases[i % 4]}" for i in range(16)]  # 4 per position
    images = pipe(
        prompts,
        num_inference_steps=20,
        guidance_scale=5.0,
        output_type="pt",
        generator=torch.Generator().manual_seed(1),
    )
    assert prompt_adherence(images, prompts, judge)["position"] >= 12 / 16


VIDEO = dict(height=64, width=64, num_frames=17)


def test_shapes_video_loads_in_difflab_and_in_diffusers_and_both_make_the_same_frames(monkeypatch):
    # diffusers applies _keep_in_fp32_modules only through accelerate (not installed); in float32 the list changes
    # nothing, so it is emptied for diffusers' own from_pretrained to run.
    monkeypatch.setattr(diffusers.WanTransformer3DModel, "_keep_in_fp32_modules", None)
    ours = difflab.load_pipeline("shapes-video", device="cpu")
    theirs = diffusers.WanPipeline.from_pretrained(weights_folder("shapes-video"), local_files_only=True)
    theirs.set_progress_bar_config(disable=True)
    assert type(ours).__name__ == "TextToVideoPipeline"
    assert type(theirs.scheduler).__name__ == type(ours.scheduler).__name__ == "UniPCMultistepScheduler"
    kwargs = dict(prompt=["a red circle moving right", "a blue square moving up"], num_inference_steps=6,
                  guidance_scale=5.0, output_type="np", **VIDEO)  # fmt: skip
    expected = theirs(**kwargs, generator=torch.Generator().manual_seed(0)).frames
    got = ours(**kwargs, generator=torch.Generator().manual_seed(0))
    assert got.shape == (2, 17, 64, 64, 3) and np.abs(got - expected).max() <= 1e-4


def test_generated_clips_follow_colour_shape_and_motion_and_stay_consistent():
    """24 held-out captions (the card reports 200). The issue's targets are colour 0.90, shape and motion 0.85,
    consistency 0.95. On 200 the shipped model reaches the adherence targets (0.995 / 0.985 / 0.995) but not
    consistency (colour 0.925, shape 0.88, all 0.775): its VAE rounds the corners of small shapes in some frames
    (tools/video_vae_colour.py: shape consistency 0.90 on reconstructions of real clips). On these 24 it reaches
    1.0 / 0.958 / 1.0, and consistency colour 0.917, all 0.625; the floors guard that, with a margin."""
    pipe, judge = difflab.load_pipeline("shapes-video", device="cpu"), difflab.load_judge()
    prompts = moving_shapes.batch(24, seed=5, split="test")["caption"]
    generators = [torch.Generator().manual_seed(i) for i in range(len(prompts))]
    clips = pipe(prompts, num_inference_steps=20, generator=generators, output_type="pt", **VIDEO)
    clips = clips.transpose(1, 2)  # (B, F, 3, H, W) → (B, 3, F, H, W)
    adherence = video_adherence(clips, prompts, judge)
    assert adherence["color"] >= 0.9 and adherence["shape"] >= 0.85 and adherence["motion"] >= 0.9, adherence
    consistency = temporal_consistency(clips, judge)
    assert consistency["color"] >= 0.85 and consistency["all"] >= 0.5, consistency
