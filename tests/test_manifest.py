"""Building the manifest on a tiny bundle: hashes, fp16 storage, acceptance, carry-over."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors import safe_open

from suite.bundle import verify
from suite.distill.pretrain import load_recipe, run_tokenizer
from suite.manifest import build_manifest
from tests.models import tiny_llama


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "seed": 0,
                "datasets": ["gsm8k"],
                "tokenizer": {"vocab_size": 300},
                "models": {},
            }
        )
    )
    root = tmp_path / "reference"
    family = root / "tiny"
    run_tokenizer(load_recipe(recipe_path), family)
    for role, hidden in (("target", 32), ("draft", 16)):
        model = tiny_llama(300, hidden=hidden, layers=1, seed=hidden)
        model.save_pretrained(family / role)
        info = {"artifact": role, "parameters": sum(p.numel() for p in model.parameters())}
        (family / role / "training.json").write_text(json.dumps(info | {"datasets": ["gsm8k"]}))
    return root


def _build(root):
    return build_manifest(
        root,
        cells=root.parent / "cells",
        decode_temperatures=(0.0, 1.0),
        prompts=3,
        max_new_tokens=4,
        evaluation_prompts=2,
    )


def test_manifest_hashes_compacts_and_measures_then_carries_over(bundle):
    first = _build(bundle)
    arts = first["artifacts"]
    assert set(arts) == {"tiny/tokenizer", "tiny/target", "tiny/draft"}
    assert arts["tiny/draft"]["storage"]["dtype"] == "float16"
    assert arts["tiny/draft"]["storage"]["max_shift_nats"] < 0.005
    assert set(arts["tiny/draft"]["acceptance"]["gsm8k"]) == {"0.0", "1.0"}
    assert 0 <= arts["tiny/draft"]["acceptance"]["gsm8k"]["1.0"]["alpha"] <= 1
    assert arts["tiny/draft"]["parameter_ratio"] > 1
    assert arts["tiny/target"]["evaluation"]["gsm8k_test_accuracy"]["prompts"] == 2
    assert verify(bundle) == []
    # Nothing changed: the rebuilt manifest is identical, measurements included.
    assert _build(bundle) == first
    # A draft's weights change: its hash changes and verify reports the stale manifest.
    tiny_llama(300, hidden=16, layers=1, seed=99).save_pretrained(bundle / "tiny" / "draft")
    assert any("model.safetensors sha256" in p for p in verify(bundle, load=False))
    rebuilt = _build(bundle)["artifacts"]["tiny/draft"]
    assert rebuilt["files"] != arts["tiny/draft"]["files"]
    assert rebuilt["acceptance"] != arts["tiny/draft"]["acceptance"]  # measured anew
    assert verify(bundle) == []


def test_a_draft_is_measured_at_its_own_kd_temperature_off_the_grid(bundle):
    family = bundle / "tiny"
    draft = tiny_llama(300, hidden=16, layers=1, seed=7)
    draft.save_pretrained(family / "kd-offline-gsm8k-t0.5")
    count = sum(p.numel() for p in draft.parameters())  # as verify counts them
    info = {"artifact": "kd-offline-gsm8k-t0.5", "parameters": count, "dataset": "gsm8k"}
    info |= {"kd_temperature": 0.5, "method": "offline"}
    (family / "kd-offline-gsm8k-t0.5" / "training.json").write_text(json.dumps(info))
    first = _build(bundle)
    for name in ("tiny/draft", "tiny/kd-offline-gsm8k-t0.5"):
        assert set(first["artifacts"][name]["acceptance"]["gsm8k"]) == {"0.0", "0.5", "1.0"}
    assert _build(bundle) == first  # carried over, 0.5 included


def test_the_manifests_acceptance_is_the_runners_cells_and_its_store_is_the_cache(
    bundle, monkeypatch
):
    """α̂, interval and tokens come from runner records of the ``manifest`` profile (200
    resamples); without a manifest to carry over, a rebuild reads them back from the store."""
    import suite.cells.analytic
    from suite.manifest import MANIFEST_N_BOOT
    from suite.store import ResultsStore

    stored = _build(bundle)["artifacts"]["tiny/draft"]["acceptance"]["gsm8k"]
    store = ResultsStore(bundle.parent / "cells" / "tiny")
    assert store.header()["profile"] == "manifest"
    records = list(store.load().values())
    assert sorted(r.cell.decode_temperature for r in records) == [0.0, 1.0]
    for record in records:
        entry = stored[f"{record.cell.decode_temperature:.1f}"]
        assert record.cell.draft == "base" and record.cell.dataset == "gsm8k"
        assert record.result.acceptance_rate == entry["alpha"]
        assert list(record.result.analytic.confidence_interval) == entry["ci95"]
        assert record.result.analytic.tokens == entry["tokens"]
        assert record.result.analytic.n_boot == MANIFEST_N_BOOT
    # The model cards written since do not make the records stale: nothing is scored again.
    (bundle / "MANIFEST.json").unlink()

    def refuse(*args, **kwargs):
        raise AssertionError("a cell in the store was measured again")

    monkeypatch.setattr(suite.cells.analytic, "score_continuations", refuse)
    again = _build(bundle)["artifacts"]["tiny/draft"]["acceptance"]["gsm8k"]
    assert again == stored


def test_a_profiles_resample_count_sets_the_interval_and_a_change_recomputes(bundle, tmp_path):
    """``sizes.analytic.n_boot`` reaches the cells; records at another count are stale."""
    from suite.profiles import load_profile
    from suite.runner import run_plan
    from suite.store import ResultsStore
    from suite.studies import load_study, plan_studies

    def run(n_boot):
        sizes = {"prompts": 3, "seeds": 1, "max_new_tokens": 4}
        profile = {
            "name": "protocol",
            "description": "a tiny protocol",
            "models": {"tiny": {"bundle": str(bundle / "tiny")}},
            "sizes": {"analytic": sizes | {"n_boot": n_boot}, "empirical": dict(sizes)},
        }
        study = {
            "name": "base",
            "title": "The base draft",
            "description": "The base draft at two τ_dec.",
            "claims": [1],
            "family": "tiny",
            "engines": ["analytic"],
            "grid": {
                "datasets": ["gsm8k"],
                "drafts": [{"method": "base"}],
                "decode_temperatures": [0.0, 1.0],
                "num_draft_tokens": 4,
            },
        }
        (tmp_path / "protocol.yaml").write_text(yaml.safe_dump(profile))
        (tmp_path / "base.yaml").write_text(yaml.safe_dump(study))
        plan = plan_studies(
            [load_study(tmp_path / "base.yaml")], load_profile(str(tmp_path / "protocol.yaml"))
        )
        report = run_plan(plan, tmp_path / "out", progress=False)
        records = ResultsStore(tmp_path / "out").load().values()
        return report, sorted((r.cell.key, r.result.analytic.n_boot) for r in records)

    report, records = run(50)
    assert report.ran == 2 and {n for _, n in records} == {50}
    report, _ = run(50)
    assert report.ran == 0
    report, records = run(60)
    assert report.ran == 2 and {n for _, n in records} == {60}


def test_half_stored_weights_load_in_float32_with_a_plain_from_pretrained(tmp_path):
    from transformers import AutoModelForCausalLM

    from suite.bundle import compute_in_float32
    from tests.models import tiny_llama

    tiny_llama(16, hidden=16, layers=1, seed=0).to(torch.float16).save_pretrained(tmp_path)
    assert AutoModelForCausalLM.from_pretrained(tmp_path).dtype == torch.float16
    compute_in_float32(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert model.dtype == torch.float32
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as fh:
        assert fh.get_tensor(next(iter(fh.keys()))).dtype == torch.float16  # half the bytes


def test_every_model_folder_gets_a_card_from_its_manifest_entry():
    from suite.cards import model_card

    entry = {
        "kind": "draft",
        "parameters": 610_000,
        "method": "offline",
        "dataset": "gsm8k",
        "kd_temperature": 0.0,
        "seed": 2,
        "command": "python -m suite distill",
        "recipe": "reference/recipes/kd-llama.yaml",
        "heldout_loss": {"gsm8k": 2.5},
        "acceptance": {"gsm8k": {"0.0": {"alpha": 0.81}}},
        "cost_ratio": 0.25,
    }
    card = model_card("llama/kd-offline-gsm8k-t0.0-s2", entry)
    assert card.startswith("# llama/kd-offline-gsm8k-t0.0-s2\n")
    for text in (
        "Parameters: 610,000",
        "training seed: 2",
        "`python -m suite distill`",
        "2.500 nats",
        "τ 0.0: 0.810",
        "GSM8K (MIT)",
        "c against the target",
    ):
        assert text in card, text
    assert "Alpaca" not in card  # a GSM8K draft names only its own data's licence
