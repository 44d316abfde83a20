"""Inputs of the twenty-first attack, against the twentieth round's fixes: submissions whose
generation config types its special ids loosely, whose license or authors the report would
refuse after every cell ran, whose model folder is swapped for a link while submit copies it,
or whose tokenizer config is a folder; and an example model of infinite noise. Each case failed
on the commit before its fix."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from suite.errors import SpecError
from tests.hostile import refused
from tests.test_hostile_round18_submissions import _check
from tests.test_submissions import _copy, _edit, _profile, tiny  # noqa: F401 (a fixture)


def _generation(folder, **over):
    path = folder / "model" / "generation_config.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(over)
    path.write_text(json.dumps(data))


def test_a_text_special_id_is_named_by_its_field(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _generation(folder, pad_token_id="1")
    refused(_check(folder, tiny), tmp_path, capsys, "generation_config.json", "pad_token_id", "'1'")


@pytest.mark.parametrize("value", [False, 0.0], ids=["bool", "float"])
def test_a_special_id_that_is_not_an_integer_is_refused(value, tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _generation(folder, eos_token_id=value)
    refused(_check(folder, tiny), tmp_path, capsys, "generation_config.json", "eos_token_id",
            "an integer")  # fmt: skip


@pytest.mark.parametrize(
    ("over", "field"),
    [({"license": "MIT\tor Apache-2.0"}, "license"), ({"license": "MIT\nApache"}, "license"),
     ({"license": "L" * 1_100}, "license"),
     ({"authors": [f"A{i}" for i in range(300)]}, "authors")],
    ids=["license-tab", "license-lines", "license-long", "authors-300"],
)  # fmt: skip
def test_check_refuses_what_the_report_would_refuse(over, field, tiny, tmp_path, capsys):  # noqa: F811
    """check said ok; submit ran every cell, then its report refused the submission.json it had
    written, and the folder could be neither resumed nor reported."""
    folder = _copy(tiny, tmp_path)
    _edit(folder, **over)
    refused(_check(folder, tiny), tmp_path, capsys, "submission.yaml", field)


def test_a_tokenizer_config_that_is_a_folder_is_named(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    config = folder / "model" / "tokenizer_config.json"
    if config.exists():
        config.unlink()
    config.mkdir()
    refused(_check(folder, tiny), tmp_path, capsys, "tokenizer_config.json", "not a regular file")


@pytest.mark.parametrize("noise", ["inf", "1e308", "nan"])
def test_an_example_of_unbounded_noise_is_refused_before_anything_is_written(
    noise, tmp_path, capsys
):
    from suite.cli import main

    assert main(["submissions", "make-example", "--noise", noise]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "noise must be in [0, 10]" in err, err


def test_a_model_folder_swapped_for_a_link_while_submit_copies_it_is_refused(tiny, tmp_path):  # noqa: F811
    """The copy followed a link put in place of the checked model folder after the check: a
    model from outside the submission was scored under its own sha256."""
    from suite.profiles import load_profile
    from suite.submissions import load_submission, staged, validate

    folder = _copy(tiny, tmp_path)
    profile = load_profile(_profile(tiny))
    checked = validate(load_submission(folder), profile)
    fingerprint = checked.model.fingerprint()
    outside = tmp_path / "outside"
    shutil.copytree(folder / "model", outside)
    (folder / "model").rename(folder / "model.orig")
    (folder / "model").symlink_to(outside)
    with pytest.raises(SpecError, match="symbolic link appeared"):
        staged(checked, profile, tmp_path / "copy", fingerprint)
    (folder / "model").unlink()
    (folder / "model.orig").rename(folder / "model")
    again = staged(checked, profile, tmp_path / "copy2", fingerprint)  # the control
    assert math.isfinite(again.parameters) and again.model.path == tmp_path / "copy2"


# --- attack A: results folders and YAML numbers ---


def _folder_of(tmp_path, edit_records=None, edit_header=None):
    """The round-18 analytic folder (one record, profile smoke), with edits."""
    from pathlib import Path

    from tests.test_hostile_round18 import _analytic_folder

    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    records = [json.loads(line) for line in (folder / "cells.jsonl").read_text().splitlines()]
    header = json.loads((folder / "run.json").read_text())
    if edit_records:
        records = edit_records(records)
    if edit_header:
        edit_header(header)
    (folder / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "run.json").write_text(json.dumps(header))
    return folder


def _second_seed(records):
    from tests.hostile import restate_analytic

    other = json.loads(json.dumps(records[0]))
    other["cell"]["seed"], other["key"] = 1, other["key"].replace("/s0/", "/s1/")
    other["provenance"]["models"]["draft"]["sha256"] = "0" * 64  # scored another draft
    return [records[0], restate_analytic(other)]


def _no_provenance(records):
    for r in records:
        del r["provenance"]
    return records


def _format(records):
    records[0]["provenance"]["prompt_format"] = "evil"
    return records


@pytest.mark.parametrize(
    ("records", "header", "field", "shown"),
    [(None, lambda h: h.update(studies="difficulty"), "studies", "a list of study names"),
     (None, lambda h: h.update(studies=["difficulty", "difficulty"]), "studies", "none twice"),
     (_second_seed, None, "provenance.models.draft.sha256", "another draft"),
     (_no_provenance, None, "provenance", "without provenance"),
     (_format, None, "provenance.prompt_format", "instruction, chat_template")],
    ids=["studies-string", "studies-twice", "two-hashes", "no-provenance", "prompt-format"],
)  # fmt: skip
def test_a_results_folder_no_run_writes_is_refused(records, header, field, shown, tmp_path, capsys):
    folder = _folder_of(tmp_path, records, header)
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys, field, shown)


def test_a_draft_timed_longer_than_its_decode_is_refused(tmp_path, capsys):
    from tests.test_hostile_round20 import _empirical_edit

    record = _empirical_edit(lambda r: r["timing"]["per_prompt"][0].update(draft_seconds=0.2))()
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "cells.jsonl").write_text(json.dumps(record) + "\n")
    from suite.errors import SpecError as Refused
    from suite.store import ResultsStore

    with pytest.raises(Refused, match=r"draft_seconds.*at most its 0\.1 seconds"):
        ResultsStore(folder).load()


def test_yaml_floats_with_a_point_and_an_unsigned_exponent_are_numbers():
    import yaml

    from suite.strict import StrictLoader

    text = "[5.0e0, 2.0e6, .5E1, 1.5e3, 2.56e2, 1e-3, 1.0, 1.2.3e4, .e5]"
    assert yaml.load(text, Loader=StrictLoader) == [
        5.0, 2e6, 5.0, 1500.0, 256.0, 0.001, 1.0, "1.2.3e4", ".e5"
    ]  # fmt: skip
