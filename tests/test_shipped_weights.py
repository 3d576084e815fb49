"""The trained models shipped in the package: they load offline, fit the size budget, and behave."""

import diffusers
import numpy as np
import torch

import difflab
from difflab.data import shapes
from difflab.eval import accuracy, prompt_adherence
from difflab.pretrained import weights_folder

# megabytes each shipped model may take (the issue that brought it says): the image models 25 together
BUDGET_MB = {("shapes-judge", "shapes-sd"): 25}


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
