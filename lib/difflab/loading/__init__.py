"""The loading path: safetensors files, model recognition, converters, and all-or-nothing loading."""

from .checks import COMPUTE_DTYPES, check_device, check_torch_dtype, describe_dtype_problem
from .converters import convert_legacy_vae_attention, identity
from .load import build_on_meta, describe_mismatch, load_into, load_model, safe_join
from .registry import REGISTRY, KnownModel, hash_state_dict_keys, recognise, register
from .safetensors_file import CheckpointError, read_header, read_state_dict, refuse_pickle

__all__ = [
    "COMPUTE_DTYPES",
    "CheckpointError",
    "KnownModel",
    "REGISTRY",
    "build_on_meta",
    "check_device",
    "check_torch_dtype",
    "convert_legacy_vae_attention",
    "describe_dtype_problem",
    "describe_mismatch",
    "hash_state_dict_keys",
    "identity",
    "load_into",
    "load_model",
    "read_header",
    "read_state_dict",
    "recognise",
    "refuse_pickle",
    "register",
    "safe_join",
]
