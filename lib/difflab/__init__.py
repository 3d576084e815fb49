"""difflab: learn how image and video diffusion pipelines work by reading and running them."""

__version__ = "0.1.0"
