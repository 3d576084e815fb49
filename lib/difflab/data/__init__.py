"""The course's own data, generated on the fly: `shapes` (one coloured shape per 64×64 picture, with a caption)."""

from . import shapes

__all__ = ["shapes"]
