"""Round 5's data-side hostile inputs, through the real CLI: a task spec that repeats a data file or
lists too many splits or files, a ``training.json`` that ``manifest --reference`` reads, and the
file that ``bundle-tables --write`` edits. Each is refused with exit status 2, naming the file,
the field and the value, with no traceback and nothing written; a good input is accepted. What
could hang or fill memory on a regression runs in a child process under a timeout and a memory
cap."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from suite.cli import main
from suite.data import MAX_SPLIT_BYTES
from suite.specs import MAX_SPLIT_FILES, MAX_SPLITS
from tests.hostile import refused
from tests.test_hostile_specs import GOOD
from tests.test_submissions import _copy, _json_edit, _profile, tiny  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[1]


def _spec(tmp_path: Path, splits: dict) -> Path:
    """A ``--tasks-dir`` holding ``toy.yaml`` with ``splits``, and its data under ``data/``."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "toy.yaml").write_text(yaml.safe_dump({**GOOD, "splits": splits}, sort_keys=False))
    data = tmp_path / "data" / "toy"
    data.mkdir(parents=True)
    rows = [{"question": f"q{i}", "solution": f"#### {i}"} for i in range(8)]
    for i in range(MAX_SPLIT_FILES):
        (data / f"t{i}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _child(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m suite ARGV`` in a child limited to 2 GB of address space and ``timeout``."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    code = f"import sys; from suite.cli import main; sys.exit(main({argv!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
        env=env,
        cwd=REPO,
    )


# H2: a data file listed twice, too many files, too many splits
def test_a_data_file_listed_twice_in_a_split_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / "data"))
    folder = _spec(tmp_path, {"test": {"files": ["toy/t0.jsonl", "toy/./t0.jsonl"]}})
    argv = ["tasks", "toy", "--show", "0", "--tasks-dir", str(folder)]
    refused(argv, tmp_path, capsys, "toy.yaml", "splits.test.files[1]", "toy/./t0.jsonl")


def test_an_id_file_listed_twice_is_refused(tmp_path, capsys):
    split = {"files": ["toy/t0.jsonl"], "id_field": "n", "id_files": ["toy/a.txt", "toy/a.txt"]}
    folder = _spec(tmp_path, {"test": split})
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "splits.test.id_files[1]")


def test_a_split_of_too_many_files_is_refused(tmp_path, capsys):
    files = [f"toy/x{i}.jsonl" for i in range(MAX_SPLIT_FILES + 1)]
    folder = _spec(tmp_path, {"test": {"files": files}})
    refused(
        ["tasks", "--tasks-dir", str(folder)],
        tmp_path,
        capsys,
        "toy.yaml",
        "splits.test.files",
        "toy/x0.jsonl",
        f"at most {MAX_SPLIT_FILES}",
    )


def test_a_spec_of_too_many_splits_is_refused(tmp_path, capsys):
    splits = {f"s{i}": {"files": ["toy/t0.jsonl"]} for i in range(MAX_SPLITS + 1)}
    folder = _spec(tmp_path, splits)
    refused(
        ["tasks", "--tasks-dir", str(folder)],
        tmp_path,
        capsys,
        "toy.yaml",
        "'splits'",
        "s0",
        f"at most {MAX_SPLITS}",
    )


def test_as_many_splits_and_files_as_allowed_are_read(tmp_path, capsys, monkeypatch):
    """The ceilings themselves are accepted; one file in several splits (alpaca's train and test
    by hash range) stays allowed."""
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / "data"))
    files = [f"toy/t{i}.jsonl" for i in range(MAX_SPLIT_FILES)]
    splits = {"test": {"files": files}}
    splits |= {f"s{i}": {"files": ["toy/t0.jsonl"]} for i in range(MAX_SPLITS - 1)}
    folder = _spec(tmp_path, splits)
    assert main(["tasks", "toy", "--split", "test", "--show", "0", "--tasks-dir", str(folder)]) == 0
    assert f"toy/test: {8 * MAX_SPLIT_FILES} examples" in capsys.readouterr().out
    assert main(["tasks", "toy", "--split", "s3", "--show", "0", "--tasks-dir", str(folder)]) == 0
    assert "toy/s3: 8 examples" in capsys.readouterr().out


def test_reading_a_split_writes_nothing_to_the_hugging_face_cache(tmp_path, capsys, monkeypatch):
    """The Arrow copy ``datasets`` makes of a JSON file goes to a folder removed after reading."""
    import datasets

    cache = Path(datasets.config.HF_DATASETS_CACHE)
    before = sorted(cache.rglob("*")) if cache.is_dir() else []
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / "data"))
    folder = _spec(tmp_path, {"test": {"files": ["toy/t1.jsonl", "toy/t2.jsonl"]}})
    assert main(["tasks", "toy", "--show", "1", "--tasks-dir", str(folder)]) == 0
    assert "toy/test: 16 examples" in capsys.readouterr().out
    assert (sorted(cache.rglob("*")) if cache.is_dir() else []) == before


