"""Loading a model: file → header → recognise → build on meta → convert → load (assign) → cast → move.

Each step is a trace stage, so `difflab.trace` shows where loading spends its time. Loading is all or nothing:
the model is built fresh on the meta device (no memory, no random init), and only a state dict whose keys,
shapes and dtypes fit it (the dtype rule is in checks.py) is assigned; any misfit raises before a single tensor
is placed, so a model passed to load_into is left exactly as it was.
"""

from pathlib import Path

import torch

from ..trace import stage
from .checks import check_device, check_torch_dtype, describe_dtype_problem
from .converters import identity
from .registry import recognise
from .safetensors_file import CheckpointError, read_header, read_state_dict


def describe_mismatch(expected: dict, got: dict) -> str | None:
    """One message listing missing, unexpected and wrongly shaped keys (counts plus the first few), or None."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    wrong_shape = [
        f"{k}: checkpoint {tuple(got[k].shape)}, model {tuple(expected[k].shape)}"
        for k in expected
        if k in got and tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or wrong_shape):
        return None
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", wrong_shape)):
        if items:
            more = f" … and {len(items) - 3} more" if len(items) > 3 else ""
            parts.append(f"{len(items)} {label} ({'; '.join(items[:3])}{more})")
    return (
        "state dict does not fit the model: " + ", ".join(parts) + ". Check that the config matches the checkpoint "
        "(e.g. block_out_channels, layers_per_block), or that a converter renames its keys."
    )


def build_on_meta(model_class, config: dict) -> torch.nn.Module:
    """The model's structure with no storage behind its tensors: instant, even for billions of parameters."""
    with torch.device("meta"):
        return model_class(**config) if not hasattr(model_class, "from_config") else model_class.from_config(config)


def describe_values(state_dict) -> str | None:
    """Every entry must be a name → tensor with values (not a number, an array or a meta tensor)."""
    if not isinstance(state_dict, dict):
        return f"state dict: got a {type(state_dict).__name__}; pass a dict of name → torch.Tensor."
    for name, value in state_dict.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor) or value.is_meta:
            what = "a meta tensor (no values)" if isinstance(value, torch.Tensor) else type(value).__name__
            return f"state dict: entry {name!r} is {what}; every entry must be name (str) → torch.Tensor with values."
    return None


def dtypes(state_dict: dict) -> dict:
    return {name: tensor.dtype for name, tensor in state_dict.items()}


def describe_still_meta(model: torch.nn.Module, state_dict: dict) -> str | None:
    """A tensor the state dict does not fill (a non-persistent buffer) would stay on meta: refuse to run on nothing."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    still_meta = [name for name, t in tensors if t.is_meta and name not in state_dict]
    if still_meta:
        return f"after loading, {len(still_meta)} tensors would have no values (e.g. {still_meta[0]})."
    return None


def load_into(model: torch.nn.Module, state_dict: dict, dtype=None, device=None) -> torch.nn.Module:
    """Assign `state_dict` to a (meta) model after checking every key, shape and dtype; then cast and move.

    dtype rule (checks.py): float tensors only for float parameters; without `dtype` the checkpoint's floats share
    one dtype and the model takes it; with `dtype` every float tensor is cast to it, mixed or not, except those
    the model keeps in float32 (kept_in_fp32).
    """
    check_torch_dtype(dtype, "dtype")
    device = check_device(device)
    expected = model.state_dict()
    problem = (
        describe_values(state_dict)
        or describe_mismatch(expected, state_dict)
        or describe_dtype_problem(dtypes(expected), dtypes(state_dict), dtype)
        or describe_still_meta(model, state_dict)
    )
    if problem:
        raise CheckpointError(problem)
    with stage("load"):
        model.load_state_dict(state_dict, strict=True, assign=True)
    if dtype is not None:
        with stage("cast", dtype=str(dtype).replace("torch.", "")):
            cast(model, dtype)
    if device is not None:
        with stage("move", device=str(device)):
            model = model.to(device)
    return model.eval()


def kept_in_fp32(model: torch.nn.Module, name: str) -> bool:
    """Whether parameter `name` stays float32 under any dtype: one of its dotted parts is listed in the model's
    _keep_in_fp32_modules (diffusers' rule: for Wan, "norm2" keeps blocks.0.norm2.weight, "rope" the RoPE)."""
    keep = getattr(model, "_keep_in_fp32_modules", None) or ()
    return any(part in keep for part in name.split("."))


def cast(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Every float parameter and buffer to `dtype`, except those kept in float32, as diffusers' from_pretrained."""
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point():
            tensor.data = tensor.data.to(torch.float32 if kept_in_fp32(model, name) else dtype)
    return model


def load_model(model_class, config: dict, checkpoint, dtype=None, device=None, converter=None) -> torch.nn.Module:
    """Build `model_class(**config)` on meta and fill it from a .safetensors file."""
    checkpoint = Path(checkpoint)
    with stage("load_model", model=model_class.__name__):
        with stage("read_header"):
            header = read_header(checkpoint)
        with stage("recognise"):
            known = recognise(header)
            converter = converter or (known.converter if known else identity)
        with stage("build_on_meta"):
            model = build_on_meta(model_class, config)
        with stage("read_tensors"):
            state_dict = read_state_dict(checkpoint)
        with stage("convert"):
            state_dict = converter(state_dict)
        return load_into(model, state_dict, dtype, device)


def safe_join(folder, relative: str) -> Path:
    """folder/relative, refusing any path that resolves outside `folder` (a component path like '../../x')."""
    root = Path(folder).resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise CheckpointError(
            f"component path: got {relative!r}, which resolves to {target}, outside the model folder {root}. "
            "Component folders must live inside the pipeline folder."
        )
    return target
