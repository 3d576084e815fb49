"""The moving-shapes world: one coloured shape crossing a plain background, as a short clip with a caption.

The picture world (`shapes`) brought to life: every frame is drawn by shapes' own renderer, and a clip is a
function of (split, seed, index) alone, exactly like a picture:

    attributes = {color, shape, motion, size, end_size,             drawn from a seeded torch.Generator
                  start, end, centres, radii}                         (x, y) and radius in px, per frame
    video, mask = frames drawn along the planned path                 (3, F, 64, 64) in [-1, 1], (1, F, 64, 64)
    caption = "a small red circle moving right"                       words only where they are true

Motions: the shape moves left, right, up or down at constant speed by MIN_TRAVEL … (64 - 2·radius) pixels,
or grows (small → large) or shrinks (large → small) about a fixed centre. It never leaves the canvas, and its
whole path stays in the plus-shaped region the picture world uses (a horizontal path runs along the middle
third of the rows, a vertical one along the middle third of the columns), so the picture judge, which never
saw a shape in a corner cell, can read every frame.

F = 4·n + 1 frames (default 17): the video VAE keeps the first frame on its own and packs each later group of
4 into one latent frame, so 17 frames become 1 + 4 latent frames.

    clip(index, seed, split, frames)  →  dict for one clip        batch(n or indices, …)  →  stacked tensors
"""

import torch
from einops import rearrange

from . import shapes

FRAMES = 17  # 4·4 + 1
MAX_FRAMES = 81  # Wan's longest clip; more would only cost memory here
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}  # (dx, dy), y grows downwards
MOTIONS = (*DIRECTIONS, "growing", "shrinking")
MIN_TRAVEL = 16.0  # px the centre moves over a clip, at least (a quarter of the canvas)
MOTION_PHRASES = {**{d: f"moving {d}" for d in DIRECTIONS}, "growing": "growing", "shrinking": "shrinking"}
P_SIZE_WORD = shapes.P_SIZE_WORD  # chance a caption mentions the size (never for growing/shrinking: it changes)

# A clip reads its random numbers from the same 32-bit stream as picture `index` of shapes (split | seed |
# index), but skips the first _SKIP draws, which pictures use (13 + 2 for the caption): clip i and picture i
# share no number, so their colours and kinds are unrelated. The train and test streams are disjoint, so no
# (colour, shape, motion, start) combination of one split recurs in the other (starts are real numbers).
_SKIP = 32
# Each clip then draws its 15 uniforms in one call, in this order (caption_for draws 1 more):
#   0 colour  1 shape  2 size  3 radius within its size  4 motion  5 travel  6 start along the path
#   7 position across the path  8:11 background  11:14 colour jitter  14 end radius (growing/shrinking)
_N_UNIFORMS = 15
_MIDDLE = (shapes.THIRD + shapes.MARGIN, 2 * shapes.THIRD - shapes.MARGIN)  # the middle band of an axis (px)


def check_frames(frames) -> int:
    """Refuse a frame count the video VAE cannot take; return it as an int."""
    if isinstance(frames, bool) or not isinstance(frames, int) or frames % 4 != 1 or not 5 <= frames <= MAX_FRAMES:
        raise ValueError(
            f"frames: got {frames!r}; valid values are 4·n + 1 from 5 to {MAX_FRAMES} (5, 9, 13, 17, …): the video "
            f"VAE keeps frame 0 alone and packs each later 4 into one latent frame. Use {FRAMES}, or 9 to save time."
        )
    return frames


def generator(index: int, seed: int = 0, split: str = "train") -> torch.Generator:
    """The random stream of one clip: shapes.generator(index, seed, split) with the pictures' draws skipped."""
    if split not in shapes.SPLITS:
        raise ValueError(
            f"split: got {split!r}; valid values are 'train' and 'test'. Train on 'train' and judge on 'test': "
            "their random streams are disjoint."
        )
    g = shapes.generator(index, seed, split)  # checks seed and index
    torch.rand(_SKIP, generator=g)
    return g


def _lerp_path(start: float, end: float, frames: int) -> list[float]:
    """Constant speed: value at frame t = start + (end - start)·t/(F - 1)."""
    return [start + (end - start) * t / (frames - 1) for t in range(frames)]


