"""Checks for lab b02 (model loading path): the learner's functions against difflab.loading on a real VAE."""

import hashlib
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors.torch import save_file

from .. import loading
from ..models import AutoencoderKL
from .core import Lab, Wrong
from .expect import describe, expect_dict_unchanged, snapshot

lab = Lab("b02", "Model loading path")

VAE = dict(
    block_out_channels=[8, 16],
    down_block_types=["DownEncoderBlock2D"] * 2,
    up_block_types=["UpDecoderBlock2D"] * 2,
    norm_num_groups=4,
)
MODERN = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
# Keys outside any attention block whose parts happen to be called key / value / query: a converter leaves them.
NOT_ATTENTION = {
    "lookup.key.weight": torch.zeros(3, 2),
    "heads.value.bias": torch.zeros(5),
    "retrieval.query.weight": torch.zeros(2, 2),
}


def vae_state_dict(seed: int = 0, **config) -> dict:
    torch.manual_seed(seed)
    return AutoencoderKL(**(VAE | config)).state_dict()


def legacy(state_dict: dict) -> dict:
    """The state dict as diffusers < 0.14 saved it: attention projections named query/key/value/proj_attn."""
    renamed = {}
    for key, tensor in state_dict.items():
        if ".attentions." in key:
            for new, old in MODERN.items():
                key = key.replace(f".{new}.", f".{old}.")
        renamed[key] = tensor
    return renamed


def header_of(state_dict: dict) -> dict:
    """The safetensors header of `state_dict`, written to a temporary file and read back."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
        return loading.read_header(path)


def unsorted_hash(shapes: dict) -> str:
    lines = [f"{k}:{','.join(map(str, v['shape'] if isinstance(v, dict) else v.shape))}" for k, v in shapes.items()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@lab.task(
    "hash_state_dict_keys",
    hint="sorted keys; one 'name:d0,d1,…' line each (shape from tensor.shape, or entry['shape'] for a header "
    "entry); '\\n'.join, .encode(), hashlib.sha256(…).hexdigest().",
)
def check_hash_state_dict_keys(m):
    state_dict = vae_state_dict()
    reversed_dict = dict(reversed(list(state_dict.items())))
    cases = {
        "a VAE state dict": state_dict,
        "the same VAE's safetensors header": header_of(state_dict),
        "the VAE state dict with its keys in reverse order": reversed_dict,
        "a state dict with a 0-d tensor": {"scale": torch.tensor(0.18215), "conv.weight": torch.zeros(4, 3, 1, 1)},
        "an empty state dict": {},
    }
    for what, shapes in cases.items():
        before = snapshot(shapes)
        try:
            got = m.hash_state_dict_keys(shapes)
        except (AttributeError, KeyError, TypeError) as e:
            if "header" not in what:
                raise
            raise Wrong(
                f"hash_state_dict_keys({what}) raised {type(e).__name__}: {e}. A header entry is a dict such as "
                "{'dtype': 'F32', 'shape': [32, 3, 3, 3], 'data_offsets': [0, 3456]}: its shape is entry['shape']."
            ) from None
        expect_dict_unchanged(before, shapes, "shapes", f"hash_state_dict_keys({what})")
        expected = loading.hash_state_dict_keys(shapes)
        if not isinstance(got, str):
            raise Wrong(f"hash_state_dict_keys({what}) should return a hex string, got {describe(got)}.")
        if got == expected:
            continue
        why = ""
        if got == loading.hash_state_dict_keys(shapes, with_shapes=False):
            why = " That is the hash of the names alone: two models with the same names and other sizes would collide."
        elif got == unsorted_hash(shapes):
            why = " That hash depends on the order of the keys; sort them first."
        raise Wrong(f"hash_state_dict_keys({what}): expected {expected[:16]}…, got {got[:16]}….{why}")
    wider = vae_state_dict(block_out_channels=[8, 32])
    if m.hash_state_dict_keys(wider) == m.hash_state_dict_keys(state_dict):
        raise Wrong("hash_state_dict_keys: two VAEs with the same key names but different widths got the same hash.")


@lab.task(
    "convert_legacy_keys",
    hint="key.split('.'); only when 'attentions' is one of the parts and the part before weight/bias is query, "
    "key, value or proj_attn, replace that part; join with '.'.",
)
def check_convert_legacy_keys(m):
    modern = vae_state_dict()
    old = legacy(modern) | NOT_ATTENTION
    before = snapshot(old)
    got = m.convert_legacy_keys(old)
    expect_dict_unchanged(before, old, "state_dict", "convert_legacy_keys(state_dict)")
    expected = loading.convert_legacy_vae_attention(old)
    if not isinstance(got, dict):
        raise Wrong(f"convert_legacy_keys should return a dict, got {describe(got)}.")
    for key in NOT_ATTENTION:
        tensor = old[key]  # the tensor as it came back from the learner's process, shared with `got`
        if key not in got:
            renamed = next((k for k, v in got.items() if v is tensor), None)
            raise Wrong(
                f"convert_legacy_keys renamed {key!r} to {renamed!r}, but it is not in an attention block; "
                "rename only keys with an 'attentions' part."
            )
    for key in expected:
        if key not in got:
            source = next(k for k, v in old.items() if v is expected[key])
            raise Wrong(f"convert_legacy_keys: {source!r} should become {key!r}, which is not in your result.")
    if set(got) != set(expected):
        raise Wrong(f"convert_legacy_keys: unexpected keys in the result: {sorted(set(got) - set(expected))[:3]}.")
    for key, tensor in expected.items():
        if got[key] is not tensor and not torch.equal(got[key], tensor):
            raise Wrong(f"convert_legacy_keys: the tensor under {key!r} changed; a converter only renames.")
        if got[key].data_ptr() != tensor.data_ptr():
            raise Wrong(
                f"convert_legacy_keys: the tensor under {key!r} is a copy of the one in state_dict; a converter only "
                "renames: put the same tensor under the new name (a copy of a 14B checkpoint needs its memory twice)."
            )
    empty = m.convert_legacy_keys({})
    if empty != {}:
        raise Wrong(f"convert_legacy_keys({{}}) should give an empty dict, got {describe(empty)}.")


def quietly(function, *args):
    """Call without warnings: a load without assign=True warns once per meta tensor, the check reports it once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args)


