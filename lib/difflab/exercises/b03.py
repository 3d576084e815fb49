"""Checks for lab b03 (latent shape tracking): the learner's predicted shapes against what difflab.trace records.

The expected shapes are measured, not derived: the shipped pipelines run for one step under `difflab.trace`, and
the shapes are read off the records of the modules that ran (text encoder, denoiser, its first block, proj_out)
and off what `decode` and the postprocessing return. One setting with a real model's configs (SD 1.5, Wan2.1
1.3B) runs the denoiser on the meta device: shapes without weights or memory.
"""

import functools

import torch

from ..configs import arithmetic, load_config
from ..loading import build_on_meta
from ..models import AutoencoderKL, UNet2DConditionModel
from ..models.wan import WanTransformer3DModel
from ..models.wan_vae import AutoencoderKLWan
from .core import Lab, Wrong
from .expect import call_keeping_inputs, describe

lab = Lab("b03", "Latent shape tracking")

WAN_TEXT_ENCODER = {"model_type": "umt5", "d_model": 4096}  # UMT5-XXL, the encoder of every Wan2.1 model


@functools.cache
def shipped(name: str):
    """A shipped pipeline on the CPU, loaded once per checker process."""
    from ..pretrained import load_pipeline

    return load_pipeline(name, device="cpu")


def plain(config) -> dict:
    """A component's config as a plain dict (what the learner's process receives)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(config).items()}


def module_record(trace, path: str) -> dict:
    """The first call of the module at `path` ('unet', 'transformer.blocks.0') in a trace's shape records."""
    return next(r for r in trace.shape_records if r["module"] == path)


def tracing(model_or_pipeline):
    """A shape-only trace of every module (no memory ledger, timings or finiteness checks: faster)."""
    from .. import trace

    return trace(model_or_pipeline, modules="all", memory=False, timings=False, check_finite=False)


def run_traced(pipe, prompts: list[str], guidance: bool, **kwargs):
    """One denoising step of `pipe` under a trace (output_type='latent'), then decode and postprocess by hand: the
    two calls __call__ makes after the loop. Returns the trace, the latents, the decoded batch and the output."""
    with torch.no_grad(), tracing(pipe) as trace:
        latents = pipe(
            prompts,
            num_inference_steps=1,
            guidance_scale=5.0 if guidance else 1.0,
            generator=torch.Generator().manual_seed(0),
            output_type="latent",
            **kwargs,
        )
    decoded = pipe.decode(latents)
    return trace, latents, decoded


def shape_of(record: dict, side: str, index: int = 0) -> tuple:
    return tuple(record[side][index]["shape"])


@functools.cache
def traced_image_shapes(batch_size: int, height: int, width: int, guidance: bool, cfg: str) -> dict:
    from ..pipelines.images import postprocess

    pipe = shipped("shapes-sd")
    trace, latents, decoded = run_traced(
        pipe, ["a red circle"] * batch_size, guidance, height=height, width=width, cfg=cfg
    )
    text, unet = module_record(trace, "text_encoder"), module_record(trace, "unet")
    return {
        "text_ids": shape_of(text, "inputs"),
        "text_states": shape_of(text, "outputs"),
        "latents": tuple(latents.shape),
        "unet_input": shape_of(unet, "inputs"),
        "unet_text_states": shape_of(unet, "inputs", -1),  # inputs: x, t, then encoder_hidden_states
        "unet_output": shape_of(unet, "outputs"),
        "decoded_image": tuple(decoded.shape),
        "image": tuple(postprocess(decoded, "np").shape),
    }


@functools.cache
def traced_video_shapes(batch_size: int, num_frames: int, height: int, width: int, guidance: bool) -> dict:
    pipe = shipped("shapes-video")
    prompts = ["a red circle moving right"] * batch_size
    trace, latents, decoded = run_traced(pipe, prompts, guidance, num_frames=num_frames, height=height, width=width)
    text, transformer = module_record(trace, "text_encoder"), module_record(trace, "transformer")
    return {
        "text_ids": shape_of(text, "inputs"),
        "text_states": shape_of(text, "outputs"),
        "latents": tuple(latents.shape),
        "transformer_input": shape_of(transformer, "inputs"),
        "tokens": shape_of(module_record(trace, "transformer.blocks.0"), "inputs"),
        "patch_output": shape_of(module_record(trace, "transformer.proj_out"), "outputs"),
        "transformer_output": shape_of(transformer, "outputs"),
        "decoded_video": tuple(decoded.shape),
        "frames": tuple(pipe.postprocess_video(decoded, "np").shape),
    }


