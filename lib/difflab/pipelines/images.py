"""Images in and out of a pipeline: models work on tensors in [-1, 1]; people look at PIL images in [0, 255]."""

import numpy as np
import torch
from PIL import Image


def to_model_range(image) -> torch.Tensor:
    """PIL image(s) → (B, 3, H, W) float in [-1, 1]; a tensor is taken to be (B, 3, H, W) in [-1, 1] already."""
    if isinstance(image, torch.Tensor):
        return image if image.ndim == 4 else image[None]
    images = image if isinstance(image, list) else [image]
    arrays = [np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in images]  # (H, W, 3) in [0, 1]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) * 2 - 1


def to_mask(mask) -> torch.Tensor:
    """PIL image(s) or a tensor → (B, 1, H, W) float in {0, 1}; 1 marks the region to repaint."""
    if isinstance(mask, torch.Tensor):
        mask = mask.float()
        return mask.reshape(-1, 1, *mask.shape[-2:])
    masks = mask if isinstance(mask, list) else [mask]
    arrays = [np.asarray(m.convert("L"), dtype=np.float32) / 255.0 for m in masks]
    return (torch.from_numpy(np.stack(arrays))[:, None] >= 0.5).float()


def postprocess(images: torch.Tensor, output_type: str = "pil"):
    """(B, 3, H, W) in [-1, 1] → 'pt': tensor in [0, 1]; 'np': (B, H, W, 3) array; 'pil': list of images."""
    images = (images / 2 + 0.5).clamp(0, 1)
    if output_type == "pt":
        return images
    array = images.detach().float().cpu().permute(0, 2, 3, 1).numpy()
    if output_type == "np":
        return array
    if output_type == "pil":
        return [Image.fromarray((a * 255).round().astype("uint8")) for a in array]
    raise ValueError(f"output_type: got {output_type!r}; valid values are 'pil', 'np', 'pt' (and 'latent').")
