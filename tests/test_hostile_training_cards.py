"""``manifest --reference`` reads every field of a ``training.json`` that a model card prints:
a field of the wrong shape (a loss that is text, a command of many lines, a seed that is not
an integer) is refused naming the file, the field and the value, before anything is written;
every bundled ``training.json`` passes."""

from __future__ import annotations

import json

import pytest

from suite.cards import card_field_problem, model_card
from tests.hostile import refused
from tests.test_hostile_round5_data import REPO, _reference

BASE = {"artifact": "draft", "parameters": 9}
CASES = [
    ("loss-text", {"heldout_loss": {"alpaca": "low"}}, "heldout_loss", "low"),
    ("loss-list", {"heldout_loss": {"gsm8k": [1.0]}}, "heldout_loss", "finite numbers"),
    ("pretrained-loss", {"pretrained": {"heldout_loss": {"a": {}}}}, "pretrained", "heldout_loss"),
    ("entropy-flat", {"entropy_at_tau_1": {"alpaca": 4.8}}, "entropy_at_tau_1", "4.8"),
    ("command-lines", {"command": "x`\n# Injected\n"}, "command", "one line"),
    ("command-long", {"command": "x" * 5000}, "command", "4,096"),
    ("seed-text", {"seed": "0"}, "seed", "'0'"),
    ("seed-negative", {"seed": -1}, "seed", "-1"),
    ("seed-bool", {"seed": True}, "seed", "True"),
    ("method-list", {"method": ["offline"]}, "method", "['offline']"),
    ("divergence-dict", {"divergence": {"a": 1}}, "divergence", "printable text"),
]


@pytest.mark.parametrize("case", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_training_json_field_a_card_prints_is_typed(tmp_path, capsys, case):
    fields, *expected = case
    ref = _reference(tmp_path, json.dumps({**BASE, **fields}))
    argv = ["manifest", "--reference", str(ref), "--cells", str(tmp_path / "cells")]
    refused(argv, tmp_path, capsys, "training.json", *expected)


def test_controls_every_bundled_training_json_passes_and_makes_its_card():
    infos = sorted((REPO / "reference").glob("*/*/training.json"))
    assert len(infos) >= 40
    for path in infos:
        info = json.loads(path.read_text())
        assert card_field_problem(info) is None, path
        assert model_card(path.parent.name, {"kind": "draft", **info}).startswith("# ")
    assert card_field_problem({**BASE, "seed": None, "command": "python -m suite distill"}) is None
