"""Fetching the data for machines without the mirror: every pinned file is hash-checked."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from suite.data import data_root
from suite.fetch import SOURCES, fetch


def _opener_from(root: Path, entries: list[dict], corrupt: str | None = None):
    by_url = {e["url"]: root / e["path"] for e in entries}

    def opener(url, timeout):
        data = by_url[url].read_bytes()
        return io.BytesIO(data + b"x" if corrupt and url.endswith(corrupt) else data)

    return opener


@pytest.fixture
def mirror():
    root = data_root()
    if root is None:
        pytest.skip("needs the local data mirror (../shared/data or $SUITE_DATA_DIR)")
    return root


def test_every_source_is_pinned_to_a_commit_and_fetches_with_its_hash(tmp_path, mirror):
    entries = yaml.safe_load(SOURCES.read_text())["files"]
    assert {e["path"].split("/")[0] for e in entries} >= {"gsm8k", "alpaca", "svamp", "asdiv"}
    for e in entries:
        commit = e["url"].split("/")[5]
        assert len(commit) == 40 and int(commit, 16) >= 0, e["url"]
    written = fetch(tmp_path, opener=_opener_from(mirror, entries))
    assert sorted(written) == sorted(e["path"] for e in entries)
    assert fetch(tmp_path, opener=None) == []  # all present with the right hash: nothing to do


def test_a_file_whose_hash_differs_is_refused_and_not_written(tmp_path, mirror):
    entries = yaml.safe_load(SOURCES.read_text())["files"]
    with pytest.raises(ValueError, match="sha256") as err:
        fetch(tmp_path, opener=_opener_from(mirror, entries, corrupt="SVAMP.json"))
    assert "svamp/SVAMP.json" in str(err.value)
    assert not (tmp_path / "svamp" / "SVAMP.json").exists()
    assert not list(tmp_path.rglob("*.tmp"))
