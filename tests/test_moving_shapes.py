"""The moving-shapes clips and the video judge: determinism, geometry, captions, splits, and the judge's readings."""

import pytest
import torch

import difflab
from difflab.data import moving_shapes, shapes
from difflab.eval.video_judge import (
    motion_of,
    parse_video_prompt,
    read_clips,
    temporal_consistency,
    tracks,
    video_adherence,
)

PIXEL_CENTRES = torch.arange(shapes.RESOLUTION) + 0.5


@pytest.fixture(scope="module")
def clips():
    return moving_shapes.batch(64, seed=0, split="test")  # held out: the judge never saw test-split pictures


@pytest.fixture(scope="module")
def judge():
    return difflab.load_judge()


@pytest.fixture(scope="module")
def readings(clips, judge):
    return read_clips(clips["video"], judge)


def test_same_index_seed_and_split_give_identical_clips_and_batch_is_clip_one_by_one():
    together = moving_shapes.batch([5, 2, 9], seed=1, split="test", frames=9)
    for row, index in enumerate([5, 2, 9]):
        alone = moving_shapes.clip(index, seed=1, split="test", frames=9)
        assert torch.equal(together["video"][row], alone["video"])
        assert torch.equal(together["mask"][row], alone["mask"])
        assert (together["caption"][row], together["attributes"][row]) == (alone["caption"], alone["attributes"])
    base = moving_shapes.clip(0)["video"]
    assert torch.equal(base, moving_shapes.clip(0)["video"])
    assert not torch.equal(base, moving_shapes.clip(1)["video"])
    assert not torch.equal(base, moving_shapes.clip(0, seed=1)["video"])


def test_tensors_have_the_video_vae_layout_and_range(clips):
    assert clips["video"].shape == (64, 3, 17, 64, 64) and clips["video"].dtype == torch.float32
    assert clips["video"].min() >= -1 and clips["video"].max() <= 1
    assert clips["mask"].shape == (64, 1, 17, 64, 64) and ((clips["mask"] == 0) | (clips["mask"] == 1)).all()
    assert moving_shapes.clip(3, frames=9)["video"].shape == (3, 9, 64, 64)
    assert {a["motion"] for a in clips["attributes"]} == set(moving_shapes.MOTIONS)


def test_every_frame_is_the_picture_worlds_renderer_at_the_planned_centre(clips):
    a, video = clips["attributes"][0], clips["video"][0]
    for t in (0, 8, 16):
        x, y = a["centres"][t]
        image, _ = shapes.render(dict(color=a["color"], shape=a["shape"], x=x, y=y, radius=a["radii"][t]))
        differs = (image - video[:, t]).abs().amax(0) > 0.2  # colours and background are jittered by ≤ 0.06 / 0.03
        assert differs.sum() <= 4, (t, differs.sum())  # only anti-aliased edge pixels may differ a little


def test_each_motion_moves_the_mask_centroid_the_named_way(clips):
    centroid, radius = tracks(clips["mask"][:, 0].bool())  # (B, F, 2), (B, F)
    for a, c, r in zip(clips["attributes"], centroid, radius):
        shift, growth = c[-1] - c[0], r[-1] - r[0]  # px from the first frame to the last
        if a["motion"] in moving_shapes.DIRECTIONS:
            direction = torch.tensor(moving_shapes.DIRECTIONS[a["motion"]], dtype=torch.float32)
            assert (shift * direction).sum() >= moving_shapes.MIN_TRAVEL - 0.5, (a["motion"], shift)
            assert (shift * (1 - direction.abs())).abs().sum() < 1 and growth.abs() < 0.5  # no drift, nothing cut off
        else:
            sign = 1 if a["motion"] == "growing" else -1
            assert (sign * r.diff() >= 0).all() and sign * growth >= 4, (a["motion"], r)  # never back, ≥ 4 px in all
            assert shift.abs().max() < 1, (a["motion"], shift)  # the centre stays (to a pixel step of the mask)


def test_shape_stays_in_frame_and_on_the_plus_of_named_positions(clips):
    for a in clips["attributes"]:
        for (x, y), r in zip(a["centres"], a["radii"]):
            assert r <= x <= shapes.RESOLUTION - r and r <= y <= shapes.RESOLUTION - r
            assert shapes.position_of(x, y) is not None  # never in a corner cell the judge has not seen


def test_captions_say_only_what_is_true(clips):
    vocabulary = set(moving_shapes.vocabulary())
    for caption, a in zip(clips["caption"], clips["attributes"]):
        named = parse_video_prompt(caption)
        assert {k: a[k] for k in named} == named and {"color", "shape", "motion"} <= set(named), caption
        assert "size" not in named or a["motion"] in moving_shapes.DIRECTIONS  # a growing shape has no one size
        assert set(caption.split()) <= vocabulary
    grown = dict(color="orange", shape="square", motion="growing", size="small")
    assert moving_shapes.caption_for(grown, p_size=1) == "an orange square growing"
    assert moving_shapes.caption_for(dict(grown, motion="left"), p_size=1) == "a small orange square moving left"


