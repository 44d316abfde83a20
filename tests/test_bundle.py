"""The committed bundle: every hash matches, every model loads, tampering is caught."""

from __future__ import annotations

import json
import shutil

import pytest

from suite.bundle import REFERENCE_DIR, artifact_path, load_manifest, verify
from suite.cli import main
from suite.errors import SpecError


def test_verify_command_passes_on_the_committed_bundle(capsys):
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("0 problems")


def test_bundle_lists_tokenizer_target_and_base_draft_with_their_training_facts():
    artifacts = load_manifest()["artifacts"]
    assert {"llama/tokenizer", "llama/target", "llama/draft"} <= set(artifacts)
    target, draft = artifacts["llama/target"], artifacts["llama/draft"]
    assert target["parameters"] >= 8_000_000
    assert draft["parameters"] * 8 <= target["parameters"]
    for entry in (target, draft):
        for key in ("command", "seed", "data_sha256", "train_loss", "heldout_loss", "wall_seconds"):
            assert key in entry, key
    # The pretrained target is clearly better than the draft on both held-out sets; the aligned
    # target gives better greedy answers than the draft, and is peaked where the draft is flat.
    pretrained = target["pretrained"]  # the stage before alignment, recorded with the target
    quality = target["evaluation"]["greedy_quality"]
    entropy = target["entropy_at_tau_1"]
    for dataset in ("alpaca", "gsm8k"):
        assert pretrained["heldout_loss"][dataset] < draft["heldout_loss"][dataset] - 0.1
        assert quality["target"][dataset]["f1"] > quality["base_draft"][dataset]["f1"]
        assert entropy[dataset]["target"] <= 0.5 * entropy[dataset]["base_draft"]
    assert draft["cost_ratio"] <= 0.3
    assert set(draft["acceptance"]) == {"alpaca", "gsm8k"}
    assert all(0 < v["alpha"] < 1 for v in draft["acceptance"]["gsm8k"].values())
    total = sum(p.stat().st_size for p in REFERENCE_DIR.rglob("*") if p.is_file())
    assert total <= 250 * 2**20


def test_tampered_file_is_reported(tmp_path):
    root = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, root)
    tokenizer = root / load_manifest(root)["artifacts"]["llama/tokenizer"]["path"]
    with (tokenizer / "tokenizer.json").open("ab") as fh:
        fh.write(b" ")
    (tokenizer / "extra.txt").write_text("x")
    problems = verify(root, load=False)
    assert any("tokenizer.json sha256" in p for p in problems)
    assert any("extra.txt is not listed" in p for p in problems)


def test_unknown_artifact_is_refused():
    with pytest.raises(SpecError, match="not in the bundle"):
        artifact_path("llama/nope")


def test_manifest_is_valid_json_with_relative_paths():
    manifest = json.loads((REFERENCE_DIR / "MANIFEST.json").read_text())
    for entry in manifest["artifacts"].values():
        assert not entry["path"].startswith("/") and ".." not in entry["path"]
