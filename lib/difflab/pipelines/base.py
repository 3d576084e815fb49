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

from .. import models, offload, schedulers
from ..loading.checks import check_device, check_torch_dtype
from ..loading.folders import (
    WRITTEN_BY,
    load_model_folder,
    load_transformers_model,
    read_config,
    save_model,
    write_config,
)
from ..loading.load import kept_in_fp32, safe_join
from ..loading.safetensors_file import CheckpointError
from ..models.attention_dispatch import set_attention_backend
from ..trace import stage


def dtype_of(module: torch.nn.Module) -> torch.dtype:
    """The dtype a model computes in, as diffusers' ModelMixin.dtype: the compute dtype under layerwise casting,
    else that of its first parameter outside _keep_in_fp32_modules (the Wan transformer's first parameter,
    scale_shift_table, stays float32 in a bfloat16 model, and must not decide the dtype of its input)."""
    compute = getattr(module, "_layerwise_compute_dtype", None)
    if compute is not None:
        return compute
    named = list(module.named_parameters())
    return next((p.dtype for name, p in named if not kept_in_fp32(module, name)), named[0][1].dtype)


LIBRARY_OF = {
    "AutoencoderKL": "diffusers",
    "UNet2DConditionModel": "diffusers",
    "AutoencoderKLWan": "diffusers",
    "WanTransformer3DModel": "diffusers",
}

# The allow-list: the only [library, class] pairs model_index.json may name, per component. An entry naming any
# other class (a transformers model we did not vet, an attribute of difflab.models such as "torch") is refused.
DIFFUSERS, TRANSFORMERS = ("diffusers", "difflab"), ("transformers",)
SCHEDULER_CLASSES = (*(cls.__name__ for cls in schedulers.REGISTRY.values()), *schedulers.NOT_IMPLEMENTED)
MODEL_CLASSES = {
    "UNet2DConditionModel": models.UNet2DConditionModel,
    "AutoencoderKL": models.AutoencoderKL,
    "WanTransformer3DModel": models.WanTransformer3DModel,
    "AutoencoderKLWan": models.AutoencoderKLWan,
}
TOKENIZER_CLASSES = ("CLIPTokenizer", "CLIPTokenizerFast")
T5_TOKENIZER_CLASSES = ("T5Tokenizer", "T5TokenizerFast")  # Wan's UMT5 (transformers 5: the same class)
TEXT_ENCODER_CLASSES = ("CLIPTextModel", "UMT5EncoderModel")
ALLOWED_CLASSES = {  # component → {class name: the libraries it may be listed under}
    "unet": {"UNet2DConditionModel": DIFFUSERS},
    "vae": {"AutoencoderKL": DIFFUSERS},
    "text_encoder": {"CLIPTextModel": TRANSFORMERS},
    "tokenizer": dict.fromkeys(TOKENIZER_CLASSES, TRANSFORMERS),
    "scheduler": dict.fromkeys(SCHEDULER_CLASSES, DIFFUSERS),
}
# Text to video (Wan 2.1): a pipeline whose folder names other classes declares its own allow-list.
VIDEO_ALLOWED_CLASSES = {
    "tokenizer": dict.fromkeys(T5_TOKENIZER_CLASSES, TRANSFORMERS),
    "text_encoder": {"UMT5EncoderModel": TRANSFORMERS},
    "transformer": {"WanTransformer3DModel": DIFFUSERS},
    "vae": {"AutoencoderKLWan": DIFFUSERS},
    "scheduler": dict.fromkeys(SCHEDULER_CLASSES, DIFFUSERS),
}
ANY_COMPONENT = {name: libraries for allowed in ALLOWED_CLASSES.values() for name, libraries in allowed.items()}


