"""Hostile inputs to every loading path: each is refused cleanly, at once, naming what is wrong, with nothing loaded."""

import json
import os
import struct
import time

import pytest
import torch
from safetensors.torch import save_file

from difflab import pretrained, schedulers
from difflab.loading import CheckpointError, build_on_meta, load_into, load_model, read_header, read_state_dict
from difflab.models import AutoencoderKL, UNet2DConditionModel
from difflab.pipelines import TextToImagePipeline

TINY_VAE = dict(
    block_out_channels=[4, 8],
    down_block_types=["DownEncoderBlock2D"] * 2,
    up_block_types=["UpDecoderBlock2D"] * 2,
    norm_num_groups=2,
    latent_channels=4,
    sample_size=16,
)
TINY_UNET = dict(
    block_out_channels=[4, 8],
    layers_per_block=1,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
    cross_attention_dim=8,
    norm_num_groups=2,
    attention_head_dim=2,
    sample_size=8,
)


def tiny_vae(seed: int) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(**TINY_VAE)


def snapshot(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_unchanged(model, before: dict):
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, tensor in before.items():
        assert after[key].dtype == tensor.dtype and torch.equal(after[key], tensor), f"{key} changed"


@pytest.fixture(scope="module")
def vae_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vae")
    tiny_vae(seed=1).save_pretrained(folder)
    return folder


# ── 1. load_into: one bad tensor among many is refused before any tensor is placed ──────────────────────────

LAST = list(tiny_vae(0).state_dict())[-1]  # the bad tensor comes last: every other one would load first


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda t: t.long(), ["torch.int64", "floating point"]),
        (lambda t: t > 0, ["torch.bool", "floating point"]),
        (lambda t: t.to(torch.complex64), ["torch.complex64"]),
        (lambda t: t.half(), ["mixes floating-point dtypes", "(torch.float16)", "ask for torch.float32"]),
        (lambda t: t.bfloat16(), ["mixes floating-point dtypes", "(torch.bfloat16)", "ask for torch.float32"]),
        (lambda t: t.tolist(), ["list"]),
        (lambda t: t.numpy(), ["ndarray"]),
        (lambda t: torch.empty_like(t, device="meta"), ["meta tensor"]),
    ],
    ids=["int64", "bool", "complex", "one-fp16", "one-bf16", "list", "numpy", "meta"],
)
def test_load_into_refuses_one_bad_tensor_and_changes_nothing(change, words):
    state = tiny_vae(seed=1).state_dict()
    state[LAST] = change(state[LAST])
    model = tiny_vae(seed=0)
    before = snapshot(model)
    with pytest.raises(CheckpointError) as error:
        load_into(model, state)
    assert all(word in str(error.value) for word in [LAST, *words]), str(error.value)
    assert_unchanged(model, before)


def test_a_float8_checkpoint_is_refused_without_a_dtype_and_cast_with_one():
    state = {k: v.to(torch.float8_e4m3fn) for k, v in tiny_vae(seed=1).state_dict().items()}
    model = tiny_vae(seed=0)
    before = snapshot(model)
    with pytest.raises(CheckpointError, match="float8_e4m3fn, a storage format"):
        load_into(model, state)
    assert_unchanged(model, before)
    loaded = load_into(build_on_meta(AutoencoderKL, TINY_VAE), state, dtype=torch.bfloat16)
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}


def test_a_mixed_checkpoint_loads_when_the_caller_asks_for_one_dtype():
    state = tiny_vae(seed=1).state_dict()
    state[LAST] = state[LAST].half()
    loaded = load_into(build_on_meta(AutoencoderKL, TINY_VAE), state, dtype=torch.float16)
    assert {t.dtype for t in loaded.state_dict().values()} == {torch.float16}
    assert torch.equal(loaded.state_dict()[LAST], state[LAST])


def test_a_state_dict_that_is_not_a_dict_is_refused():
    model = tiny_vae(seed=0)
    before = snapshot(model)
    with pytest.raises(CheckpointError, match="state dict: got a list"):
        load_into(model, list(tiny_vae(seed=1).state_dict().items()))
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "argument, value, words",
    [
        ("dtype", "float16", "dtype: got 'float16'"),
        ("dtype", torch.int8, "dtype: got torch.int8"),
        ("device", "gpu", "device: got 'gpu'"),
        ("device", "meta", "holds no values"),
        ("device", "cuda:99", "device: got 'cuda:99'"),
    ],
)
def test_bad_dtype_and_device_arguments_are_refused_before_loading(argument, value, words):
    model = tiny_vae(seed=0)
    before = snapshot(model)
    with pytest.raises(ValueError, match=words):
        load_into(model, tiny_vae(seed=1).state_dict(), **{argument: value})
    assert_unchanged(model, before)


