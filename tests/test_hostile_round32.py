"""Inputs of the thirty-second attack: an optimizer setting that is a tensor, a weights file
padded to the size of the model its config asks for, an empirical record without its counts,
and lm-eval options the suite's model cannot take or whose numbers a float does not hold. Each
case failed on the commit before its fix."""

from __future__ import annotations

import pytest

from tests.hostile import refused
from tests.test_hostile_round30 import difficulty, forged_report_refused  # noqa: F401


@pytest.mark.parametrize("kind", ["two-numbers", "a-float64-scalar"])
def test_an_optimizer_setting_that_is_a_tensor_is_refused(kind, tmp_path):
    import torch

    from suite.errors import SpecError
    from tests.test_hostile_round24 import _resumable
    from tests.test_hostile_round25 import _forge_optimizer

    def edit(state):
        eps = state["param_groups"][0]["eps"]
        value = torch.tensor([eps, eps]) if kind == "two-numbers" else torch.tensor(eps).double()
        state["param_groups"][0]["eps"] = value

    resume, ckpt = _resumable(tmp_path)
    _forge_optimizer(ckpt, edit)
    with pytest.raises(SpecError, match="eps") as err:
        resume()
    assert err.value.path == ckpt / "optimizer.pt", str(err.value)


def test_weights_padded_to_a_configs_size_are_refused_before_the_model_is_built(tmp_path):
    """A config of 168 M parameters whose weights file holds one unrelated tensor of that size,
    stored as a hole (a few KB on disk): refused naming a missing key before the model is built
    (in a subprocess; its peak memory stays under the 672 MB the model alone would take)."""
    from tests.hostile import refused_in_a_subprocess

    setup = f"""
import json, struct
from pathlib import Path
from transformers import LlamaConfig
from suite.models import load_causal_lm
folder = Path({str(tmp_path / "m")!r})
folder.mkdir()
config = LlamaConfig(vocab_size=8, hidden_size=512, intermediate_size=2048,
                     num_hidden_layers=40, num_attention_heads=8, num_key_value_heads=8,
                     max_position_embeddings=64, bos_token_id=None, eos_token_id=None)
config.save_pretrained(folder)
n = 170_000_000
header = json.dumps({{"pad": {{"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}},
                      "__metadata__": {{"format": "pt"}}}}).encode()
header += b" " * (-len(header) % 8)
with open(folder / "model.safetensors", "wb") as fh:
    fh.write(struct.pack("<Q", len(header)) + header)
    fh.truncate(8 + len(header) + 4 * n)
"""
    grown, text = refused_in_a_subprocess(setup, "load_causal_lm(folder)", gigabytes=6)
    assert "missing keys" in text, text
    assert grown < 400, (grown, text)  # MB: the model was never allocated


def _without_counts(records, header):
    empirical = next(r for r in records if r["cell"]["engine"] == "empirical")
    for key in ("tokens_target", "tokens_speculative"):
        empirical["result"].pop(key)


def _without_identical(records, header):
    empirical = next(r for r in records if r["cell"]["engine"] == "empirical")
    empirical["result"].pop("identical_outputs")


@pytest.mark.parametrize(
    ("edit", "field"),
    [(_without_counts, "tokens_speculative"), (_without_identical, "identical_outputs")],
    ids=["token-counts", "identical-outputs"],
)
def test_an_empirical_record_states_every_count(edit, field, difficulty, tmp_path, capsys):  # noqa: F811
    forged_report_refused(difficulty, tmp_path, capsys, edit, "cells.jsonl", field)


# lm-eval options.


@pytest.mark.parametrize(
    ("args", "shown"),
    [(["--apply_chat_template"], "--apply_chat_template"),
     (["--check_integrity"], "--check_integrity"),
     (["--verbosity", "FOO"], "--verbosity"),
     (["--metadata", '{"x": 1e400}'], "--metadata"), (["--metadata", "x=inf"], "--metadata"),
     (["--metadata", '{"x": NaN}'], "--metadata"),
     (["--gen_kwargs", "temperature=1e-400"], "--gen_kwargs")],
    ids=["chat-template", "check-integrity", "verbosity", "metadata-overflow", "metadata-inf",
         "metadata-nan", "gen-kwargs-underflow"],
)  # fmt: skip
def test_lm_eval_options_the_suite_cannot_take_are_refused_when_read(args, shown, tmp_path,
                                                                     capsys):  # fmt: skip
    argv = ["lm-eval", "run", "--model", "specdec", "--model_args", "target=t", "--tasks", "x",
            "--output_path", str(tmp_path / "o"), *args]  # fmt: skip
    refused(argv, tmp_path, capsys, shown)


@pytest.mark.parametrize("until", [5, {"a": 1}, 1.5])
def test_stop_strings_that_are_not_text_are_refused(until):
    from suite.lm_eval_model import _until

    assert _until({"until": ["\\n\\n", "Q:"]}) == ("\\n\\n", "Q:")  # the control
    with pytest.raises(ValueError, match="until must be a string or a list of strings"):
        _until({"until": until})
