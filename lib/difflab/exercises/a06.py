"""Checks for lab a06 (pipeline components): the learner's functions on a real (tiny) text-to-image pipeline."""

import tempfile

import torch
import transformers

from .. import models, schedulers
from ..pipelines import TextToImagePipeline
from ..text.tokenizer import build_clip_tokenizer
from ..trace.ledger import module_weights
from .core import Lab, Wrong
from .expect import describe

# The checks send a pipeline with a CLIP text encoder and tokenizer: the learner's process needs their classes.
CLIP = ("transformers.models.clip.modeling_clip", "transformers.models.clip.tokenization_clip")
lab = Lab("a06", "Diffusers pipeline components", preload=CLIP)

# diffusers' own tiny Stable Diffusion test components (as in tests/test_pipelines.py)
UNET = dict(
    block_out_channels=(4, 8),
    layers_per_block=1,
    sample_size=8,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=32,
    norm_num_groups=2,
)
VAE = dict(
    block_out_channels=[4, 8],
    down_block_types=["DownEncoderBlock2D"] * 2,
    up_block_types=["UpDecoderBlock2D"] * 2,
    norm_num_groups=2,
)
DDIM = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    steps_offset=1,
    clip_sample=False,
    set_alpha_to_one=False,
    timestep_spacing="trailing",
    prediction_type="v_prediction",
)


def tiny_pipeline() -> TextToImagePipeline:
    """A TextToImagePipeline with random tiny components; the UNet is stored in bfloat16, the rest in float32.

    The text encoder saves its int64 `position_ids` buffer with its weights, as the CLIP text encoders of the
    original SD 1.x checkpoints do (diffusers' convert_from_ckpt.py still handles that key): a buffer that is in
    model.state_dict() but is not a parameter."""
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = build_clip_tokenizer(folder)
    config = transformers.CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    text_encoder = transformers.CLIPTextModel(config).eval()
    embeddings = text_encoder.embeddings
    embeddings.register_buffer("position_ids", embeddings.position_ids, persistent=True)  # (1, 77) int64, saved
    return TextToImagePipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        unet=models.UNet2DConditionModel(**UNET).to(torch.bfloat16).eval(),
        scheduler=schedulers.get("ddim", **DDIM),
        vae=models.AutoencoderKL(**VAE).eval(),
    )


def expected_summary(pipeline) -> list[dict]:
    bytes_of = {}
    modules = {name: part for name, part in pipeline.components.items() if isinstance(part, torch.nn.Module)}
    for row in module_weights(modules):  # the trace's weight table: parameters and buffers
        bytes_of[row["component"]] = bytes_of.get(row["component"], 0) + row["bytes"]
    rows = []
    for name, part in pipeline.components.items():
        row = {"name": name, "class": type(part).__name__, "parameters": 0, "bytes": 0, "dtype": None}
        if isinstance(part, torch.nn.Module):
            row.update(
                parameters=sum(p.numel() for p in part.parameters()),
                bytes=bytes_of[name],
                dtype=next(part.parameters()).dtype,
            )
        rows.append(row)
    return rows


def explain_count(part, field: str, got) -> str:
    """A pointer to the usual slip behind a wrong parameter or byte count, or ''."""
    if not isinstance(part, torch.nn.Module):
        return " A tokenizer or scheduler holds no tensors: 0."
    parameters, buffers = list(part.parameters()), list(part.buffers())
    n_params, n_buffers = sum(p.numel() for p in parameters), sum(b.numel() for b in buffers)
    if field == "parameters" and got in (n_params + n_buffers, sum(t.numel() for t in part.state_dict().values())):
        names = ", ".join(name for name, _ in part.named_buffers())
        return f" That count includes the buffers ({names}), which state_dict() lists too; parameters() only."
    if field == "bytes" and got == sum(p.numel() * p.element_size() for p in parameters):
        return f" That leaves out the buffers ({', '.join(n for n, _ in part.named_buffers())})."
    if field == "bytes" and got in (4 * n_params, 4 * (n_params + n_buffers)):
        dtypes = sorted({str(t.dtype).replace("torch.", "") for t in [*parameters, *buffers]})
        return f" That is 4 bytes per element, but this component holds {', '.join(dtypes)}: use element_size()."
    return ""