def test_an_integer_tensor_in_a_file_is_named_and_nothing_is_returned(tmp_path):
    state = tiny_vae(seed=1).state_dict()
    state[LAST] = state[LAST].long()
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=f"{LAST}: checkpoint torch.int64, model torch.float32"):
        load_model(AutoencoderKL, TINY_VAE, tmp_path / "model.safetensors")


def test_from_pretrained_refuses_a_mixed_checkpoint_unless_torch_dtype_is_given(tmp_path):
    state = tiny_vae(seed=1).state_dict()
    state[LAST] = state[LAST].half()
    tiny_vae(seed=1).save_pretrained(tmp_path)
    save_file(state, str(tmp_path / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(CheckpointError, match="ask for torch.float32 .*torch_dtype= to a model's from_pretrained"):
        AutoencoderKL.from_pretrained(tmp_path)
    loaded = AutoencoderKL.from_pretrained(tmp_path, torch_dtype=torch.float32)
    assert {t.dtype for t in loaded.state_dict().values()} == {torch.float32}


# ── 2. Configs: every field's type and range, checked before building, on every path ───────────────────────

UNET_CASES = [
    ("transformer_layers_per_block", 1e9),
    ("transformer_layers_per_block", 10**9),
    ("transformer_layers_per_block", [1, 10**9]),
    ("layers_per_block", 10**6),
    ("block_out_channels", [-4, 8]),
    ("block_out_channels", [0, 8]),
    ("block_out_channels", ["4", "8"]),
    ("block_out_channels", [4] * 10**6),
    ("block_out_channels", 10**9),
    ("in_channels", "4"),
    ("in_channels", True),
    ("out_channels", 4.0),
    ("cross_attention_dim", -1),
    ("attention_head_dim", 0),
    ("norm_num_groups", 10**12),
    ("norm_eps", 0),
    ("norm_eps", float("nan")),
    ("dropout", 2.0),
    ("act_fn", "tanh"),
    ("down_block_types", "CrossAttnDownBlock2D"),
    ("up_block_types", ["CrossAttnUpBlock2D", 7]),
    ("mid_block_type", "UNetMidBlock2D"),
    ("use_linear_projection", "yes"),
    ("conv_in_kernel", 10**9),
    ("sample_size", -1),
    ("time_embedding_dim", 10**12),
    ("upcast_attention", 1),
    ("num_attention_heads", "8"),
]
VAE_CASES = [
    ("latent_channels", 0),
    ("layers_per_block", 1e9),
    ("layers_per_block", 10**9),
    ("block_out_channels", [8] * 7),
    ("in_channels", None),
    ("scaling_factor", -1.0),
    ("scaling_factor", float("inf")),
    ("shift_factor", "0"),
    ("force_upcast", 1),
    ("sample_size", [16, 16, 16]),
    ("latents_std", [1.0, 0.0, 1.0, 1.0]),
    ("latents_mean", [0.0, 0.0, 0.0]),
    ("down_block_types", ["AttnDownEncoderBlock2D", "DownEncoderBlock2D"]),
]


@pytest.mark.parametrize(
    "model_class, base, field, value",
    [(UNet2DConditionModel, TINY_UNET, *case) for case in UNET_CASES]
    + [(AutoencoderKL, TINY_VAE, *case) for case in VAE_CASES],
)
def test_absurd_config_values_are_refused_instantly_naming_the_field(model_class, base, field, value):
    start = time.perf_counter()
    with pytest.raises(ValueError) as error:
        build_on_meta(model_class, dict(base, **{field: value}))
    assert time.perf_counter() - start < 1.0
    assert str(error.value).startswith(f"{field}: got "), str(error.value)


BUILDERS = {
    "constructor": lambda cls, config, folder: cls(**config),
    "from_config": lambda cls, config, folder: cls.from_config(config),
    "build_on_meta": lambda cls, config, folder: build_on_meta(cls, config),
    "from_pretrained": lambda cls, config, folder: write_config_and_load(cls, config, folder),
}


def write_config_and_load(model_class, config, folder):
    (folder / "config.json").write_text(json.dumps({"_class_name": model_class.__name__, **config}))
    return model_class.from_pretrained(folder)


@pytest.mark.parametrize("path", BUILDERS)
def test_every_way_of_building_checks_the_config_first(path, vae_folder, tmp_path):
    folder = tmp_path / "vae"
    folder.mkdir()
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(
        (vae_folder / "diffusion_pytorch_model.safetensors").read_bytes()
    )
    start = time.perf_counter()
    with pytest.raises(ValueError, match="layers_per_block: got 1000000000 ") as error:
        BUILDERS[path](AutoencoderKL, dict(TINY_VAE, layers_per_block=10**9), folder)
    assert time.perf_counter() - start < 1.0
    if path == "from_pretrained":
        assert isinstance(error.value, CheckpointError) and "config.json" in str(error.value)


def test_from_config_refuses_a_config_that_is_not_a_dict():
    with pytest.raises(ValueError, match="config: got a list"):
        UNet2DConditionModel.from_config([("in_channels", 4)])


# ── 3. Malformed safetensors files: refused before any tensor is read, naming the file and the tensor ─────

GOOD = {
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
}
DATA = bytes(12)


def with_b(**changes) -> dict:
    return {**GOOD, "b": {**GOOD["b"], **changes}}


def without_b(key: str) -> dict:
    return {**GOOD, "b": {k: v for k, v in GOOD["b"].items() if k != key}}


def raw(header, data: bytes = DATA) -> bytes:
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(body)) + body + data


REPEATED = b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], '
REPEATED += b'"data_offsets": [4, 8]}}'
FILES = {
    "a JSON list": (raw([1, 2]), "JSON list"),
    "a JSON string": (raw("tensors"), "JSON str"),
    "an entry that is a number": (raw({**GOOD, "b": 5}), "tensor 'b' is described by 5"),
    "no data_offsets": (raw(without_b("data_offsets")), "tensor 'b' has no data_offsets"),
    "no dtype": (raw(without_b("dtype")), "tensor 'b' has no dtype"),
    "an unknown dtype": (raw(with_b(dtype="F17")), "tensor 'b' has dtype 'F17'"),
    "a dtype that is a number": (raw(with_b(dtype=4)), "tensor 'b' has dtype 4"),
    "a shape that is a string": (raw(with_b(shape="1")), "tensor 'b' has shape '1'"),
    "a negative shape": (raw(with_b(shape=[-1])), "tensor 'b' has shape [-1]"),
    "a fractional shape": (raw(with_b(shape=[0.5])), "tensor 'b' has shape [0.5]"),
    "a bool shape": (raw(with_b(shape=[True])), "tensor 'b' has shape [True]"),
    "negative offsets": (raw(with_b(data_offsets=[-4, 0])), "tensor 'b' has data_offsets [-4, 0]"),
    "reversed offsets": (raw(with_b(data_offsets=[12, 8])), "tensor 'b' has data_offsets [12, 8]"),
    "three offsets": (raw(with_b(data_offsets=[8, 12, 16])), "tensor 'b' has data_offsets [8, 12, 16]"),
    "string offsets": (raw(with_b(data_offsets=["8", "12"])), "tensor 'b' has data_offsets ['8', '12']"),
    "overlapping offsets": (raw(with_b(data_offsets=[4, 8]), bytes(8)), "tensor 'b' starts at data byte 4, inside"),
    "offsets out of the file": (raw(with_b(data_offsets=[1000, 1004])), "tensor 'b' starts at data byte 1000"),
    "shape and span that disagree": (raw(with_b(shape=[2])), "tensor 'b' has 4 bytes, expected 8"),
    "bytes after the last tensor": (raw(GOOD, DATA + b"junk"), "4 data bytes after its last tensor ('b')"),
    "a truncated data section": (raw(GOOD, DATA[:6]), "is truncated"),
    "a header longer than the file": (struct.pack("<Q", 10**6) + b"{}", "says its header is 1000000 bytes"),
    "too few bytes for the length": (b"abc", "too short"),
    "a repeated tensor name": (raw(REPEATED, bytes(8)), "'a' appears twice"),
    "metadata with a number": (raw({**GOOD, "__metadata__": {"format": 1}}), "'__metadata__'"),
    "metadata that is a list": (raw({**GOOD, "__metadata__": ["pt"]}), "'__metadata__'"),
    "a header that is not UTF-8": (raw(b'{"\xff": 1}'), "unreadable header"),
    "a UTF-16 header": (raw(json.dumps(GOOD).encode("utf-16")), "unreadable header"),
    "deeply nested JSON": (raw(b"[" * 100_000), "unreadable header"),
}


