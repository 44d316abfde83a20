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


def test_an_untied_t5_loads_as_saved_without_the_tie_warning(tmp_path, caplog):
    import torch

    from suite.models import load_model
    from tests.models import tiny_t5

    saved = tiny_t5(seed=3)
    saved.save_pretrained(tmp_path / "t5")
    with caplog.at_level("WARNING", logger="transformers.modeling_utils"):
        loaded = load_model(tmp_path / "t5")
    assert "tie shared.weight" not in caplog.text
    assert loaded.lm_head.weight.data_ptr() != loaded.shared.weight.data_ptr()
    assert torch.equal(loaded.lm_head.weight, saved.lm_head.weight)
    assert not loaded.config.scale_decoder_outputs
    # Other warnings of the same logger still get through.
    import logging

    with caplog.at_level("WARNING", logger="transformers.modeling_utils"):
        logging.getLogger("transformers.modeling_utils").warning("another warning")
    assert "another warning" in caplog.text


def test_a_model_whose_weights_do_not_fill_its_config_is_refused_not_random(tmp_path):
    import json

    from suite.errors import SpecError
    from suite.models import load_model
    from tests.models import tiny_llama

    tiny_llama(16, hidden=16, layers=1, seed=0).save_pretrained(tmp_path)
    assert load_model(tmp_path) is not None
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config | {"num_hidden_layers": 2}))
    with pytest.raises(SpecError) as err:
        load_model(tmp_path)
    assert err.value.field == "missing_keys" and err.value.value.startswith("model.layers.1.")
