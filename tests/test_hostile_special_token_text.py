"""A profile's tokenizer whose special or added tokens hold control characters (a terminal
escape) or bidirectional overrides: refused when the profile is read, naming the file, the
field and the character; tabs and newlines, which real added tokens hold, pass."""

from __future__ import annotations

import pytest

from suite.errors import SpecError
from suite.tokenizer_files import _check_token_length
from tests.hostile import refused
from tests.test_hostile_round5_tokenizers import _argv
from tests.test_hostile_tokenizer_ids import _case


def _added(data, config):
    data["added_tokens"][1]["content"] = "<|pad|>\x1b[2J"


def _additional(data, config):
    config["additional_special_tokens"] = ["<|x\u202e|>"]


def _c1(data, config):
    config["sep_token"] = "<sep\x85>"


def _mark(data, config):
    config["additional_special_tokens"] = ["<|x\u200f|>"]  # RIGHT-TO-LEFT MARK


def _bom(data, config):
    config["sep_token"] = "\ufeff<sep>"


def _line_separator(data, config):
    config["cls_token"] = "<cls\u2028>"


CASES = [
    ("escape-in-added-token", _added, "tokenizer.json", "added_tokens[1].content", "U+001B"),
    ("right-to-left-mark", _mark, "additional_special_tokens[0]", "U+200F"),
    ("byte-order-mark", _bom, "sep_token", "U+FEFF"),
    ("line-separator", _line_separator, "cls_token", "U+2028"),
    ("bidi-override", _additional, "additional_special_tokens[0]", "U+202E"),
    ("c1-control", _c1, "tokenizer_config.json", "sep_token", "U+0085"),
]


@pytest.mark.parametrize("case", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_special_token_with_a_hidden_character_is_refused(tmp_path, capsys, case):
    change, *expected = case
    profile, study = _case(tmp_path, change)
    refused(_argv(tmp_path, study, profile), tmp_path, capsys, "p.yaml", *expected)


def test_controls_tabs_newlines_and_plain_tokens_pass():
    for token in ("<|endoftext|>", "\t\t", "\n\n", "\r\n", "<s>", "▁", "ﷺ", "क्\u200dष"):
        _check_token_length("tokenizer.json", "added_tokens[0].content", token)
    with pytest.raises(SpecError, match="U\\+0000"):
        _check_token_length("tokenizer.json", "added_tokens[0].content", "a\x00")
