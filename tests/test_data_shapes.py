import pytest
import torch

from difflab.data import shapes

THIRD = shapes.RESOLUTION / 3
PIXEL_CENTRES = torch.arange(shapes.RESOLUTION) + 0.5


@pytest.fixture(scope="module")
def many():
    return shapes.batch(1000, seed=0)  # also the "1,000 samples" workload; its speed is reported, not asserted


def centroid(mask: torch.Tensor) -> tuple[float, float]:
    """(x, y) in pixels of a (1, H, W) mask, pixel i's centre at i + ½."""
    m = mask[0]
    return float((m.sum(0) * PIXEL_CENTRES).sum() / m.sum()), float((m.sum(1) * PIXEL_CENTRES).sum() / m.sum())


def test_same_index_and_seed_give_identical_samples():
    a, b = shapes.sample(7, seed=3), shapes.sample(7, seed=3)
    for key in ("image", "mask", "edges"):
        assert torch.equal(a[key], b[key])
    assert (a["caption"], a["attributes"]) == (b["caption"], b["attributes"])


def test_batch_is_exactly_sample_one_by_one():
    together = shapes.batch([5, 2, 9], seed=1, split="test")
    for row, index in enumerate([5, 2, 9]):
        alone = shapes.sample(index, seed=1, split="test")
        for key in ("image", "mask", "edges"):
            assert torch.equal(together[key][row], alone[key])
        assert together["caption"][row] == alone["caption"]
        assert together["attributes"][row] == alone["attributes"]


def test_other_indices_and_seeds_give_other_pictures():
    base = shapes.sample(0, seed=0)["image"]
    assert not torch.equal(base, shapes.sample(1, seed=0)["image"])
    assert not torch.equal(base, shapes.sample(0, seed=1)["image"])


def test_tensors_have_the_documented_shapes_and_ranges(many):
    assert many["image"].shape == (1000, 3, 64, 64) and many["image"].dtype == torch.float32
    assert many["image"].min() >= -1 and many["image"].max() <= 1
    for key in ("mask", "edges"):
        assert many[key].shape == (1000, 1, 64, 64)
        assert ((many[key] == 0) | (many[key] == 1)).all()
    assert (many["mask"].sum((1, 2, 3)) > 0).all() and (many["edges"].sum((1, 2, 3)) > 0).all()
    assert len(many["caption"]) == len(many["attributes"]) == 1000


def test_every_attribute_value_occurs(many):
    for key, values in [("color", shapes.COLORS), ("shape", shapes.SHAPES), ("size", shapes.SIZES)]:
        assert {a[key] for a in many["attributes"]} == set(values)
    assert {a["position"] for a in many["attributes"]} == set(shapes.POSITIONS)


def test_attributes_agree_with_the_geometry_and_the_mask(many):
    for attributes, mask in zip(many["attributes"], many["mask"]):
        x, y, r = attributes["x"], attributes["y"], attributes["radius"]
        low, high = shapes.SIZES[attributes["size"]]
        assert low <= r <= high
        assert r <= x <= 64 - r and r <= y <= 64 - r  # the whole shape is on the canvas
        assert shapes.position_of(x, y) == attributes["position"]
        cx, cy = centroid(mask)
        assert abs(cx - x) < 0.75 and abs(cy - y) < 0.75  # (x, y) is the centroid, triangles included


def test_captions_say_only_what_is_true(many):
    position_words = {"left", "right", "top", "bottom"}
    for caption, a in zip(many["caption"], many["attributes"]):
        words = caption.split()
        assert words[0] == ("an" if words[1][0] in "aeiou" else "a")
        assert [w for w in words if w in shapes.COLORS] == [a["color"]]
        assert [w for w in words if w in shapes.SHAPES] == [a["shape"]]
        assert {"small", "large"} & set(words) <= {a["size"]}  # a size word only when it is the size
        said = position_words & set(words)
        assert said <= {a["position"]}
        if "left" in said:
            assert a["x"] < THIRD
        if "right" in said:
            assert a["x"] > 2 * THIRD
        if "top" in said:
            assert a["y"] < THIRD
        if "bottom" in said:
            assert a["y"] > 2 * THIRD
        if a["position"] == "center":
            assert not said
        assert set(words) <= set(shapes.vocabulary())


def test_optional_caption_parts_are_sometimes_there_and_sometimes_not(many):
    captions = many["caption"]
    assert any(c.startswith(("a small", "a large")) for c in captions)
    assert any(c.endswith("on the left") for c in captions) and any(c.endswith("at the bottom") for c in captions)
    assert any(len(c.split()) == 3 and a["position"] != "center" for c, a in zip(captions, many["attributes"]))


