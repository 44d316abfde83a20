"""``suite.tokenizer_decode``: the text ``tokenizer.decode`` gives, under a deadline."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from suite.errors import SpecError
from suite.models import load_tokenizer
from suite.tokenizer_decode import decode_text, decode_texts

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def _word_level(vocab: dict, decoder: dict | None, **kwargs) -> PreTrainedTokenizerFast:
    body = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": None, "decoder": decoder,
        "model": {"type": "WordLevel", "vocab": {**vocab, "[U]": len(vocab)}, "unk_token": "[U]"},
    }  # fmt: skip
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(body)), **kwargs)


@pytest.mark.parametrize("family", ["llama", "t5"])
def test_the_bundled_tokenizers_decode_as_transformers_does(family):
    tokenizer = load_tokenizer(REFERENCE / family / "tokenizer")
    rng = random.Random(0)
    sequences = [
        [rng.randrange(len(tokenizer)) for _ in range(rng.randrange(0, 40))] for _ in range(50)
    ]
    sequences += [[i] for i in range(0, len(tokenizer), 7)] + [list(tokenizer.all_special_ids)]
    for skip in (False, True):
        expected = [tokenizer.decode(seq, skip_special_tokens=skip) for seq in sequences]
        assert decode_texts(tokenizer, sequences, skip_special_tokens=skip) == expected
        assert decode_text(tokenizer, sequences[0], skip_special_tokens=skip) == expected[0]


def test_the_clean_up_of_spaces_is_applied_where_transformers_applies_it():
    vocab = {"hello": 0, ".": 1, "it": 2, "'s": 3, "!": 4}
    decoder = {"type": "WordPiece", "prefix": "##", "cleanup": False}
    for clean in (True, False):
        tokenizer = _word_level(vocab, decoder, clean_up_tokenization_spaces=clean)
        ids = [0, 1, 2, 3, 4]
        assert decode_text(tokenizer, ids) == tokenizer.decode(ids)
    assert decode_text(_word_level(vocab, decoder, clean_up_tokenization_spaces=True), ids) != (
        decode_text(_word_level(vocab, decoder, clean_up_tokenization_spaces=False), ids)
    )  # the control: the clean-up changed something here


def test_a_decoder_slow_on_generated_text_is_refused_at_the_deadline(monkeypatch):
    """A Replace step quadratic on runs of ``a`` (3.6 ms a 1,000-character token): 1,000 tokens
    take seconds; the call stops at the deadline (decode_batch releases the GIL)."""
    from suite import tokenizer_decode

    monkeypatch.setattr(tokenizer_decode, "DECODE_SECONDS", 0.3)
    decoder = {"type": "Replace", "pattern": {"Regex": "a+(?:x|y)"}, "content": "q"}
    tokenizer = _word_level({"a" * 1000: 0}, decoder)
    assert decode_text(tokenizer, [0]) == "a" * 1000  # the control
    start = time.monotonic()
    with pytest.raises(SpecError, match=r"took over 0\.3 s on decoding 1,000 tokens"):
        decode_text(tokenizer, [0] * 1000)
    assert time.monotonic() - start < 2


def test_a_panic_while_decoding_names_the_tokenizer(monkeypatch):
    tokenizer = _word_level({"a": 0}, None)

    class Panic(BaseException):
        pass

    Panic.__name__ = "PanicException"

    def panics(*args, **kwargs):
        raise Panic("decoder exploded")

    monkeypatch.setattr(type(tokenizer.backend_tokenizer), "decode_batch", panics, raising=False)
    with pytest.raises(SpecError, match="the tokenizer failed: decoder exploded"):
        decode_text(tokenizer, [0])
