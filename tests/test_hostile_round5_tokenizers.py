"""A profile's tokenizer that grows a prompt without bound, raises on an unknown word, names an
``added_tokens_decoder`` id in non-ASCII digits or has post-processor ids outside the target's
vocabulary: refused when the profile is read (or before the ids reach the model), naming the
tokenizer file and the field; the bundled tokenizer passes with the same ids."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from types import SimpleNamespace

import pytest

from suite.errors import SpecError
from suite.models import load_tokenizer
from suite.profiles import load_profile_file
from suite.prompts import MAX_PROMPT_TOKENS, prompt_ids
from suite.specs import format_prompt
from suite.tokenizer_files import tokenizer_panics
from tests.hostile import refused, snapshot
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_tokenizer_ids import LLAMA, _case


def _argv(tmp_path, study, profile):
    return ["run", str(study), "--profile", str(profile), "--quiet", "--out", str(tmp_path / "o")]


def _cap_memory():
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def _refused_in_subprocess(tmp_path, argv, *expected):
    """The CLI in a child of at most 3 GiB and 180 s (the old code aborted or ran out of memory
    here): exit 2 naming every ``expected`` text, no traceback, the folder unchanged."""
    before = snapshot(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "suite", *argv],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180, preexec_fn=_cap_memory,
    )  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr  # transformers may warn on a line before
    assert done.stderr.splitlines()[-1].startswith("error: "), done.stderr
    for text in expected:
        assert text in done.stderr, (text, done.stderr)
    assert snapshot(tmp_path) == before


def _doubling(steps):
    def change(data, config):
        step = {"type": "Replace", "pattern": {"String": "e"}, "content": "ee"}
        data["normalizer"] = {"type": "Sequence", "normalizers": [step] * steps}

    return change


@pytest.mark.parametrize("steps", [26, 18])
def test_a_normalizer_that_doubles_text_is_refused_when_the_profile_is_read(tmp_path, steps):
    profile, study = _case(tmp_path, _doubling(steps))
    _refused_in_subprocess(
        tmp_path, _argv(tmp_path, study, profile), "p.yaml", "models.llama.tokenizer",
        "tokenizer.json", "normalizer.normalizers[5].content", "320-fold",
    )  # fmt: skip


def test_a_decoder_that_grows_text_or_an_empty_match_is_refused(tmp_path, capsys):
    def decoder(data, config):
        data["decoder"] = {"type": "Replace", "pattern": {"String": "a"}, "content": "a" * 50}

    profile, study = _case(tmp_path, decoder)
    refused(_argv(tmp_path, study, profile), tmp_path, capsys, "decoder.content", "50-fold")

    def empty(data, config):
        step = {"type": "Replace", "pattern": {"Regex": "x*"}, "content": "y" * 32}
        data["normalizer"] = step

    profile, study = _case(tmp_path / "b", empty)
    refused(_argv(tmp_path / "b", study, profile), tmp_path / "b", capsys, "normalizer.content")


def test_a_prompt_over_the_targets_positions_is_refused_naming_the_tokenizer(tmp_path):
    """A 4-fold Replace passes the growth bound; the prompt's ids then exceed the target's
    1,024 positions and are refused before the model sees them."""

    def fourfold(data, config):
        step = {"type": "Replace", "pattern": {"Regex": "."}, "content": "\u0100\u0101\u0102\u0103"}
        data["normalizer"] = step

    profile, study = _case(tmp_path, fourfold)
    _refused_in_subprocess(
        tmp_path, _argv(tmp_path, study, profile), "tokenizer", "max_position_embeddings"
    )


def _wordpiece(data, config):
    data["model"] = {
        "type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
        "max_input_chars_per_word": 100, "vocab": {"<|endoftext|>": 0, "<|pad|>": 1, "a": 2},
    }  # fmt: skip
    data["pre_tokenizer"] = {"type": "Whitespace"}


def _unigram(data, config):
    pieces = [[token, -1.0] for token in ("<|endoftext|>", "<|pad|>", "a")]
    data["model"] = {"type": "Unigram", "unk_id": None, "vocab": pieces, "byte_fallback": False}


def _superscript(data, config):
    config["added_tokens_decoder"] = {"\u00b2": {"content": "<|pad|>", "special": True}}


def _post_processor(data, config):
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<X>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<X>": {"id": "<X>", "ids": [50000], "tokens": ["<X>"]}},
    }  # fmt: skip


def _bert_processor(data, config):
    data["post_processor"] = {"type": "BertProcessing", "sep": ["</s>", 7], "cls": ["<s>", 9999]}


CASES = [
    ("wordpiece-no-unk", _wordpiece, "tokenizer.json", "model.unk_token", "[UNK]"),
    ("unigram-no-unk", _unigram, "tokenizer.json", "model.unk_id", "None"),
    ("superscript-id", _superscript, "tokenizer_config.json", "added_tokens_decoder.\u00b2"),
    ("template-ids", _post_processor, "post_processor.special_tokens.<X>.ids[0]", "50000"),
    ("bert-cls", _bert_processor, "post_processor.cls[1]", "9999"),
]


@pytest.mark.parametrize("case", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_tokenizer_the_run_would_fail_on_is_refused_when_the_profile_is_read(
    tmp_path, capsys, case
):
    change, *expected = case
    profile, study = _case(tmp_path, change)
    refused(_argv(tmp_path, study, profile), tmp_path, capsys, "p.yaml", "tokenizer", *expected)


def test_an_exception_inside_the_tokenizer_names_it():
    tokenizer = SimpleNamespace(name_or_path="/x/tok")
    with pytest.raises(SpecError) as err, tokenizer_panics(tokenizer):
        raise Exception("WordPiece error: Missing [UNK] token from the vocabulary")
    assert err.value.field == "tokenizer" and "Missing [UNK]" in err.value.message
    assert str(err.value.path) == "/x/tok"


def test_controls_the_bundled_tokenizer_and_small_growth_pass_with_the_same_ids(tmp_path):
    """The bundled tokenizer and one with Llama-2's normalizer (Prepend, Replace) and decoder
    still load; the ids of a prompt are what the tokenizer gives."""

    def llama2(data, config):
        data["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        ]}  # fmt: skip
        data["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]}  # fmt: skip

    for i, change in enumerate((None, llama2)):
        profile, _ = _case(tmp_path / str(i), change)
        assert (
            load_profile_file(profile).models["llama"].tokenizer.path == tmp_path / str(i) / "tok"
        )
    tokenizer = load_tokenizer(LLAMA / "tokenizer")
    text = "Natalia sold clips to 48 of her friends in April. How many?"
    example = SimpleNamespace(prompt=format_prompt(text), instruction=text)
    assert prompt_ids(tokenizer, example) == list(tokenizer(format_prompt(text)).input_ids)
    long = SimpleNamespace(prompt="a b " * 40, instruction="")
    with pytest.raises(SpecError, match="over 10"):
        prompt_ids(tokenizer, long, limit=10)
    assert MAX_PROMPT_TOKENS == 100_000
