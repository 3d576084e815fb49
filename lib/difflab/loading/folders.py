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

from .load import load_model
from .safetensors_file import PICKLE_SUFFIXES, CheckpointError, refuse_pickle

DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
CONFIG = "config.json"
WRITTEN_BY = "0.42.1"  # the diffusers version whose folder format these files follow


def read_config(folder: Path, name: str = CONFIG) -> dict:
    path = Path(folder) / name
    if not path.is_file():
        raise CheckpointError(f"config: {path} does not exist; a component folder needs its {name}.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"config: {path} is not valid JSON ({e}).") from e


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
    folder = Path(folder)
    write_config(folder, model.config, type(model).__name__)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / DIFFUSERS_WEIGHTS), metadata={"format": "pt"})


def load_model_folder(model_class, folder, dtype=None, device=None) -> torch.nn.Module:
    """A difflab model from its folder (built on meta from config.json, filled from the safetensors file)."""
    config = read_config(folder)
    return load_model(model_class, config, weights_file(folder), dtype=dtype, device=device)


def load_transformers_model(model_class, folder, dtype=None, device=None):
    """A transformers model (e.g. CLIPTextModel) from a local folder, refusing pickles and any key mismatch."""
    from transformers.utils import logging as hf_logging

    weights_file(folder, "model.safetensors")
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
    return model.to(device) if device is not None else model
