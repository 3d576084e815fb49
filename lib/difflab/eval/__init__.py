"""Judging generated images: the shapes judge, prompt adherence and diversity."""

from .judge import HEADS, ShapesJudge, accuracy
from .metrics import attribute_entropy, diversity, entropy_bits, parse_prompt, prompt_adherence
from .video_judge import parse_video_prompt, read_clips, temporal_consistency, video_adherence

__all__ = [
    "HEADS",
    "ShapesJudge",
    "accuracy",
    "attribute_entropy",
    "diversity",
    "entropy_bits",
    "parse_prompt",
    "parse_video_prompt",
    "prompt_adherence",
    "read_clips",
    "temporal_consistency",
    "video_adherence",
]
