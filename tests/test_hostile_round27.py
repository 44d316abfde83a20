"""Inputs of the twenty-seventh attack, against the twenty-sixth round's fixes: manifest facts
equal to training.json's only loosely, lm-eval model_args given another way than the long
option, jinja tests that format a text, and messages that showed a parsed value. Each case
failed on the commit before its fix."""

from __future__ import annotations

import os

import pytest

from tests.hostile import refused
from tests.test_hostile_inputs_more import REPO


def _verified_bundle(tmp_path):
    from suite.bundle import artifact_files, verify
    from suite.manifest import _read_artifacts, write_manifest
    from tests.test_hostile_round25 import _bundle_of

    root = _bundle_of(tmp_path, heldout_loss={"gsm8k": 3.0}, kd_temperatures=[0.6, 1.0])
    artifacts = _read_artifacts(root)
    for entry in artifacts.values():
        entry["files"] = artifact_files(root / entry["path"])
    write_manifest({"artifacts": artifacts}, root)
    assert verify(root, load=False) == []  # the control: as manifest writes it
    return root, artifacts


@pytest.mark.parametrize(
    ("edit", "shown"),
    [(lambda d: d.update(kd_temperatures=[0.6, True]), "kd_temperatures"),
     (lambda d: d.update(heldout_loss={"gsm8k": 3}), "heldout_loss"),
     (lambda d: d.update(entropy_at_tau_1=None), "entropy_at_tau_1"),
     (lambda d: d.pop("heldout_loss"), "heldout_loss")],
    ids=["true-for-one", "an-integer-for-a-float", "null-for-absent", "absent-for-stated"],
)  # fmt: skip
def test_verify_compares_each_fact_in_type_and_presence(edit, shown, tmp_path):
    from suite.bundle import verify
    from suite.manifest import write_manifest

    root, artifacts = _verified_bundle(tmp_path)
    edit(artifacts["fam/d1"])
    write_manifest({"artifacts": artifacts}, root)
    (problem,) = verify(root, load=False)
    assert "fam/d1" in problem and shown in problem, problem


@pytest.mark.parametrize(
    "given",
    [["-a", "target=t,temperature=1e-400"], ["-atarget=t,seed=١"],
     ["--model_arg", "target=t,temperature=1e-400"], ["--model_a=target=t,seed=1_0"],
     ["--config", "CONFIG"], ["-C", "CONFIG_TEXT"]],
    ids=["alias", "alias-joined", "abbreviation", "abbreviation-joined", "config-mapping",
         "config-text"],
)  # fmt: skip
def test_lm_eval_model_args_are_read_as_written_however_given(given, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("model: specdec\nmodel_args:\n  target: t\n"
                                     "  temperature: 1e-400\n")  # fmt: skip
    (tmp_path / "d.yaml").write_text('model: specdec\nmodel_args: "target=t,seed=١"\n')
    files = {"CONFIG": str(tmp_path / "c.yaml"), "CONFIG_TEXT": str(tmp_path / "d.yaml")}
    argv = ["lm-eval", "run", "--model", "specdec", *(files.get(g, g) for g in given),
            "--tasks", "x", "--output_path", str(tmp_path / "o")]  # fmt: skip
    refused(argv, tmp_path, capsys, "model_args")


@pytest.mark.parametrize(
    "template",
    ['{{ "%0400000000d" is divisibleby(1) }}', '{{ "%0400000000d" is odd }}',
     "{{ Body is even }}"],
    ids=["divisibleby", "odd", "even-of-a-field"],
)  # fmt: skip
def test_a_test_that_formats_a_text_is_refused(template, tmp_path, capsys):
    text = (REPO / "tasks" / "svamp.yaml").read_text()
    old = "instruction: '{{ Body }} {{ Question }}'"
    assert old in text
    (tmp_path / "t").mkdir()
    spec = text.replace(old, "instruction: '" + template.replace("'", "''") + " {{ Body }}'")
    (tmp_path / "t" / "svamp.yaml").write_text(spec)
    argv = ["tasks", "svamp", "--show", "1", "--tasks-dir", str(tmp_path / "t")]
    refused(argv, tmp_path, capsys, "svamp.yaml", "takes numbers")


def test_number_tests_on_numbers_still_run():
    from suite.sandbox import JINJA

    source = "{{ 4 is divisibleby(2) }} {{ 3 is odd }} {{ 2.0 is even }}"
    assert JINJA.from_string(source).render() == "True True True"


@pytest.mark.parametrize("value", ["1e-400", "1e999"])
def test_a_decimal_option_a_float_cannot_hold_is_named_as_written(value, tmp_path, capsys):
    from tests.test_hostile_round18 import argument_refused

    argv = ["bench", "--cost-run-time", value, "--out", str(tmp_path / "b")]
    argument_refused(argv, tmp_path, capsys, "--cost-run-time", f"'{value}'")


def test_a_data_file_that_is_a_fifo_is_named_as_such(tmp_path, capsys, monkeypatch):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "svamp.yaml").write_text((REPO / "tasks" / "svamp.yaml").read_text())
    (tmp_path / "d" / "svamp").mkdir(parents=True)
    os.mkfifo(tmp_path / "d" / "svamp" / "SVAMP.json")
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / "d"))
    argv = ["tasks", "svamp", "--show", "1", "--tasks-dir", str(tmp_path / "t")]
    refused(argv, tmp_path, capsys, "svamp/SVAMP.json", "not a regular file")