def _plan(u: list[float], frames: int) -> dict:
    """15 uniforms in [0, 1) → one clip's attributes, with its per-frame centres and radii (px)."""
    color = list(shapes.COLORS)[int(u[0] * len(shapes.COLORS))]
    shape = shapes.SHAPES[int(u[1] * len(shapes.SHAPES))]
    motion = MOTIONS[int(u[4] * len(MOTIONS))]
    (s_lo, s_hi), (l_lo, l_hi) = shapes.SIZES["small"], shapes.SIZES["large"]
    across = _MIDDLE[0] + u[7] * (_MIDDLE[1] - _MIDDLE[0])

    if motion in DIRECTIONS:
        size = list(shapes.SIZES)[int(u[2] * len(shapes.SIZES))]
        low, high = shapes.SIZES[size]
        r0 = r1 = low + u[3] * (high - low)
        room = shapes.RESOLUTION - 2 * r0  # the centre may run over [r, 64 - r]: ≥ 28 px for r ≤ 18
        travel = MIN_TRAVEL + u[5] * (room - MIN_TRAVEL)
        low_end = r0 + u[6] * (room - travel)  # the path's lower end along its axis
        dx, dy = DIRECTIONS[motion]
        a, b = (low_end, low_end + travel) if dx + dy > 0 else (low_end + travel, low_end)
        start, end = ((a, across), (b, across)) if dx else ((across, a), (across, b))
        end_size = size
    else:  # about a fixed centre in the middle cell, from a small radius to a large one (or back)
        small, large = s_lo + u[3] * (s_hi - s_lo), l_lo + u[14] * (l_hi - l_lo)
        r0, r1 = (small, large) if motion == "growing" else (large, small)
        size, end_size = ("small", "large") if motion == "growing" else ("large", "small")
        start = end = (_MIDDLE[0] + u[6] * (_MIDDLE[1] - _MIDDLE[0]), across)

    xs, ys = _lerp_path(start[0], end[0], frames), _lerp_path(start[1], end[1], frames)
    return dict(
        color=color,
        shape=shape,
        motion=motion,
        size=size,
        end_size=end_size,
        start=start,
        end=end,
        centres=list(zip(xs, ys)),
        radii=_lerp_path(r0, r1, frames),
    )


def caption_for(attributes: dict, rng: torch.Generator | None = None, p_size: float = P_SIZE_WORD) -> str:
    """A caption true of every frame: "a {size} {color} {shape} {motion}"; the size word is drawn from rng.

    The size is named only for a shape that keeps it ("medium" has no word, as in shapes.caption_for).
    """
    (draw_size,) = torch.rand(1, generator=rng).tolist()
    keeps_size = attributes["motion"] in DIRECTIONS
    size_word = shapes.SIZE_WORDS[attributes["size"]] if keeps_size and draw_size < p_size else None
    words = [size_word, attributes["color"], attributes["shape"], MOTION_PHRASES[attributes["motion"]]]
    text = " ".join(word for word in words if word)
    return ("an " if text[0] in "aeiou" else "a ") + text  # "an orange square moving up"


def vocabulary() -> list[str]:
    """Every word the clip captions can produce, in a fixed order."""
    words = ["a", "an", *shapes.SIZE_WORDS.values(), *shapes.COLORS, *shapes.SHAPES]
    words += " ".join(MOTION_PHRASES.values()).split()
    return list(dict.fromkeys(word for word in words if word))


def batch(indices, seed: int = 0, split: str = "train", frames: int = FRAMES) -> dict:
    """Clips `indices` (or range(n) for an int n), drawn together: the same values as clip() one by one.

    Returns video (B, 3, F, 64, 64) in [-1, 1] (channels, frames, height, width: a video VAE's layout),
    mask (B, 1, F, 64, 64) in {0, 1}, caption: list of B strings, attributes: list of B dicts.
    """
    frames = check_frames(frames)
    indices = range(indices) if isinstance(indices, int) else indices
    generators = [generator(int(i), seed, split) for i in indices]
    if not generators:
        raise ValueError("indices: got none; pass a positive count or a non-empty list of indices.")
    u = torch.stack([torch.rand(_N_UNIFORMS, generator=g) for g in generators])  # (B, 15)
    attributes = [_plan(row, frames) for row in u.tolist()]
    background = torch.tensor(shapes.BACKGROUND) + shapes.BACKGROUND_JITTER * (2 * u[:, 8:11] - 1)  # (B, 3)
    rgb = torch.tensor([shapes.COLORS[a["color"]] for a in attributes])  # (B, 3)
    rgb = (rgb + shapes.COLOR_JITTER * (2 * u[:, 11:14] - 1)).clamp(0, 1)

    # Every frame of every clip in one call of shapes' renderer: a batch of B·F pictures, clip-major.
    centres = torch.tensor([a["centres"] for a in attributes])  # (B, F, 2) in px
    radii = torch.tensor([a["radii"] for a in attributes])  # (B, F) in px
    shape_id = torch.tensor([shapes.SHAPES.index(a["shape"]) for a in attributes])  # (B,)
    image, mask = shapes._draw(
        shape_id.repeat_interleave(frames),  # (B·F,)
        rearrange(centres[..., 0], "b f -> (b f)"),
        rearrange(centres[..., 1], "b f -> (b f)"),
        rearrange(radii, "b f -> (b f)"),
        rgb=rgb.repeat_interleave(frames, dim=0),  # (B·F, 3)
        background=background.repeat_interleave(frames, dim=0),
    )  # (B·F, 3, H, W), (B·F, 1, H, W)
    video = rearrange(image, "(b f) c h w -> b c f h w", f=frames)
    mask = rearrange(mask, "(b f) c h w -> b c f h w", f=frames)
    captions = [caption_for(a, g) for a, g in zip(attributes, generators)]  # one more draw per clip
    return dict(video=video, mask=mask, caption=captions, attributes=attributes)


def clip(index: int, seed: int = 0, split: str = "train", frames: int = FRAMES) -> dict:
    """One clip: video (3, F, 64, 64) in [-1, 1], mask (1, F, 64, 64) in {0, 1}, caption, attributes."""
    one = batch([index], seed, split, frames)
    return dict(video=one["video"][0], mask=one["mask"][0], caption=one["caption"][0], attributes=one["attributes"][0])
