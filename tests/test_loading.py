import json

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


# ── diffusers' model interface: from_pretrained / save_pretrained, through the same all-or-nothing path ─────

TINY_UNET = dict(
    block_out_channels=(4, 8),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=8,
    norm_num_groups=2,
    attention_head_dim=2,
    sample_size=8,
)
TINY_VAE = dict(
    block_out_channels=(4, 8),
    down_block_types=("DownEncoderBlock2D",) * 2,
    up_block_types=("UpDecoderBlock2D",) * 2,
    norm_num_groups=2,
    latent_channels=4,
    sample_size=16,
)


def tiny_models():
    from difflab.models import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    return [(UNet2DConditionModel, UNet2DConditionModel(**TINY_UNET)), (AutoencoderKL, AutoencoderKL(**TINY_VAE))]


def outputs(model):
    """The model's output on fixed inputs (UNet: ε̂ for one latent; VAE: the reconstruction of one image)."""
    torch.manual_seed(1)
    with torch.no_grad():
        if "UNet" in type(model).__name__:
            return model(torch.randn(1, 4, 8, 8), 10, torch.randn(1, 3, 8)).sample
        return model(torch.randn(1, 3, 16, 16)).sample


@pytest.mark.parametrize("index", [0, 1], ids=["unet", "vae"])
def test_save_pretrained_and_from_pretrained_round_trip_exactly(tmp_path, index):
    model_class, model = tiny_models()[index]
    model.save_pretrained(tmp_path / "component")
    loaded = model_class.from_pretrained(tmp_path, subfolder="component")
    assert dict(loaded.config) == json.loads(json.dumps(model.config))  # tuples come back as JSON lists
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    half = model_class.from_pretrained(tmp_path / "component", torch_dtype=torch.float16, device="cpu")
    assert {p.dtype for p in half.parameters()} == {torch.float16}


@pytest.mark.parametrize("index", [0, 1], ids=["unet", "vae"])
def test_diffusers_loads_what_save_pretrained_writes_and_difflab_loads_what_diffusers_writes(tmp_path, index):
    import diffusers

    model_class, model = tiny_models()[index]
    theirs_class = getattr(diffusers, model_class.__name__)
    model.save_pretrained(tmp_path / "ours")
    theirs = theirs_class.from_pretrained(tmp_path / "ours")
    torch.testing.assert_close(outputs(theirs), outputs(model), rtol=1e-5, atol=1e-5)
    theirs.save_pretrained(tmp_path / "theirs")
    back = model_class.from_pretrained(tmp_path / "theirs")
    torch.testing.assert_close(outputs(back), outputs(model), rtol=1e-5, atol=1e-5)


def test_a_checkpoint_in_one_float_dtype_keeps_it_without_torch_dtype(tmp_path):
    model_class, model = tiny_models()[1]
    model.half().save_pretrained(tmp_path)
    assert {p.dtype for p in model_class.from_pretrained(tmp_path).parameters()} == {torch.float16}


@pytest.mark.parametrize("index", [0, 1], ids=["unet", "vae"])
def test_the_config_schema_covers_every_constructor_field(index):
    import inspect

    from difflab.models import UNET_FIELDS, VAE_FIELDS

    model_class, _ = tiny_models()[index]
    fields = {
        p for p in inspect.signature(model_class.__init__).parameters if p not in ("self", "other_diffusers_fields")
    }
    assert set((UNET_FIELDS, VAE_FIELDS)[index]) == fields


def test_the_allow_list_accepts_what_save_pretrained_writes_and_skips_null_entries(tmp_path):
    from difflab.pipelines.base import component_entry

    index = {
        "unet": ["diffusers", "UNet2DConditionModel"],
        "tokenizer": ["transformers", "CLIPTokenizerFast"],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "safety_checker": [None, None],
    }
    assert [component_entry(index, name, tmp_path)[1] for name in ("unet", "tokenizer", "scheduler")] == [
        "UNet2DConditionModel",
        "CLIPTokenizerFast",
        "PNDMScheduler",
    ]
