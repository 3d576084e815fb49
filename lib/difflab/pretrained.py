"""The course's own trained models, shipped inside the package (no downloads): load them by name."""

import json
from pathlib import Path

WEIGHTS = Path(__file__).parent / "weights"


def available() -> list[str]:
    return sorted(p.name for p in WEIGHTS.iterdir() if p.is_dir()) if WEIGHTS.is_dir() else []


def weights_folder(name: str) -> Path:
    """The folder of a shipped model, by its exact name (so a path such as '..' cannot lead elsewhere)."""
    if name not in available():
        raise ValueError(f"name: got {name!r}; the shipped models are {', '.join(available()) or 'none'}.")
    return WEIGHTS / name


def load_pipeline(name: str = "shapes-sd", scheduler: str | None = None, device=None, dtype=None):
    """A shipped pipeline, on CUDA when there is one (DIFFLAB_DEVICE overrides): the class its model_index.json
    names, as diffusers' DiffusionPipeline.from_pretrained picks it (shapes-sd → TextToImagePipeline, shapes-video
    → TextToVideoPipeline)."""
    from .device import default_device
    from .pipelines import pipeline_class

    folder = weights_folder(name)
    pipeline = pipeline_class(json.loads((folder / "model_index.json").read_text())["_class_name"])
    return pipeline.from_pretrained(folder, scheduler=scheduler, dtype=dtype, device=device or default_device())


def load_judge(name: str = "shapes-judge"):
    """The shapes-world classifier that scores prompt adherence."""
    from .eval import ShapesJudge

    return ShapesJudge.from_pretrained(weights_folder(name))
