"""Group offloading to disk (offload/groups.py): the same outputs bit for bit, less on the compute tier, every move
traced."""

import pytest
import torch

import difflab
from difflab.offload import apply_group_offloading, offload_report, remove_group_offloading

STRATEGIES = {  # name → keyword arguments, in the order of the weight bytes they keep on the compute tier
    "leaf": dict(offload_type="leaf_level"),
    "block×1": dict(offload_type="block_level", num_blocks_per_group=1),
    "block×3": dict(offload_type="block_level", num_blocks_per_group=3),
}


def weight_bytes(model) -> int:
    """Bytes the model's weights hold in memory now (an offloaded placeholder has its shape but no storage)."""
    return sum(t.untyped_storage().nbytes() for t in [*model.parameters(), *model.buffers()])


@pytest.fixture(scope="module")
def models():
    """The shipped denoisers with one input each: the video transformer and the image UNet."""
    video, image = difflab.load_pipeline("shapes-video", device="cpu"), difflab.load_pipeline("shapes-sd", device="cpu")
    g = torch.Generator().manual_seed(0)
    transformer_input = (
        torch.randn(1, 16, 5, 8, 8, generator=g),
        torch.tensor([500]),
        torch.randn(1, 512, 64, generator=g),
    )
    unet_input = (torch.randn(2, 4, 8, 8, generator=g), torch.tensor([500]), torch.randn(2, 77, 64, generator=g))
    return {"transformer": (video.transformer, transformer_input), "unet": (image.unet, unet_input)}


def output(model, inputs):
    with torch.no_grad():
        out = model(*inputs)
    return out.sample if hasattr(out, "sample") else out


@pytest.mark.parametrize("name", ["transformer", "unet"])
def test_every_strategy_gives_the_same_output_bit_for_bit_and_keeps_less_weight_in_memory(models, name, tmp_path):
    model, inputs = models[name]
    expected, total = output(model, inputs), weight_bytes(model)
    peaks = []
    for label, kwargs in STRATEGIES.items():
        groups = apply_group_offloading(model, "cpu", "disk", offload_to_disk_path=tmp_path / label, **kwargs)
        assert all(group.state == "offloaded" for group in groups) and weight_bytes(model) == 0  # all on disk
        try:
            assert torch.equal(output(model, inputs), expected), label
            report = offload_report(model)
            assert report["onloaded_bytes"] == 0 and report["onload_bytes"] == report["offload_bytes"] == total
            peaks.append(report["peak_onloaded_bytes"])
        finally:
            remove_group_offloading(model)
        assert weight_bytes(model) == total and torch.equal(output(model, inputs), expected)
    assert peaks[0] < peaks[1] < peaks[2] < total, dict(zip(STRATEGIES, peaks))  # leaf < block×1 < block×3 < none


def test_a_weight_used_while_offloaded_fails_loudly_and_every_move_is_traced(models, tmp_path):
    model, inputs = models["transformer"]
    apply_group_offloading(model, "cpu", "disk", offload_type="block_level", num_blocks_per_group=2,
                           offload_to_disk_path=tmp_path)  # fmt: skip
    try:
        with pytest.raises(RuntimeError, match="storage of size 0"):
            model.blocks[0].ffn(torch.randn(1, 3, 192))  # inside a group, not its hooked module: no onload
        with difflab.trace(model) as tr:
            output(model, inputs)
        moves = [s for s in tr.stages() if s.name in ("onload", "offload")]
        assert [(s.name, s.attrs["group"]) for s in moves if s.name == "onload"] == [
            ("onload", "rest of the model"), ("onload", "blocks.0–1"), ("onload", "blocks.2–3")
        ]  # fmt: skip
        assert {s.attrs["route"] for s in moves} == {"disk→cpu", "cpu→disk"}
        assert offload_report(model)["order"] == ["rest of the model", "blocks.0–1", "blocks.2–3"]  # as they ran
        assert sum(s.attrs["bytes"] for s in moves if s.name == "onload") == offload_report(model)["onload_bytes"]
    finally:
        remove_group_offloading(model)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(offload_type="layer_level"), "offload_type: got 'layer_level'; valid values are 'block_level' and"),
        (dict(num_blocks_per_group=0), "num_blocks_per_group: got 0; block_level offloading needs a positive int"),
        (dict(num_blocks_per_group=None), "num_blocks_per_group: got None"),
        (dict(offload_device="gpu"), "offload_device: got 'gpu'; valid values are 'cpu' and 'disk'"),
        (dict(offload_device="cpu"), "offload_device: got 'cpu', the same tier as onload_device 'cpu'"),
        (dict(offload_to_disk_path=None), "offload_to_disk_path: got None with offload_device='disk'"),
        (dict(onload_device="tpu"), "onload_device: got 'tpu'; valid values are 'cpu', 'cuda' or 'cuda:N'"),
        (
            dict(use_stream=True),
            r"use_stream: got True with onload_device 'cpu' and offload_device 'disk'.*"
            "needs onload_device='cuda' and offload_device='cpu'",
        ),
        (dict(use_stream=1), "use_stream: got 1; pass True or False"),
    ],
)
def test_bad_arguments_are_refused_before_anything_moves(models, tmp_path, kwargs, message):
    model, _ = models["transformer"]
    arguments = dict(onload_device="cpu", offload_device="disk", offload_type="block_level", num_blocks_per_group=1,
                     offload_to_disk_path=tmp_path) | kwargs  # fmt: skip
    with pytest.raises(ValueError, match=message):
        apply_group_offloading(model, **arguments)
    assert weight_bytes(model) > 0 and not list(tmp_path.iterdir())  # nothing moved, nothing written


def test_offloading_twice_is_refused(models, tmp_path):
    model, _ = models["transformer"]
    apply_group_offloading(model, "cpu", "disk", offload_type="leaf_level", offload_to_disk_path=tmp_path)
    try:
        with pytest.raises(ValueError, match="group offloading is already applied; call remove_group_offloading"):
            apply_group_offloading(model, "cpu", "disk", offload_type="leaf_level", offload_to_disk_path=tmp_path)
    finally:
        remove_group_offloading(model)


def test_removing_or_reporting_offloading_that_was_never_applied_says_so(models):
    model, _ = models["unet"]
    for call in (remove_group_offloading, offload_report):
        with pytest.raises(ValueError, match="has no group offloading to remove or report; apply it first"):
            call(model)
