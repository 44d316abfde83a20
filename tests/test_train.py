"""Training on a tiny recipe: tokenizer, a model, resume, artifacts saved as safetensors."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from transformers import AutoTokenizer

from suite.distill.loop import TrainConfig, train
from suite.distill.pretrain import PackedBlocks, lm_loss, load_recipe, run_model, run_tokenizer
from suite.errors import SpecError
from tests.models import tiny_llama

TINY = {
    "name": "tiny",
    "seed": 0,
    "datasets": ["gsm8k"],
    "eval_examples": 4,
    "tokenizer": {"vocab_size": 300, "min_frequency": 2},
    "models": {
        "draft": {
            "config": {
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "num_key_value_heads": 2,
                "max_position_embeddings": 1024,
                "tie_word_embeddings": True,
            },
            "train": {
                "max_steps": 6,
                "lr": 1e-2,
                "min_lr": 1e-3,
                "warmup_steps": 2,
                "batch_size": 4,
                "block_size": 32,
            },
            "eval_every": 3,
        }
    },
}


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return load_recipe(path)


def test_tiny_recipe_trains_tokenizer_and_model_into_safetensors(recipe, tmp_path):
    out = tmp_path / "bundle"
    run_tokenizer(recipe, out)
    tokenizer = AutoTokenizer.from_pretrained(str(out / "tokenizer"))
    assert len(tokenizer) == 300
    text = "### Instruction:\nAdd 2 and 3.\n\n### Response:\n5"
    assert tokenizer.decode(tokenizer(text).input_ids) == text

    info = run_model(recipe, "draft", out)
    files = {p.name for p in (out / "draft").iterdir()}
    assert "model.safetensors" in files
    assert not any(name.endswith((".bin", ".pt")) for name in files)
    saved = json.loads((out / "draft" / "training.json").read_text())
    assert saved["train_loss"] == pytest.approx(info["train_loss"])
    assert saved["parameters"] == info["parameters"] > 0
    assert set(saved["heldout_loss"]) == {"gsm8k"}
    # Six steps at a high learning rate move the loss well below log(300) = 5.70 at start.
    assert saved["train_loss"] < 5.6
    log = (tmp_path / "ckpt" / "tiny" / "draft" / "log.jsonl").read_text().splitlines()
    assert any("eval" in json.loads(line) for line in log)


def test_packed_blocks_are_a_function_of_the_step_only():
    docs = [list(range(i, i + 7)) for i in range(50)]
    a, b = PackedBlocks(docs, 8, 3, seed=1), PackedBlocks(docs, 8, 3, seed=1)
    assert torch.equal(a(17), b(17))
    assert torch.equal(a(2), b(2))
    assert a(0).shape == (3, 9)
    assert not torch.equal(PackedBlocks(docs, 8, 3, seed=2)(0), a(0))


def test_killed_training_resumes_to_the_same_weights(tmp_path):
    """Stop after 3 of 6 steps (as a kill after a checkpoint would), resume, compare."""
    data = torch.randint(0, 16, (64, 9), generator=torch.Generator().manual_seed(0))

    def batch_at(step):
        return data[(step * 4) % 64 : (step * 4) % 64 + 4]

    def run(ckpt, stop_at=None):
        cfg = TrainConfig(max_steps=6, lr=1e-2, min_lr=1e-3, warmup_steps=1)
        model = tiny_llama(16, hidden=16, layers=1, seed=0)
        train(model, cfg, batch_at, lm_loss, ckpt, desc="t", stop_at=stop_at)
        return model

    straight = run(tmp_path / "a")
    halfway = run(tmp_path / "b", stop_at=3)
    resumed = run(tmp_path / "b")
    assert not torch.equal(halfway.model.embed_tokens.weight, straight.model.embed_tokens.weight)
    for (name, x), (_, y) in zip(
        straight.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.allclose(x, y, atol=1e-6), name


def test_missing_recipe_and_unknown_train_field_are_refused(tmp_path):
    with pytest.raises(SpecError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")
    bad = dict(TINY)
    bad["models"] = {"draft": dict(TINY["models"]["draft"])}
    bad["models"]["draft"]["train"] = dict(TINY["models"]["draft"]["train"], lr_typo=1)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(SpecError, match="lr_typo"):  # read with the recipe, before any part
        load_recipe(path)
