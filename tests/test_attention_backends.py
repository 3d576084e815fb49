"""Attention backends (models/attention_dispatch.py): the same output, the peak each one is built for."""

import pytest
import torch

import difflab
from difflab.models import ModelMixin
from difflab.models.attention_dispatch import attention, attention_backend, set_attention_backend

TOLERANCE = 1e-5
PIPELINE_TOLERANCE = 1e-4  # two steps and a decode carry the rounding on: measured 1.2e-5 to 2.6e-5
OTHERS = [("naive", {}), ("sliced", {}), ("sliced", {"slice_size": "max"}), ("sliced", {"slice_size": 4}),
          ("chunked", {"chunk_size": 7})]  # fmt: skip
FLOAT = 4  # bytes


def qkv(b=2, heads=6, n=50, m=20, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, heads, length, d, generator=g) for length in (n, m, m))


@pytest.mark.parametrize("bias_shape", [None, (2, 1, 1, 20), (1, 1, 1, 20), (50, 20)])
@pytest.mark.parametrize(("name", "options"), OTHERS)
def test_every_backend_computes_the_same_attention_as_pytorch(name, options, bias_shape):
    q, k, v = qkv()
    bias = None if bias_shape is None else torch.randn(bias_shape, generator=torch.Generator().manual_seed(1))
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    got = attention(q, k, v, bias, attention_backend(name, **options))
    assert got.shape == expected.shape and (got - expected).abs().max() <= TOLERANCE


def peak_bytes(backend, n: int, heads: int = 4, d: int = 32) -> int:
    q, k, v = qkv(b=1, heads=heads, n=n, m=n, d=d)
    with difflab.trace(shapes=False, timings=False) as tr:
        attention(q, k, v, None, backend)
    return tr.memory[0]["peak"]


def test_the_ledger_sees_each_backend_hold_what_its_docstring_says():
    """Self-attention, 1 × 4 heads × N tokens × 32: out is N·128 floats; the scores N² per head, held twice."""
    for n in (256, 512):
        out = n * 4 * 32 * FLOAT
        assert peak_bytes(attention_backend("naive"), n) == 2 * 4 * n * n * FLOAT + out  # scores + probabilities
        assert peak_bytes(attention_backend("chunked", chunk_size=64), n) == 2 * 4 * 64 * n * FLOAT + out
        sliced = peak_bytes(attention_backend("sliced", slice_size="max"), n)  # one head's scores at a time
        assert 2 * n * n * FLOAT + out <= sliced <= 2 * n * n * FLOAT + out + n * 32 * FLOAT + 64
        assert peak_bytes(attention_backend("sdpa"), n) <= out + 4 * n * FLOAT  # out and its log-sum-exp: no scores
    # Doubling the tokens: naive ×4 (quadratic), chunked and sdpa ×2 (linear in N).
    ratio = lambda backend: peak_bytes(backend, 512) / peak_bytes(backend, 256)
    assert 3.8 < ratio(attention_backend("naive")) <= 4.0
    assert ratio(attention_backend("chunked", chunk_size=64)) == 2.0 and ratio(attention_backend("sdpa")) == 2.0


def run(pipe, **kwargs):
    return pipe("a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt",
                **kwargs)  # fmt: skip


CLIP = {"num_frames": 5, "height": 64, "width": 64}


@pytest.mark.parametrize(("model", "size"), [("shapes-sd", {}), ("shapes-video", CLIP)])
def test_a_shipped_pipeline_makes_the_same_output_with_every_backend_in_every_model(model, size):
    pipe = difflab.load_pipeline(model, device="cpu")
    ours = [part for part in pipe.components.values() if isinstance(part, ModelMixin)]  # denoiser and VAE
    expected = run(pipe, **size)
    for name, options in OTHERS:
        changed = [part.set_attention_backend(name, **options) for part in ours]
        assert all(changed), f"{name}: a model without attention modules"
        assert (run(pipe, **size) - expected).abs().max() <= PIPELINE_TOLERANCE, name


def test_attention_slicing_on_a_pipeline_is_exact_and_can_be_switched_off():
    pipe = difflab.load_pipeline("shapes-sd", device="cpu")
    expected = run(pipe)
    for slice_size in ("auto", "max", 3):
        pipe.enable_attention_slicing(slice_size)
        assert {m.backend for m in pipe.unet.modules() if hasattr(m, "backend")} == {
            attention_backend("sliced", slice_size=slice_size)
        }
        assert (run(pipe) - expected).abs().max() <= PIPELINE_TOLERANCE
    pipe.disable_attention_slicing()
    assert {m.backend.name for m in pipe.unet.modules() if hasattr(m, "backend")} == {"sdpa"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("flash",), "backend: got 'flash'; valid backends are 'naive', 'sdpa', 'sliced', 'chunked'"),
        (("sliced", "half"), "slice_size: got 'half'; valid values are a positive int"),
        (("sliced", 0), "slice_size: got 0; it must be a positive int, 'auto' or 'max'"),
        (("sliced", True), "slice_size: got True"),
        (("sliced", 2.5), "slice_size: got 2.5"),
        (("naive", 2), "slice_size: got 2 with backend 'naive'; only 'sliced' takes a slice_size"),
        (("chunked",), "chunk_size: got None; backend 'chunked' needs a positive int"),
        (("chunked", None, -1), "chunk_size: got -1"),
        (("sdpa", None, 64), "chunk_size: got 64 with backend 'sdpa'; only 'chunked' takes a chunk_size"),
    ],
)
def test_bad_backends_are_refused_naming_the_argument_and_the_valid_values(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        attention_backend(*args)


def test_a_refused_backend_changes_nothing_and_a_model_without_attention_says_so():
    pipe = difflab.load_pipeline("shapes-sd", device="cpu")
    with pytest.raises(ValueError, match="slice_size: got 'half'"):
        pipe.enable_attention_slicing("half")
    assert {m.backend.name for m in pipe.unet.modules() if hasattr(m, "backend")} == {"sdpa"}
    with pytest.raises(ValueError, match="model: a Linear has no difflab attention modules"):
        set_attention_backend(torch.nn.Linear(2, 2), "naive")
