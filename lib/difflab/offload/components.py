"""Offloading a whole pipeline: one model at a time (model offload), or one layer at a time (sequential offload).

    pipe.enable_model_cpu_offload(device="cpu", offload_to_disk_path="offload/")  # no GPU: RAM ↔ disk
    pipe.enable_model_cpu_offload()                                              # a GPU: GPU ↔ host memory
    pipe.enable_sequential_cpu_offload(device="cpu", offload_to_disk_path="offload/")

diffusers' two pipeline methods (built there on accelerate's hooks), with the tiers of groups.py.

Model offload: each model of the pipeline is one group, in the order the pipeline runs them (text_encoder, then
the unet or transformer, then the vae). Calling a model onloads it and offloads the one that ran before; when
the call ends the pipeline offloads the last one (maybe_free_model_hooks). At most one model is on the compute
tier: the weight peak is the largest model instead of their sum, and the denoising loop moves nothing, because
the denoiser stays while it loops. A model is "called" when it or one of its direct children runs, so the VAE's
decode() and encode() count too (diffusers marks those methods with @apply_forward_hook instead).

Sequential offload: leaf-level group offloading on every model: the smallest weight peak (one layer), and every
step moves every weight of the denoiser.
"""

from pathlib import Path

import torch
from torch import nn

from .groups import Ledger, OffloadGroup, apply_group_offloading, owned, remove_group_offloading
from .groups import check_arguments as check_group_arguments


class ModelOffload:
    """The pipeline's models as groups, at most one onloaded; hooks on each model and its direct children."""

    def __init__(self, models: dict[str, nn.Module], onload_device, offload_device: str, folder: Path | None):
        self.ledger = Ledger()
        self.groups, self.handles = [], []
        for name, model in models.items():
            group = OffloadGroup(name, [model], owned(model), (onload_device, offload_device), self.ledger)
            if offload_device == "disk":
                group.file = str(folder / f"{name}.safetensors")
                group.save()
            self.ledger.onloaded_bytes += group.nbytes
            group.offload()
            self.groups.append(group)
            for module in [model, *model.children()]:
                self.handles.append(module.register_forward_pre_hook(self.switcher(group)))
        self.ledger.moves.clear()
        self.ledger.peak_onloaded_bytes = self.ledger.onloaded_bytes

    def switcher(self, group: OffloadGroup):
        def switch_to(_module, _args):
            if group.state != "onloaded":
                self.free()  # the model that ran before leaves first, so two are never on the tier together
                group.onload()

        return switch_to

    def free(self):
        for group in self.groups:
            if group.state == "onloaded":
                group.offload()

    def remove(self):
        for handle in self.handles:
            handle.remove()
        for group in self.groups:
            if group.state == "offloaded":
                group.onload()


def models_of(pipe) -> dict[str, nn.Module]:
    """The pipeline's models (not its tokenizer or scheduler), in the order the pipeline runs them."""
    return {name: part for name, part in pipe.components.items() if isinstance(part, nn.Module)}


def check_device(device):
    """The pipeline methods' `device` (diffusers' default 'cuda'), refused with the CPU-only fix where no GPU is."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device: got {device!r}, but this machine has no CUDA device. Offload here with device='cpu' and "
            "offload_to_disk_path=<a folder>: the weights then wait in safetensors files on disk."
        )


def enable_model_cpu_offload(pipe, device="cuda", offload_to_disk_path=None) -> ModelOffload:
    check_device(device)
    offload_device = "disk" if str(device) == "cpu" else "cpu"
    for name, model in models_of(pipe).items():  # every argument and model checked before anything moves
        check_group_arguments(model, device, offload_device, "leaf_level", None, offload_to_disk_path, name)
    folder = None if offload_to_disk_path is None else Path(offload_to_disk_path)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return ModelOffload(models_of(pipe), device, offload_device, folder)


def enable_sequential_cpu_offload(pipe, device="cuda", offload_to_disk_path=None):
    check_device(device)
    offload_device = "disk" if str(device) == "cpu" else "cpu"
    for name, model in models_of(pipe).items():
        check_group_arguments(model, device, offload_device, "leaf_level", None, offload_to_disk_path, name)
    for name, model in models_of(pipe).items():
        folder = None if offload_to_disk_path is None else Path(offload_to_disk_path) / name
        apply_group_offloading(model, device, offload_device, "leaf_level", offload_to_disk_path=folder)


def disable_sequential_cpu_offload(pipe):
    for model in models_of(pipe).values():
        if getattr(model, "_difflab_offload", None) is not None:
            remove_group_offloading(model)
