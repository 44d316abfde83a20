"""The T5 family's training path on tiny models: pretraining, resume, KD, cost ratio, manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from transformers import T5ForConditionalGeneration

from suite.acceptance import measure_cost_ratio
from suite.bundle import verify
from suite.cli import main
from suite.distill import recipes
from suite.distill.loop import TrainConfig, train
from suite.distill.offline import KDData, ResponseBatches, collate, response_ce_loss
from suite.distill.online import OnlineKDLoss, PromptBatches
from suite.distill.pretrain import (
    build_model,
    build_t5,
    heldout_loss,
    load_recipe,
    run_model,
    run_tokenizer,
)
from suite.errors import SpecError
from suite.manifest import build_manifest
from suite.models import load_model, load_tokenizer
from tests.models import tiny_t5

ROOT = Path(__file__).resolve().parents[1]
LLAMA_TOKENIZER = ROOT / "reference" / "llama" / "tokenizer"
KD_RECIPE = ROOT / "reference" / "recipes" / "kd-t5.yaml"
VOCAB, PAD, EOS = 16, 1, 0  # the bundled tokenizer's ids: EOS 0, pad 1 (= decoder start)
TINY_T5 = {
    "d_model": 16,
    "d_kv": 8,
    "d_ff": 32,
    "num_layers": 1,
    "num_decoder_layers": 1,
    "num_heads": 2,
    "feed_forward_proj": "gated-gelu",
    "dropout_rate": 0.0,
    "tie_word_embeddings": False,
}


@pytest.fixture(autouse=True)
def _checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))


def _t5(seed: int, d_model: int = 16, sharpness: float = 1.0):
    """A tiny random T5 with the bundled tokenizer's special ids and an output layer of its own."""
    model = tiny_t5(VOCAB, d_model, 1, 1, seed=seed, sharpness=sharpness, eos_token_id=EOS)
    model.config.pad_token_id = model.config.decoder_start_token_id = PAD
    return model


