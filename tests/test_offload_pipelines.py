"""Pipeline offloading (offload/components.py): model and sequential offload to disk on the CPU, bit-identical."""

import pytest
import torch

import difflab
from difflab.offload.components import models_of

CALL = {
    "shapes-sd": dict(num_inference_steps=3),
    "shapes-video": dict(num_inference_steps=3, num_frames=5, height=64, width=64),
}


def run(pipe, name, **kwargs):
    kwargs = dict(CALL[name], output_type="pt") | kwargs
    return pipe("a red circle", generator=torch.Generator().manual_seed(0), **kwargs)


def weight_bytes(model) -> int:
    return sum(t.nbytes for t in [*model.parameters(), *model.buffers()])


@pytest.mark.parametrize("name", ["shapes-sd", "shapes-video"])
def test_model_offload_keeps_one_model_at_a_time_and_changes_nothing(name, tmp_path):
    pipe = difflab.load_pipeline(name, device="cpu")
    expected = run(pipe, name)
    sizes = {part: weight_bytes(model) for part, model in models_of(pipe).items()}
    pipe.enable_model_cpu_offload(device="cpu", offload_to_disk_path=tmp_path)
    try:
        assert torch.equal(run(pipe, name), expected) and pipe.device == torch.device("cpu")
        ledger = pipe.offloading[2].ledger
        assert ledger.peak_onloaded_bytes == max(sizes.values())  # the largest model, not the sum
        assert ledger.onloaded_bytes == 0  # the VAE left too when the call ended (maybe_free_model_hooks)
        order = [group for group, direction, _, _ in ledger.moves if direction == "onload"]
        assert order == list(sizes)  # text encoder, denoiser (once, for every step), VAE
        ledger.moves.clear()
        run(pipe, name, output_type="latent")  # the VAE never runs; the denoiser is freed at the end all the same
        assert ledger.onloaded_bytes == 0 and [m[0] for m in ledger.moves if m[1] == "onload"] == list(sizes)[:2]
        with pytest.raises(ValueError, match="enable_model_cpu_offload: model offload is already on"):
            pipe.enable_model_cpu_offload(device="cpu", offload_to_disk_path=tmp_path)
    finally:
        pipe.disable_offloading()
    assert {part: weight_bytes(model) for part, model in models_of(pipe).items()} == sizes
    assert torch.equal(run(pipe, name), expected)


@pytest.mark.parametrize("name", ["shapes-sd", "shapes-video"])
def test_sequential_offload_changes_nothing_and_keeps_one_layer_at_a_time(name, tmp_path):
    pipe = difflab.load_pipeline(name, device="cpu")
    expected = run(pipe, name)
    pipe.enable_sequential_cpu_offload(device="cpu", offload_to_disk_path=tmp_path)
    try:
        assert torch.equal(run(pipe, name), expected)
        denoiser = pipe.unet if name == "shapes-sd" else pipe.transformer
        groups, ledger, _ = denoiser._difflab_offload
        assert ledger.peak_onloaded_bytes < weight_bytes(denoiser) / 4
        assert ledger.onloaded_bytes == 0
    finally:
        pipe.disable_offloading()
    assert torch.equal(run(pipe, name), expected)


def test_offloading_to_disk_needs_a_folder_and_nothing_moves_before_the_check():
    pipe = difflab.load_pipeline("shapes-sd", device="cpu")
    for method in (pipe.enable_model_cpu_offload, pipe.enable_sequential_cpu_offload):
        with pytest.raises(ValueError, match="offload_to_disk_path: got None with offload_device='disk'"):
            method(device="cpu")
        assert pipe.offloading is None and all(weight_bytes(m) > 0 for m in models_of(pipe).values())
        if not torch.cuda.is_available():  # diffusers' default device; here the message gives the CPU-only fix
            with pytest.raises(ValueError, match="device: got 'cuda', but this machine has no CUDA device"):
                method()


def test_the_memory_ledger_sees_offloaded_weights_leave_and_no_phantom_activations(tmp_path):
    pipe = difflab.load_pipeline("shapes-video", device="cpu")
    with difflab.trace(pipe) as plain:
        run(pipe, "shapes-video")
    pipe.enable_model_cpu_offload(device="cpu", offload_to_disk_path=tmp_path)
    try:
        with difflab.trace(pipe) as offloaded:
            run(pipe, "shapes-video")
    finally:
        pipe.disable_offloading()
    end = offloaded.root.memory["end"]
    assert end.get("weights", 0) == 0  # every model went back to disk at the end of the call
    # the placeholders left behind hold no storage: the ledger must not count them as activations
    assert end.get("activations", 0) <= plain.root.memory["end"].get("activations", 0)
    decode = lambda tr: next(s for s in tr.stages() if s.name == "decode").memory  # noqa: E731
    assert decode(offloaded)["peak"] < decode(plain)["peak"]  # only the VAE's weights are in RAM while it decodes