@pytest.mark.parametrize("reader", [read_header, read_state_dict])
@pytest.mark.parametrize("case", FILES)
def test_malformed_safetensors_files_are_checkpoint_errors_naming_file_and_tensor(tmp_path, case, reader):
    content, words = FILES[case]
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        reader(path)
    assert "hostile.safetensors" in str(error.value) and words in str(error.value), str(error.value)


def test_a_header_length_beyond_the_safetensors_limit_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 150_000_000) + b"{")
    os.truncate(path, 150_000_100)  # sparse: nothing is written, and read_header must not read it either
    with pytest.raises(CheckpointError, match="huge.safetensors says its header is 150,000,000 bytes"):
        read_header(path)


def test_the_header_checks_accept_what_safetensors_writes(tmp_path):
    save_file({"a": torch.zeros(2), "b": torch.zeros(0), "c": torch.zeros((), dtype=torch.int64)}, str(tmp_path / "ok"))
    assert set(read_header(tmp_path / "ok")) == {"a", "b", "c"}
    assert read_header(tmp_path / "ok")["c"]["shape"] == []


# ── 4. model_index.json: only [library, class] pairs of the allow-list ──────────────────────────────────────

INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "scheduler": ["diffusers", "DDIMScheduler"],
    "vae": ["diffusers", "AutoencoderKL"],
    "safety_checker": [None, None],
}
MISSING = object()
INDEX_CASES = [
    ("unet", "UNet2DConditionModel", "[library, class] pair"),
    ("unet", None, "[library, class] pair"),
    ("unet", [None, None], "[null, null] only for components this pipeline does not use"),
    ("unet", ["diffusers"], "[library, class] pair"),
    ("unet", ["diffusers", "UNet2DConditionModel", "extra"], "[library, class] pair"),
    ("unet", ["diffusers", 5], "[library, class] pair"),
    ("unet", {"diffusers": "UNet2DConditionModel"}, "[library, class] pair"),
    ("unet", ["difflab", "torch"], '["difflab", "torch"], which difflab does not load as unet'),
    ("unet", ["difflab", "get_down_block"], '"get_down_block"'),
    ("unet", ["difflab", "Attention"], '"Attention"'),
    ("unet", ["diffusers", "AutoencoderKL"], "from diffusers or difflab: UNet2DConditionModel"),
    ("unet", ["transformers", "UNet2DConditionModel"], '["transformers", "UNet2DConditionModel"]'),
    ("text_encoder", ["transformers", "CLIPVisionModel"], "from transformers: CLIPTextModel"),
    ("text_encoder", ["transformers", "AutoModel"], '"AutoModel"'),
    ("tokenizer", ["transformers", "T5Tokenizer"], "CLIPTokenizer, CLIPTokenizerFast"),
    ("scheduler", ["diffusers", "MadeUpScheduler"], "DDIMScheduler"),
    ("scheduler", ["diffusers", "__class__"], '"__class__"'),
    ("vae", MISSING, "'vae' is missing"),
]