class Pipeline:
    component_names: tuple = ()  # declared by each pipeline, in the order they run
    diffusers_class = "DiffusionPipeline"  # the name written to model_index.json
    allowed_classes = ALLOWED_CLASSES  # what its model_index.json may name, per component

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
        self.offloading = None  # (kind, compute device, its hooks) while an offload method is on

    @property
    def components(self) -> dict:
        """The parts, by name (the component registry): models, tokenizer and scheduler."""
        return {name: getattr(self, name) for name in self.component_names}

    @property
    def device(self) -> torch.device:
        """Where the pipeline computes: the offload's compute device while offloading is on (the weights may be
        elsewhere between calls), else the device of the first model's weights."""
        if self.offloading is not None:
            return torch.device(self.offloading[1])
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

    # --- attention memory (models/attention_dispatch.py) ------------------------------------------------------
    DENOISERS = ("unet", "transformer")  # the components attention slicing applies to, as diffusers' (its UNet)

    def enable_attention_slicing(self, slice_size: int | str = "auto") -> None:
        """Compute the denoiser's attention a few (batch, head) pairs at a time: the same output, a smaller peak.
        slice_size: 'auto' (half the heads at a time), 'max' (one at a time) or a positive int."""
        for name in self.DENOISERS:
            if name in self.component_names:
                set_attention_backend(getattr(self, name), "sliced", slice_size=slice_size)

    def disable_attention_slicing(self) -> None:
        """Back to PyTorch's fused attention (SDPA) in the denoiser."""
        for name in self.DENOISERS:
            if name in self.component_names:
                set_attention_backend(getattr(self, name), "sdpa")

    # --- offloading (offload/components.py) --------------------------------------------------------------------
    def enable_model_cpu_offload(self, device="cuda", offload_to_disk_path=None):
        """One model on `device` at a time, in the order they run; the others wait in host memory (device
        'cuda') or, on a machine without a GPU (device 'cpu'), in safetensors files in offload_to_disk_path."""
        self.check_no_offloading("enable_model_cpu_offload")
        self.offloading = ("model", device, offload.enable_model_cpu_offload(self, device, offload_to_disk_path))

    def enable_sequential_cpu_offload(self, device="cuda", offload_to_disk_path=None):
        """Every layer of every model on `device` only while it runs (leaf-level group offloading)."""
        self.check_no_offloading("enable_sequential_cpu_offload")
        offload.enable_sequential_cpu_offload(self, device, offload_to_disk_path)
        self.offloading = ("sequential", device, None)

    def disable_offloading(self):
        """Every weight back in its model on the compute device, the hooks gone."""
        if self.offloading is not None:
            kind, _, hooks = self.offloading
            hooks.remove() if kind == "model" else offload.disable_sequential_cpu_offload(self)
            self.offloading = None

    def maybe_free_model_hooks(self):
        """At the end of a call: with model offload, the last model to run leaves the compute tier too."""
        if self.offloading is not None and self.offloading[0] == "model":
            self.offloading[2].free()

    def check_no_offloading(self, method: str):
        if self.offloading is not None:
            raise ValueError(
                f"{method}: {self.offloading[0]} offload is already on; call pipe.disable_offloading() first."
            )

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
        `dtype`: None keeps each checkpoint's one float dtype; a float dtype casts every weight to it.
        """
        check_arguments(scheduler, dtype, device)  # a typo fails here, before a byte is read
        folder = Path(folder)
        index = read_config(folder, "model_index.json")
        allowed = cls.allowed_classes
        entries = {name: component_entry(index, name, folder, allowed) for name in cls.component_names}  # all, first
        parts = {}
        with stage("from_pretrained", pipeline=cls.__name__):
            for name, (_, class_name) in entries.items():
                with stage("component", component=name):
                    parts[name] = load_component(class_name, safe_join(folder, name), scheduler, dtype, device)
        return cls(**parts)


def check_arguments(scheduler, dtype, device):
    if scheduler is not None:
        schedulers.by_name(scheduler)  # the ValueError lists the valid names
    check_torch_dtype(dtype, "dtype")
    check_device(device)


def component_entry(index: dict, name: str, folder: Path, allowed_classes=ALLOWED_CLASSES) -> tuple[str, str]:
    """model_index.json's [library, class] pair for one component, checked against the allow-list."""
    where = f"model_index.json in {folder}: {name!r}"
    if name not in index:
        raise CheckpointError(f"{where} is missing; the pipeline needs that component.")
    entry, allowed = index[name], allowed_classes.get(name, ANY_COMPONENT)
    if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(part, str) for part in entry)):
        raise CheckpointError(
            f"{where} is {json.dumps(entry)[:80]}; an entry is a [library, class] pair of strings, such as "
            f'["diffusers", "UNet2DConditionModel"] ([null, null] only for components this pipeline does not use).'
        )
    library, class_name = entry
    if library not in allowed.get(class_name, ()):
        by_library = {}
        for cls, libraries in allowed.items():
            by_library.setdefault(" or ".join(libraries), []).append(cls)
        valid = "; ".join(f"from {library}: {', '.join(classes)}" for library, classes in by_library.items())
        raise CheckpointError(f"{where} is {json.dumps(entry)}, which difflab does not load as {name}. Valid: {valid}.")
    return library, class_name


def load_component(class_name: str, folder: Path, scheduler_name, dtype, device):
    """One component by the class name model_index.json gives for it (component_entry has vetted it)."""
    if class_name in SCHEDULER_CLASSES:
        if scheduler_name is None and class_name in schedulers.NOT_IMPLEMENTED:
            raise CheckpointError(
                f"scheduler: this folder's scheduler is {class_name}, which difflab does not implement. Pass "
                f"scheduler= one of {', '.join(schedulers.names())} to build that one from the saved config."
            )
        config = read_config(folder, "scheduler_config.json")
        try:
            return schedulers.get(scheduler_name or class_name, **config)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"scheduler: {folder / 'scheduler_config.json'} does not fit: {e}") from e
    if class_name in TOKENIZER_CLASSES + T5_TOKENIZER_CLASSES:
        return getattr(transformers, class_name).from_pretrained(str(folder), local_files_only=True)
    if class_name in TEXT_ENCODER_CLASSES:
        return load_transformers_model(getattr(transformers, class_name), folder, dtype, device)
    return load_model_folder(MODEL_CLASSES[class_name], folder, dtype, device)
