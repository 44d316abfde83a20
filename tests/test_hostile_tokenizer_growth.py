"""A profile's tokenizer whose Unicode normalizers, sentencepiece charsmap, pre-tokenizers or
post-processor can grow a prompt without bound, or whose vocabulary holds a token of megabytes:
refused when the profile is read, naming the tokenizer file, the field and the value. Real chains
(Llama-2's, BERT's, GPT-2's, T5's shape) pass; a long chat render through a growing normalizer is
refused before the tokenizer sees it."""

from __future__ import annotations

import base64
import struct
import sys
import unicodedata

import pytest

from suite.errors import SpecError
from suite.models import load_tokenizer
from suite.profiles import load_profile_file
from suite.prompts import MAX_NORMALIZED_CHARS, _encode
from suite.tokenizer_files import _GROWTH, _python_syntax, _shape_problem, tokenizer_growth
from suite.tokenizer_growth import (
    MAX_ENCODE_GROWTH,
    UNICODE_GROWTH,
    charsmap_growth,
    encode_growth,
    growth_problem,
)
from tests.test_hostile_round5_tokenizers import _argv, _refused_in_subprocess
from tests.test_hostile_tokenizer_ids import LLAMA, _case


def _charsmap(*texts: str) -> str:
    """A sentencepiece charsmap (base64) whose replacement texts are ``texts``."""
    pool = b"".join(t.encode() + b"\0" for t in texts)
    return base64.b64encode(struct.pack("<I", 4) + struct.pack("<I", 0) + pool).decode()


def test_the_unicode_bounds_hold_for_every_code_point():
    points = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000]
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        worst = max(len(unicodedata.normalize(form, c)) for c in points)
        assert worst <= UNICODE_GROWTH[form], (form, worst)
    assert max(len(c.lower()) for c in points) <= UNICODE_GROWTH["Lowercase"]
    assert len(unicodedata.normalize("NFKC", "\ufdfa")) == 18  # the bound is reached


def _unicode_pump(rounds):
    """Each round: every character becomes U+FDFA, which NFKC spells in 18 characters."""

    def change(data, config):
        step = [
            {"type": "Replace", "pattern": {"Regex": "."}, "content": "\ufdfa"},
            {"type": "NFKC"},
        ]
        data["normalizer"] = {"type": "Sequence", "normalizers": step * rounds}

    return change


def test_nfkc_after_a_replace_is_counted_and_a_pump_is_refused(tmp_path):
    profile, study = _case(tmp_path, _unicode_pump(4))
    _refused_in_subprocess(
        tmp_path, _argv(tmp_path, study, profile), "p.yaml", "tokenizer.json",
        "normalizer.normalizers[3].type", "NFKC", "1,620-fold",
    )  # fmt: skip


def _set(chain, value):
    def change(data, config):
        data[chain] = value

    return change


SEQ = "Sequence"


def _nested(depth):
    step = {"type": "NFC"}
    for _ in range(depth):
        step = {"type": SEQ, "normalizers": [step]}
    return step


