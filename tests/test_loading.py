import pytest
import torch
from safetensors.torch import save_file

import difflab
from difflab.loading import (
    REGISTRY,
    CheckpointError,
    KnownModel,
    build_on_meta,
    convert_legacy_vae_attention,
    hash_state_dict_keys,
    load_model,
    read_header,
    register,
    safe_join,
)


class Tiny(torch.nn.Module):
    """A stand-in model with a VAE-like attention block (to_q/to_k/to_v/to_out.0)."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.conv_in = torch.nn.Conv2d(3, channels, 3, padding=1)
        attention = torch.nn.Module()
        attention.to_q, attention.to_k, attention.to_v = (torch.nn.Linear(channels, channels) for _ in range(3))
        attention.to_out = torch.nn.ModuleList([torch.nn.Linear(channels, channels)])
        self.mid_block = torch.nn.Module()
        self.mid_block.attentions = torch.nn.ModuleList([attention])


def saved(tmp_path, state_dict, name="model.safetensors"):
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    return path


def test_load_model_round_trips_weights_and_casts(tmp_path):
    torch.manual_seed(0)
    original = Tiny()
    path = saved(tmp_path, original.state_dict())
    loaded = load_model(Tiny, {"channels": 8}, path, dtype=torch.bfloat16)
    for key, tensor in original.state_dict().items():
        assert loaded.state_dict()[key].dtype == torch.bfloat16
        torch.testing.assert_close(loaded.state_dict()[key].float(), tensor, rtol=1e-2, atol=1e-2)


def test_build_on_meta_allocates_nothing():
    model = build_on_meta(Tiny, {"channels": 4096})
    assert all(p.is_meta for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == 3 * 4096 * 9 + 4096 + 4 * (4096 * 4096 + 4096)


def test_pickle_checkpoints_are_refused_with_the_reason_and_the_fix(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save(Tiny().state_dict(), path)
    with pytest.raises(CheckpointError, match="arbitrary code") as error:
        load_model(Tiny, {}, path)
    assert "safetensors.torch.save_file" in str(error.value)


def test_truncated_and_corrupted_files_are_detected_before_loading(tmp_path):
    path = saved(tmp_path, Tiny().state_dict())
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(Tiny, {}, tmp_path / "cut.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(data[:8] + b"{not json" + data[17:])
    with pytest.raises(CheckpointError, match="unreadable header"):
        read_header(tmp_path / "bad.safetensors")
    (tmp_path / "tiny.safetensors").write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="too short"):
        read_header(tmp_path / "tiny.safetensors")


def test_mismatched_keys_are_reported_together_and_nothing_is_loaded(tmp_path):
    state = Tiny().state_dict()
    state.pop("conv_in.bias")
    state["extra.weight"] = torch.zeros(2)
    state["conv_in.weight"] = torch.zeros(8, 3, 5, 5)
    with pytest.raises(CheckpointError) as error:
        load_model(Tiny, {}, saved(tmp_path, state))
    message = str(error.value)
    assert "1 missing (conv_in.bias)" in message
    assert "1 unexpected (extra.weight)" in message
    assert "1 shape-mismatched (conv_in.weight: checkpoint (8, 3, 5, 5), model (8, 3, 3, 3))" in message


def test_a_legacy_vae_checkpoint_is_recognised_by_its_key_hash_and_converted(tmp_path):
    torch.manual_seed(1)
    modern = Tiny().state_dict()
    legacy = {
        k.replace("to_q", "query").replace("to_k", "key").replace("to_v", "value").replace("to_out.0", "proj_attn"): v
        for k, v in modern.items()
    }
    assert (
        "mid_block.attentions.0.query.weight" in legacy and convert_legacy_vae_attention(legacy).keys() == modern.keys()
    )
    key_hash = hash_state_dict_keys(legacy)
    register(key_hash, KnownModel("Tiny (legacy attention names)", "Tiny", convert_legacy_vae_attention))
    try:
        loaded = load_model(Tiny, {}, saved(tmp_path, legacy))
    finally:
        REGISTRY.pop(key_hash)
    torch.testing.assert_close(
        loaded.mid_block.attentions[0].to_out[0].weight, modern["mid_block.attentions.0.to_out.0.weight"]
    )


def test_the_key_hash_depends_on_names_and_shapes_not_values():
    a, b = Tiny().state_dict(), Tiny().state_dict()
    assert hash_state_dict_keys(a) == hash_state_dict_keys(b)
    assert hash_state_dict_keys(a) != hash_state_dict_keys(Tiny(channels=4).state_dict())
    assert hash_state_dict_keys(a) == hash_state_dict_keys(read_header_like(a))


def read_header_like(state_dict):
    return {k: {"shape": list(v.shape), "dtype": "F32"} for k, v in state_dict.items()}


def test_component_paths_may_not_escape_the_folder(tmp_path):
    assert safe_join(tmp_path, "unet") == (tmp_path / "unet").resolve()
    with pytest.raises(CheckpointError, match="outside the model folder"):
        safe_join(tmp_path, "../elsewhere")


def test_every_loading_step_is_a_trace_stage(tmp_path):
    path = saved(tmp_path, Tiny().state_dict())
    with difflab.trace() as tr:
        load_model(Tiny, {}, path, dtype=torch.float32, device="cpu")
    names = [s.name for s in tr.stages()]
    assert names == [
        "load_model",
        "read_header",
        "recognise",
        "build_on_meta",
        "read_tensors",
        "convert",
        "load",
        "cast",
        "move",
    ]


def test_stable_diffusion_1_vae_with_legacy_attention_names_is_recognised_out_of_the_box():
    from difflab.configs import load_config
    from difflab.loading.known_models import legacy_names
    from difflab.models import AutoencoderKL

    with torch.device("meta"):
        vae = AutoencoderKL.from_config(load_config("sd15", "vae"))
    legacy = legacy_names({k: {"shape": list(v.shape)} for k, v in vae.state_dict().items()})
    assert "encoder.mid_block.attentions.0.query.weight" in legacy
    assert "decoder.mid_block.attentions.0.proj_attn.bias" in legacy
    known = difflab.loading.recognise(legacy)
    assert known is not None and known.model_class == "AutoencoderKL"
    assert known.converter is convert_legacy_vae_attention