def meta_model_config(model_class, config: dict) -> dict:
    """The config as the built model holds it: the file's fields plus the constructor's defaults."""
    return plain(build_on_meta(model_class, config).config)


@functools.cache
def sd15_case() -> tuple[dict, dict, dict, dict]:
    """SD 1.5 at 512×768, one image, batched CFG: the UNet on the meta device; the rest from the configs."""
    text = load_config("sd15", "text_encoder")
    unet_config = load_config("sd15", "unet")
    vae = meta_model_config(AutoencoderKL, load_config("sd15", "vae"))
    tokens, width_text = text["max_position_embeddings"], text["hidden_size"]
    latent = (1, *arithmetic.latent_shape(vae, 512, 768))  # (1, 4, 64, 96)
    unet = build_on_meta(UNet2DConditionModel, unet_config)
    x = torch.empty(2, *latent[1:], device="meta")
    states = torch.empty(2, tokens, width_text, device="meta")
    with tracing(unet) as trace:
        unet(x, torch.tensor(999.0, device="meta"), encoder_hidden_states=states)
    record = module_record(trace, "UNet2DConditionModel")
    expected = {
        "text_ids": (1, tokens),
        "text_states": (1, tokens, width_text),
        "latents": latent,
        "unet_input": shape_of(record, "inputs"),
        "unet_text_states": shape_of(record, "inputs", -1),
        "unet_output": shape_of(record, "outputs"),
        "decoded_image": (1, 3, 512, 768),
        "image": (1, 512, 768, 3),
    }
    return text, plain(unet.config), vae, expected


@functools.cache
def wan_case() -> tuple[dict, dict, dict]:
    """Wan2.1-T2V-1.3B at 81×480×832, one video: the transformer on the meta device; the rest from the configs."""
    transformer = build_on_meta(WanTransformer3DModel, load_config("wan2.1-t2v-1.3b", "transformer"))
    vae = meta_model_config(AutoencoderKLWan, load_config("wan2.1-t2v-1.3b", "vae"))
    latent = (1, *arithmetic.latent_shape(vae, 480, 832, 81))  # (1, 16, 21, 60, 104)
    d_model = WAN_TEXT_ENCODER["d_model"]
    with tracing(transformer) as trace:
        transformer(
            torch.empty(latent, device="meta"),
            torch.tensor([999.0], device="meta"),
            encoder_hidden_states=torch.empty(1, 512, d_model, device="meta"),
        )
    record = module_record(trace, "WanTransformer3DModel")
    expected = {
        "text_ids": (1, 512),
        "text_states": (1, 512, d_model),
        "latents": latent,
        "transformer_input": shape_of(record, "inputs"),
        "tokens": shape_of(module_record(trace, "WanTransformer3DModel.blocks.0"), "inputs"),
        "patch_output": shape_of(module_record(trace, "WanTransformer3DModel.proj_out"), "outputs"),
        "transformer_output": shape_of(record, "outputs"),
        "decoded_video": (1, 3, 81, 480, 832),
        "frames": (1, 81, 480, 832, 3),
    }
    return plain(transformer.config), vae, expected


# ── Comparing, with a reason that names the first wrong entry ─────────────────────────────────────────────────


def as_shape(value):
    """A tuple (or torch.Size) of ints as a plain tuple; None for anything else."""
    if isinstance(value, tuple) and all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        return tuple(value)
    return None


