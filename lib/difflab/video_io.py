"""Video in and out of files: frames (F, H, W, 3) in [0, 1] → an animated GIF, or a filmstrip PNG.

    video = pipe("a red circle moving right", num_frames=17)       # (B, F, H, W, 3) in [0, 1], output_type 'np'
    write_video(video[0], "clip.gif", fps=8)                        # loops forever, 125 ms a frame
    write_video(video, "clips.png")                                 # a filmstrip: every k-th frame, a row per clip

The layouts every function here accepts:
    (F, H, W, 3)       one clip: F frames of H×W RGB, values in [0, 1] (numpy or torch, float or bool)
    (B, F, H, W, 3)    B clips of the same length: side by side in a GIF, one row per clip in a filmstrip

GIF is the one animated format Pillow (already a dependency) writes everywhere. MP4 needs an H.264 encoder
(ffmpeg, through imageio-ffmpeg or PyAV); none is among difflab's dependencies, so .mp4 is refused with the fix
rather than half-supported. Two GIF facts to know: a frame lasts a whole number of centiseconds (fps = 8 →
125 ms is stored as 120 or 130), and Pillow merges a frame identical to the one before it into that frame
(its duration added), so a still clip reads back with fewer frames.
"""

import math
from pathlib import Path

import numpy as np

VIDEO_EXTENSIONS = (".gif", ".png")  # what write_video writes: an animation, a filmstrip
NOT_WRITABLE = (".mp4", ".webm", ".mov", ".avi", ".mkv")  # video containers refused with the reason
GAP = 2  # transparent pixels between filmstrip frames and rows (the page background shows through)


def as_video(frames, name: str = "frames") -> np.ndarray:
    """Float numpy (B, F, H, W, 3) in [0, 1] from (F, H, W, 3) or (B, F, H, W, 3), numpy or torch; anything else
    is refused with what was received and the fix."""
    if hasattr(frames, "detach"):  # a torch tensor, on any device; bfloat16 has no numpy twin, so float32
        frames = frames.detach().cpu()
        frames = (frames.float() if frames.is_floating_point() else frames).numpy()
    array = np.asarray(frames)
    shape = tuple(array.shape)
    if array.ndim not in (4, 5) or shape[-1] != 3:
        hint = (
            " It looks channels-first: a pipeline's 'pt' output is (B, F, 3, H, W); use output_type='np', or "
            "move channels last: video.permute(0, 1, 3, 4, 2)."
            if array.ndim in (4, 5) and shape[-3] == 3
            else ""
        )
        raise ValueError(
            f"{name}: got shape {shape}; valid shapes are (F, H, W, 3), one clip, or (B, F, H, W, 3), a row of clips, "
            f"RGB last.{hint} A moving_shapes video (B, 3, F, H, W) in [-1, 1] becomes one with "
            f"(video.permute(0, 2, 3, 4, 1) + 1) / 2."
        )
    if 0 in shape:
        raise ValueError(f"{name}: got shape {shape}, which holds no pixels; give at least one frame of 1×1 or more.")
    if array.dtype == np.uint8:
        raise ValueError(f"{name}: got uint8 values 0–255; valid values are floats in [0, 1]. Fix: frames / 255.")
    if not (np.issubdtype(array.dtype, np.floating) or array.dtype == np.bool_):
        raise ValueError(f"{name}: got dtype {array.dtype}; valid values are floats in [0, 1].")
    array = array.astype(np.float32)
    check_values(array, name)
    return array if array.ndim == 5 else array[None]


def check_values(array: np.ndarray, name: str):
    """Finite and in [0, 1]; a refusal guesses the range the values are in and names the map back."""
    finite = np.isfinite(array)
    low, high = (float(array[finite].min()), float(array[finite].max())) if finite.any() else (0.0, 0.0)
    if finite.all() and 0 <= low and high <= 1:
        return
    if -1 <= low < 0 and high <= 1:
        fix = "(x + 1) / 2 maps [-1, 1] to [0, 1]"
    elif 0 <= low and 1 < high <= 255:
        fix = "x / 255 if these are 0–255 levels, else x.clip(0, 1)"
    else:
        fix = "x.clip(0, 1), or rescale: (x - x.min()) / (x.max() - x.min())"
    got = f"values from {low:.3g} to {high:.3g}"
    if not finite.all():
        bad = f"{array.size - int(finite.sum())} NaN or inf values"
        got = f"{bad}, the rest {got[7:]}" if finite.any() else f"{bad} and no finite one"
        fix = "find where the NaN or inf came from (a diverged run?)" + ("" if 0 <= low <= high <= 1 else f"; {fix}")
    raise ValueError(f"{name}: got {got}; valid values are finite, in [0, 1]. Fix: {fix}.")


