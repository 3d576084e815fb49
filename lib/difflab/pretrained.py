"""The course's own trained models, shipped inside the package (no downloads): load them by name."""

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
    """A TextToImagePipeline from the shipped weights, on CUDA when there is one (DIFFLAB_DEVICE overrides)."""
    from .device import default_device
    from .pipelines import TextToImagePipeline

    return TextToImagePipeline.from_pretrained(
        weights_folder(name), scheduler=scheduler, dtype=dtype, device=device or default_device()
    )


def load_judge(name: str = "shapes-judge"):
    """The shapes-world classifier that scores prompt adherence."""
    from .eval import ShapesJudge

    return ShapesJudge.from_pretrained(weights_folder(name))
