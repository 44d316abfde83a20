"""Submissions of the eighteenth attack: path fields too long for the file system, a model folder
swapped between submit's checks and its run, names too long for a record, heads of size 0,
safetensors headers of 100 MB, a folder named generation_config.json, a fingerprint two folders
shared, a submission.json in --out that was not this submission's, and a backslash rewritten in
model.path. Each case failed on the commit before its fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from suite.cli import main
from tests.hostile import refused
from tests.test_hostile_submissions import _config, _spec
from tests.test_submissions import _copy, _profile, tiny  # noqa: F401 (a fixture)


def _check(folder: Path, tiny) -> list[str]:  # noqa: F811
    return ["submissions", "check", str(folder), "--profile", _profile(tiny)]


def _submit(folder: Path, tiny, out: Path) -> list[str]:  # noqa: F811
    return ["submit", str(folder), "--profile", _profile(tiny), "--out", str(out), "--quiet"]


# D1 and D9: a path field is bounded and shown as written


@pytest.mark.parametrize("command", ["check", "submit"])
@pytest.mark.parametrize(
    "path",
    ["a" * 300, "a/" * 3000 + "model", "é" * 200],
    ids=["segment", "deep", "segment-bytes"],
)
def test_a_too_long_model_path_names_the_file_and_field(tiny, tmp_path, capsys, command, path):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _spec(model={"path": path})(folder)
    out = tmp_path / "out"
    argv = _check(folder, tiny) if command == "check" else _submit(folder, tiny, out)
    err = refused(argv, tmp_path, capsys, "submission.yaml", "model.path", "at most")
    assert len(err) < 800, len(err)
    assert not out.exists()


def test_a_backslash_in_model_path_is_refused_as_written(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    (folder / "model").rename(folder / "mo\\del")
    _spec(model={"path": "mo\\del"})(folder)
    err = refused(_check(folder, tiny), tmp_path, capsys, "submission.yaml", "model.path")
    assert "'mo\\\\del'" in err and "mo/del" not in err, err  # the repr of the text written


def test_a_missing_model_folder_shows_the_path_as_written(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _spec(model={"path": "./weights/v2"})(folder)
    err = refused(_check(folder, tiny), tmp_path, capsys, "model.path", "no model folder")
    assert "= './weights/v2'" in err, err


# D3: sub-NAME fits the record reader's 128 characters


def _named(tiny, tmp_path, name: str) -> Path:  # noqa: F811
    folder = _copy(tiny, tmp_path, name)
    _spec(name=name)(folder)
    return folder


def test_a_name_too_long_for_a_record_is_refused_by_check(tiny, tmp_path, capsys):  # noqa: F811
    folder = _named(tiny, tmp_path, "a" * 125)
    err = refused(_check(folder, tiny), tmp_path, capsys, "submission.yaml", "'name'", "124")
    assert len(err) < 800


def test_a_name_of_124_characters_passes_the_check(tiny, tmp_path, capsys):  # noqa: F811
    folder = _named(tiny, tmp_path, "a" * 124)
    assert main(_check(folder, tiny)) == 0, capsys.readouterr().err


# D4: sizes that divide are named


@pytest.mark.parametrize("key", ["num_attention_heads", "num_key_value_heads", "head_dim"])
def test_a_head_size_of_zero_names_its_field(tiny, tmp_path, capsys, key):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _config(**{key: 0})(folder)
    refused(_check(folder, tiny), tmp_path, capsys, "config.json", f"field '{key}' = 0", ">= 1")


def test_a_null_key_value_heads_passes_the_check(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _config(num_key_value_heads=None)(folder)
    assert main(_check(folder, tiny)) == 0, capsys.readouterr().err


# D5: a safetensors header is bounded well below the library's 100 MB


def _big_header(folder: Path, size: int) -> None:
    path = folder / "model" / "model.safetensors"
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"] = {"format": "pt", "notes": "x" * size}
    data = json.dumps(header).encode()
    data += b" " * (-len(data) % 8)
    path.write_bytes(len(data).to_bytes(8, "little") + data + raw[8 + n :])


def test_a_huge_safetensors_header_is_refused_before_it_is_parsed(tiny, tmp_path, capsys):  # noqa: F811
    from suite.safetensors_files import MAX_HEADER_BYTES

    assert MAX_HEADER_BYTES <= 16 << 20
    folder = _copy(tiny, tmp_path)
    _big_header(folder, MAX_HEADER_BYTES)
    refused(_check(folder, tiny), tmp_path, capsys, "model.safetensors", "header size")


def test_a_safetensors_header_with_some_metadata_passes(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _big_header(folder, 1 << 20)
    assert main(_check(folder, tiny)) == 0, capsys.readouterr().err


# D6: check refuses the generation config submit would refuse


def file_made_a_folder(tiny, tmp_path: Path, name: str) -> Path:  # noqa: F811
    """A copy of the valid submission whose model file ``name`` is a folder instead."""
    folder = _copy(tiny, tmp_path)
    path = folder / "model" / name
    path.unlink(missing_ok=True)
    path.mkdir()
    return folder


def test_a_folder_named_generation_config_is_refused_by_check(tiny, tmp_path, capsys):  # noqa: F811
    folder = file_made_a_folder(tiny, tmp_path, "generation_config.json")
    (folder / "model" / "generation_config.json" / "x.txt").write_text("x")
    refused(_check(folder, tiny), tmp_path, capsys, "generation_config.json", "regular file")


# D7: the fingerprint tells folders apart


def test_two_folders_have_two_fingerprints(tmp_path):
    from suite.profiles import ModelRef

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "notes.txt").write_bytes(b"hinotez.txt\0there")
    (b / "notes.txt").write_bytes(b"hi")
    (b / "notez.txt").write_bytes(b"there")
    first, second = ModelRef("x", path=a).fingerprint(), ModelRef("x", path=b).fingerprint()
    assert first != second
    c = tmp_path / "c"
    shutil.copytree(b, c)
    assert ModelRef("x", path=c).fingerprint() == second  # names and bytes, not the location


# D2 and D8: submit scores the files it checked, and keeps a submission.json not its own


def test_submit_refuses_a_submission_json_it_did_not_write(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "submission.json").write_text('{"precious": true}')
    refused(_submit(folder, tiny, out), tmp_path, capsys, "submission.json", "name")
    other = {"name": "other-draft", "draft": "sub-other-draft"}
    (out / "submission.json").write_text(json.dumps(other))
    refused(_submit(folder, tiny, out), tmp_path, capsys, "submission.json", "other-draft")


def test_a_model_folder_changed_before_the_copy_is_refused(tiny, tmp_path, capsys, monkeypatch):  # noqa: F811
    """The folder is swapped after the checks and the hash (here: while the device is checked):
    the copy submit runs on is not the folder it checked, so nothing runs."""
    import suite.submit

    folder = _copy(tiny, tmp_path)
    real = suite.submit.check_device

    def swap(profile):
        real(profile)
        _config(rms_norm_eps=1e-5 if _eps(folder) != 1e-5 else 2e-5)(folder)

    monkeypatch.setattr(suite.submit, "check_device", swap)
    results = tmp_path / "results"
    results.mkdir()
    out = results / "out"
    refused(_submit(folder, tiny, out), results, capsys, "model.path", "changed")  # the swap
    assert not out.exists()  # changed the submission folder itself


def _eps(folder: Path) -> float:
    return json.loads((folder / "model" / "config.json").read_text()).get("rms_norm_eps")


def test_submit_runs_the_files_it_checked(tiny, tmp_path, capsys, monkeypatch):  # noqa: F811
    """The folder is emptied of its weights once submit has made its copy: the run loads the
    copy, records its sha256 (the checked folder's), and leaves no copy in --out. A
    submission.json of this submission (a killed submit's) is replaced."""
    import suite.submit
    from suite.profiles import ModelRef
    from suite.submit import submit
    from suite.tables import read_records

    folder = _copy(tiny, tmp_path)
    checked = ModelRef("x", path=folder / "model").fingerprint()
    real = suite.submit.run_plan

    weights, held = folder / "model" / "model.safetensors", tmp_path / "held.safetensors"

    def swap(*args, **kwargs):
        weights.rename(held)
        return real(*args, **kwargs)

    monkeypatch.setattr(suite.submit, "run_plan", swap)
    out = tmp_path / "out"
    out.mkdir()
    own = {"name": "tiny-draft", "draft": "sub-tiny-draft", "sha256": "0" * 64}
    (out / "submission.json").write_text(json.dumps(own))
    assert main(_submit(folder, tiny, out)) == 0, capsys.readouterr().err
    info = json.loads((out / "submission.json").read_text())
    assert info["sha256"] == checked
    mine = [r for r in read_records(out) if r["cell"]["draft"] == "sub-tiny-draft"]
    assert mine and {r["provenance"]["models"]["draft"]["sha256"] for r in mine} == {checked}
    from suite.paths import portable_path

    shown = {r["provenance"]["models"]["draft"]["location"] for r in mine}
    assert shown == {portable_path(folder / "model")}  # the submission's folder, not the copy
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert not (out / "config.json").exists()
    # the same files again: the run resumes with nothing to do
    monkeypatch.undo()
    held.rename(weights)
    assert submit(folder, profile=_profile(tiny), out=out, progress=False).ran == 0
