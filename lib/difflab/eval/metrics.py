"""Scoring generated shapes-world images: does each image show what its prompt asked for, and how varied are they?"""

import math
import re
from collections import Counter

import torch

from ..data import shapes
from .judge import HEADS, ShapesJudge

POSITION_WORDS = {phrase: position for position, phrase in shapes.POSITION_PHRASES.items()}


def parse_prompt(prompt: str) -> dict:
    """The attributes a prompt names: {"color": "red", "shape": "circle"} plus "size"/"position" if mentioned."""
    words = re.findall(r"[a-z]+", prompt.lower())
    named = {}
    for word in words:
        if word in shapes.COLORS:
            named["color"] = word
        elif word in shapes.SHAPES:
            named["shape"] = word
        elif word in ("small", "large"):
            named["size"] = word
    for phrase, position in POSITION_WORDS.items():
        if phrase in prompt.lower():
            named["position"] = position
    return named


def as_model_range(images) -> torch.Tensor:
    """PIL images, or a pipeline's (B, 3, H, W) tensor in [0, 1], → (B, 3, H, W) in [-1, 1]."""
    if isinstance(images, torch.Tensor):
        return images * 2 - 1
    from ..pipelines.images import to_model_range

    return to_model_range(list(images))


def prompt_adherence(images, prompts: list[str], judge: ShapesJudge) -> dict[str, float]:
    """Per-attribute accuracy: of the images whose prompt names an attribute, the share the judge agrees with."""
    predictions = judge.predict(as_model_range(images))
    hits = {name: [] for name in HEADS}
    for prediction, prompt in zip(predictions, prompts):
        for name, wanted in parse_prompt(prompt).items():
            hits[name].append(prediction[name] == wanted)
    return {name: sum(h) / len(h) for name, h in hits.items() if h}


def diversity(images) -> float:
    """Mean pairwise RMS distance between images (in [0, 1] pixel units): 0 when every seed gives the same image."""
    x = (as_model_range(images) + 1) / 2
    flat = x.flatten(1)  # (N, 3·H·W)
    distances = torch.cdist(flat, flat) / flat.shape[1] ** 0.5  # RMS per pixel value
    n = len(flat)
    return (distances.sum() / (n * (n - 1))).item()


def entropy_bits(labels: list) -> float:
    """Shannon entropy of a list of labels, in bits: 0 when all agree, log2(k) when k labels are equally common."""
    counts = Counter(labels).values()
    n = sum(counts)
    return sum(c / n * math.log2(n / c) for c in counts)


def attribute_entropy(images, judge: ShapesJudge) -> dict[str, float]:
    """Variety of what the judge reads off a set of images (say, one prompt under many seeds), per attribute.

    {"color": bits, "shape": bits, "size": bits, "position": bits}: an attribute the prompt leaves open should
    vary across seeds; guidance tends to collapse it towards one value, which pixel distances do not show.
    """
    predictions = judge.predict(as_model_range(images))
    return {name: entropy_bits([p[name] for p in predictions]) for name in HEADS}
