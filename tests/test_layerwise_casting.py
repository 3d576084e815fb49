"""Layerwise casting (offload/casting.py) against diffusers' enable_layerwise_casting on the shipped denoisers."""

import diffusers
import pytest
import torch

import difflab

DENOISERS = {  # shipped pipeline, component, diffusers class, one input
    "transformer": ("shapes-video", diffusers.WanTransformer3DModel, ((1, 16, 5, 8, 8), (1, 512, 64))),
    "unet": ("shapes-sd", diffusers.UNet2DConditionModel, ((2, 4, 8, 8), (2, 77, 64))),
}


def twins(name):
    pipeline, diffusers_class, _ = DENOISERS[name]
    ours = getattr(difflab.load_pipeline(pipeline, device="cpu"), name)
    theirs = diffusers_class.from_config(dict(ours.config)).eval()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def forward(model, name):
    latents_shape, text_shape = DENOISERS[name][2]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        out = model(torch.randn(latents_shape, generator=g), torch.tensor([500]), torch.randn(text_shape, generator=g))
    return out.sample if hasattr(out, "sample") else out[0]


@pytest.mark.parametrize("name", ["transformer", "unet"])
@pytest.mark.parametrize("storage_dtype", [torch.float8_e4m3fn, torch.bfloat16])
def test_the_same_layers_are_cast_as_in_diffusers_and_the_outputs_are_equal(name, storage_dtype):
    ours, theirs = twins(name)
    full = forward(ours, name)
    cast = ours.enable_layerwise_casting(storage_dtype)
    theirs.enable_layerwise_casting(storage_dtype)
    assert {k: v.dtype for k, v in ours.state_dict().items()} == {k: v.dtype for k, v in theirs.state_dict().items()}
    assert all("norm" not in layer for layer in cast)  # both models skip their norms
    got = forward(ours, name)
    assert torch.equal(got, forward(theirs, name)) and got.dtype == torch.float32
    error = ((got - full).norm() / full.norm()).item()  # relative L2; measured 1.5% / 1.8% (float8) and 0.1% (bfloat16)
    assert 0 < error < (0.05 if storage_dtype == torch.float8_e4m3fn else 0.01)


def test_float8_storage_keeps_about_a_third_of_the_transformer_and_is_refused_twice():
    ours, _ = twins("transformer")
    before = sum(p.nbytes for p in ours.parameters())
    cast = ours.enable_layerwise_casting(torch.float8_e4m3fn)
    after = sum(p.nbytes for p in ours.parameters())
    assert len(cast) == 40 and after / before < 0.4  # 8.68 MB → 3.35 MB: embeddings and norms stay in float32
    with pytest.raises(ValueError, match="layerwise casting is already on; it is one-way"):
        ours.enable_layerwise_casting(torch.bfloat16)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(storage_dtype=torch.int8), "storage_dtype: got torch.int8; valid values are torch.float8_e4m3fn"),
        (dict(compute_dtype=torch.float8_e4m3fn), "compute_dtype: got torch.float8_e4m3fn; valid values are"),
    ],
)
def test_bad_dtypes_are_refused_before_any_layer_is_cast(kwargs, message):
    ours, _ = twins("transformer")
    with pytest.raises(ValueError, match=message):
        ours.enable_layerwise_casting(**kwargs)
    assert {p.dtype for p in ours.parameters()} == {torch.float32}


@pytest.mark.parametrize(("pipeline", "denoiser"), [("shapes-sd", "unet"), ("shapes-video", "transformer")])
def test_a_pipeline_runs_with_its_denoiser_stored_in_float8_and_its_output_moves_a_little(pipeline, denoiser):
    """The pipeline casts the denoiser's inputs to dtype_of(denoiser): the compute dtype, not the stored float8."""
    pipe = difflab.load_pipeline(pipeline, device="cpu")
    size = dict(num_frames=5, height=64, width=64) if pipeline == "shapes-video" else {}
    run = lambda: pipe("a red circle", num_inference_steps=3, generator=torch.Generator().manual_seed(0),
                       output_type="pt", **size)  # fmt: skip
    expected = run()
    getattr(pipe, denoiser).enable_layerwise_casting(torch.float8_e4m3fn)
    got = run()
    assert got.dtype == torch.float32 and 0 < (got - expected).abs().mean() < 0.05  # measured 0.017 (shapes-sd)


def test_one_pattern_given_as_a_string_is_one_pattern_and_a_bad_one_is_refused():
    ours, theirs = twins("transformer")
    cast = ours.enable_layerwise_casting(torch.bfloat16, skip_modules_pattern="ffn")  # not 'f', 'f', 'n'
    theirs.enable_layerwise_casting(torch.bfloat16, skip_modules_pattern=("ffn",))
    assert cast and all("ffn" not in layer for layer in cast)
    assert {k: v.dtype for k, v in ours.state_dict().items()} == {k: v.dtype for k, v in theirs.state_dict().items()}
    other, _ = twins("transformer")
    with pytest.raises(ValueError, match="skip_modules_pattern: got"):
        other.enable_layerwise_casting(torch.bfloat16, skip_modules_pattern=(3,))
