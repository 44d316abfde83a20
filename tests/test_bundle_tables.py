"""The README's bundle tables come from the manifest's facts, seeds pooled per configuration."""

from __future__ import annotations

import json
from pathlib import Path

from suite.bundle import REFERENCE_DIR
from suite.bundle_tables import END, START, acceptance_tables, main, markdown, model_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def _draft(method, tau, seed, alphas):
    return {
        "kind": "draft",
        "method": method,
        "kd_temperature": tau,
        "seed": seed,
        "acceptance": {"gsm8k": {t: {"alpha": a} for t, a in alphas.items()}},
    }


def test_seeds_of_one_configuration_pool_into_mean_and_spread_whatever_the_folder_names():
    manifest = {
        "artifacts": {
            "llama/draft": _draft(None, None, 0, {"0.0": 0.5, "1.0": 0.4}),
            "llama/x": _draft("offline", 0.0, 0, {"0.0": 0.8, "1.0": 0.6}),
            "llama/y": _draft("offline", 0.0, 1, {"0.0": 0.9, "1.0": 0.7}),
            "llama/z": _draft("online", None, 0, {"0.0": 0.7, "1.0": 0.65}),
        }
    }
    table = acceptance_tables(manifest)
    assert "| base draft | 0.500 | 0.400 | 1 |" in table
    # mean 0.85 and sample standard deviation 0.0707 at the draft's own τ_kd, in bold
    assert "| offline τ_kd 0.0 | **0.850 ± 0.071** | 0.650 ± 0.071 | 2 |" in table
    assert "| online recipe | 0.700 | 0.650 | 1 |" in table
    assert table.index("base draft") < table.index("offline") < table.index("online recipe")


def test_model_table_shows_targets_and_base_drafts_only():
    manifest = {
        "artifacts": {
            "llama/target": {
                "kind": "target",
                "parameters": 9_000_000,
                "heldout_loss": {"alpaca": 7.0, "gsm8k": 3.8},
                "entropy_at_tau_1": {"alpaca": {"target": 0.72, "base_draft": 5.23}},
            },
            "llama/draft": {"kind": "draft", "parameters": 600_000, "heldout_loss": {}},
            "llama/kd-a": _draft("offline", 0.0, 0, {"0.0": 0.8}),
        }
    }
    table = model_table(manifest)
    assert "| `llama/target` | 9,000,000 | 7.00 / 3.80 | 0.72 vs 5.23 |" in table
    assert "kd-a" not in table and "2 drafts in all" in table


def test_the_docs_show_the_tables_of_the_committed_manifest():
    manifest = json.loads((REFERENCE_DIR / "MANIFEST.json").read_text())
    text = DOCS.read_text()
    block = text[text.index(START) + len(START) + 1 : text.index(END)]
    assert block == markdown(manifest), "run python -m suite bundle-tables --write"


def test_write_refuses_a_file_without_one_marked_block(tmp_path, capsys):
    target = tmp_path / "notes.md"
    target.write_text("no markers here\n")
    assert main(["--write", str(target)]) == 2
    assert "bundle-tables:start" in capsys.readouterr().err
    assert target.read_text() == "no markers here\n"
