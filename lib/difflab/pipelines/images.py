"""Images in and out of a pipeline: models work on tensors in [-1, 1]; people look at PIL images in [0, 255].

What img2img and inpainting take as `image` (checked before anything runs; NaN and values out of range refused):
    PIL image, or a list of them            any mode, converted to RGB
    numpy array (H, W, 3) or (B, H, W, 3)   uint8 in 0 … 255, or float in [0, 1] (diffusers' convention for arrays)
    torch tensor (3, H, W) or (B, 3, H, W)  float in [-1, 1], the models' range (difflab.toy.picture() gives one);
                                            a pipeline's output_type="pt" is in [0, 1]: pass image * 2 - 1
and as `mask_image` (1 marks the region to repaint):
    PIL image, or a list of them            converted to grey and thresholded at 0.5
    numpy array (H, W) or (B, H, W)         bool, uint8 in 0 … 255, or float in [0, 1] (soft edges are kept)
    torch tensor (H, W), (B, H, W) or (B, 1, H, W)   bool or float in [0, 1] (soft edges are kept)
"""

import math

import numpy as np
import torch
from PIL import Image

TOLERANCE = 1e-3  # rounding slack on the range checks


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def image_shape(image, name: str = "image") -> tuple[int, int, int]:
    """(B, H, W) of an image argument, read from its header or shape: nothing is converted or allocated."""
    if isinstance(image, Image.Image) or (isinstance(image, list) and image):
        if not all(isinstance(im, Image.Image) for im in as_list(image)):
            raise ValueError(f"{name}: got {type_names(image)}; a list must hold PIL images only.")
        sizes = {im.size for im in as_list(image)}  # (W, H) each
        if len(sizes) > 1:
            raise ValueError(f"{name}: got PIL images of different sizes {sorted(sizes)} (W, H); resize them to one.")
        ((width, height),) = sizes
        return len(as_list(image)), height, width
    if isinstance(image, np.ndarray) and image.ndim in (3, 4) and image.shape[-1] == 3:
        return (1 if image.ndim == 3 else image.shape[0]), image.shape[-3], image.shape[-2]
    if isinstance(image, torch.Tensor) and image.ndim in (3, 4) and image.shape[-3] == 3:
        return (1 if image.ndim == 3 else image.shape[0]), image.shape[-2], image.shape[-1]
    got = f"a {type(image).__name__} of shape {tuple(image.shape)}" if hasattr(image, "shape") else type_names(image)
    raise ValueError(
        f"{name}: got {got}; valid values are a PIL image (or a list of them), a numpy array (H, W, 3) or "
        "(B, H, W, 3), or a tensor (3, H, W) or (B, 3, H, W)."
    )


def mask_shape(mask) -> tuple[int, int, int]:
    """(B, H, W) of a mask argument, without converting it."""
    if isinstance(mask, Image.Image) or (isinstance(mask, list) and mask and isinstance(mask[0], Image.Image)):
        return image_shape(mask, "mask_image")
    if isinstance(mask, np.ndarray) and mask.ndim in (2, 3):
        return (1 if mask.ndim == 2 else mask.shape[0]), mask.shape[-2], mask.shape[-1]
    if isinstance(mask, torch.Tensor) and (mask.ndim in (2, 3) or (mask.ndim == 4 and mask.shape[1] == 1)):
        return (1 if mask.ndim == 2 else mask.shape[0]), mask.shape[-2], mask.shape[-1]
    got = f"a {type(mask).__name__} of shape {tuple(mask.shape)}" if hasattr(mask, "shape") else type_names(mask)
    raise ValueError(
        f"mask_image: got {got}; valid values are a PIL image (or a list of them), a numpy array (H, W) or "
        "(B, H, W), or a tensor (H, W), (B, H, W) or (B, 1, H, W)."
    )


def type_names(value) -> str:
    """'a str', 'a list of int, str', 'an empty list': what an argument holds, for error messages."""
    if isinstance(value, list):
        return f"a list of {', '.join(sorted({type(v).__name__ for v in value}))}" if value else "an empty list"
    return f"a {type(value).__name__}"


def check_values(name: str, values, low: float, high: float, fix: str):
    """Refuse NaN, ±inf and values outside [low, high] in an array or tensor (PIL images are always in range)."""
    if isinstance(values, Image.Image) or isinstance(values, list):
        return
    if isinstance(values, np.ndarray):
        if values.dtype in (np.uint8, np.bool_):
            return
        if not np.issubdtype(values.dtype, np.floating):
            raise ValueError(f"{name}: got a numpy array of {values.dtype}; pass uint8 (0 … 255) or float in [0, 1].")
        lowest, highest = (float(values.min()), float(values.max())) if values.size else (low, high)
    else:
        if values.dtype == torch.bool:
            return
        if not values.is_floating_point():
            raise ValueError(f"{name}: got a tensor of {values.dtype}; pass a float tensor in [{low:g}, {high:g}].")
        lowest, highest = (v.item() for v in torch.aminmax(values.detach())) if values.numel() else (low, high)
    if math.isnan(lowest) or math.isnan(highest):
        raise ValueError(f"{name}: got values that include NaN; {fix}")
    if lowest < low - TOLERANCE or highest > high + TOLERANCE:
        raise ValueError(
            f"{name}: got values in [{lowest:.4g}, {highest:.4g}]; valid values are {low:g} … {high:g}. {fix}"
        )


def check_image(image):
    low = -1 if isinstance(image, torch.Tensor) else 0
    fix = "Tensors are in [-1, 1] (from [0, 1]: image * 2 - 1); float arrays in [0, 1]; clamp to the range."
    check_values("image", image, low, 1, fix)


def check_mask(mask):
    check_values("mask_image", mask, 0, 1, "Masks are in [0, 1] (1 = repaint); for 0 … 255 floats divide by 255.")


def to_model_range(image) -> torch.Tensor:
    """Any accepted image (see the module docstring) → (B, 3, H, W) float in [-1, 1]."""
    if isinstance(image, torch.Tensor):
        return image if image.ndim == 4 else image[None]
    if isinstance(image, np.ndarray):
        array = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
        array = array if array.ndim == 4 else array[None]  # (B, H, W, 3) in [0, 1]
        return torch.from_numpy(array).permute(0, 3, 1, 2) * 2 - 1
    arrays = [np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in as_list(image)]  # (H, W, 3) in [0, 1]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) * 2 - 1


def to_mask(mask) -> torch.Tensor:
    """Any accepted mask (see the module docstring) → (B, 1, H, W) float in [0, 1]; 1 marks the region to repaint."""
    if isinstance(mask, torch.Tensor):
        mask = mask.float()
        return mask.reshape(-1, 1, *mask.shape[-2:])
    if isinstance(mask, np.ndarray):
        array = mask.astype(np.float32) / 255.0 if mask.dtype == np.uint8 else mask.astype(np.float32)
        return torch.from_numpy(array).reshape(-1, 1, *array.shape[-2:])
    arrays = [np.asarray(m.convert("L"), dtype=np.float32) / 255.0 for m in as_list(mask)]
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