def test_full_caption_names_every_attribute():
    a = dict(color="orange", shape="square", size="large", position="left")
    assert shapes.caption_for(a, p_size=1, p_position=1) == "a large orange square on the left"
    assert shapes.caption_for(a, p_size=0, p_position=0) == "an orange square"
    centred = dict(color="red", shape="circle", size="medium", position="center")
    assert shapes.caption_for(centred, p_size=1, p_position=1) == "a red circle"


@pytest.mark.parametrize(
    "shape, x, y, position",
    [
        ("circle", 12, 32, "left"),
        ("square", 52, 30, "right"),
        ("triangle", 32, 18, "top"),
        ("triangle", 30, 46, "bottom"),
        ("circle", 32, 32, "center"),
    ],
)
def test_rendered_scene_has_its_mask_centroid_in_the_named_third(shape, x, y, position):
    image, mask = shapes.render(dict(color="red", shape=shape, size="large", x=x, y=y))
    assert shapes.position_of(*centroid(mask)) == position
    inside = image[:, mask[0] == 1]  # (3, N) pixels of the shape
    assert torch.allclose(inside.median(dim=1).values, torch.tensor(shapes.COLORS["red"]) * 2 - 1, atol=1e-6)
    assert torch.allclose(image[:, 0, 0], torch.tensor(shapes.BACKGROUND) * 2 - 1, atol=1e-6)


def test_render_sizes_by_name_follow_their_radius_ranges():
    areas = [shapes.render(dict(color="blue", shape="circle", size=s))[1].sum() for s in shapes.SIZES]
    assert areas[0] < areas[1] < areas[2]
    _, mask = shapes.render(dict(color="blue", shape="square", radius=10, x=32, y=32))
    assert mask.sum() == 20 * 20  # a square of half-width 10 covers exactly 20 × 20 pixels


def test_corners_have_no_position_word():
    assert shapes.position_of(5, 5) is None and shapes.position_of(60, 60) is None
    assert shapes.position_of(5, 32) == "left" and shapes.position_of(32, 60) == "bottom"


def test_train_and_test_splits_share_no_picture(many):
    train = {image.numpy().tobytes() for image in many["image"]}  # the first 1,000 of split "train", seed 0
    test = {image.numpy().tobytes() for image in shapes.batch(1000, seed=0, split="test")["image"]}
    assert len(train) == len(test) == 1000 and not train & test
    dataset = shapes.ShapesDataset(10, seed=0, split="test")
    assert torch.equal(dataset[3]["image"], shapes.sample(3, seed=0, split="test")["image"])


def test_dataset_works_with_a_dataloader():
    dataset = shapes.ShapesDataset(6, seed=2)
    loaded = next(iter(torch.utils.data.DataLoader(dataset, batch_size=6)))
    assert loaded["image"].shape == (6, 3, 64, 64) and len(loaded["caption"]) == 6
    with pytest.raises(IndexError):
        dataset[6]


def test_edges_are_a_thin_outline_inside_the_mask(many):
    mask, edges = many["mask"], many["edges"]
    dilated = torch.nn.functional.max_pool2d(mask, kernel_size=3, stride=1, padding=1)
    assert (edges <= dilated).all() and (edges <= mask).all()
    assert edges.sum() < 0.25 * mask.sum()
    not_small = torch.tensor([a["size"] != "small" for a in many["attributes"]])
    assert (edges[not_small].sum((1, 2, 3)) < 0.5 * mask[not_small].sum((1, 2, 3))).all()
    # every edge pixel touches the background; every other mask pixel does not
    outside = torch.nn.functional.pad(1 - mask, (1, 1, 1, 1), value=1.0)  # beyond the canvas is background
    background_nearby = torch.nn.functional.max_pool2d(outside, kernel_size=3, stride=1)
    assert torch.equal(edges, mask * background_nearby)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: shapes.sample(0, split="validation"), "split"),
        (lambda: shapes.sample(0, seed=5000), "seed"),
        (lambda: shapes.sample(-1), "index"),
        (lambda: shapes.render(dict(color="pink", shape="circle", size="small")), "color"),
        (lambda: shapes.render(dict(color="red", shape="star", size="small")), "shape"),
        (lambda: shapes.render(dict(color="red", shape="circle")), "size"),
    ],
)
def test_errors_name_the_argument_and_the_valid_values(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()