CASES = [
    (
        "charsmap-40",
        _set("normalizer", {"type": "Precompiled", "precompiled_charsmap": _charsmap("x" * 60)}),
        "normalizer.precompiled_charsmap", "300-fold",
    ),
    (
        "charsmap-not-base64",
        _set("normalizer", {"type": "Precompiled", "precompiled_charsmap": "%%%"}),
        "normalizer.precompiled_charsmap", "not a sentencepiece charsmap",
    ),
    (
        "charsmap-trie-past-end",
        _set("normalizer", {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(
            struct.pack("<I", 4096)).decode()}),
        "normalizer.precompiled_charsmap", "past its end",
    ),
    (
        "bert-lowercase-after-nfkd",
        _set("normalizer", {"type": SEQ, "normalizers": [{"type": "NFKD"}, {"type": "Lowercase"}]}),
        "normalizer.normalizers[1].type", "Lowercase", "270-fold",
    ),
    (
        "bytelevel-pre-tokenizer-four-times",
        _set("pre_tokenizer", {"type": SEQ, "pretokenizers": [
            {"type": "ByteLevel", "add_prefix_space": True, "use_regex": False}] * 4}),
        "pre_tokenizer.pretokenizers[3].type", "ByteLevel", "625-fold",
    ),
    (
        "ctc-empty-delimiter",
        _set("decoder", {"type": SEQ, "decoders": [{
            "type": "CTC", "pad_token": "<pad>", "word_delimiter_token": "", "cleanup": True,
        }] * 3}),
        "decoder.decoders[1].type", "CTC", "9-fold",
    ),
    (
        "charsmap-trie-size-not-whole-units",  # the library reads its texts 3 bytes earlier
        _set("normalizer", {"type": SEQ, "normalizers": [{
            "type": "Precompiled", "precompiled_charsmap": base64.b64encode(
                struct.pack("<I", 1027) + b"\0" * 1024 + b"QQQ" + b"Q\0").decode(),
        }] * 4}),
        "normalizer.normalizers[2].precompiled_charsmap", "320-fold",
    ),
    (
        "posix-class-that-matches-empty",  # Python reads [[:alpha:]]* as one character at least
        _set("normalizer", {"type": SEQ, "normalizers": [
            {"type": "Replace", "pattern": {"Regex": "[[:alpha:]]*"}, "content": "-"}] * 4}),
        "pattern.Regex' = '[[:alpha:]]*'", "POSIX bracket",
    ),
    (
        "bpe-subword-prefix-of-megabytes",
        lambda data, config: data["model"].update(continuing_subword_prefix="#" * (1 << 20)),
        "model.continuing_subword_prefix", "at most 64 characters",
    ),
    (
        "fixed-length-zero",  # the library panicked on the first prompt
        _set("pre_tokenizer", {"type": "FixedLength", "length": 0}),
        "pre_tokenizer.length", "expected 1 to 1,048,576",
    ),
    (
        "unknown-normalizer",
        _set("normalizer", {"type": "Grow"}),
        "normalizer.type", "Grow", "cannot bound",
    ),
    (
        "nested-sequences",
        _set("normalizer", _nested(20)),
        "normalizer", "nest at most 16",
    ),
    (
        "template-repeats-the-prompt",
        _set("post_processor", {"type": "TemplateProcessing",
             "single": [{"Sequence": {"id": "A", "type_id": 0}}] * 3,
             "pair": [{"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}),
        "post_processor.single", "3 Sequence pieces", "at most 1",
    ),
    (
        "template-special-ids",
        _set("post_processor", {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<X>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"Sequence": {"id": "A", "type_id": 0}}],
             "special_tokens": {"<X>": {"id": "<X>", "ids": [0] * 5000, "tokens": ["a"] * 5000}}}),
        "post_processor", "5000 ids", "at most 64",
    ),
    (
        "vocabulary-token-of-a-megabyte",
        lambda data, config: data["model"]["vocab"].update({"y" * (1 << 20): 1}),
        "model.vocab.yyyy", "at most 1,024 characters", "1,048,576",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_tokenizer_that_can_grow_text_without_bound_is_refused_at_profile_read(tmp_path, case):
    """In a child of at most 3 GiB: each would grow a prompt without bound if it passed."""
    change, *expected = case
    profile, study = _case(tmp_path, change)
    argv = _argv(tmp_path, study, profile)
    _refused_in_subprocess(tmp_path, argv, "p.yaml", "tokenizer.json", *expected)


LLAMA2 = {
    "normalizer": {"type": SEQ, "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": None,
}  # fmt: skip
BERT = {
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                   "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
}  # fmt: skip
GPT2 = {
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
}  # fmt: skip
T5 = {
    "normalizer": {"type": SEQ, "normalizers": [
        {"type": "Precompiled", "precompiled_charsmap": _charsmap("a", "\u0635\u0644\u0649 " * 4)},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
    "pre_tokenizer": {"type": SEQ, "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"}]},
    "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"},
}  # fmt: skip


@pytest.mark.parametrize(
    "chains, growth",
    [(LLAMA2, 2), (BERT, 36), (GPT2, 5), (T5, 32)],
    ids=["llama2", "bert", "gpt2", "t5"],
)
def test_controls_real_chains_pass_with_their_growth(chains, growth):
    assert growth_problem(chains, _python_syntax) is None
    assert encode_growth(chains, _python_syntax) == growth <= MAX_ENCODE_GROWTH
    assert charsmap_growth(_charsmap("a", "bc"), "f") == 2


def test_controls_a_small_charsmap_and_a_real_template_pass_at_profile_read(tmp_path):
    def change(data, config):
        data["normalizer"] = {"type": "NFC"}
        data["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0],
                                                 "tokens": ["<|endoftext|>"]}},
        }  # fmt: skip

    profile, _ = _case(tmp_path, change)
    assert load_profile_file(profile).models["llama"].tokenizer.path == tmp_path / "tok"
    tokenizer = load_tokenizer(tmp_path / "tok")
    assert tokenizer_growth(tokenizer) == 20  # NFC 4 × ByteLevel 5
    assert tokenizer("hi")["input_ids"][0] == 0


def test_a_chat_render_that_a_growing_normalizer_would_make_huge_is_refused_before_tokenizing():
    tokenizer = load_tokenizer(LLAMA / "tokenizer")
    assert tokenizer_growth(tokenizer) == 5  # the bundled ByteLevel tokenizer
    text = "a" * (MAX_NORMALIZED_CHARS // 100 + 1)
    assert len(_encode(tokenizer, text[:2000], chars=10**7)) > 0
    _GROWTH[tokenizer] = (100.0, 0.0)
    try:
        with pytest.raises(SpecError, match="grow 100-fold") as err:
            _encode(tokenizer, text, chars=10**7)
        assert err.value.field == "tokenizer"
    finally:
        _GROWTH[tokenizer] = (5.0, 0.0)


ODD = [
    {"normalizer": {"type": ["NFC"]}},
    {"decoder": {"type": SEQ, "decoders": [{"type": {}}]}},
    {"pre_tokenizer": {"type": SEQ, "pretokenizers": "ByteLevel"}},
    {"normalizer": {"type": SEQ, "normalizers": [None, 5]}},
    {"normalizer": {"type": "Precompiled", "precompiled_charsmap": 12}},
    {"normalizer": {"type": "Replace", "pattern": {"Regex": ["a"]}, "content": "b"}},
    {"normalizer": {"type": "Replace", "pattern": {"Glob": "a"}, "content": "b"}},
    {"post_processor": {"type": ["x"]}},
    {"post_processor": [1]},
    {"post_processor": {"type": "TemplateProcessing", "single": "A", "pair": []}},
]


@pytest.mark.parametrize("data", ODD, ids=[str(i) for i in range(len(ODD))])
def test_odd_shapes_are_named_not_raised(data):
    field, _, reason = _shape_problem(data)
    assert isinstance(field, str) and isinstance(reason, str)


def test_a_tokenizer_with_regexes_meets_at_most_the_regex_text_cap():
    """Its regex steps are timed, not bounded: the text after its growth is also at most what
    their measured time allows were they quadratic; the same text passes a tokenizer without."""
    from suite.tokenizer_timing import regex_text_limit

    tokenizer = load_tokenizer(LLAMA / "tokenizer")
    text = "a " * 20_000  # 40,000 characters, 200,000 after the growth of 5
    assert len(_encode(tokenizer, text, chars=10**7)) > 0
    _GROWTH[tokenizer] = (5.0, 0.12)  # 0.12 s on the probes: at most 52,879 characters
    assert regex_text_limit(0.12) == 52_879
    try:
        with pytest.raises(SpecError, match="over 52,879 characters"):
            _encode(tokenizer, text, chars=10**7)
    finally:
        _GROWTH[tokenizer] = (5.0, 0.0)


def test_a_wordpiece_word_limit_is_bounded():
    model = {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}}
    assert _shape_problem({"model": {**model, "max_input_chars_per_word": 100}}) is None
    field, value, _ = _shape_problem({"model": {**model, "max_input_chars_per_word": 10**9}})
    assert (field, value) == ("model.max_input_chars_per_word", 10**9)


def test_post_processor_sequences_nested_too_deep_name_the_depth():
    processor = {"type": "TemplateProcessing", "single": [], "pair": [], "special_tokens": {}}
    for _ in range(17):
        processor = {"type": "Sequence", "processors": [processor]}
    _, value, reason = _shape_problem({"post_processor": processor})
    assert (value, reason) == ("Sequence", "post-processor Sequences nest at most 16 deep")


def test_wordpiece_words_and_unigram_pieces_are_bounded_by_their_search_cost():
    """A WordPiece word of 1,000 characters (cubic search) and a Unigram piece of 65 (searched
    at every character) made 60,000-character prompts run past a minute."""
    model = {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}}
    assert _shape_problem({"model": {**model, "max_input_chars_per_word": 200}}) is None
    assert _shape_problem({"model": {**model, "max_input_chars_per_word": 1000}})[1] == 1000
    pieces = [["<unk>", 0.0], *[["a" * n, -1.0] for n in range(1, 65)]]
    assert _shape_problem({"model": {"type": "Unigram", "unk_id": 0, "vocab": pieces}}) is None
    longer = [*pieces, ["a" * 65, -1.0]]
    field, _, reason = _shape_problem({"model": {"type": "Unigram", "unk_id": 0, "vocab": longer}})
    assert field == "model.vocab[65][0]" and "at most 64 characters" in reason


def test_any_tokenizer_meets_at_most_the_normalized_text_cap():
    """A WordPiece word's search is cubic and a Unigram lattice's the text times its longest
    piece, timed by no probe: a prompt whose growth passes 256 Ki characters is refused."""
    tokenizer = load_tokenizer(LLAMA / "tokenizer")  # 5-fold, no regex step
    with pytest.raises(SpecError, match="over 262,144 characters"):
        _encode(tokenizer, "a " * 30_000, chars=10**6)
    assert _encode(tokenizer, "a " * 20_000, chars=10**6)
