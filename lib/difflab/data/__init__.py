"""The course's own data, generated on the fly: `shapes` (one coloured shape per 64×64 picture, with a caption)."""

from . import moving_shapes, shapes

__all__ = ["moving_shapes", "shapes"]
