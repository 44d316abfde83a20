"""Commands with their own parsers (bundle-tables, calibrate, ...) answer bad input like the
others: exit 2, a message naming file, field and value, no traceback, nothing written."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from suite.bundle import REFERENCE_DIR
from suite.cli import main
from tests.hostile import refused

GOOD = json.loads((REFERENCE_DIR / "MANIFEST.json").read_text())
DRAFT = "llama/kd-offline-alpaca-t0.0-s0"


def _manifest(tmp_path, text: str | None):
    """A bundle folder holding only MANIFEST.json with ``text`` (none when None)."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    if text is not None:
        (folder / "MANIFEST.json").write_text(text)
    return folder


def _edited(key: str, value) -> str:
    manifest = json.loads(json.dumps(GOOD))
    manifest["artifacts"][DRAFT][key] = value
    return json.dumps(manifest)


MANIFESTS = [
    ("missing", None, "MANIFEST.json", "no bundle manifest"),
    ("deep", "[" * 200_000, "MANIFEST.json", "nested deeper"),
    ("artifacts-list", '{"artifacts": [1, "x", {"kind": "draft"}]}', "artifacts", "[1, 'x'"),
    ("acceptance-list", _edited("acceptance", [1]), f"artifacts.{DRAFT}.acceptance", "[1]"),
    ("alpha-text", _edited("acceptance", {"alpaca": {"0.0": {"alpha": "high"}}}),
     f"artifacts.{DRAFT}.acceptance", "high"),
    ("parameters-text", _edited("parameters", "9M"), f"artifacts.{DRAFT}.parameters", "9M"),
    ("method-unknown", _edited("method", "magic"), f"artifacts.{DRAFT}.method", "magic"),
    ("kd-temperature-negative", _edited("kd_temperature", -1),
     f"artifacts.{DRAFT}.kd_temperature", "-1"),
    ("loss-nested", _edited("heldout_loss", {"alpaca": {"x": 1}}),
     f"artifacts.{DRAFT}.heldout_loss", "alpaca"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "field", "value"), [c[1:] for c in MANIFESTS],
                         ids=[c[0] for c in MANIFESTS])  # fmt: skip
def test_bundle_tables_refuses_a_hostile_manifest(tmp_path, capsys, text, field, value):
    folder = _manifest(tmp_path, text)
    refused(["bundle-tables", "--reference", str(folder)], tmp_path, capsys, field, value)


def test_bundle_tables_does_not_follow_a_linked_manifest(tmp_path, capsys):
    secret = tmp_path / "secret.json"
    secret.write_text('{"artifacts": {}, "password": "hunter2"}')
    folder = _manifest(tmp_path, None)
    os.symlink(secret, folder / "MANIFEST.json")
    err = refused(["bundle-tables", "--reference", str(folder)], tmp_path, capsys, "link")
    assert "hunter2" not in err


def test_bundle_tables_of_a_copied_manifest_are_the_docs_tables(tmp_path, capsys):
    """Control: the committed manifest, copied, gives the same tables as the repository's."""
    from suite.bundle_tables import markdown

    folder = _manifest(tmp_path, None)
    shutil.copy(REFERENCE_DIR / "MANIFEST.json", folder)
    assert main(["bundle-tables", "--reference", str(folder)]) == 0
    assert capsys.readouterr().out == markdown(GOOD)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--claims", "99999"], "99999"),
        (["--claims", "0"], "--claims"),
        (["--claims", "-1"], "-1"),
        (["--n-sim", "0"], "--n-sim"),
        (["--n-sim", "10000000"], "10000000"),
    ],
)
def test_calibrate_refuses_unknown_claims_and_counts(tmp_path, capsys, argv, named):
    before = sorted(tmp_path.iterdir())
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", *argv, "--out", str(tmp_path / "cal")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and named in err and "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == before


def test_calibrate_refuses_an_out_that_is_a_file_before_simulating(tmp_path, capsys, monkeypatch):
    import suite.calibration.cli as cli

    def never(*args):
        raise AssertionError("simulated before --out was checked")

    monkeypatch.setattr(cli, "calibrate", never)
    (tmp_path / "taken").write_text("x")
    argv = ["calibrate", "--claims", "1", "--n-sim", "2", "--out", str(tmp_path / "taken")]
    refused(argv, tmp_path, capsys, "--out", "taken", "not a folder")


def test_calibrate_writes_its_tables(tmp_path, capsys):
    """Control: a small calibration of one claim writes both files."""
    out = tmp_path / "cal"
    assert main(["calibrate", "--claims", "5", "--n-sim", "2", "--out", str(out)]) == 0
    assert "5" in json.loads((out / "calibration.json").read_text())["claims"]
    assert (out / "calibration.md").read_text().startswith("|")


def test_a_forwarded_command_that_raises_a_value_error_exits_2(capsys, monkeypatch):
    """Every forwarded command runs inside the CLI's handler."""
    import suite.bundle_tables as module

    def boom(argv):
        raise ValueError("a value the command refuses")

    monkeypatch.setattr(module, "main", boom)
    assert main(["bundle-tables"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "a value the command refuses" in err


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["quality", "--limit", "1", "--n-boot", "1000000000000"], "--n-boot"),
        (["quality", "--limit", "1", "--threads", "100000"], "--threads"),
        (["quality", "--limit", "1", "--seed", "99999999999"], "--seed"),
        (["quality", "--limit", "1", "--max-gen-toks", "100000000"], "--max-gen-toks"),
        (["bench", "--prompts", "1", "--cost-run-time", "inf"], "--cost-run-time"),
        (["bench", "--prompts", "1", "--cost-run-time", "nan"], "--cost-run-time"),
        (["bench", "--prompts", "1", "--cost-rounds", "100000000"], "--cost-rounds"),
        (["bench", "--prompts", "1", "--threads", "5000"], "--threads"),
        (["bench", "--prompts", "1", "--seed", "99999999999"], "--seed"),
    ],
)
def test_quality_and_bench_numbers_have_ceilings(tmp_path, capsys, monkeypatch, argv, named):
    """A bootstrap of 10^12 resamples, 100,000 threads or an endless timing run were accepted
    (a traceback after the whole evaluation, or a hang); each is refused before any work."""
    monkeypatch.chdir(tmp_path)
    assert _exit_code([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