@pytest.mark.parametrize("component, entry, words", INDEX_CASES)
def test_model_index_entries_outside_the_allow_list_are_refused_before_any_component_loads(
    tmp_path, component, entry, words
):
    index = {k: v for k, v in INDEX.items() if k != component}
    if entry is not MISSING:
        index[component] = entry
    (tmp_path / "model_index.json").write_text(json.dumps(index))  # no component folders: nothing else to read
    with pytest.raises(CheckpointError) as error:
        TextToImagePipeline.from_pretrained(tmp_path)
    message = str(error.value)
    assert message.startswith("model_index.json in") and f"'{component}'" in message and words in message, message


@pytest.mark.parametrize(
    "content, words",
    [(b"[]", "holds a JSON list"), (b"{not json", "is not valid JSON"), (b'{"\xff": 1}', "is not valid JSON")],
)
def test_a_model_index_that_is_not_a_json_object_is_refused(tmp_path, content, words):
    (tmp_path / "model_index.json").write_bytes(content)
    with pytest.raises(CheckpointError, match=words) as error:
        TextToImagePipeline.from_pretrained(tmp_path)
    assert "model_index.json" in str(error.value)


# ── 5. Arguments: refused before a byte is read, listing the valid values ───────────────────────────────────


@pytest.mark.parametrize("name", ["eulr", "PNDMScheduler", "", 5])
def test_an_unknown_scheduler_name_lists_the_valid_names(tmp_path, name):
    with pytest.raises(ValueError) as error:
        TextToImagePipeline.from_pretrained(tmp_path / "no-such-folder", scheduler=name)
    message = str(error.value)
    assert message.startswith(f"scheduler: got {name!r}; valid names are")
    assert all(valid in message for valid in schedulers.names())
    assert "this folder's scheduler" not in message and not isinstance(error.value, CheckpointError)


