"""An offline CLIP tokenizer for the shapes world: CLIP's own file format, with merges learnt from our words.

CLIP turns text into token ids in three steps (Radford et al. 2021, byte-level BPE as in GPT-2):

    1. normalise      lowercase, collapse runs of whitespace
    2. pre-tokenise   split into words ([letters]+), single digits and runs of punctuation; write each byte
                      as one printable character ("byte-level"), so no input can ever be out of the alphabet
    3. BPE            start from a word's characters, the last one marked as ending the word, and apply the
                      learnt merges, lowest rank first, until none applies:
                      r e d</w>  →  re d</w>  →  red</w>

OpenAI's merges.txt holds 48,894 merges learnt from web text, and vocab.json lists the 256 byte characters, the
same 256 with "</w>", one token per merge and <|startoftext|>, <|endoftext|>: 49,408 tokens. We keep the
format and the whole pipeline (transformers' CLIPTokenizer reads our files unchanged) but learn the merges
from the few words the shapes world uses, until each of them is a single token. Any other word still
tokenizes: it falls apart into pieces down to single characters, which are always in the vocabulary.
"""

import json
import re
from collections import Counter
from pathlib import Path

from transformers import CLIPTokenizer

from ..data import shapes

END_OF_WORD = "</w>"
BOS, EOS = "<|startoftext|>", "<|endoftext|>"  # EOS also pads, as in Stable Diffusion 1.x
MODEL_MAX_LENGTH = 77  # CLIP's context, kept so that text embeddings have SD's shape (B, 77, hidden)

# Words outside the caption grammar that prompts, and negative prompts, commonly use.
COMMON_WORDS = (
    "a", "an", "the", "of", "and", "on", "at", "in", "with", "photo", "picture", "image", "shape", "color",
    "colour", "background", "left", "right", "top", "bottom", "small", "large", "big", "tiny", "blurry", "bad",
    "quality",
)  # fmt: skip


def default_tokenizer_words() -> list[str]:
    """The caption grammar's words (difflab.data.shapes) followed by COMMON_WORDS, without repeats."""
    return list(dict.fromkeys([*shapes.vocabulary(), *COMMON_WORDS]))


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → character table: printable bytes stand for themselves, the other 68 (space, control
    characters, …) are moved to characters from U+0100 on, so every byte is one visible character."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + i) for i, b in enumerate(moved)}}


def learn_merges(words) -> list[tuple[str, str]]:
    """BPE training (Sennrich et al. 2016) on a list of words, run until every word is one symbol.

    Repeat: count adjacent symbol pairs over all words, merge the most frequent pair everywhere (ties go to
    the pair seen first, words taken in sorted order, so the result is deterministic), and record it.
    """
    for word in words:
        if not re.fullmatch("[a-z]+", word):
            raise ValueError(f"words: got {word!r}; each must be lowercase a-z only (one CLIP pre-token).")
    corpus = [(*word[:-1], word[-1] + END_OF_WORD) for word in sorted(set(words))]  # "red" → (r, e, d</w>)
    merges = []
    while pairs := Counter(pair for symbols in corpus for pair in zip(symbols, symbols[1:])):
        (left, right), _ = pairs.most_common(1)[0]
        merges.append((left, right))
        corpus = [_merge(symbols, left, right) for symbols in corpus]
    return merges


def _merge(symbols: tuple, left: str, right: str) -> tuple:
    """Replace every adjacent (left, right) in `symbols` by left + right, scanning left to right."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == (left, right):
            out.append(left + right)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def clip_vocab(merges) -> dict[str, int]:
    """CLIP's vocabulary layout: 256 byte characters, the same with </w>, one token per merge, then BOS, EOS."""
    alphabet = list(bytes_to_unicode().values())
    tokens = [*alphabet, *(c + END_OF_WORD for c in alphabet), *(left + right for left, right in merges), BOS, EOS]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}  # two merges may build the same token


def build_clip_tokenizer(folder, words=None, model_max_length: int = MODEL_MAX_LENGTH) -> CLIPTokenizer:
    """Write a CLIP tokenizer for `words` (default: default_tokenizer_words()) to `folder` and load it back.

    The folder gets vocab.json and merges.txt in OpenAI's format, then tokenizer.json and tokenizer_config.json
    as CLIPTokenizer.save_pretrained writes them, so CLIPTokenizer.from_pretrained(folder) needs no network.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    merges = learn_merges(default_tokenizer_words() if words is None else words)
    (folder / "vocab.json").write_text(json.dumps(clip_vocab(merges), ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tokenizer = CLIPTokenizer(
        vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=model_max_length
    )
    tokenizer.save_pretrained(folder)
    return CLIPTokenizer.from_pretrained(folder)
