"""Pipelines: components declared once, stages ordered, the maths left to the models."""

from .base import Pipeline
from .image_to_image import Image2ImagePipeline
from .inpaint import InpaintPipeline
from .text_to_image import TextToImagePipeline, cfg_combine
from .text_to_video import TextToVideoPipeline

# what a model_index.json's _class_name is loaded as (the text-to-X pipeline; the others reuse its folder)
BY_DIFFUSERS_CLASS = {cls.diffusers_class: cls for cls in (TextToImagePipeline, TextToVideoPipeline)}


def pipeline_class(diffusers_class: str) -> type[Pipeline]:
    """The difflab pipeline for a folder whose model_index.json names `diffusers_class`."""
    if diffusers_class not in BY_DIFFUSERS_CLASS:
        raise ValueError(
            f"model_index.json's _class_name: got {diffusers_class!r}; difflab loads {', '.join(BY_DIFFUSERS_CLASS)} "
            "folders. Load another kind with its own library."
        )
    return BY_DIFFUSERS_CLASS[diffusers_class]


__all__ = [
    "Pipeline",
    "TextToImagePipeline",
    "Image2ImagePipeline",
    "InpaintPipeline",
    "TextToVideoPipeline",
    "cfg_combine",
    "pipeline_class",
]
