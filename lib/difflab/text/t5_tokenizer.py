"""An offline T5 tokenizer for the moving-shapes world: the Unigram model Wan's UMT5 uses, over our own words.

T5 and UMT5 tokenize with SentencePiece's Unigram model (Kudo 2018), not BPE:

    1. normalise      collapse whitespace; put "▁" before the text and in place of every space
    2. segment        of all ways to cut "▁a▁red▁circle" into pieces from the vocabulary, take the one whose
                      pieces' log-probabilities add up highest (Viterbi):  ▁a ▁red ▁circle
    3. close          append </s> (id 1); pad with <pad> (id 0), as T5

Google's spiece.model for UMT5 holds 256,384 pieces. Ours holds T5's three special tokens, "▁", one piece per
word of the world (log-probability -1, so a known word is always one piece) and the 26 letters (-5, so any other
lowercase word still tokenizes, letter by letter); anything else becomes <unk>. transformers' T5Tokenizer builds
the same Unigram model from such a list, and save_pretrained writes tokenizer.json, so
AutoTokenizer.from_pretrained(folder) loads it with no network and no sentencepiece.
"""

from pathlib import Path

from transformers import AutoTokenizer, T5Tokenizer

from ..data import moving_shapes, shapes
from .tokenizer import COMMON_WORDS

SPECIAL = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]  # ids 0, 1, 2, as in T5: pad, eos, unk
WORD_SCORE, LETTER_SCORE = -1.0, -5.0  # one word piece beats any spelling of it from letters
MODEL_MAX_LENGTH = 512  # the Wan pipeline's max_sequence_length


def default_video_words() -> list[str]:
    """moving_shapes' caption words, then the picture world's and COMMON_WORDS, without repeats."""
    return list(dict.fromkeys([*moving_shapes.vocabulary(), *shapes.vocabulary(), *COMMON_WORDS]))


def unigram_vocab(words) -> list[tuple[str, float]]:
    """(piece, log-probability) pairs: special tokens, "▁", "▁word" for each word, then the letters a–z."""
    for word in words:
        if not (word.isascii() and word.isalpha() and word.islower()):
            raise ValueError(f"words: got {word!r}; each must be lowercase a-z only (one piece after '▁').")
    pieces = SPECIAL + [("▁", -2.0)] + [(f"▁{w}", WORD_SCORE) for w in dict.fromkeys(words)]
    return pieces + [(c, LETTER_SCORE) for c in "abcdefghijklmnopqrstuvwxyz"]


def build_t5_tokenizer(folder, words=None, model_max_length: int = MODEL_MAX_LENGTH):
    """Write a T5 tokenizer for `words` (default: default_video_words()) to `folder` and load it back with
    AutoTokenizer, offline: tokenizer.json (the Unigram model) and tokenizer_config.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = unigram_vocab(default_video_words() if words is None else words)
    T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=model_max_length).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