def why(key: str, got: tuple, expected: tuple, setting: dict) -> str:
    """A sentence on the usual mistake behind this particular wrong shape, or ''."""
    batch = setting["batch_size"]
    if key in ("latents", "transformer_input", "transformer_output") and len(got) == 5 == len(expected):
        if got[2] != expected[2] and got[2] == setting["num_frames"] // 4:
            return (
                " The causal VAE encodes frame 0 alone, then 4 frames per latent frame: (F - 1)/4 + 1 latent "
                "frames, not F/4."
            )
    if key in ("latents", "unet_input", "transformer_input") and got[-1] != expected[-1]:
        if got[-1] == setting["width"] // 16:
            return (
                " The VAE shrinks 8× per side; the 2×2 patch belongs to the transformer's tokens, not to the latents."
            )
    if key == "transformer_input" and got[0] == 2 * batch != expected[0]:
        return (
            " Under guidance this pipeline calls the transformer twice per step (the prompt, then the negative "
            "prompt), each at batch B: nothing is concatenated into 2B (that is the image pipeline's cfg='batched')."
        )
    if key in ("unet_input", "unet_text_states", "unet_output") and got[0] != expected[0]:
        if expected[0] == 2 * batch:
            return (
                " cfg='batched' runs one UNet call on torch.cat([x, x]) with the [negative; prompt] states: batch 2B."
            )
        if setting["guidance"]:
            return (
                " cfg='two_pass' calls the UNet twice per step, the negative prompt then the prompt, each at batch B."
            )
        return " Without guidance (guidance_scale ≤ 1) there is no negative branch: one UNet call at batch B."
    if key in ("tokens", "patch_output") and got[1] != expected[1]:
        return (
            " Patchify with patch_size (1, 2, 2): N = (F'/1)·(h/2)·(w/2) tokens, counted on the latent grid, not the "
            "pixels."
        )
    if key == "tokens":
        return " Each token is num_attention_heads · attention_head_dim wide (D)."
    if key == "patch_output":
        return " proj_out maps each token back to one patch: p_t·p_h·p_w·out_channels numbers, before unpatchify."
    if key in ("image", "frames") and sorted(got) == sorted(expected):
        return " output_type='np' is channels-last: (B, H, W, 3) for images, (B, F, H, W, 3) for videos."
    if key == "decoded_video":
        return " vae.decode gives (B, 3, F, H, W): the clip's own F = 4·(F' - 1) + 1 frames, channels first."
    if key in ("text_ids", "text_states", "unet_text_states") and got[1:2] != expected[1:2]:
        return " The tokenizer pads every prompt to its maximum length: 77 for CLIP, max_sequence_length for UMT5."
    if key in ("text_states", "unet_text_states"):
        return " Each text token is as wide as the text encoder: hidden_size for CLIP, d_model for UMT5."
    return ""


def expect_shapes(got, expected: dict, call: str, source, setting: dict):
    """got must hold every key of expected with the same shape; source: where the expected shapes came from, one
    text for all, or a function key → text."""
    if not isinstance(got, dict):
        raise Wrong(f"{call} should return a dict of shape tuples, got {describe(got)}.")
    missing = [key for key in expected if key not in got]
    if missing:
        raise Wrong(
            f"{call} returned no {missing[0]!r} (missing: {', '.join(missing)}); the keys are {list(expected)}."
        )
    for key, shape in expected.items():
        value = as_shape(got[key])
        if value is None:
            raise Wrong(f"{call}: {key!r} should be a tuple of ints such as {shape}, got {describe(got[key])}.")
        if value != shape:
            origin = source(key) if callable(source) else source
            raise Wrong(f"{call}: {key!r} should be {shape} ({origin}), got {value}.{why(key, value, shape, setting)}")


def from_meta_or_configs(model: str, denoiser: str, key: str) -> str:
    """Where a real model's expected shape came from: its denoiser's run on meta, or arithmetic on its configs."""
    if key.startswith(("unet", "transformer", "tokens", "patch")):
        return f"{model}'s {denoiser} run on the meta device"
    return f"from {model}'s configs"


def shown(function: str, setting: dict, configs: str) -> str:
    return f"{function}(" + ", ".join(f"{k}={v!r}" for k, v in setting.items()) + f", {configs})"


