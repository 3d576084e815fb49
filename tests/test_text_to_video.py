"""difflab's TextToVideoPipeline against diffusers' WanPipeline (the numerical oracle), on tiny random components."""

import json
from contextlib import contextmanager
from pathlib import Path

import diffusers
import numpy as np
import pytest
import torch
import transformers
from PIL import Image

import difflab
from difflab import schedulers
from difflab.models import AutoencoderKLWan, WanTransformer3DModel
from difflab.pipelines import TextToVideoPipeline, pipeline_class

WAN21_SCHEDULER = Path(difflab.__file__).parent / "configs/wan2.1-t2v-1.3b/scheduler/scheduler_config.json"
# diffusers' tests/pipelines/wan/test_wan.py components, with a 16-wide UMT5 built here (no download).
TRANSFORMER = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=12,
    in_channels=16,
    out_channels=16,
    text_dim=16,
    freq_dim=256,
    ffn_dim=32,
    num_layers=2,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    rope_max_seq_len=32,
)
VAE = dict(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
WORDS = "a red circle blue square dance monkey negative small the on left moves slowly".split()
SIZE = dict(height=32, width=48, num_frames=9)  # latents (B, 16, 3, 4, 6): 3 × 2 × 3 = 18 transformer tokens


def tokenizer():
    """A T5 (Unigram) tokenizer over a few words and the letters, built as transformers builds T5's."""
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(f"▁{w}", -1.0) for w in WORDS] + [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    return transformers.T5Tokenizer(vocab=vocab, extra_ids=0)


def text_encoder(vocab_size: int):
    config = transformers.UMT5Config(
        vocab_size=vocab_size,
        d_model=16,
        d_kv=4,
        d_ff=24,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return transformers.UMT5EncoderModel(config).eval()


def scheduler_pair(name: str):
    if name == "unipc":  # Wan2.1's published config
        config = json.loads(WAN21_SCHEDULER.read_text())
        return diffusers.UniPCMultistepScheduler.from_config(config), schedulers.get(config["_class_name"], **config)
    return diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0), schedulers.get("flow_euler", shift=7.0)


def both_pipelines(scheduler_name: str = "unipc"):
    """diffusers' WanPipeline and difflab's TextToVideoPipeline with the same weights, tokenizer and text encoder."""
    torch.manual_seed(0)
    tok = tokenizer()
    encoder = text_encoder(len(tok))
    transformer, vae = diffusers.WanTransformer3DModel(**TRANSFORMER).eval(), diffusers.AutoencoderKLWan(**VAE).eval()
    ours_transformer, ours_vae = WanTransformer3DModel(**TRANSFORMER).eval(), AutoencoderKLWan(**VAE).eval()
    ours_transformer.load_state_dict(transformer.state_dict(), strict=True)
    ours_vae.load_state_dict(vae.state_dict(), strict=True)
    theirs_scheduler, ours_scheduler = scheduler_pair(scheduler_name)
    theirs = diffusers.WanPipeline(
        tokenizer=tok, text_encoder=encoder, transformer=transformer, vae=vae, scheduler=theirs_scheduler
    )
    theirs.set_progress_bar_config(disable=True)
    ours = TextToVideoPipeline(
        tokenizer=tok, text_encoder=encoder, transformer=ours_transformer, vae=ours_vae, scheduler=ours_scheduler
    )
    return ours, theirs


def seed(s=0):
    return torch.Generator().manual_seed(s)


@pytest.fixture(scope="module")
def pipelines():
    return both_pipelines("unipc")


@pytest.mark.parametrize("scheduler_name", ["unipc", "flow_euler"])
@pytest.mark.parametrize("guidance_scale", [1.0, 5.0])
def test_text_to_video_matches_diffusers_frame_for_frame(scheduler_name, guidance_scale):
    ours, theirs = both_pipelines(scheduler_name)
    kwargs = dict(
        prompt=["a red circle moves slowly", "dance  monkey &amp; blue square"],  # cleaned as diffusers cleans
        negative_prompt="negative",
        num_inference_steps=3,
        guidance_scale=guidance_scale,
        output_type="np",
        **SIZE,
    )
    expected = theirs(**kwargs, generator=seed()).frames
    got = ours(**kwargs, generator=seed())
    assert got.shape == expected.shape == (2, 9, 32, 48, 3)
    assert 0 <= got.min() and got.max() <= 1 and got.std() > 0.01  # frames in [0, 1], not a flat grey
    assert np.abs(got - expected).max() <= 1e-4


def test_prompt_embeddings_are_zero_past_each_prompt_as_diffusers(pipelines):
    ours, theirs = pipelines
    prompts = ["a red circle", "the small blue square on the left"]
    with torch.no_grad():  # as inside WanPipeline.__call__
        expected, _ = theirs.encode_prompt(prompts, do_classifier_free_guidance=False, max_sequence_length=512)
    got = ours.encode_prompt(prompts)
    assert got.shape == (2, 512, 16)
    assert torch.equal(got, expected)
    assert (got[0, 4:] == 0).all() and (got[0, :4] != 0).any()  # 3 words + </s>, then exact zeros


def test_a_diffusers_folder_loads_in_difflab_and_a_difflab_folder_in_diffusers(pipelines, tmp_path, monkeypatch):
    # diffusers loads a model with _keep_in_fp32_modules only through accelerate, which is not installed; in float32
    # that list changes nothing, so it is emptied here for diffusers' own from_pretrained to run without accelerate.
    monkeypatch.setattr(diffusers.WanTransformer3DModel, "_keep_in_fp32_modules", None)
    ours, theirs = pipelines
    theirs.save_pretrained(tmp_path / "theirs", safe_serialization=True)
    ours.save_pretrained(tmp_path / "ours")
    from_theirs = TextToVideoPipeline.from_pretrained(tmp_path / "theirs")
    from_ours = diffusers.WanPipeline.from_pretrained(tmp_path / "ours", local_files_only=True)
    from_ours.set_progress_bar_config(disable=True)
    assert type(from_theirs.scheduler) is schedulers.UniPCMultistepScheduler
    assert type(from_theirs.transformer) is WanTransformer3DModel and type(from_theirs.vae) is AutoencoderKLWan
    kwargs = dict(prompt="a blue circle", num_inference_steps=2, guidance_scale=4.0, output_type="np", **SIZE)
    reference = theirs(**kwargs, generator=seed(3)).frames
    assert np.abs(from_theirs(**kwargs, generator=seed(3)) - reference).max() <= 1e-4
    assert np.abs(from_ours(**kwargs, generator=seed(3)).frames - reference).max() <= 1e-4


def test_a_folder_naming_an_image_model_is_refused(pipelines, tmp_path):
    ours, _ = pipelines
    ours.save_pretrained(tmp_path)
    index = tmp_path / "model_index.json"
    index.write_text(index.read_text().replace('"AutoencoderKLWan"', '"AutoencoderKL"'))
    with pytest.raises(difflab.loading.CheckpointError, match="does not load as vae. Valid: from diffusers or difflab"):
        TextToVideoPipeline.from_pretrained(tmp_path)


@contextmanager
def counting_calls(*modules):
    """Yields a list that grows by the module's name at every forward call."""
    calls, hooks = [], []
    for module in modules:
        hooks.append(module.register_forward_pre_hook(lambda m, args: calls.append(type(m).__name__)))
    try:
        yield calls
    finally:
        for hook in hooks:
            hook.remove()


def test_guidance_costs_two_transformer_calls_per_step_and_none_without_it():
    ours, _ = both_pipelines()
    for guidance_scale, expected in [(5.0, 6), (1.0, 3)]:
        with counting_calls(ours.transformer) as calls:
            ours("a red circle", num_inference_steps=3, guidance_scale=guidance_scale, output_type="latent", **SIZE)
        assert len(calls) == expected


def test_output_types_hold_the_same_frames(pipelines):
    ours, _ = pipelines
    kwargs = dict(prompt="a red circle", num_inference_steps=2, guidance_scale=3.0, **SIZE)
    frames = ours(**kwargs, output_type="np", generator=seed(1))
    pt = ours(**kwargs, output_type="pt", generator=seed(1))
    pil = ours(**kwargs, output_type="pil", generator=seed(1))
    latents = ours(**kwargs, output_type="latent", generator=seed(1))
    assert pt.shape == (1, 9, 3, 32, 48) and latents.shape == (1, 16, 3, 4, 6)
    assert np.abs(pt.permute(0, 1, 3, 4, 2).numpy() - frames).max() <= 1e-6
    assert len(pil) == 1 and len(pil[0]) == 9 and all(isinstance(f, Image.Image) for f in pil[0])
    assert pil[0][4].size == (48, 32)
    assert np.abs(np.asarray(pil[0][4]) / 255.0 - frames[0, 4]).max() <= 0.5 / 255 + 1e-6


def test_every_pipeline_stage_is_traced(pipelines):
    ours, _ = pipelines
    with difflab.trace(ours) as tr:
        ours("a red circle", num_inference_steps=2, output_type="pt", generator=seed(), **SIZE)
    names = {s.name for s in tr.stages()}
    assert {"pipeline", "encode_prompt", "prepare_latents", "denoise", "step", "model", "scheduler", "decode"} <= names
    assert {"transformer", "vae", "text_encoder"} <= {r["component"] for r in tr.weight_table}


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(height=70), "height: got 70; valid values are positive multiples of 16"),
        (dict(height=70), "Nearest: 64 or 80"),
        (dict(width=40), "Nearest: 32 or 48"),
        (dict(width=0), "width: got 0"),
        (dict(num_frames=10), "num_frames: got 10; valid values are 4·k + 1"),
        (dict(num_frames=10), "Nearest: 9 or 13"),
        (dict(num_frames=80), "Nearest: 77 or 81"),
        (dict(num_frames=0), "num_frames: got 0"),
        (dict(num_frames=9.0), "num_frames: got 9.0"),
        (dict(num_frames=9.0), "Nearest: 9 or 13"),  # a float is refused, the nearest counts still found from it
        (dict(height=70.0), "Nearest: 64 or 80"),
        (dict(guidance_scale=float("nan")), "guidance_scale: got nan"),
        (dict(guidance_scale=-1.0), "guidance_scale: got -1.0"),
        (dict(num_inference_steps=0), "num_inference_steps: got 0"),
        (dict(output_type="gif"), "output_type: got 'gif'"),
        (dict(negative_prompt=["x", "y"]), "2 negative prompts for 1 prompts"),
        (dict(generator=[seed(), seed()]), "a list of 2 generators for 1 images"),
        (dict(latents=torch.zeros(1, 16, 2, 4, 6)), "(1, 16, 3, 4, 6)"),
    ],
)
def test_bad_arguments_are_refused_before_any_model_runs(pipelines, kwargs, words):
    ours, _ = pipelines
    with counting_calls(ours.text_encoder, ours.transformer, ours.vae) as calls, pytest.raises(ValueError) as error:
        ours("a red circle", **{"num_inference_steps": 2, **SIZE, **kwargs})
    assert words in str(error.value), str(error.value)
    assert calls == []