def test_train_and_test_splits_share_no_colour_shape_motion_and_start():
    def combinations(split):
        data = moving_shapes.batch(300, seed=0, split=split, frames=5)
        return {(a["color"], a["shape"], a["motion"], *a["start"]) for a in data["attributes"]}

    train, test = combinations("train"), combinations("test")
    assert len(train) == len(test) == 300 and not train & test


def test_judge_reads_true_clips_correctly(clips, judge, readings):
    truth = clips["attributes"]
    accuracy = {k: sum(r[k] == a[k] for r, a in zip(readings, truth)) / len(truth) for k in ("color", "shape")}
    assert [r["motion"] for r in readings] == [a["motion"] for a in truth]  # measured: 100 %
    assert min(accuracy.values()) >= 0.95, accuracy  # measured: 100 % on these 64 clips
    captions = [moving_shapes.caption_for(a, p_size=1) for a in truth]  # size named wherever it is kept
    scores = video_adherence((clips["video"] + 1) / 2, captions, judge)
    assert set(scores) == {"color", "shape", "size", "motion"} and scores["motion"] == 1.0
    assert min(scores.values()) >= 0.95, scores


def test_adherence_falls_when_the_prompts_name_the_wrong_motion(clips, judge):
    opposite = dict(left="right", right="left", up="down", down="up", growing="shrinking", shrinking="growing")
    wrong = [dict(a, motion=opposite[a["motion"]]) for a in clips["attributes"]]
    prompts = [moving_shapes.caption_for(a, p_size=0) for a in wrong]  # "a red circle moving left" for a right one
    scores = video_adherence((clips["video"][:16] + 1) / 2, prompts[:16], judge)
    assert scores["motion"] == 0.0 and scores["color"] == 1.0, scores


def test_true_clips_are_temporally_consistent(clips, judge, readings):
    assert all(r["steady"] for r in readings)
    assert temporal_consistency((clips["video"] + 1) / 2, judge) == dict(color=1.0, shape=1.0, steady=1.0, all=1.0)


def test_shuffled_frames_or_a_colour_change_mid_clip_break_consistency(clips, judge):
    moving = next(i for i, a in enumerate(clips["attributes"]) if a["motion"] == "right")
    growing = next(i for i, a in enumerate(clips["attributes"]) if a["motion"] == "growing")
    order = torch.randperm(17, generator=torch.Generator().manual_seed(0))
    shuffled = clips["video"][[moving, growing]][:, :, order]
    assert temporal_consistency((shuffled + 1) / 2, judge) == dict(color=1.0, shape=1.0, steady=0.0, all=0.0)

    red = next(i for i, a in enumerate(clips["attributes"]) if a["color"] == "red")
    video, mask = clips["video"][red].clone(), clips["mask"][red].bool()  # (3, F, H, W), (1, F, H, W)
    blue = torch.tensor(shapes.COLORS["blue"])[:, None, None, None] * 2 - 1  # (3, 1, 1, 1) in [-1, 1]
    video[:, 8:] = torch.where(mask[:, 8:], blue, video[:, 8:])  # the shape turns blue from frame 8 on
    scores = temporal_consistency((video[None] + 1) / 2, judge)
    assert scores["color"] == 0.0 and scores["shape"] == 1.0 and scores["all"] == 0.0, scores


def test_motion_of_reads_the_larger_of_shift_and_growth():
    shifts = torch.tensor([[20.0, 0.0], [-20.0, 3.0], [0.0, -17.0], [2.0, 30.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    growth = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.5, 6.0, -6.0])
    assert motion_of(shifts, growth) == ["right", "left", "up", "down", "static", "growing", "shrinking"]


def test_parse_video_prompt_adds_motion_and_drops_position():
    assert parse_video_prompt("a large orange square moving left") == dict(
        size="large", color="orange", shape="square", motion="left"
    )
    assert parse_video_prompt("A red circle shrinking") == dict(color="red", shape="circle", motion="shrinking")
    assert parse_video_prompt("a red circle on the left") == dict(color="red", shape="circle")


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: moving_shapes.clip(0, frames=16), ["frames", "16", "4·n + 1", "Use 17"]),
        (lambda: moving_shapes.clip(0, frames=True), ["frames", "True", "4·n + 1"]),
        (lambda: moving_shapes.batch(2, frames=85), ["frames", "85", "81"]),
        (lambda: moving_shapes.clip(0, split="validation"), ["split", "'validation'", "'train'", "'test'"]),
        (lambda: moving_shapes.clip(-1), ["index", "-1"]),
        (lambda: read_clips(torch.zeros(1, 17, 3, 64, 64), None), ["videos", "(1, 17, 3, 64, 64)", "(B, 3, F, H, W)"]),
        (lambda: video_adherence(torch.zeros(2, 3, 5, 64, 64), ["a red circle"], None), ["prompts", "one prompt"]),
    ],
)
def test_errors_name_the_argument_the_value_and_the_fix(call, words):
    with pytest.raises(ValueError) as error:
        call()
    assert all(word in str(error.value) for word in words), str(error.value)
