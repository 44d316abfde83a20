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
