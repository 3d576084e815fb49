"""diffusers' loading interface on difflab's models: `Model.from_pretrained(folder)`, `model.save_pretrained(folder)`.

    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float16)
    unet.save_pretrained("my-unet")      # config.json + diffusion_pytorch_model.safetensors, as diffusers writes them

Both go through difflab.loading, so code written for diffusers' models reads the same and loads all or nothing:
config.json checked field by field, the model built on meta, the safetensors header checked in full, and the
weights placed only if every key, shape and dtype fits. A refused folder raises a CheckpointError; no model returns.
"""

import inspect
from collections.abc import Mapping
from pathlib import Path

import torch

from ..loading.checks import check_torch_dtype
from ..loading.folders import load_model_folder, save_model
from ..loading.load import safe_join
from ..offload.casting import enable_layerwise_casting
from .attention_dispatch import set_attention_backend
from .config_schema import config_dict


class ModelMixin:
    """Adds from_config, from_pretrained and save_pretrained to an nn.Module that has `config` (difflab's models)."""

    extra_config_fields: tuple[str, ...] = ()  # fields the constructor takes through **kwargs (the UNet's)
    _keep_in_fp32_modules: list[str] | None = None  # kept in float32 when loaded or cast to less (as diffusers)
    _skip_layerwise_casting_patterns: list[str] | None = None  # left out of enable_layerwise_casting (as diffusers)

    @classmethod
    def from_config(cls, config: Mapping, **overrides):
        """Build from a config dict (another model's `.config`, or a checkpoint's config.json). Keys the constructor
        does not take (`_class_name`, `_diffusers_version`, fields of other models) are set aside in
        `ignored_config`, as diffusers does."""
        signature = inspect.signature(cls.__init__).parameters.values()
        fields = [p.name for p in signature if p.name != "self" and p.kind is not p.VAR_KEYWORD]
        fields += list(cls.extra_config_fields)
        merged = {**config_dict(config, cls), **overrides}
        model = cls(**{k: v for k, v in merged.items() if k in fields})
        model.ignored_config = {k: v for k, v in merged.items() if k not in fields}
        return model

    @classmethod
    def from_pretrained(cls, folder, subfolder: str | None = None, torch_dtype=None, device=None):
        """The model in `folder` (or folder/subfolder): config.json + diffusion_pytorch_model.safetensors.

        torch_dtype: None keeps the checkpoint's dtype (its float tensors must share one); a float dtype casts
        every float tensor to it, the one way to load a checkpoint that mixes float dtypes (loading.checks), except
        the parameters the class keeps in float32 (`_keep_in_fp32_modules`, as diffusers).
        device: where the model goes once loaded ('cpu', 'cuda', …); None leaves it on the CPU.
        """
        check_torch_dtype(torch_dtype, "torch_dtype")
        if subfolder is not None and not (isinstance(subfolder, str) and subfolder):
            raise ValueError(
                f"subfolder: got {subfolder!r}; pass the component's folder name inside `folder`, such as 'unet' "
                "or 'vae', or None when `folder` is the component folder itself."
            )
        folder = safe_join(folder, subfolder) if subfolder else Path(folder)
        return load_model_folder(cls, folder, dtype=torch_dtype, device=device)

    def save_pretrained(self, folder):
        """config.json and diffusion_pytorch_model.safetensors in `folder` (created if needed); diffusers loads it."""
        save_model(self, folder)

    def enable_layerwise_casting(
        self, storage_dtype=torch.float8_e4m3fn, compute_dtype=None, skip_modules_pattern=None
    ):
        """Store the model's Linear, Conv and Embedding layers in storage_dtype and cast each up to compute_dtype
        (default: the model's dtype) for its own forward (offload/casting.py); returns the layers cast."""
        return enable_layerwise_casting(self, storage_dtype, compute_dtype, skip_modules_pattern)

    def set_attention_backend(self, backend: str = "sdpa", slice_size=None, chunk_size=None) -> int:
        """Compute every attention in this model with `backend`: "sdpa" (the default), "naive", "sliced" or
        "chunked" (models/attention_dispatch.py); returns how many attention modules it set. diffusers' method of
        the same name picks among its kernels."""
        return set_attention_backend(self, backend, slice_size=slice_size, chunk_size=chunk_size)
