"""Judging generated moving-shapes clips: what each frame shows, how the shape moves, and whether it stays itself.

Colour, shape and size come from the picture judge (ShapesJudge), run on every frame as one batch; a clip's
label is the majority over its frames. The motion is measured, not learned: the shape's pixels are those far
from the background colour, their centroid and area are fitted with a straight line over time, and the fit's
change over the clip says which way the shape went (or whether it grew or shrank).

    read_clips(videos, judge)                     videos (B, 3, F, 64, 64) in [-1, 1] → one reading per clip
    video_adherence(videos, prompts, judge)       videos in [0, 1] (a pipeline's output, as prompt_adherence)
    temporal_consistency(videos, judge)           videos in [0, 1]
"""

import math
import re
from collections import Counter

import torch
from einops import rearrange

from ..data import moving_shapes
from .judge import ShapesJudge
from .metrics import parse_prompt

FOREGROUND_DISTANCE = 0.25  # RGB distance from the background, in [0, 1] units, above which a pixel is the shape
MIN_SHIFT = 4.0  # px the fitted centroid must travel for a clip to count as moving (true clips travel ≥ 16)
MIN_GROWTH = 2.0  # px the fitted radius √(area/π) must change to count as growing/shrinking (true: ≥ 5)
MAX_JITTER = 2.0  # px any frame's centroid or radius may sit off the clip's constant-speed fit and still be steady
MOTION_LABELS = (*moving_shapes.MOTIONS, "static")
_MOTION_WORDS = {phrase: motion for motion, phrase in moving_shapes.MOTION_PHRASES.items()}


def foreground(videos: torch.Tensor) -> torch.Tensor:
    """(B, 3, F, H, W) in [-1, 1] → (B, F, H, W) bool: pixels far from their frame's background colour.

    The background is each frame's per-channel median: the shape covers under a third of the canvas.
    """
    rgb = (videos + 1) / 2  # [0, 1]
    background = rgb.flatten(3).median(dim=3).values[..., None, None]  # (B, 3, F, 1, 1)
    return (rgb - background).norm(dim=1) > FOREGROUND_DISTANCE  # (B, F, H, W)


