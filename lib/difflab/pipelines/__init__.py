"""Pipelines: components declared once, stages ordered, the maths left to the models."""

from .base import Pipeline
from .image_to_image import Image2ImagePipeline
from .inpaint import InpaintPipeline
from .text_to_image import TextToImagePipeline, cfg_combine
from .text_to_video import TextToVideoPipeline

__all__ = [
    "Pipeline",
    "TextToImagePipeline",
    "Image2ImagePipeline",
    "InpaintPipeline",
    "TextToVideoPipeline",
    "cfg_combine",
]
