"""Real model configs, shipped as the config.json files their authors published: numbers only, no weights.

    from difflab.configs import available, load_config
    available()                                      # {'cogvideox-5b': ['transformer', 'vae'], …}
    load_config("wan2.1-t2v-1.3b", "transformer")    # the dict in wan2.1-t2v-1.3b/transformer.json

One folder per model, one file per pipeline component, named as in the model's diffusers folder
(unet, vae, text_encoder, scheduler, transformer). README.md in this folder says where each file came from.
`arithmetic.py` turns these dicts into latent shapes, token counts, parameter counts and bytes.
"""

import json
from pathlib import Path

FOLDER = Path(__file__).parent


def available() -> dict[str, list[str]]:
    """Every shipped model and its components, both sorted by name."""
    folders = sorted(p for p in FOLDER.iterdir() if p.is_dir() and any(p.glob("*.json")))
    return {folder.name: sorted(f.stem for f in folder.glob("*.json")) for folder in folders}


def load_config(model: str, component: str) -> dict:
    """The published config of one component, as a fresh dict (change it freely: the file stays as shipped)."""
    models = available()
    if model not in models:
        raise ValueError(
            f"model: got {model!r}; the shipped models are {', '.join(models)}. "
            "Fix: pass one of those names (available() lists them with their components)."
        )
    if component not in models[model]:
        raise ValueError(
            f"component: got {component!r}; {model} ships {', '.join(models[model])}. "
            f"Fix: pass one of those (image models have a unet or transformer, and every model a vae)."
        )
    return json.loads((FOLDER / model / f"{component}.json").read_text())


__all__ = ["available", "load_config"]
