"""The target's alignment step: best-of-n selection by reward, and `train`'s two stages."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import torch
import yaml

from suite.data import Example
from suite.distill import align
from suite.distill.offline import KDData
from suite.distill.pretrain import load_recipe, run_model, run_tokenizer
from suite.errors import SpecError
from tests.test_train import TINY


def test_token_f1_counts_overlap_and_ignores_order_and_case():
    assert align.token_f1("The answer is 42", "the answer is 42") == 1.0
    assert align.token_f1("42 is the answer", "The answer is 42") == 1.0
    assert align.token_f1("nothing", "The answer") == 0.0
    # 2 of 4 predicted words match, 2 of 2 reference words: P 0.5, R 1 -> F1 2/3.
    assert align.token_f1("answer 42 answer answer", "answer 42") == pytest.approx(2 / 3)


class _Tokenizer:
    """Token ids are characters: 0 is EOS, 1-26 are 'a'-'z', 27 a space, 28 '#', 29 '3'."""

    eos_token_id = 0
    extra: ClassVar[dict[int, str]] = {27: " ", 28: "#", 29: "3"}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(self.extra.get(i) or chr(ord("a") + i - 1) for i in ids if i)


def test_best_of_n_prefers_finished_then_correct_then_f1():
    tok = _Tokenizer()
    ex = Example("x", "q", "q", reference="cat dog", answer=None)
    pool = [(ex, (5,)), (ex, (6,))]
    cat, dog = (3, 1, 20), (4, 15, 7)
    responses = (
        (*cat, 27, *dog),  # prompt 0: best F1 but unfinished
        (*cat, 0),  # prompt 0: finished, F1 2/3
        (*dog, 27, 1, 0),  # prompt 0: finished, 'dog a': F1 1/2
        (1, 0),  # prompt 1: finished, F1 0
        (*cat, 27, *dog, 0),  # prompt 1: finished, F1 1
    )
    data = KDData(((5,), (6,)), (0, 0, 0, 1, 1), responses, (0.3,) * 5)
    kept, facts = align.best_of_n(data, pool, tok, "alpaca")
    assert kept.prompt_index == (0, 1)
    assert kept.responses == (responses[1], responses[4])
    assert facts["finished"] == 1.0 and facts["f1"] == pytest.approx((2 / 3 + 1) / 2)


def test_best_of_n_counts_a_correct_gsm8k_answer_above_f1():
    tok = _Tokenizer()
    ex = Example("x", "q", "q", reference="ab #### 3", answer="3")
    pool = [(ex, (5,))]
    close = (1, 2, 27, 28, 28, 28, 28, 27, 4, 0)  # 'ab #### d': F1 1/2, wrong answer
    right = (3, 27, 28, 28, 28, 28, 27, 29, 0)  # 'c #### 3': F1 1/2 too, right answer
    wordy = (1, 2, 0)  # 'ab': the best F1 (2/3), no answer
    data = KDData(((5,),), (0, 0, 0), (close, wordy, right), (0.3,) * 3)
    kept, facts = align.best_of_n(data, pool, tok, "gsm8k")
    assert kept.responses == (right,) and facts["correct"] == 1.0
    assert align.reward(ex, "so #### 3", True, "gsm8k").correct
    assert not align.reward(ex, "so #### 4", True, "gsm8k").correct


def test_alignment_spec_errors_name_the_field_and_value():
    spec = {
        "from": "target-pretrained",
        "prompts_per_dataset": 4,
        "max_prompt_tokens": 64,
        "samples_per_prompt": 2,
        "temperature": 0.35,
        "max_new_tokens": 4,
        "batch_size": 4,
        "chunk_size": 4,
        "eval_prompts": 2,
        "train": {},
    }
    assert align.check_align_spec(spec, "r.yaml", "models.target.align") is spec
    with pytest.raises(SpecError) as err:
        align.check_align_spec(spec | {"temperature": -1}, "r.yaml", "models.target.align")
    assert err.value.field == "models.target.align.temperature" and err.value.value == -1
    with pytest.raises(SpecError, match="unknown field"):
        align.check_align_spec(spec | {"temprature": 1}, "r.yaml", "models.target.align")


def test_train_pretrains_then_aligns_a_peakier_target(tmp_path, monkeypatch):
    """`train --only target` with an align section: pretraining lands in align.from, the aligned
    target in target; fine-tuning on its own low-temperature samples lowers its entropy."""
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    raw = json.loads(json.dumps(TINY))
    model = raw["models"].pop("draft")
    model["align"] = {
        "from": "target-pretrained",
        "prompts_per_dataset": 8,
        "max_prompt_tokens": 400,
        "samples_per_prompt": 2,
        "temperature": 0.3,
        "max_new_tokens": 8,
        "batch_size": 8,
        "chunk_size": 8,
        "eval_prompts": 3,
        "train": {"max_steps": 12, "lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 1, "batch_size": 8},
    }
    raw["models"]["target"] = model
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    recipe = load_recipe(path)
    out = tmp_path / "bundle"
    run_tokenizer(recipe, out)
    info = run_model(recipe, "target", out)
    stage = tmp_path / "ckpt" / recipe["name"] / "stages" / "target-pretrained"
    pre = json.loads((stage / "training.json").read_text())
    assert pre["artifact"] == "target-pretrained" and info["artifact"] == "target"
    assert info["aligned_from"] == "target-pretrained" and info["pretrained"] == pre
    assert not (out / "target-pretrained").exists()  # a build stage, not part of the bundle
    (first,) = info["alignment"]["rounds"]  # rounds: 1 by default
    assert first["selected"]["gsm8k"]["prompts"] == 8 and first["sequences"] == 8
    assert set(info["heldout_quality"]["gsm8k"]) == {"f1", "accuracy", "prompts"}
    from suite.models import load_model

    before = load_model(stage)
    after = load_model(out / "target")
    assert not torch.equal(before.lm_head.weight, after.lm_head.weight)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out / "tokenizer"))
    h_before = align.own_entropy(before, {}, tok, ["gsm8k"], 3, 8)["gsm8k"]["target"]
    h_after = info["entropy_at_tau_1"]["gsm8k"]["target"]
    assert h_after < h_before


def test_a_second_round_samples_from_the_first_rounds_model(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    raw = json.loads(json.dumps(TINY))
    model = raw["models"].pop("draft")
    model["align"] = {
        "from": "target-pretrained",
        "rounds": 2,
        "prompts_per_dataset": 4,
        "max_prompt_tokens": 400,
        "samples_per_prompt": 2,
        "temperature": 0.3,
        "max_new_tokens": 6,
        "batch_size": 4,
        "chunk_size": 4,
        "eval_prompts": 2,
        "train": {"max_steps": 4, "lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 1, "batch_size": 4},
    }
    raw["models"]["target"] = model
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    recipe = load_recipe(path)
    out = tmp_path / "bundle"
    run_tokenizer(recipe, out)
    info = run_model(recipe, "target", out)
    first, second = info["alignment"]["rounds"]
    assert first["sampled_from_sha256"] == info["aligned_from_sha256"]
    assert second["sampled_from_sha256"] != first["sampled_from_sha256"]
    assert first["data_sha256"] != second["data_sha256"]
    assert info["steps"] == 8 and (tmp_path / "ckpt" / "tiny" / "target-align-r2").is_dir()