def _pairs(count: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """Random (prompt, response + EOS) pairs of varied lengths over tokens 2..V-1."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(count):
        p, r = torch.randint(1, 6, (2,), generator=gen).tolist()
        prompt = torch.randint(2, VOCAB, (p,), generator=gen).tolist()
        rows.append((prompt, [*torch.randint(2, VOCAB, (r,), generator=gen).tolist(), EOS]))
    return rows


def _kd_data(rows) -> KDData:
    prompts = tuple(tuple(p) for p, _ in rows)
    responses = tuple(tuple(r) for _, r in rows)
    return KDData(prompts, tuple(range(len(rows))), responses, (1.0,) * len(rows))


def _config(max_steps: int, **kw) -> TrainConfig:
    base = dict(lr=1e-2, min_lr=1e-3, warmup_steps=1, batch_size=4, checkpoint_every_s=1e9)
    return TrainConfig(max_steps=max_steps, **(base | kw))


def test_bundled_tokenizer_has_eos_0_and_pad_1():
    tokenizer = load_tokenizer(LLAMA_TOKENIZER)
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id, len(tokenizer)) == (0, 1, 4096)


@torch.no_grad()
def test_seq2seq_loss_ignores_padding_like_transformers_labels_at_minus_100():
    model, rows = _t5(0), _pairs(4, seed=0)
    batch = collate(rows, PAD, decoder_start_token_id=PAD)
    assert batch["decoder_input_ids"][:, 0].tolist() == [PAD] * 4  # the decoder starts at pad
    labels = batch["labels"].masked_fill(~batch["loss_mask"], -100)
    reference = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels
    ).loss
    assert float(response_ce_loss(model, batch)) == pytest.approx(float(reference), rel=1e-5)
    # Each row alone (no padding at all) gives the same token-weighted mean.
    total = sum(float(response_ce_loss(model, collate([r], PAD, PAD))) * len(r[1]) for r in rows)
    assert total / sum(len(r[1]) for r in rows) == pytest.approx(float(reference), rel=1e-5)


def test_seq2seq_training_steps_lower_the_loss_on_a_tiny_batch(tmp_path):
    rows = _pairs(4, seed=1)
    batch = collate(rows, PAD, PAD)
    model = _t5(1).train()
    before = float(response_ce_loss(model, batch).detach())
    train(model, _config(15), lambda step: batch, response_ce_loss, tmp_path / "ckpt")
    after = float(response_ce_loss(model, batch).detach())
    assert after < before - 0.5, (before, after)


def test_killed_t5_training_resumes_to_the_same_weights_with_its_own_output_layer(tmp_path):
    data = _kd_data(_pairs(12, seed=2))
    batches = ResponseBatches(data, 4, seed=0, pad_token_id=PAD, decoder_start_token_id=PAD)

    def run(ckpt, stop_at=None):
        model = _t5(3)
        train(model, _config(6), batches, response_ce_loss, ckpt, desc="t", stop_at=stop_at)
        return model

    straight = run(tmp_path / "a")
    halfway = run(tmp_path / "b", stop_at=3)
    resumed = run(tmp_path / "b")
    assert straight.lm_head.weight is not straight.shared.weight
    assert not torch.equal(halfway.lm_head.weight, straight.lm_head.weight)
    pairs = zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True)
    for (name, x), y in pairs:
        assert torch.allclose(x, y, atol=1e-6), name


def test_tau_kd_0_online_loss_is_cross_entropy_to_the_target_argmax_per_decoder_position():
    target, draft = _t5(4, d_model=32, sharpness=5.0), _t5(5)
    prompts = [p for p, _ in _pairs(6, seed=3)]
    batch = PromptBatches(prompts, 6, seed=0, kd_temperatures=[0.0])(0)
    loss_fn = OnlineKDLoss(target, max_new_tokens=5, eos_token_id=EOS, pad_token_id=PAD)
    with torch.no_grad():
        loss = float(loss_fn(draft, batch))
        responses = loss_fn.responses(draft, batch)  # the same seed: the same samples
        nll, count = 0.0, 0
        for prompt, response in zip(batch.prompts, responses, strict=True):
            args = dict(input_ids=torch.tensor([prompt]))
            args["decoder_input_ids"] = torch.tensor([[PAD, *response[:-1]]])
            argmax = target(**args).logits[0].argmax(-1)
            nll += float(F.cross_entropy(draft(**args).logits[0], argmax, reduction="sum"))
            count += len(response)
    assert loss == pytest.approx(nll / count, rel=1e-5)


def test_cost_ratio_of_a_t5_pair_times_decoder_steps_with_the_encoder_cached(monkeypatch):
    target, draft = _t5(6, d_model=64), _t5(7)
    encoder_calls = []
    real = T5ForConditionalGeneration.get_encoder

    def counting(self, *args, **kwargs):
        encoder_calls.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(T5ForConditionalGeneration, "get_encoder", counting)
    ticks = iter(float(t) for t in range(100))
    cost = measure_cost_ratio(
        target, draft, context_tokens=6, repeats=3, warmup=2, clock=lambda: next(ticks)
    )
    assert len(encoder_calls) == 2  # one prefill each, then decoder steps only
    assert (cost.target_seconds, cost.draft_seconds, cost.cost_ratio) == (1.0, 1.0, 1.0)
    real_cost = measure_cost_ratio(target, draft, context_tokens=8, repeats=5, warmup=1)
    assert real_cost.target_seconds > 0 and real_cost.draft_seconds > 0


# --- the recipe path: copied tokenizer, pretraining, KD command, manifest ------------------------


def _recipe(tmp_path, models: dict) -> dict:
    raw = {
        "name": "tiny-t5",
        "architecture": "t5",
        "seed": 0,
        "datasets": ["gsm8k"],
        "eval_examples": 4,
        "tokenizer": {"copy_from": str(LLAMA_TOKENIZER)},
        "models": models,
    }
    path = tmp_path / "tiny-t5.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_recipe(path)


def test_t5_recipe_copies_the_tokenizer_and_trains_a_model_into_safetensors(tmp_path):
    train_cfg = {"max_steps": 6, "lr": 3e-2, "min_lr": 3e-3, "warmup_steps": 1}
    train_cfg |= {"batch_size": 4, "block_size": 64}
    recipe = _recipe(tmp_path, {"draft": {"config": TINY_T5, "train": train_cfg, "eval_every": 2}})
    out = tmp_path / "t5"
    run_tokenizer(recipe, out)
    copied = json.loads((out / "tokenizer" / "training.json").read_text())
    assert copied["artifact"] == "tokenizer" and copied["vocab_size"] == 4096
    assert copied["source"]["recipe"] == "reference/recipes/llama.yaml"
    info = run_model(recipe, "draft", out)
    model = load_model(out / "draft")
    assert isinstance(model, T5ForConditionalGeneration)
    assert model.config.decoder_start_token_id == PAD == model.config.pad_token_id
    assert model.config.eos_token_id == EOS and not model.config.scale_decoder_outputs
    assert model.lm_head.weight is not model.shared.weight  # an output layer of its own
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["architecture"] == "t5" and set(info["heldout_loss"]) == {"gsm8k"}
    untrained = build_model(TINY_T5, load_tokenizer(out / "tokenizer"), 0, "t5")
    before = heldout_loss(untrained, load_tokenizer(out / "tokenizer"), ["gsm8k"], 4)["gsm8k"]
    assert info["heldout_loss"]["gsm8k"] < before - 0.3, (before, info["heldout_loss"])
    with pytest.raises(SpecError, match="architecture"):
        raw = yaml.safe_load(Path(recipe["_path"]).read_text()) | {"architecture": "bart"}
        Path(recipe["_path"]).write_text(yaml.safe_dump(raw))
        load_recipe(recipe["_path"])


def _tiny_bundle(out: Path, tmp_path: Path) -> None:
    """The bundled tokenizer, a tiny T5 target and base draft, saved like the real ones."""
    run_tokenizer(_recipe(tmp_path, {}), out)
    tokenizer = load_tokenizer(out / "tokenizer")
    for role, d_model, seed in (("target", 32, 0), ("draft", 16, 1)):
        torch.manual_seed(seed)
        model = build_t5(TINY_T5 | {"d_model": d_model}, tokenizer)
        model.save_pretrained(str(out / role))
        info = {"artifact": role, "parameters": sum(p.numel() for p in model.parameters())}
        (out / role / "training.json").write_text(json.dumps(info | {"datasets": ["gsm8k"]}))


def test_kd_t5_recipe_builds_six_drafts_that_load(tmp_path, capsys):
    out = tmp_path / "t5"
    _tiny_bundle(out, tmp_path)
    raw = yaml.safe_load(KD_RECIPE.read_text()) | {"eval_examples": 2, "eval_every": 0}
    assert raw["seeds"] == [0, 1, 2]
    raw["seeds"] = [0]
    raw["prompts"] = {"per_dataset": 4, "max_prompt_tokens": 600, "max_new_tokens": 3}
    raw["offline"] = {"samples_per_prompt": 2, "batch_size": 4, "chunk_size": 4}
    raw["train"] |= {"max_steps": 2, "batch_size": 2, "warmup_steps": 1}
    path = tmp_path / "kd-tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    args = ["distill", "--recipe", str(path), "--out", str(out), "--threads", "1"]
    assert main(args) == 0
    assert len(recipes.kd_grid(recipes.load_kd_recipe(KD_RECIPE))) == 18
    names = [d.name for d in recipes.kd_grid(recipes.load_kd_recipe(path))]
    assert len(names) == 6 and "kd-online-gsm8k-t0.5-s0" in names
    base = load_model(out / "draft")
    for name in names:
        info = json.loads((out / name / "training.json").read_text())
        assert info["steps"] == 2 and set(info["heldout_loss"]) == {"gsm8k"}
        model = load_model(out / name)
        assert isinstance(model, T5ForConditionalGeneration)
        assert not torch.equal(model.lm_head.weight, base.lm_head.weight)  # it trained
    capsys.readouterr()
    assert main([*args, "--list"]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["done"] * 6


def test_manifest_of_a_tiny_t5_family_lists_hashes_acceptance_and_cost(tmp_path):
    root = tmp_path / "reference"
    _tiny_bundle(root / "t5", tmp_path)
    manifest = build_manifest(
        root,
        cells=tmp_path / "cells",
        decode_temperatures=(0.0, 1.0),
        prompts=3,
        max_new_tokens=4,
        evaluation_prompts=2,
    )
    arts = manifest["artifacts"]
    assert set(arts) == {"t5/tokenizer", "t5/target", "t5/draft"}
    assert len(arts["t5/target"]["files"]["model.safetensors"]) == 64
    assert arts["t5/draft"]["storage"]["dtype"] == "float16"
    assert set(arts["t5/draft"]["acceptance"]["gsm8k"]) == {"0.0", "1.0"}
    assert 0 <= arts["t5/draft"]["acceptance"]["gsm8k"]["1.0"]["alpha"] <= 1
    assert arts["t5/draft"]["cost_ratio"] > 0 and arts["t5/draft"]["parameter_ratio"] > 1
    assert arts["t5/target"]["evaluation"]["gsm8k_test_accuracy"]["prompts"] == 2
    assert verify(root) == []
    assert load_model(root / "t5" / "draft").lm_head.weight.dtype == torch.float32
