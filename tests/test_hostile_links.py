"""A spec or a draft's training record that is a symbolic link is refused without reading it:
its error would otherwise print a file from outside the hostile folder (a token, a key)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from suite.cli import main
from suite.drafts import read_training_facts
from suite.errors import SpecError

SECRET = "gho_SECRETSECRET0123456789"
TASKS = Path(__file__).resolve().parents[1] / "tasks"


def _secret_yaml(tmp_path: Path) -> Path:
    secret = tmp_path / "hosts.yml"
    secret.write_text(f"github.com:\n  oauth_token: {SECRET}\n  user: victim\n")
    return secret


def test_a_task_spec_that_is_a_link_is_refused_without_printing_its_target(tmp_path, capsys):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "gsm8k.yaml").symlink_to(_secret_yaml(tmp_path))
    assert main(["tasks", "--tasks-dir", str(tasks)]) == 2
    err = capsys.readouterr().err
    assert "gsm8k.yaml" in err and "symbolic link" in err
    assert SECRET not in err and "Traceback" not in err


def test_the_same_spec_as_a_plain_file_is_read(tmp_path, capsys):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    shutil.copy(TASKS / "gsm8k.yaml", tasks / "gsm8k.yaml")
    assert main(["tasks", "--tasks-dir", str(tasks)]) == 0
    assert "gsm8k" in capsys.readouterr().out


def test_a_training_record_that_is_a_link_is_refused(tmp_path):
    draft = tmp_path / "draft"
    draft.mkdir()
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"aws_secret_access_key": SECRET}))
    (draft / "training.json").symlink_to(secret)
    with pytest.raises(SpecError) as err:
        read_training_facts(draft)
    assert "symbolic link" in str(err.value) and SECRET not in str(err.value)
