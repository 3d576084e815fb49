"""What is checked before a single tensor is placed: the caller's dtype and device, and the dtype rule.

The dtype rule, applied by every load path (load_into, so load_model, Model.from_pretrained and
Pipeline.from_pretrained; and the text encoder's safetensors header):

1. A floating-point parameter or buffer takes only a floating-point tensor: an integer or bool tensor would be
   converted silently or fail at the first call, so it is refused. An integer or bool buffer takes only its own dtype.
2. Without a dtype argument, all floating-point tensors of a checkpoint share one dtype, one that layers compute in
   (float32, float16, bfloat16, float64), and the model takes that dtype. A checkpoint that mixes float dtypes (one
   float16 tensor among float32 ones) is refused: a mix is more often an accident than a choice. So is float8, a
   storage format no layer computes in.
3. With a dtype argument (torch_dtype=…), every floating-point tensor is cast to it after loading: mixed and float8
   checkpoints load, because the cast is now deliberate.
"""

from collections import Counter

import torch

COMPUTE_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def check_torch_dtype(dtype, argument: str = "torch_dtype"):
    """None (keep the checkpoint's dtype) or one of COMPUTE_DTYPES; checked before anything is read."""
    if dtype is not None and dtype not in COMPUTE_DTYPES:
        raise ValueError(
            f"{argument}: got {dtype!r}; valid values are None (keep the checkpoint's dtype) or "
            f"{', '.join(map(str, COMPUTE_DTYPES))}. Fix: pass a torch.dtype such as torch.float16, not a string."
        )


def check_device(device, argument: str = "device") -> torch.device | None:
    """The device to move to, checked before loading: a bad one would otherwise fail after the weights are placed."""
    if device is None:
        return None
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(
            f"{argument}: got {device!r}, which is not a device ({e}). Fix: pass 'cpu', 'cuda', 'cuda:1', 'mps' or "
            "a torch.device."
        ) from e
    problem = None
    if device.type == "meta":
        problem = "a meta tensor holds no values, so the loaded weights would be thrown away"
    elif device.type == "cuda" and not torch.cuda.is_available():
        problem = "this machine has no CUDA device"
    elif device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        problem = f"this machine has {torch.cuda.device_count()} CUDA devices (numbered from 0)"
    elif device.type == "mps" and not torch.backends.mps.is_available():
        problem = "this machine has no MPS device"
    if problem:
        raise ValueError(
            f"{argument}: got {str(device)!r}, but {problem}. Fix: pass 'cpu', or None to stay on the CPU."
        )
    return device


def same_kind(model_dtype: torch.dtype, file_dtype: torch.dtype) -> bool:
    """Rule 1: floating point for floating point; otherwise exactly the same dtype."""
    return file_dtype.is_floating_point if model_dtype.is_floating_point else file_dtype == model_dtype


HOW_TO_CAST = "torch_dtype= to a model's from_pretrained; dtype= to load_into, load_model, Pipeline.from_pretrained"


def describe_dtype_problem(expected: dict, got: dict, dtype=None) -> str | None:
    """The dtype rule (module docstring) on name → torch.dtype maps of model and checkpoint; None if it holds."""
    wrong_kind = [
        f"{name}: checkpoint {got[name]}, model {model_dtype}"
        for name, model_dtype in expected.items()
        if name in got and not same_kind(model_dtype, got[name])
    ]
    if wrong_kind:
        more = f" … and {len(wrong_kind) - 3} more" if len(wrong_kind) > 3 else ""
        return (
            f"{len(wrong_kind)} {'tensors have' if len(wrong_kind) > 1 else 'tensor has'} a dtype that cannot hold the "
            f"model's values ({'; '.join(wrong_kind[:3])}"
            f"{more}). A floating-point weight must be stored as floating point, an integer buffer in its own dtype. "
            "Fix: re-save the checkpoint with those tensors in the model's dtype; nothing was loaded."
        )
    floats = Counter(d for d in got.values() if d.is_floating_point)
    if dtype is not None or not floats:
        return None
    if len(floats) > 1:
        usual = floats.most_common(1)[0][0]
        odd = [f"{name} ({d})" for name, d in got.items() if d.is_floating_point and d != usual]
        counts = ", ".join(f"{n} {d}" for d, n in floats.most_common())
        return (
            f"the checkpoint mixes floating-point dtypes ({counts}; e.g. {', '.join(odd[:3])}), and unless asked to "
            f"cast, difflab keeps the one dtype a checkpoint was saved in. Fix: ask for {usual} (or another float "
            f"dtype; {HOW_TO_CAST}) to cast every tensor deliberately, or re-save the checkpoint in one dtype; "
            "nothing was loaded."
        )
    (only,) = floats
    if only not in COMPUTE_DTYPES:
        return (
            f"the checkpoint stores its weights as {only}, a storage format no layer computes in. Fix: ask for "
            f"torch.bfloat16, torch.float16 or torch.float32 ({HOW_TO_CAST}) to cast them while loading; nothing "
            "was loaded."
        )
    return None
