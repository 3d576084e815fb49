"""Recognising a checkpoint from its keys, in DiffSynth-Studio's manner.

A state dict's *shape* — its key names and tensor shapes, not its values — identifies the architecture and
layout that produced it. Hash it, look the hash up, and you know which class to build and which converter
(a small pure function, state dict → state dict) brings the keys to difflab's names.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass


def hash_state_dict_keys(shapes: dict, with_shapes: bool = True) -> str:
    """sha256 over the sorted 'name:shape' lines of a state dict (or of a safetensors header)."""
    lines = []
    for name in sorted(shapes):
        value = shapes[name]
        shape = value["shape"] if isinstance(value, dict) else list(value.shape)
        lines.append(f"{name}:{','.join(map(str, shape))}" if with_shapes else name)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass(frozen=True)
class KnownModel:
    name: str  # what the checkpoint is, e.g. "shapes-sd VAE (legacy attention names)"
    model_class: str  # the difflab class to build, e.g. "AutoencoderKL"
    converter: Callable[[dict], dict]  # state dict → state dict in difflab's key names


REGISTRY: dict[str, KnownModel] = {}


def register(key_hash: str, known: KnownModel):
    REGISTRY[key_hash] = known


def recognise(shapes: dict) -> KnownModel | None:
    """The registered model whose keys and shapes hash to the same value, or None."""
    if not DEFAULTS_LOADED:
        load_defaults()
    return REGISTRY.get(hash_state_dict_keys(shapes))


DEFAULTS_LOADED = False


def load_defaults():
    """Register the layouts in known_models.py (once, on first use: hashing them builds models on meta)."""
    global DEFAULTS_LOADED
    from .known_models import default_models

    DEFAULTS_LOADED = True
    for key_hash, known in default_models().items():
        REGISTRY.setdefault(key_hash, known)