def expect_pipeline_unchanged(before: list[dict], pipeline, call: str):
    """The components summarised in `before` (rows of expected_summary) must be as they were after `call`."""
    after = {row["name"]: row for row in expected_summary(pipeline)}
    for row in before:
        now = after[row["name"]]
        changed = [f"{field} {row[field]!r} → {now[field]!r}" for field in row if now[field] != row[field]]
        if changed:
            raise Wrong(
                f"{call} changed the pipeline's {row['name']} ({', '.join(changed)}); it should leave the "
                "components it does not replace as they were (module.float() and module.to() work in place)."
            )


@lab.task(
    "component_summary",
    hint="loop over pipeline.components; for an nn.Module, parameters = Σ p.numel(), bytes = Σ numel × "
    "element_size() over parameters() and buffers(), dtype = a parameter's dtype; otherwise 0, 0, None.",
)
def check_component_summary(m):
    pipeline = tiny_pipeline()
    expected = expected_summary(pipeline)
    got = m.component_summary(pipeline)
    expect_pipeline_unchanged(expected, pipeline, "component_summary(pipeline)")
    if not isinstance(got, list):
        raise Wrong(f"component_summary should return a list of dicts, got {describe(got)}.")
    if len(got) != len(expected):
        raise Wrong(f"component_summary: expected {len(expected)} rows (one per component), got {len(got)}.")
    if not all(isinstance(row, dict) for row in got):
        row = next(row for row in got if not isinstance(row, dict))
        raise Wrong(f"component_summary: each row should be a dict, got {describe(row)}.")
    names, got_names = [want["name"] for want in expected], [row.get("name") for row in got]
    if sorted(map(str, got_names)) == sorted(names) and got_names != names:
        raise Wrong(
            f"component_summary: the rows come in the order {got_names}; follow pipeline.components, {names}: "
            "the order the pipeline runs them in."
        )
    for row, want in zip(got, expected):
        for field, value in want.items():
            if field not in row:
                raise Wrong(f"component_summary: the row for {want['name']} has no {field!r} key.")
            if row[field] != value:
                part = pipeline.components[want["name"]]
                why = explain_count(part, field, row[field]) if field in ("parameters", "bytes") else ""
                if field == "dtype" and isinstance(part, torch.nn.Module):
                    buffer = next((n for n, b in part.named_buffers() if b.dtype == row[field]), None)
                    if buffer is not None:
                        why = f" That is the dtype of the buffer {buffer}; the parameters hold {value}."
                raise Wrong(
                    f"component_summary: {field} of {want['name']}: expected {value!r}, got {row[field]!r}.{why}"
                )


@lab.task(
    "swap_scheduler",
    hint="schedulers.get(name, **pipeline.scheduler.config) builds the new one from the old config (unknown fields "
    "go to ignored_config); assign it to pipeline.scheduler and return it.",
)
def check_swap_scheduler(m):
    pipeline = tiny_pipeline()
    models_before = [row for row in expected_summary(pipeline) if row["name"] != "scheduler"]  # they stay
    for name in ("euler", "dpm++", "DDIMScheduler", "euler_a"):
        old = pipeline.scheduler
        expected = schedulers.get(name, **old.config)
        got = m.swap_scheduler(pipeline, name)
        what = f"swap_scheduler(pipeline, {name!r}) from {type(old).__name__}"
        if type(got) is not type(expected):
            raise Wrong(f"{what}: expected {type(expected).__name__}, got {describe(got)}.")
        if pipeline.scheduler is not got:
            raise Wrong(
                f"{what}: pipeline.scheduler is still the old {type(old).__name__}; assign the new one to the "
                "attribute (pipeline.components builds a new dict each time it is read: changing that dict changes "
                "nothing)."
            )
        expect_pipeline_unchanged(models_before, pipeline, what)
        for field in [key for key in old.config if key in got.config]:  # the shared fields, in the old order
            if got.config[field] != old.config[field]:
                raise Wrong(
                    f"{what}: {field} was {old.config[field]!r} and is now {got.config[field]!r}; build the new "
                    "scheduler from the old one's config, not from defaults."
                )
        stale = sorted(set(got.ignored_config) - set(old.config))
        if stale:
            raise Wrong(
                f"{what}: ignored_config holds {stale}, which the old {type(old).__name__} did not have: they were "
                "set aside by an earlier swap. Pass the old scheduler's config only, not its ignored_config."
            )
        if dict(got.config) != dict(expected.config) or got.ignored_config != expected.ignored_config:
            raise Wrong(
                f"{what}: expected config {dict(expected.config)} with ignored_config {expected.ignored_config}, "
                f"got {dict(got.config)} with {got.ignored_config}; pass the whole old config to from_config."
            )
