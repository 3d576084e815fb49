"""The scoring functions: prompt parsing, adherence, pixel diversity and attribute entropy."""

import math

import pytest
import torch

import difflab
from difflab.data import shapes
from difflab.eval import attribute_entropy, diversity, entropy_bits, parse_prompt, prompt_adherence


def test_parse_prompt_reads_every_attribute_the_grammar_can_name():
    assert parse_prompt("a large orange square on the left") == {
        "size": "large",
        "color": "orange",
        "shape": "square",
        "position": "left",
    }
    assert parse_prompt("A red circle") == {"color": "red", "shape": "circle"}
    assert parse_prompt("a small blue triangle at the bottom")["position"] == "bottom"
    assert parse_prompt("") == {}


@pytest.fixture(scope="module")
def judge():
    return difflab.load_judge()


def test_adherence_of_the_datasets_own_images_to_their_own_captions_is_near_perfect(judge):
    data = shapes.batch(64, seed=5, split="test")
    captions = [shapes.caption_for(a, p_size=1, p_position=1) for a in data["attributes"]]
    scores = prompt_adherence((data["image"] + 1) / 2, captions, judge)
    assert set(scores) == {"color", "shape", "size", "position"}  # size and position only where named
    assert all(value >= 0.9 for value in scores.values()), scores


def test_adherence_falls_when_the_prompts_are_wrong(judge):
    data = shapes.batch(32, seed=5, split="test")
    shifted = list(shapes.COLORS)[1:] + list(shapes.COLORS)[:1]  # every colour renamed to the next one
    wrong = [f"a {shifted[list(shapes.COLORS).index(a['color'])]} {a['shape']}" for a in data["attributes"]]
    scores = prompt_adherence((data["image"] + 1) / 2, wrong, judge)
    assert scores["color"] <= 0.1 and scores["shape"] >= 0.9, scores


def test_pixel_diversity_is_zero_for_copies_and_the_rms_distance_for_two_images():
    image = torch.rand(1, 3, 8, 8)
    assert diversity(image.repeat(4, 1, 1, 1)) == pytest.approx(0.0, abs=1e-6)
    black, white = torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)
    assert diversity(torch.cat([black, white])) == pytest.approx(1.0, abs=1e-6)  # every pixel differs by 1


def test_entropy_bits():
    assert entropy_bits(["a"] * 5) == 0.0
    assert entropy_bits(["a", "b"]) == pytest.approx(1.0)
    assert entropy_bits(["a", "b", "c", "a", "b", "c"]) == pytest.approx(math.log2(3))


def test_attribute_entropy_sees_which_attributes_vary(judge):
    same = [dict(color="red", shape="circle", size="large")] * 3
    varied = [dict(color="red", shape=s, size="large") for s in shapes.SHAPES]
    images = torch.stack([shapes.render(a)[0] for a in same + varied])  # (6, 3, 64, 64) in [-1, 1]
    fixed, shapes_vary = attribute_entropy((images[:3] + 1) / 2, judge), attribute_entropy((images[3:] + 1) / 2, judge)
    assert fixed == {"color": 0.0, "shape": 0.0, "size": 0.0, "position": 0.0}
    assert shapes_vary["shape"] == pytest.approx(math.log2(3)) and shapes_vary["color"] == 0.0