def load_error(m, model, state_dict, what: str) -> str:
    """Call the learner's load_into on a state dict that does not fit; it must raise ValueError. The message."""
    try:
        quietly(m.load_into, model, state_dict)
    except ValueError as e:
        return str(e)
    except Exception as e:
        raise Wrong(
            f"load_into with {what} raised {type(e).__name__} ({str(e)[:240]}); check the keys yourself first and "
            "raise one ValueError that names them."
        ) from None
    raise Wrong(
        f"load_into accepted {what} without an error. A strict=False load skips that check and leaves the model "
        "with tensors the file never set."
    )


def with_batch_norm() -> torch.nn.Module:
    """A conv and a BatchNorm: its running_mean, running_var and num_batches_tracked are persistent buffers, part of
    the state dict without being parameters."""
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def expect_loads(m, model, state_dict: dict, what: str) -> torch.nn.Module:
    """load_into(model, state_dict) for a state dict that fits: every entry assigned, none copied, none left on meta."""
    before = snapshot(state_dict)
    buffers = [name for name, _ in model.named_buffers()]
    try:
        got = quietly(m.load_into, model, state_dict)
    except ValueError as e:
        why = f": it holds the model's buffers ({', '.join(buffers)}) as well as its parameters" if buffers else ""
        raise Wrong(
            f"load_into refused {what}, which fits the model: {str(e)[:200]!r}. Compare with model.state_dict(){why}."
        ) from None
    expect_dict_unchanged(before, state_dict, "state_dict", f"load_into with {what}")
    if not isinstance(got, torch.nn.Module):
        raise Wrong(f"load_into should return the model, got {describe(got)}.")
    for key, tensor in got.state_dict().items():
        if tensor.is_meta:
            raise Wrong(
                f"load_into left {key!r} on the meta device; load_state_dict copies into a meta tensor as a no-op. "
                "Use assign=True."
            )
        if not torch.equal(tensor, state_dict[key]):
            raise Wrong(f"load_into: {key!r} does not hold the state dict's values.")
        if tensor.data_ptr() != state_dict[key].data_ptr():
            raise Wrong(f"load_into: {key!r} is a copy of the file's tensor; assign=True uses the tensor itself.")
    return got


class GuardedVAE(AutoencoderKL):
    """The checks' VAE for state dicts that do not fit: its load_state_dict refuses to start on one.

    When load_into raises, what it did to the model stays in the learner's process (only a returning call sends
    its arguments back), so "nothing placed before the error" is checked where a load happens: here."""

    def load_state_dict(self, state_dict, *args, **kwargs):
        expected = self.state_dict()
        misfits = sorted(set(expected) ^ set(state_dict))
        misfits += sorted(k for k in expected if k in state_dict and state_dict[k].shape != expected[k].shape)
        if misfits:
            raise RuntimeError(
                f"load_state_dict ran with a state dict that does not fit ({', '.join(misfits[:3])}): it places "
                "every tensor that fits before it reports the rest, with strict=False and strict=True alike"
            )
        return super().load_state_dict(state_dict, *args, **kwargs)


@lab.task(
    "load_into",
    hint="compare state_dict with model.state_dict(): missing, unexpected and shape-mismatched keys; raise one "
    "ValueError naming all of them before loading anything, else model.load_state_dict(state_dict, assign=True).",
)
def check_load_into(m):
    state_dict = vae_state_dict(seed=1)
    expect_loads(m, loading.build_on_meta(AutoencoderKL, VAE), state_dict, "the VAE's own state dict")
    torch.manual_seed(3)
    trained = with_batch_norm()
    trained[1].running_mean += 0.5  # buffers with values of their own, as after training
    trained[1].num_batches_tracked += 100
    with torch.device("meta"):
        model = with_batch_norm()
    expect_loads(m, model, trained.state_dict(), "the state dict of a model with BatchNorm buffers")

    missing = "decoder.conv_out.bias"
    unexpected = "decoder.extra_conv.weight"
    mismatched = "encoder.conv_in.weight"
    cases = [
        ({k: v for k, v in state_dict.items() if k != missing}, f"the key {missing!r} missing", [missing]),
        (state_dict | {unexpected: torch.zeros(3)}, f"an unexpected key {unexpected!r}", [unexpected]),
    ]
    for broken, what, names in cases:
        message = load_error(m, loading.build_on_meta(GuardedVAE, VAE), broken, what)
        if not all(name in message for name in names):
            raise Wrong(f"load_into with {what}: the ValueError should name it; it says {message[:200]!r}.")

    torch.manual_seed(2)
    model = GuardedVAE(**VAE)  # a real (not meta) model this time
    broken = {k: v for k, v in state_dict.items() if k != missing} | {unexpected: torch.zeros(3)}
    broken[mismatched] = torch.zeros(8, 3, 5, 5)
    what = "a missing, an unexpected and a shape-mismatched key at once"
    message = load_error(m, model, broken, what)
    absent = [name for name in (missing, unexpected, mismatched) if name not in message]
    if absent:
        raise Wrong(f"load_into with {what}: one ValueError should name all three; it leaves out {absent}.")
