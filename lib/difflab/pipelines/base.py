"""The pipeline base: declared components, moving them, and the diffusers folder layout.

A pipeline is a handful of independently trained parts plus the code that orders them. `model_index.json`
names each part and the library class that loads it:

    {"_class_name": "StableDiffusionPipeline",
     "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
     "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
     "scheduler": ["diffusers", "DDIMScheduler"], "safety_checker": [null, null], …}

and each part lives in the subfolder of the same name. The pipeline orders stages; the models do the maths.
"""

import json
from pathlib import Path

import torch
import transformers

from .. import models, schedulers
from ..loading.folders import (
    WRITTEN_BY,
    load_model_folder,
    load_transformers_model,
    read_config,
    save_model,
    write_config,
)
from ..loading.load import safe_join
from ..loading.safetensors_file import CheckpointError
from ..trace import stage


def dtype_of(module: torch.nn.Module) -> torch.dtype:
    """The dtype a model computes in: that of its parameters."""
    return next(module.parameters()).dtype


LIBRARY_OF = {"AutoencoderKL": "diffusers", "UNet2DConditionModel": "diffusers"}


class Pipeline:
    component_names: tuple = ()  # declared by each pipeline, in the order they run
    diffusers_class = "DiffusionPipeline"  # the name written to model_index.json

    def __init__(self, **components):
        missing = [name for name in self.component_names if name not in components]
        unknown = [name for name in components if name not in self.component_names]
        if missing or unknown:
            raise ValueError(
                f"components: {type(self).__name__} takes exactly {', '.join(self.component_names)}; "
                f"missing {missing or 'none'}, unexpected {unknown or 'none'}."
            )
        for name in self.component_names:
            setattr(self, name, components[name])

    @property
    def components(self) -> dict:
        """The parts, by name (the component registry): models, tokenizer and scheduler."""
        return {name: getattr(self, name) for name in self.component_names}

    @property
    def device(self) -> torch.device:
        for part in self.components.values():
            if isinstance(part, torch.nn.Module):
                return next(part.parameters()).device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        for part in self.components.values():
            if isinstance(part, torch.nn.Module):
                return next(part.parameters()).dtype
        return torch.float32

    def to(self, device=None, dtype=None):
        """Move (and optionally cast) every model component; returns the pipeline."""
        for part in self.components.values():
            if isinstance(part, torch.nn.Module):
                part.to(device=device, dtype=dtype)
        return self

    # --- the diffusers folder layout -------------------------------------------------------------------------
    def save_pretrained(self, folder):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index = {"_class_name": self.diffusers_class, "_diffusers_version": WRITTEN_BY}
        for name, part in self.components.items():
            if isinstance(part, schedulers.Scheduler):
                write_config(folder / name, part.config, type(part).__name__, "scheduler_config.json")
                index[name] = ["diffusers", type(part).__name__]
            elif isinstance(part, (transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase)):
                part.save_pretrained(folder / name)
                index[name] = ["transformers", type(part).__name__]
            else:
                save_model(part, folder / name)
                index[name] = [LIBRARY_OF.get(type(part).__name__, "difflab"), type(part).__name__]
        index.update(safety_checker=[None, None], feature_extractor=[None, None], requires_safety_checker=False)
        (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, folder, scheduler: str | None = None, dtype=None, device=None):
        """Load every declared component from a diffusers-layout folder; all of them load or none.

        `scheduler` swaps the saved scheduler for another by name ('ddim', 'euler', 'dpm++', …), built
        from the saved scheduler config — needed for folders whose scheduler difflab does not have (PNDM).
        """
        folder = Path(folder)
        index = read_config(folder, "model_index.json")
        parts = {}
        with stage("from_pretrained", pipeline=cls.__name__):
            for name in cls.component_names:
                if name not in index:
                    raise CheckpointError(f"model_index.json in {folder} has no '{name}' component.")
                _, class_name = index[name]
                with stage("component", component=name):
                    parts[name] = load_component(class_name, safe_join(folder, name), scheduler, dtype, device)
        return cls(**parts)


def load_component(class_name: str, folder: Path, scheduler_name, dtype, device):
    """One component by the class name model_index.json gives for it."""
    if folder.joinpath("scheduler_config.json").is_file():
        config = read_config(folder, "scheduler_config.json")
        try:
            return schedulers.get(scheduler_name or class_name, **config)
        except ValueError as e:
            raise CheckpointError(
                f"scheduler: this folder's scheduler is {class_name}, which difflab does not implement. Pass "
                f"scheduler= one of {', '.join(schedulers.names())} to build that one from the saved config."
            ) from e
    if class_name in ("CLIPTokenizer", "CLIPTokenizerFast"):
        return getattr(transformers, class_name).from_pretrained(str(folder), local_files_only=True)
    if class_name == "CLIPTextModel":
        return load_transformers_model(transformers.CLIPTextModel, folder, dtype, device)
    model_class = getattr(models, class_name, None)
    if model_class is None:
        raise CheckpointError(f"component class: got {class_name!r} in {folder}, which difflab cannot load.")
    return load_model_folder(model_class, folder, dtype, device)