IMAGE_SETTINGS = [  # batch_size, height, width, guidance, cfg
    (1, 64, 64, True, "batched"),
    (2, 64, 96, True, "two_pass"),
    (2, 128, 128, False, "batched"),
    (1, 96, 72, True, "batched"),
]
VIDEO_SETTINGS = [  # batch_size, num_frames, height, width, guidance
    (1, 17, 64, 64, True),
    (2, 9, 96, 128, True),
    (1, 5, 128, 96, False),
    (2, 17, 64, 96, False),
]


@lab.task(
    "predict_image_shapes",
    hint="latents (B, in_channels, H/f, W/f) with f = 2 ** (levels - 1); the UNet's batch is 2B only when guidance "
    "is on and cfg == 'batched'; the image comes back channels-last.",
    time_limit=60.0,
)
def check_predict_image_shapes(m):
    pipe = shipped("shapes-sd")
    configs = [plain(pipe.text_encoder.config.to_dict()), plain(pipe.unet.config), plain(pipe.vae.config)]
    for batch_size, height, width, guidance, cfg in IMAGE_SETTINGS:
        setting = dict(batch_size=batch_size, height=height, width=width, guidance=guidance, cfg=cfg)
        call = shown("predict_image_shapes", setting, "shapes-sd configs")
        arguments = {**setting, "text_encoder_config": configs[0], "unet_config": configs[1], "vae_config": configs[2]}
        got = call_keeping_inputs(m.predict_image_shapes, arguments, call)
        expected = traced_image_shapes(batch_size, height, width, guidance, cfg)
        expect_shapes(got, expected, call, "recorded by difflab.trace on shapes-sd", setting)
    text, unet, vae, expected = sd15_case()
    setting = dict(batch_size=1, height=512, width=768, guidance=True, cfg="batched")
    call = shown("predict_image_shapes", setting, "SD 1.5 configs")
    arguments = {**setting, "text_encoder_config": text, "unet_config": unet, "vae_config": vae}
    got = call_keeping_inputs(m.predict_image_shapes, arguments, call)
    expect_shapes(got, expected, call, functools.partial(from_meta_or_configs, "SD 1.5", "UNet"), setting)


@lab.task(
    "predict_shapes",
    hint="F' = (F - 1) // 4 + 1 and H/8, W/8; tokens N = F'·(h/2)·(w/2) of width heads·head_dim; guidance adds a "
    "second call, not a bigger batch; frames come back channels-last.",
    time_limit=60.0,
)
def check_predict_shapes(m):
    pipe = shipped("shapes-video")
    configs = [plain(pipe.text_encoder.config.to_dict()), plain(pipe.transformer.config), plain(pipe.vae.config)]
    for batch_size, num_frames, height, width, guidance in VIDEO_SETTINGS:
        setting = dict(batch_size=batch_size, num_frames=num_frames, height=height, width=width, guidance=guidance)
        call = shown("predict_shapes", setting, "shapes-video configs")
        arguments = {
            **setting,
            "text_encoder_config": configs[0],
            "transformer_config": configs[1],
            "vae_config": configs[2],
            "max_sequence_length": 512,
        }
        got = call_keeping_inputs(m.predict_shapes, arguments, call)
        expected = traced_video_shapes(batch_size, num_frames, height, width, guidance)
        expect_shapes(got, expected, call, "recorded by difflab.trace on shapes-video", setting)
    transformer, vae, expected = wan_case()
    setting = dict(batch_size=1, num_frames=81, height=480, width=832, guidance=True)
    call = shown("predict_shapes", setting, "Wan2.1-T2V-1.3B configs")
    arguments = {
        **setting,
        "text_encoder_config": dict(WAN_TEXT_ENCODER),
        "transformer_config": transformer,
        "vae_config": vae,
        "max_sequence_length": 512,
    }
    got = call_keeping_inputs(m.predict_shapes, arguments, call)
    source = functools.partial(from_meta_or_configs, "Wan2.1-T2V-1.3B", "transformer")
    expect_shapes(got, expected, call, source, setting)