def test_an_unreadable_data_file_names_the_error_type(tmp_path, monkeypatch):
    """L7: the error's text may be empty; its type is always printed. In a child process, so
    that everything ``datasets`` would log reaches the captured stderr: one line, ours, naming
    pyarrow's parse error (not the wrapper datasets raises around it), and no traceback."""
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / "data"))
    folder = _spec(tmp_path, {"test": {"files": ["toy/bad.jsonl"]}})
    (tmp_path / "data" / "toy" / "bad.jsonl").write_text("{not json\n")
    done = _child(["tasks", "toy", "--show", "0", "--tasks-dir", str(folder)])
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and "toy.yaml: field 'splits.test.files'" in line, line
    assert "cannot read as jsonl: ArrowInvalid: JSON parse error" in line, line


def test_a_split_over_its_byte_cap_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    """A split's data files together are at most MAX_SPLIT_BYTES: refused by their sizes, before
    ``datasets`` reads (or copies) a byte of them."""
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / "data"))
    folder = _spec(tmp_path, {"test": {"files": ["toy/t0.jsonl", "toy/big.jsonl"]}})
    with open(tmp_path / "data" / "toy" / "big.jsonl", "wb") as f:  # sparse: no disk used
        f.truncate(MAX_SPLIT_BYTES)
    argv = ["tasks", "toy", "--show", "0", "--tasks-dir", str(folder)]
    refused(
        argv, tmp_path, capsys, "toy.yaml", "splits.test.files[1]", "toy/big.jsonl", "268,435,456"
    )


# M3: manifest --reference reads training.json strictly
def _reference(tmp_path: Path, content: str | None) -> Path:
    ref = tmp_path / "ref"
    (ref / "llama" / "draft").mkdir(parents=True)
    if content is not None:
        (ref / "llama" / "draft" / "training.json").write_text(content)
    return ref


@pytest.mark.parametrize(
    "content, expected",
    [
        ("[]", ("training.json", "list", "expected a JSON object")),
        ('{"method": "base"}', ("training.json", "artifact", "None")),
        ('{"artifact": ["draft"]}', ("training.json", "artifact", "['draft']")),
        ('{"artifact": "draft", "parameters": "9"}', ("training.json", "parameters", "'9'")),
        (
            '{"artifact": "draft", "parameters": 9, "path": "../../x"}',
            ("training.json", "'path'", "../../x"),
        ),
        (
            '{"artifact": "draft", "parameters": 9, "kd_temperature": true}',
            ("training.json", "kd_temperature", "True"),
        ),
        ("[" * 100_000, ("training.json",)),
    ],
    ids=["list", "no-artifact", "artifact-list", "parameters-str", "path", "tau-bool", "deep"],
)
def test_a_hostile_training_json_is_refused_by_manifest(tmp_path, capsys, content, expected):
    ref = _reference(tmp_path, content)
    argv = ["manifest", "--reference", str(ref), "--cells", str(tmp_path / "cells")]
    refused(argv, tmp_path, capsys, *expected)


def test_a_linked_training_json_is_refused_by_manifest(tmp_path, capsys):
    ref = _reference(tmp_path, None)
    (tmp_path / "elsewhere.json").write_text('{"artifact": "draft", "parameters": 9}')
    (ref / "llama" / "draft" / "training.json").symlink_to(tmp_path / "elsewhere.json")
    argv = ["manifest", "--reference", str(ref), "--cells", str(tmp_path / "cells")]
    refused(argv, tmp_path, capsys, "training.json", "symbolic link")


def test_a_fifo_training_json_is_refused_without_blocking(tmp_path):
    ref = _reference(tmp_path, None)
    os.mkfifo(ref / "llama" / "draft" / "training.json")
    done = _child(["manifest", "--reference", str(ref), "--cells", str(tmp_path / "cells")])
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "training.json" in done.stderr and "regular file" in done.stderr


# M5: bundle-tables --write FILE
def test_a_fifo_write_file_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "f")
    done = _child(["bundle-tables", "--write", str(tmp_path / "f")])
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "--write" in done.stderr and "regular file" in done.stderr


def test_a_device_write_file_is_refused_without_reading_it(tmp_path):
    done = _child(["bundle-tables", "--write", "/dev/zero"])
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "/dev/zero" in done.stderr and "--write" in done.stderr


def test_a_linked_or_non_utf8_write_file_is_refused(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- bundle-tables:start -->\n<!-- bundle-tables:end -->\n")
    (tmp_path / "link.md").symlink_to(readme)
    argv = ["bundle-tables", "--write", str(tmp_path / "link.md")]
    refused(argv, tmp_path, capsys, "link.md", "--write", "symbolic link")
    (tmp_path / "latin.md").write_bytes(b"caf\xe9\n")
    argv = ["bundle-tables", "--write", str(tmp_path / "latin.md")]
    refused(argv, tmp_path, capsys, "latin.md", "--write", "UTF-8")


def test_a_marked_write_file_is_filled(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- bundle-tables:start -->\nold\n<!-- bundle-tables:end -->\nend\n")
    assert main(["bundle-tables", "--write", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("top\n") and text.endswith("end\n") and "\nold\n" not in text


# L7: an unknown activation names its field
def test_an_unknown_hidden_act_is_refused_naming_the_field(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _json_edit(folder / "model" / "config.json", lambda d: d.update(hidden_act="evil"))
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "config.json", "'hidden_act'", "'evil'", "known: ")
    _json_edit(folder / "model" / "config.json", lambda d: d.update(hidden_act="silu"))
    assert main(argv) == 0, capsys.readouterr().err
