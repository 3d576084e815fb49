"""Text for the shapes world: `tokenizer` builds an offline CLIP tokenizer whose vocabulary covers the captions."""

from .tokenizer import build_clip_tokenizer, default_tokenizer_words

__all__ = ["build_clip_tokenizer", "default_tokenizer_words"]