@pytest.mark.parametrize("argument, value", [("dtype", "float16"), ("dtype", torch.int64), ("device", "gpu")])
def test_pipeline_dtype_and_device_arguments_are_checked_first(tmp_path, argument, value):
    with pytest.raises(ValueError, match=f"{argument}: got"):
        TextToImagePipeline.from_pretrained(tmp_path / "no-such-folder", **{argument: value})


@pytest.mark.parametrize(
    "kwargs, error_type, words",
    [
        (dict(subfolder="../elsewhere"), CheckpointError, "outside the model folder"),
        (dict(subfolder=5), ValueError, "subfolder: got 5"),
        (dict(torch_dtype="fp16"), ValueError, "torch_dtype: got 'fp16'"),
        (dict(device="gpu"), ValueError, "device: got 'gpu'"),
    ],
)
def test_model_from_pretrained_checks_its_arguments(vae_folder, kwargs, error_type, words):
    with pytest.raises(error_type, match=words):
        AutoencoderKL.from_pretrained(vae_folder, **kwargs)


def test_a_folder_written_for_another_class_is_refused(vae_folder):
    with pytest.raises(CheckpointError, match="_class_name: .* was written for 'AutoencoderKL', not UNet2DCondition"):
        UNet2DConditionModel.from_pretrained(vae_folder)


def test_a_folder_with_only_pickle_weights_is_refused_with_the_fix(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY_VAE))
    torch.save(tiny_vae(seed=0).state_dict(), tmp_path / "diffusion_pytorch_model.bin")
    with pytest.raises(CheckpointError, match="arbitrary code"):
        AutoencoderKL.from_pretrained(tmp_path)


def test_saving_a_model_without_values_is_refused(tmp_path):
    with pytest.raises(ValueError, match="on the meta device"):
        build_on_meta(AutoencoderKL, TINY_VAE).save_pretrained(tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_shipped_model_name_cannot_be_a_path():
    with pytest.raises(ValueError, match="name: got '..'; the shipped models are"):
        pretrained.weights_folder("..")


# ── 6. The text encoder (loaded by transformers) follows the same header checks and dtype rule ──────────────


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    import transformers

    folder = tmp_path_factory.mktemp("text_encoder")
    config = transformers.CLIPTextConfig(
        vocab_size=32, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2
    )
    torch.manual_seed(0)
    transformers.CLIPTextModel(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    "change, words",
    [(lambda t: t.half(), "mixes floating-point dtypes"), (lambda t: t.long(), "checkpoint torch.int64")],
)
def test_the_text_encoder_follows_the_dtype_rule(clip_folder, tmp_path, change, words):
    import shutil

    import transformers
    from safetensors.torch import load_file

    from difflab.loading.folders import load_transformers_model

    folder = tmp_path / "text_encoder"
    shutil.copytree(clip_folder, folder)
    state = load_file(str(folder / "model.safetensors"))
    name = sorted(state)[-1]
    state[name] = change(state[name])
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=words) as error:
        load_transformers_model(transformers.CLIPTextModel, folder)
    assert name in str(error.value)


def test_the_text_encoder_header_is_checked_before_transformers_reads_it(clip_folder, tmp_path):
    import shutil

    import transformers

    from difflab.loading.folders import load_transformers_model

    folder = tmp_path / "text_encoder"
    shutil.copytree(clip_folder, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b"appended")
    with pytest.raises(CheckpointError, match="model.safetensors has 8 data bytes after its last tensor"):
        load_transformers_model(transformers.CLIPTextModel, folder)
