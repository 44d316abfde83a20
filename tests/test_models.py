"""Model loading refuses what it must: pickle checkpoints, missing folders, remote code."""

from __future__ import annotations

import pytest

from suite.cli import main
from suite.errors import SpecError
from suite.models import check_weights_folder, load_causal_lm
from tests.models import tiny_llama


def test_pickle_checkpoint_is_refused_with_the_file_named(tmp_path):
    model = tiny_llama(16, hidden=16, layers=1)
    model.save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(SpecError, match=r"pytorch_model\.bin.*pickle checkpoints are refused"):
        load_causal_lm(tmp_path)


def test_folder_without_safetensors_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SpecError, match=r"no \.safetensors weights"):
        check_weights_folder(tmp_path)


def test_safetensors_folder_loads_in_eval_mode(tmp_path):
    tiny_llama(16, hidden=16, layers=1).save_pretrained(tmp_path)
    model = load_causal_lm(tmp_path)
    assert not model.training
    assert model.config.vocab_size == 16


def test_missing_model_folder_exits_2_with_a_message(tmp_path, capsys):
    missing = str(tmp_path / "nope")
    assert main(["generate", "hi", "--target", missing]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "no such tokenizer folder" in err
