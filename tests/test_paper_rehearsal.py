"""The paper profile's whole path, offline on a CPU: a rehearsal for the first GPU run.

The profile is ``tasks/profiles/paper.yaml`` as it stands (name, dtype, device, families) with
each Hub model replaced by a randomly initialised model of the real architecture at reduced depth:
Llama-68M's config as is, Llama-2-13B-chat's config with two layers, T5-3B's and T5-small's
configs with two layers each; the Llama tokenizer carries Llama-2-chat's chat template. Models are
saved and loaded in the profile's dtype (bfloat16). Each family's folder is laid out as
``suite distill --out`` expects (target, draft, tokenizer); the real ``distill`` command builds
two KD drafts into it from a tiny recipe in the shape of ``reference/recipes/kd-<family>.yaml``
(offline at τ_kd 0, online at τ_kd 1, two steps each), and the profile's ``drafts_dir`` points at
it. The run goes through the runner (both engines), the claims and the report, on a reduced study
per family, so that no code path the paper's run takes is met for the first time on a GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

from suite.cli import main
from suite.data import data_root
from suite.models import load_tokenizer
from suite.profiles import load_profile
from suite.reproduce import reproduce

REPO = Path(__file__).resolve().parents[1]
DATA = data_root()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(DATA is None or not (DATA / "gsm8k").is_dir(), reason="no data mirror"),
]
LLAMA = dict(vocab_size=32000, max_position_embeddings=2048, rms_norm_eps=1e-6, bos_token_id=1)
LLAMA_68M = LLAMA | dict(  # JackFram/llama-68m's config.json
    hidden_size=768, intermediate_size=3072, num_hidden_layers=2, num_attention_heads=12,
    eos_token_id=2, pad_token_id=0, tie_word_embeddings=False,
)  # fmt: skip
LLAMA_2_13B = LLAMA | dict(  # meta-llama/Llama-2-13b-chat-hf's config.json, 40 layers cut to 2
    hidden_size=5120, intermediate_size=13824, num_hidden_layers=2, num_attention_heads=40,
    num_key_value_heads=40, max_position_embeddings=4096, rms_norm_eps=1e-5, eos_token_id=2,
    pad_token_id=None, tie_word_embeddings=False,
)  # fmt: skip
T5 = dict(vocab_size=32128, feed_forward_proj="relu", tie_word_embeddings=True,
          decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)  # fmt: skip
T5_3B = T5 | dict(d_model=1024, d_ff=16384, d_kv=128, num_heads=32, num_layers=2)  # 24 layers
T5_SMALL = T5 | dict(d_model=512, d_ff=2048, d_kv=64, num_heads=8, num_layers=2)  # 6 layers
LLAMA_2_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] | trim + ' [/INST]' }}{% else %}"
    "{{ ' ' + message['content'] | trim + ' ' + eos_token }}{% endif %}{% endfor %}"
)
DTYPE = torch.bfloat16
KD_DRAFTS = ("kd-offline-gsm8k-t0.0-s0", "kd-online-gsm8k-t1.0-s0")


def save_random(cls, config, folder: Path, seed: int) -> None:
    torch.manual_seed(seed)
    model = cls._from_config(config, dtype=DTYPE).eval()
    model.save_pretrained(folder, safe_serialization=True)


def study(name: str, family: str) -> dict:
    return {
        "name": name,
        "title": f"Rehearsal ({family})",
        "description": "The degradation study's shape, reduced: one dataset, two τ_dec.",
        "claims": [1],
        "family": family,
        "engines": ["analytic", "empirical"],
        "missing_drafts": "skip",
        "grid": {
            "datasets": ["gsm8k"],
            "drafts": [
                {"method": "base"},
                {"method": ["offline", "online"], "dataset": "gsm8k", "kd_temperature": "any"},
            ],
            "decode_temperatures": [0.0, 1.0],
            "num_draft_tokens": 3,
        },
    }


def kd_recipe(family: str, path: Path) -> Path:
    """The family's KD recipe cut to two drafts of two steps on tiny prompt pools."""
    raw = yaml.safe_load((REPO / "reference" / "recipes" / f"kd-{family}.yaml").read_text())
    raw |= {"datasets": ["gsm8k"], "methods": ["offline", "online"], "seeds": [0]}
    raw |= {"kd_temperatures": [0.0, 1.0], "recipe_temperatures": [], "eval_examples": 2}
    raw |= {"eval_every": 0, "models": {"target": "target", "base_draft": "draft"}}
    raw["models"]["tokenizer"] = "tokenizer"
    raw["prompts"] = {"per_dataset": 2, "max_prompt_tokens": 256, "max_new_tokens": 3}
    raw["offline"] = {"samples_per_prompt": 1, "batch_size": 2, "chunk_size": 2}
    raw["train"] |= {"max_steps": 2, "batch_size": 2, "warmup_steps": 1, "log_every": 1}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("paper")
    models = root / "models"  # one `suite distill --out` folder per family
    save_random(LlamaForCausalLM, LlamaConfig(**LLAMA_2_13B), models / "llama" / "target", 0)
    save_random(LlamaForCausalLM, LlamaConfig(**LLAMA_68M), models / "llama" / "draft", 1)
    save_random(T5ForConditionalGeneration, T5Config(**T5_3B), models / "t5" / "target", 2)
    save_random(T5ForConditionalGeneration, T5Config(**T5_SMALL), models / "t5" / "draft", 3)
    tokenizer = load_tokenizer(REPO / "reference" / "llama" / "tokenizer")
    tokenizer.chat_template = LLAMA_2_CHAT_TEMPLATE
    tokenizer.save_pretrained(models / "llama" / "tokenizer")
    t5_tokenizer = load_tokenizer(REPO / "reference" / "t5" / "tokenizer")
    t5_tokenizer.save_pretrained(models / "t5" / "tokenizer")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUITE_CHECKPOINT_DIR", str(root / "checkpoints"))
        for family in ("llama", "t5"):
            recipe = kd_recipe(family, root / f"kd-{family}.yaml")
            out = models / family
            args = ["distill", "--recipe", str(recipe), "--out", str(out), "--threads", "1"]
            assert main([*args, "--only", *KD_DRAFTS]) == 0
    profile = yaml.safe_load((REPO / "tasks" / "profiles" / "paper.yaml").read_text())
    for family in ("llama", "t5"):
        spec = profile["models"][family]
        spec["target"] = {"path": str(models / family / "target")}
        spec["drafts"] = {"base": {"path": str(models / family / "draft")}}
        spec["drafts_dir"] = str(models / family)
        spec["tokenizer"] = {"path": str(models / family / "tokenizer")}
    profile["sizes"] = {
        "analytic": {"prompts": 1, "seeds": 1, "max_new_tokens": 4, "batch_size": 1},
        "empirical": {"prompts": 1, "seeds": 1, "max_new_tokens": 4},
    }
    (root / "profiles").mkdir()
    (root / "profiles" / "paper.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    for name, family in (("rehearsal_llama", "llama"), ("rehearsal_t5", "t5")):
        (root / f"{name}.yaml").write_text(yaml.safe_dump(study(name, family)))
    return root


def test_distill_builds_the_kd_drafts_of_the_real_architectures(rehearsal):
    for family in ("llama", "t5"):
        for name, method, tau in zip(KD_DRAFTS, ("offline", "online"), (0.0, 1.0), strict=True):
            folder = rehearsal / "models" / family / name
            info = json.loads((folder / "training.json").read_text())
            assert (folder / "model.safetensors").is_file()
            assert info["method"] == method and info["kd_temperature"] == tau
            assert info["seed"] == 0 and info["steps"] == 2 and info["dataset"] == "gsm8k"
            assert set(info["heldout_loss"]) == {"gsm8k"}
            # KD prompts as the runner gives them: Llama-2-chat's template, T5's instruction.
            fmt = "chat_template" if family == "llama" else "instruction"
            assert info["prompt_format"] == fmt


def test_the_paper_profile_runs_end_to_end_on_models_of_the_real_architectures(rehearsal):
    profile = load_profile(str(rehearsal / "profiles" / "paper.yaml"))
    assert profile.name == "paper" and profile.dtype == "bfloat16"
    for family in ("llama", "t5"):
        drafts = profile.models[family].drafts
        assert set(drafts) == {"base", *KD_DRAFTS}
        assert drafts[KD_DRAFTS[1]].facts.method == "online"
    out = rehearsal / "results"
    studies = tuple(str(rehearsal / f"rehearsal_{f}.yaml") for f in ("llama", "t5"))
    report = reproduce(
        profile=str(rehearsal / "profiles" / "paper.yaml"),
        studies=studies,
        out=out,
        workers=1,
        progress=False,
    )
    lines = [json.loads(x) for x in (out / "cells.jsonl").read_text().splitlines()]
    engines = {(rec["cell"]["family"], rec["cell"]["engine"]) for rec in lines}
    used = {(rec["cell"]["family"], rec["cell"]["draft"]) for rec in lines}
    assert used == {(f, d) for f in ("llama", "t5") for d in ("base", *KD_DRAFTS)}
    assert engines == {(f, e) for f in ("llama", "t5") for e in ("analytic", "empirical")}
    formats = {rec["cell"]["family"]: rec["provenance"]["prompt_format"] for rec in lines}
    assert formats == {"llama": "chat_template", "t5": "instruction"}
    assert all(rec["provenance"]["profile"] == "paper" for rec in lines)
    html = Path(report).read_text(encoding="utf-8")
    assert "chat_template" in html and "Provenance" in html