def check_fps(fps, name: str = "fps") -> float:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 1 <= fps <= 50:
        raise ValueError(
            f"{name}: got {fps!r}; valid values are numbers from 1 to 50 frames a second (a GIF frame lasts at "
            f"least 20 ms in browsers). The pipelines' clips look right at 8."
        )
    return float(fps)


def check_video_path(path, name: str = "path") -> Path:
    """A path whose extension write_video knows; an .mp4 (or another video container) is refused with the fix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in NOT_WRITABLE:
        raise ValueError(
            f"{name}: got {str(path)!r}; {suffix} needs a video encoder (ffmpeg), and difflab's dependencies have "
            f"none. Valid: .gif (animated, loops) or .png (a filmstrip). Fix: {path.with_suffix('.gif').name}, "
            f"then `ffmpeg -i {path.with_suffix('.gif').name} {path.name}` if you need {suffix}."
        )
    if suffix not in VIDEO_EXTENSIONS:
        raise ValueError(
            f"{name}: got {str(path)!r}; valid extensions are .gif (animated, loops) or .png (a filmstrip): the "
            f"extension picks the format. Fix: e.g. {path.with_suffix('.gif').name}."
        )
    return path


def to_uint8(video: np.ndarray) -> np.ndarray:
    """[0, 1] → 0…255, rounded: v ↦ round(255·v)."""
    return np.round(video * 255).astype(np.uint8)


def upscale(video: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour: every pixel becomes a factor × factor block, so a 64×64 frame stays sharp when shown."""
    return video.repeat(factor, axis=-3).repeat(factor, axis=-2)  # (…, H, W, 3) → (…, H·k, W·k, 3)


def animation_frames(video: np.ndarray, scale: int = 1) -> np.ndarray:
    """(B, F, H, W, 3) in [0, 1] → uint8 (F, H·k, B·(W·k + GAP) - GAP, 3): the clips side by side, frame by frame."""
    clips = upscale(to_uint8(video), scale)  # (B, F, h, w, 3)
    batch, count, height, width, _ = clips.shape
    out = np.zeros((count, height, batch * (width + GAP) - GAP, 3), np.uint8)  # black gaps (a GIF has no alpha)
    for b in range(batch):
        out[:, :, b * (width + GAP) : b * (width + GAP) + width] = clips[b]
    return out


def strip_indices(count: int, most: int = 9) -> list[int]:
    """Every k-th frame, k = ceil((F - 1) / (most - 1)), always from frame 0 (17 frames, most 9 → 0, 2, …, 16)."""
    every = max(1, math.ceil((count - 1) / max(1, most - 1)))
    return list(range(0, count, every))


def filmstrip(video: np.ndarray, indices: list[int], scale: int = 1) -> np.ndarray:
    """(B, F, H, W, 3) in [0, 1] → uint8 RGBA (B·(h + GAP) - GAP, n·(w + GAP) - GAP, 4): row b is clip b at the
    chosen frames, left to right; the gaps are transparent."""
    clips = upscale(to_uint8(video[:, indices]), scale)  # (B, n, h, w, 3)
    batch, count, height, width, _ = clips.shape
    out = np.zeros((batch * (height + GAP) - GAP, count * (width + GAP) - GAP, 4), np.uint8)
    for b in range(batch):
        for i in range(count):
            y, x = b * (height + GAP), i * (width + GAP)
            out[y : y + height, x : x + width, :3] = clips[b, i]
            out[y : y + height, x : x + width, 3] = 255
    return out


def gif_bytes(video: np.ndarray, fps: float = 8, scale: int = 1) -> bytes:
    """An animated GIF of (B, F, H, W, 3) in [0, 1] that loops forever, 1000/fps ms a frame."""
    import io

    from PIL import Image

    images = [Image.fromarray(frame) for frame in animation_frames(video, scale)]
    buffer = io.BytesIO()
    # loop=0: forever. Each frame gets its own adaptive palette of ≤ 256 colours (exact for flat shapes).
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=1000 / fps, loop=0)
    return buffer.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_video(frames, path, fps: float = 8) -> Path:
    """Write frames (F, H, W, 3) or (B, F, H, W, 3) in [0, 1]: .gif → an animation that loops forever, fps frames
    a second; .png → a filmstrip of every k-th frame (at most 9 a row), a row per clip. Returns the path."""
    path = check_video_path(path)
    video, fps = as_video(frames), check_fps(fps)  # every check before the file is touched
    if path.suffix.lower() == ".gif":
        data = gif_bytes(video, fps)
    else:
        data = png_bytes(filmstrip(video, strip_indices(video.shape[1])))
    path.write_bytes(data)
    return path
