"""One component folder in diffusers' layout: config.json + weights, written and read back.

unet/config.json                              {"_class_name": "UNet2DConditionModel", "block_out_channels": …}
unet/diffusion_pytorch_model.safetensors      the weights (diffusers' file name)
text_encoder/config.json + model.safetensors  a transformers model (transformers' file name)
scheduler/scheduler_config.json               a scheduler: config only
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from .checks import check_device, check_torch_dtype, describe_dtype_problem
from .load import dtypes, load_model
from .safetensors_file import DTYPES, PICKLE_SUFFIXES, CheckpointError, read_header, refuse_pickle

DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
CONFIG = "config.json"
WRITTEN_BY = "0.42.1"  # the diffusers version whose folder format these files follow


def read_config(folder: Path, name: str = CONFIG) -> dict:
    """The JSON object in folder/name; anything else (a list, bad UTF-8, bad JSON) is a CheckpointError."""
    path = Path(folder) / name
    if not path.is_file():
        raise CheckpointError(f"config: {path} does not exist; a component folder needs its {name}.")
    try:
        config = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"config: {path} is not valid JSON ({e}).") from e
    if not isinstance(config, dict):
        raise CheckpointError(
            f"config: {path} holds a JSON {type(config).__name__}; it must be an object of field → value, "
            'such as {"_class_name": "AutoencoderKL", "latent_channels": 4, …}.'
        )
    return config


def write_config(folder: Path, config: dict, class_name: str, name: str = CONFIG):
    Path(folder).mkdir(parents=True, exist_ok=True)
    payload = {"_class_name": class_name, "_diffusers_version": WRITTEN_BY, **dict(config)}
    (Path(folder) / name).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def weights_file(folder: Path, name: str = DIFFUSERS_WEIGHTS) -> Path:
    """The component's .safetensors file; a folder that only has pickle weights is refused with the fix."""
    path = Path(folder) / name
    if path.is_file():
        return path
    for pickle in sorted(p for p in Path(folder).glob("*") if p.suffix in PICKLE_SUFFIXES):
        refuse_pickle(pickle)
    raise CheckpointError(f"weights: {path} does not exist.")


def save_model(model: torch.nn.Module, folder):
    """config.json and diffusion_pytorch_model.safetensors for a difflab model."""
    empty = [name for name, tensor in model.state_dict().items() if tensor.is_meta]
    if empty:
        raise ValueError(
            f"model: {len(empty)} of its tensors are on the meta device and hold no values (e.g. {empty[0]}); "
            "there is nothing to save. Fix: load weights first (from_pretrained, load_into) or build it off meta."
        )
    folder = Path(folder)
    write_config(folder, model.config, type(model).__name__)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / DIFFUSERS_WEIGHTS), metadata={"format": "pt"})


def check_class_name(config: dict, model_class, path: Path):
    """A config.json written for another class (a VAE's, read as a UNet's) is refused, not half-read."""
    written_for = config.get("_class_name", model_class.__name__)
    if written_for != model_class.__name__:
        raise CheckpointError(
            f"_class_name: {path} was written for {written_for!r}, not {model_class.__name__}. Fix: load it with "
            f"that class, or point at the right component folder (subfolder='unet', 'vae', …)."
        )


def load_model_folder(model_class, folder, dtype=None, device=None) -> torch.nn.Module:
    """A difflab model from its folder (built on meta from config.json, filled from the safetensors file).

    All or nothing: a config field out of range, a damaged file or weights that do not fit raise a CheckpointError
    naming the class and folder, and no model is returned.
    """
    folder = Path(folder)
    check_torch_dtype(dtype, "dtype")  # the caller's arguments first, so any later ValueError is the folder's
    check_device(device)
    config = read_config(folder)
    check_class_name(config, model_class, folder / CONFIG)
    try:
        return load_model(model_class, config, weights_file(folder), dtype=dtype, device=device)
    except CheckpointError as e:
        raise CheckpointError(f"{model_class.__name__} in {folder}: {e}") from e
    except ValueError as e:  # the model's config check: the field, the value, the valid range
        raise CheckpointError(f"{model_class.__name__} in {folder}: {CONFIG}: {e}") from e


def load_transformers_model(model_class, folder, dtype=None, device=None):
    """A transformers model (e.g. CLIPTextModel) from a local folder, refusing pickles, damaged headers, any key
    mismatch and checkpoints that break the dtype rule (loading.checks)."""
    from transformers.utils import logging as hf_logging

    check_torch_dtype(dtype, "dtype")
    device = check_device(device)
    header = read_header(weights_file(folder, "model.safetensors"))  # checked in full before transformers reads it
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in a learner's notebook (restored below)
    try:
        model, info = model_class.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True, output_loading_info=True, dtype=dtype
        )
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if problems:
        raise CheckpointError(f"{model_class.__name__} in {folder}: the weights do not fit the config: {problems}")
    in_file = {name: DTYPES[entry["dtype"]] for name, entry in header.items()}
    problem = describe_dtype_problem(dtypes(model.state_dict()), in_file, dtype)
    if problem:  # the model is fresh and is dropped here: nothing half-loaded escapes
        raise CheckpointError(f"{model_class.__name__} in {folder}: {problem}")
    return model.to(device) if device is not None else model
