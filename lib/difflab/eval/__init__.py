"""Judging generated images: the shapes judge, prompt adherence and diversity."""

from .judge import HEADS, ShapesJudge, accuracy
from .metrics import diversity, parse_prompt, prompt_adherence

__all__ = ["HEADS", "ShapesJudge", "accuracy", "diversity", "parse_prompt", "prompt_adherence"]
