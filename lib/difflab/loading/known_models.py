"""Checkpoint layouts difflab recognises out of the box, each hashed from a shipped config (no weights needed).

Stable Diffusion 1.x's VAE, as published, still names its mid-block attention query/key/value/proj_attn
(diffusers before 0.14). Its key hash is computed here from the SD 1.5 VAE config, so a real SD 1.x folder
loads with the legacy-name converter applied automatically.
"""

import torch

from .converters import LEGACY_ATTENTION_NAMES, convert_legacy_vae_attention
from .registry import KnownModel, hash_state_dict_keys


def legacy_names(shapes: dict) -> dict:
    """The same keys with today's attention names put back to the legacy ones (the converter, run backwards)."""
    backwards = {new: old for old, new in LEGACY_ATTENTION_NAMES.items()}
    renamed = {}
    for key, shape in shapes.items():
        for new, old in backwards.items():
            if ".attentions." in key and f".{new}." in key:
                key = key.replace(f".{new}.", f".{old}.")
        renamed[key] = shape
    return renamed


def default_models() -> dict[str, KnownModel]:
    from ..configs import load_config
    from ..models import AutoencoderKL

    with torch.device("meta"):
        vae = AutoencoderKL.from_config(load_config("sd15", "vae"))
    shapes = {k: {"shape": list(v.shape)} for k, v in vae.state_dict().items()}
    return {
        hash_state_dict_keys(legacy_names(shapes)): KnownModel(
            "Stable Diffusion 1.x VAE (legacy attention names)", "AutoencoderKL", convert_legacy_vae_attention
        ),
    }