def test_a_zero_or_negative_flow_shift_is_refused_by_the_scheduler():
    config = json.loads(WAN21_SCHEDULER.read_text())
    with pytest.raises(ValueError, match="flow_shift: got 0.0; valid values are > 0"):
        schedulers.get("unipc", **{**config, "flow_shift": 0.0})


def test_a_prompt_longer_than_max_sequence_length_warns(pipelines):
    ours, _ = pipelines
    with pytest.warns(UserWarning, match="a prompt has 9 tokens and the text encoder reads max_sequence_length = 4"):
        ours("a red circle on the left moves slowly", num_inference_steps=1, max_sequence_length=4,
             output_type="latent", generator=seed(), **SIZE)  # fmt: skip


def test_load_pipeline_picks_the_class_model_index_names():
    assert type(difflab.load_pipeline("shapes-video", device="cpu")).__name__ == "TextToVideoPipeline"
    assert type(difflab.load_pipeline("shapes-sd", device="cpu")).__name__ == "TextToImagePipeline"
    with pytest.raises(ValueError, match="_class_name: got 'FluxPipeline'; difflab loads StableDiffusionPipeline, "):
        pipeline_class("FluxPipeline")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_the_shipped_video_pipeline_runs_in_half_precision_close_to_float32(dtype):
    """The Wan transformer keeps scale_shift_table (its first parameter) in float32: the pipeline must still feed
    it latents in the model's dtype (dtype_of skips _keep_in_fp32_modules, as diffusers' ModelMixin.dtype)."""
    clip = dict(prompt="a red circle moving right", num_inference_steps=3, num_frames=5, height=64, width=64)
    full = difflab.load_pipeline("shapes-video", device="cpu")(
        **clip, output_type="pt", generator=torch.Generator().manual_seed(0)
    )
    half = difflab.load_pipeline("shapes-video", device="cpu", dtype=dtype)
    got = half(**clip, output_type="pt", generator=torch.Generator().manual_seed(0))
    assert got.dtype == dtype and torch.isfinite(got).all()
    assert (got.float() - full).abs().mean() < 0.05
