"""A bundle given with --bundle is hostile until checked: its MANIFEST.json is read strictly and
typed, and no artifact path leaves the bundle (exit 2, file, field and value named)."""

from __future__ import annotations

import json

import pytest

from suite.cli import main

GOOD = {
    "artifacts": {
        "x/draft": {"kind": "draft", "path": "x/draft", "files": {"config.json": "0" * 64}}
    }
}


@pytest.fixture(autouse=True)
def _own_bundle_variable(monkeypatch):
    """``--bundle`` sets $SUITE_BUNDLE in this process: put it back after each test."""
    monkeypatch.setenv("SUITE_BUNDLE", "unset-by-the-test")
    monkeypatch.delenv("SUITE_BUNDLE")


def _entry(**change):
    return {"artifacts": {"x/draft": GOOD["artifacts"]["x/draft"] | change}}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{}", "artifacts"),
        (json.dumps({"artifacts": [1, 2]}), "artifacts"),
        ("not json", "MANIFEST.json"),
        ('{"artifacts": NaN}', "MANIFEST.json"),
        (json.dumps(_entry(path="../../../../../etc")), "artifacts.x/draft.path"),
        (json.dumps(_entry(path="/etc")), "artifacts.x/draft.path"),
        (json.dumps(_entry(path="x/.git")), "artifacts.x/draft.path"),
        (json.dumps(_entry(kind="binary")), "artifacts.x/draft"),
        (json.dumps(_entry(files={"../passwd": "0" * 64})), "artifacts.x/draft.files"),
        (json.dumps(_entry(files={"config.json": "zz"})), "artifacts.x/draft.files"),
    ],
)
def test_a_hostile_manifest_is_refused_before_anything_is_read(tmp_path, capsys, text, field):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "MANIFEST.json").write_text(text)
    assert main(["--bundle", str(bundle), "verify", "--hashes-only"]) == 2
    err = capsys.readouterr().err
    assert "MANIFEST.json" in err and field in err and "Traceback" not in err
    assert "passwd" not in err.replace("../passwd", "")


def test_a_sound_manifest_is_verified(tmp_path, capsys):
    bundle = tmp_path / "bundle"
    (bundle / "x" / "draft").mkdir(parents=True)
    (bundle / "x" / "draft" / "config.json").write_text("{}")
    (bundle / "MANIFEST.json").write_text(json.dumps(GOOD))
    status = main(["--bundle", str(bundle), "verify", "--hashes-only"])
    out = capsys.readouterr()
    assert status == 1 and "config.json sha256" in out.out + out.err  # read, and its hash checked


def _linked_bundle(tmp_path, kind: str):
    """A one-artifact bundle whose config.json (``file``) or artifact folder (``folder``) is a
    link to something outside it, with the manifest listing the outside file's hash."""
    import hashlib

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text('{"secret": 1}')
    digest = hashlib.sha256((outside / "config.json").read_bytes()).hexdigest()
    root = tmp_path / "bundle"
    (root / "x").mkdir(parents=True)
    if kind == "file":
        (root / "x" / "draft").mkdir()
        (root / "x" / "draft" / "config.json").symlink_to(outside / "config.json")
    else:
        (root / "x" / "draft").symlink_to(outside)
    entry = {"kind": "draft", "path": "x/draft", "files": {"config.json": digest}}
    (root / "MANIFEST.json").write_text(json.dumps({"artifacts": {"x/draft": entry}}))
    return root


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_verify_neither_hashes_nor_lists_a_linked_file_outside_the_bundle(tmp_path, kind):
    """A linked config.json verified with 0 problems; a linked folder listed outside names."""
    from suite.bundle import verify

    problems = verify(_linked_bundle(tmp_path, kind), load=False)
    assert len(problems) == 1 and "symbolic link" in problems[0], problems
    (tmp_path / "outside" / "extra.py").write_text("x = 1")
    assert not any("extra.py" in p for p in verify(tmp_path / "bundle", load=False))
