import json
import socket

import pytest
from transformers import CLIPTokenizer, CLIPTokenizerFast
from transformers.convert_slow_tokenizer import bytes_to_unicode as transformers_bytes_to_unicode

from difflab.data import shapes
from difflab.text import tokenizer as clip_tokenizer
from difflab.text.tokenizer import build_clip_tokenizer, default_tokenizer_words

CAPTION = "a large red circle on the left"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip_tokenizer")
    return folder, build_clip_tokenizer(folder)


@pytest.fixture
def no_network(monkeypatch):
    """HF_HUB_OFFLINE=1, and any attempt to open a connection fails loudly."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise OSError("test_tokenizer: network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_every_default_word_is_one_token(saved):
    _, tokenizer = saved
    for word in default_tokenizer_words():
        tokens = tokenizer.convert_ids_to_tokens(tokenizer(word).input_ids)
        assert tokens == ["<|startoftext|>", word + "</w>", "<|endoftext|>"]


def test_caption_round_trips_with_one_token_per_word_and_pads_to_max_length(saved):
    _, tokenizer = saved
    ids = tokenizer(CAPTION).input_ids
    assert len(ids) == len(CAPTION.split()) + 2
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    padded = tokenizer(CAPTION, padding="max_length", max_length=tokenizer.model_max_length)
    assert tokenizer.model_max_length == 77 and len(padded.input_ids) == 77
    assert padded.input_ids[len(ids) :] == [tokenizer.eos_token_id] * (77 - len(ids))  # pad with <|endoftext|>, as SD
    assert sum(padded.attention_mask) == len(ids)
    assert tokenizer.decode(padded.input_ids, skip_special_tokens=True) == CAPTION


def test_loads_from_the_saved_folder_without_network(saved, no_network):
    folder, built = saved
    assert {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in folder.iterdir()}
    for cls in (CLIPTokenizer, CLIPTokenizerFast):
        loaded = cls.from_pretrained(folder)
        assert loaded(CAPTION).input_ids == built(CAPTION).input_ids
        assert (loaded.model_max_length, loaded.pad_token) == (77, "<|endoftext|>")


def test_unknown_words_fall_back_to_characters(saved):
    _, tokenizer = saved
    ids = tokenizer("zebra").input_ids
    assert tokenizer.convert_ids_to_tokens(ids)[1:-1] == ["z", "e", "b", "r", "a</w>"]
    assert tokenizer.unk_token_id not in ids[1:-1]  # <|endoftext|> doubles as unk: it must not appear inside
    assert tokenizer.decode(ids, skip_special_tokens=True) == "zebra"
    ids = tokenizer("Café №9").input_ids  # non-ASCII text becomes bytes, which are all in the vocabulary
    assert tokenizer.unk_token_id not in ids[1:-1]


def test_vocab_and_merges_follow_clips_layout(saved):
    folder, tokenizer = saved
    vocab = json.loads((folder / "vocab.json").read_text())
    merges = (folder / "merges.txt").read_text().splitlines()
    alphabet = list(transformers_bytes_to_unicode().values())
    assert list(vocab)[:512] == alphabet + [c + "</w>" for c in alphabet]
    assert list(vocab)[-2:] == ["<|startoftext|>", "<|endoftext|>"]
    assert list(vocab.values()) == list(range(len(vocab))) and len(tokenizer) == len(vocab)
    assert merges[0] == "#version: 0.2" and all(len(line.split(" ")) == 2 for line in merges[1:])


def test_bytes_to_unicode_matches_gpt2s_table():
    assert clip_tokenizer.bytes_to_unicode() == transformers_bytes_to_unicode()


def test_every_generated_caption_is_one_token_per_word(saved):
    _, tokenizer = saved
    captions = shapes.batch(300, seed=4)["caption"]
    lengths = [len(ids) for ids in tokenizer(captions).input_ids]
    assert lengths == [len(c.split()) + 2 for c in captions]
    assert max(lengths) <= 9 <= tokenizer.model_max_length  # article, size, colour, shape, 3-word position + BOS/EOS


def test_learn_merges_merges_the_shared_pair_first_and_stops_at_whole_words():
    merges = clip_tokenizer.learn_merges(["red", "green"])
    assert merges[0] == ("r", "e")  # the only pair that occurs twice
    assert len(merges) == (3 - 1) + (5 - 1) - 1  # a word of n characters needs n - 1 merges; "re" serves both
    assert {a + b for a, b in merges} >= {"red</w>", "green</w>"}


def test_learn_merges_rejects_words_clip_would_split():
    with pytest.raises(ValueError, match="words"):
        clip_tokenizer.learn_merges(["don't"])
