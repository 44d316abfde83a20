"""A profile's tokenizer against its target's vocabulary, checked when the profile is read: a
token id the target has no logit for, or a special token outside the vocabulary, is refused
naming the profile, the tokenizer file and the field, before any run makes a folder."""

from __future__ import annotations

import json
import shutil

import pytest

from suite.profiles import load_profile_file
from tests.hostile import refused
from tests.test_hostile_inputs_more import REPO

LLAMA = REPO / "reference" / "llama"
STUDY = """name: s
title: t
description: d
claims: []
family: llama
engines: [analytic]
grid:
  datasets: [gsm8k]
  drafts: [draft]
  decode_temperatures: [0.0]
  num_draft_tokens: 2
"""


def _case(tmp_path, change=None):
    """A profile naming the bundled Llama target and draft with a copy of its tokenizer, which
    ``change(tokenizer_json, tokenizer_config)`` edits; returns (profile, study)."""
    tok = tmp_path / "tok"
    shutil.copytree(LLAMA / "tokenizer", tok)
    data = json.loads((tok / "tokenizer.json").read_text())
    config = json.loads((tok / "tokenizer_config.json").read_text())
    if change:
        change(data, config)
    (tok / "tokenizer.json").write_text(json.dumps(data))
    (tok / "tokenizer_config.json").write_text(json.dumps(config))
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "name: p\ndescription: d\ndevice: cpu\nmax_draft_parameters: 2000000\nmodels:\n"
        f"  llama:\n    target: {{path: {LLAMA / 'target'}}}\n    tokenizer: {{path: {tok}}}\n"
        f"    drafts:\n      draft: {{path: {LLAMA / 'draft'}}}\n"
        "sizes:\n  analytic: {prompts: 1, seeds: 1, max_new_tokens: 4}\n"
        "  empirical: {prompts: 1, seeds: 1, max_new_tokens: 4}\n"
    )
    (tmp_path / "studies").mkdir()
    study = tmp_path / "studies" / "s.yaml"
    study.write_text(STUDY)
    return profile, study


def _added_id(data, config):
    data["added_tokens"][1]["id"] = 50000


def _vocab_id(data, config):
    data["model"]["vocab"]["a"] = 99999


def _negative_id(data, config):
    data["model"]["vocab"]["a"] = -1


def _eos_missing(data, config):
    config["eos_token"] = "<|nope|>"


def _eos_dict_missing(data, config):
    config["eos_token"] = {"content": "<|nope|>", "special": True}


def _decoder_id(data, config):
    config["added_tokens_decoder"] = {"70000": {"content": "<|x|>"}}


CASES = [
    ("added-id", _added_id, "tokenizer.json", "added_tokens[1].id", "50000"),
    ("vocab-id", _vocab_id, "tokenizer.json", "model.vocab.a", "99999"),
    ("vocab-negative", _negative_id, "tokenizer.json", "model.vocab.a", "-1"),
    ("eos-missing", _eos_missing, "tokenizer_config.json", "eos_token", "<|nope|>"),
    ("eos-dict-missing", _eos_dict_missing, "tokenizer_config.json", "eos_token", "<|nope|>"),
    ("decoder-id", _decoder_id, "tokenizer_config.json", "added_tokens_decoder.70000", "70000"),
]


@pytest.mark.parametrize(("change", "name", "field", "value"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_a_tokenizer_outside_the_targets_vocabulary_is_refused_before_a_run(
    tmp_path, capsys, change, name, field, value
):
    profile, study = _case(tmp_path, change)
    argv = ["run", str(study), "--profile", str(profile), "--quiet", "--out", str(tmp_path / "o")]
    refused(argv, tmp_path, capsys, "p.yaml", "models.llama.tokenizer", name, field, value)


def test_the_bundled_tokenizer_and_a_dict_special_token_are_accepted(tmp_path):
    """Controls: the copy as it is, and an eos token written as an AddedToken mapping."""
    profile, _ = _case(tmp_path)
    assert load_profile_file(profile).models["llama"].tokenizer.path == tmp_path / "tok"

    def as_dict(data, config):
        config["eos_token"] = {"content": config["eos_token"], "special": True}

    profile, _ = _case(tmp_path / "b", as_dict)
    assert load_profile_file(profile).models["llama"].target.path == LLAMA / "target"