def tracks(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, F, H, W) bool → centroid (B, F, 2) as (x, y) px (pixel i's centre at i + ½; NaN where empty)
    and radius (B, F) = √(area/π) px, the radius of a disc with the same area."""
    m = mask.float()
    area = m.sum((2, 3))  # (B, F)
    centres = torch.arange(m.shape[-1]) + 0.5
    x = (m.sum(2) * centres).sum(2) / area  # Σ_pixels x / area; NaN for an empty frame
    y = (m.sum(3) * centres).sum(2) / area
    return torch.stack([x, y], dim=-1), (area / math.pi).sqrt()


def _fit(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares line through (t, v_t) per row, over the finite values of (B, F, K).

    Returns the fitted change over the clip, v̂_{F-1} - v̂_0, (B, K), and each frame's distance from the line
    (B, F, K) (0 where the value is missing).
    """
    valid = values.isfinite()
    w = valid.float()
    v = torch.where(valid, values, 0.0)
    t = torch.arange(values.shape[1], dtype=values.dtype)[None, :, None]  # (1, F, 1)
    n = w.sum(1, keepdim=True).clamp(min=1)
    t_mean, v_mean = (w * t).sum(1, keepdim=True) / n, (w * v).sum(1, keepdim=True) / n
    # slope = Σ w (t - t̄)(v - v̄) / Σ w (t - t̄)²
    slope = (w * (t - t_mean) * (v - v_mean)).sum(1, keepdim=True) / (w * (t - t_mean) ** 2).sum(1, keepdim=True)
    slope = torch.nan_to_num(slope)  # fewer than 2 frames with a shape: no trend
    residual = w * (v - (v_mean + slope * (t - t_mean))).abs()
    return slope[:, 0] * (values.shape[1] - 1), residual


def motion_of(centre_change: torch.Tensor, radius_change: torch.Tensor) -> list[str]:
    """(B, 2) fitted (dx, dy) and (B,) fitted radius change, px → "left", …, "growing", "shrinking" or "static".

    A translation keeps the area and a growing shape keeps its centroid, so the larger of the two tells them apart.
    """
    labels = []
    for (dx, dy), dr in zip(centre_change.tolist(), radius_change.tolist()):
        shift = max(abs(dx), abs(dy))
        if shift >= MIN_SHIFT and shift >= 2 * abs(dr):
            labels.append(("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else ("down" if dy > 0 else "up"))
        elif abs(dr) >= MIN_GROWTH:
            labels.append("growing" if dr > 0 else "shrinking")
        else:
            labels.append("static")
    return labels


def _majority(labels: list[str]) -> str:
    return Counter(labels).most_common(1)[0][0]


@torch.no_grad()
def read_clips(videos: torch.Tensor, judge: ShapesJudge) -> list[dict]:
    """videos (B, 3, F, 64, 64) in [-1, 1] → per clip: color, shape, size (majority over frames), motion,
    steady (every frame within MAX_JITTER px of a constant-speed fit), and frames: the judge's per-frame reading."""
    if videos.dim() != 5 or videos.shape[1] != 3:
        raise ValueError(
            f"videos: got shape {tuple(videos.shape)}; expected (B, 3, F, H, W) (channels before frames, as "
            "moving_shapes.batch returns). For one clip, add the batch axis with video[None]."
        )
    b, _, f, _, _ = videos.shape
    per_frame = judge.eval().predict(rearrange(videos, "b c f h w -> (b f) c h w"))  # B·F dicts, clip-major
    centroid, radius = tracks(foreground(videos))
    centre_change, centre_residual = _fit(centroid)
    radius_change, radius_residual = _fit(radius[..., None])
    motions = motion_of(centre_change, radius_change[:, 0])
    jitter = torch.cat([centre_residual, radius_residual], dim=2).amax((1, 2))  # (B,) px
    present = radius.gt(0).all(1)  # a shape in every frame
    readings = []
    for i in range(b):
        frames = per_frame[i * f : (i + 1) * f]
        reading = {name: _majority([p[name] for p in frames]) for name in ("color", "shape", "size")}
        steady = bool(present[i]) and jitter[i].item() <= MAX_JITTER
        readings.append(dict(reading, motion=motions[i], steady=steady, frames=frames))
    return readings


def parse_video_prompt(prompt: str) -> dict:
    """parse_prompt's colour, shape and size, plus "motion" if the prompt names one; position is dropped (it moves)."""
    named = {k: v for k, v in parse_prompt(prompt).items() if k != "position"}
    text = " ".join(re.findall(r"[a-z]+", prompt.lower()))
    for phrase, motion in _MOTION_WORDS.items():
        if re.search(rf"\b{phrase}\b", text):
            named["motion"] = motion
    return named


def _as_model_range(videos: torch.Tensor) -> torch.Tensor:
    """A pipeline's (B, 3, F, H, W) tensor in [0, 1] → [-1, 1] (metrics.as_model_range, for clips)."""
    return videos * 2 - 1


def video_adherence(videos: torch.Tensor, prompts: list[str], judge: ShapesJudge) -> dict[str, float]:
    """Per-attribute accuracy, videos (B, 3, F, H, W) in [0, 1]: of the clips whose prompt names an attribute
    (color, shape, size, motion), the share whose reading agrees."""
    if len(prompts) != len(videos):
        raise ValueError(f"prompts: got {len(prompts)} for {len(videos)} videos; pass one prompt per video.")
    hits = {}
    for reading, prompt in zip(read_clips(_as_model_range(videos), judge), prompts):
        for name, wanted in parse_video_prompt(prompt).items():
            hits.setdefault(name, []).append(reading[name] == wanted)
    return {name: sum(h) / len(h) for name, h in hits.items()}


def temporal_consistency(videos: torch.Tensor, judge: ShapesJudge) -> dict[str, float]:
    """Shares of clips (videos (B, 3, F, H, W) in [0, 1]) that stay themselves over time:

    color / shape: the judge reads the same colour / shape in every frame; steady: the shape is in every frame
    and moves and grows at constant speed (no frame off the fitted line by more than MAX_JITTER px);
    all: all three at once.
    """
    readings = read_clips(_as_model_range(videos), judge)
    same = {name: [len({p[name] for p in r["frames"]}) == 1 for r in readings] for name in ("color", "shape")}
    checks = dict(same, steady=[r["steady"] for r in readings])
    checks["all"] = [all(c) for c in zip(*checks.values())]
    return {name: sum(c) / len(c) for name, c in checks.items()}
