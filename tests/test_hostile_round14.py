"""Inputs of the fourteenth attack: refusals that did not name the field or the value, and
inputs that were accepted, ended in a traceback or left files behind.

* a tag that names a Python object (``!!python/name:os.system``) showed its value as ``None``
  or an empty string: the refusal now shows the node as written;
* a results folder's ``run.json`` (or a recipe, a submission record) that is not a mapping was
  refused with no field: it is named ``(document)``;
* a tokenizer regex that our rules pass but Oniguruma refuses (``(?si)``) was named by the
  tokenizer folder and the library's load error: it is named by ``tokenizer.json``'s field.
"""

from __future__ import annotations

import json

import pytest

from suite.cli import main
from tests.hostile import refused
from tests.test_hostile_results import LINE, _folder
from tests.test_hostile_tokenizer_ids import _case


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!!python/name:os.system", "!!python/name:os.system"),
        ('!!python/object/apply:os.system ["echo hi"]', "!!python/object/apply:os.system"),
        ("!custom text", "!custom text"),
    ],
)
def test_a_python_tag_in_a_task_file_shows_the_tag(tmp_path, capsys, value, shown):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "evil.yaml").write_text(f"name: evil\ndescription: {value}\n")
    err = refused(["tasks", "--tasks-dir", str(tasks)], tmp_path, capsys, "evil.yaml")
    assert "field 'description'" in err and shown in err, err
    assert "= None" not in err and "= ''" not in err


@pytest.mark.parametrize("run", ["[1, 2]", '"text"', "7"])
def test_a_run_header_that_is_not_a_mapping_names_the_document(tmp_path, capsys, run):
    folder = _folder(tmp_path, LINE + "\n", run)
    err = refused(["report", str(folder)], tmp_path, capsys, "run.json", "(document)")
    assert f"= {json.loads(run)!r}" in err, err


def _oniguruma_refuses(data, config):
    data["pre_tokenizer"] = {
        "type": "Split",
        "pattern": {"Regex": "(?si)a"},
        "behavior": "Isolated",
        "invert": False,
    }


def test_a_regex_oniguruma_refuses_is_named_by_its_field(tmp_path, capsys):
    profile, study = _case(tmp_path, _oniguruma_refuses)
    argv = ["run", str(study), "--profile", str(profile), "--out", str(tmp_path / "o")]
    err = refused(argv, tmp_path, capsys, "tok/tokenizer.json", "pre_tokenizer.pattern.Regex")
    assert "'(?si)a'" in err and "Oniguruma" in err, err


def test_a_regex_oniguruma_compiles_still_loads(tmp_path, capsys):
    """The control: the same tokenizer with a pattern Oniguruma compiles runs."""

    def good(data, config):
        _oniguruma_refuses(data, config)
        data["pre_tokenizer"]["pattern"]["Regex"] = "(?i)a"

    profile, study = _case(tmp_path, good)
    argv = ["run", str(study), "--profile", str(profile), "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
