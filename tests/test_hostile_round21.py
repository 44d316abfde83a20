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
