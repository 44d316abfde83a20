"""Fetching the data for machines without the mirror: every pinned file is hash-checked."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from suite.data import data_root
from suite.fetch import SOURCES, _entries, fetch


def _opener_from(root: Path, entries: list[dict], corrupt: str | None = None):
    by_url = {e["url"]: root / e["path"] for e in entries}

    def opener(url, timeout):
        data = by_url[url].read_bytes()
        return io.BytesIO(data + b"x" if corrupt and url.endswith(corrupt) else data)

    return opener


@pytest.fixture
def mirror():
    root = data_root()
    if not (root / "gsm8k" / "test.jsonl").is_file():
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


def _sources(tmp_path: Path, files) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"files": files}))
    return path


GOOD = {"path": "toy/a.json", "url": "https://example.org/a.json", "sha256": "0" * 64}


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (GOOD | {"path": "../outside.json"}, "files[0].path"),
        (GOOD | {"path": "/etc/passwd"}, "files[0].path"),
        (GOOD | {"path": "toy/../../x"}, "files[0].path"),
        (GOOD | {"path": ""}, "files[0].path"),
        (GOOD | {"url": "file:///etc/passwd"}, "files[0].url"),
        (GOOD | {"sha256": "abc"}, "files[0].sha256"),
        ("just-a-string", "files[0]"),
        (GOOD | {"path": "./toy/a.json"}, "files[0].path"),
        (GOOD | {"path": "toy/./a.json"}, "files[0].path"),
        (GOOD | {"path": "toy//a.json"}, "files[0].path"),
        (GOOD | {"path": "toy/a.json/"}, "files[0].path"),
        (GOOD | {"path": "toy/."}, "files[0].path"),
        (GOOD | {"path": ".git/config"}, "files[0].path"),
        (GOOD | {"path": "toy/" + "é" * 200}, "files[0].path"),
        (GOOD | {"path": "toy\\a.json"}, "files[0].path"),
        (GOOD | {"exec": "rm -rf /"}, "files[0].exec"),
    ],
)
def test_a_source_outside_dest_or_unpinned_is_refused_before_any_download(tmp_path, entry, field):
    calls = []
    sources = _sources(tmp_path, [entry])
    with pytest.raises(ValueError) as err:
        fetch(tmp_path / "dest", sources, opener=lambda url, timeout: calls.append(url))
    assert f"field '{field}'" in str(err.value) and str(sources) in str(err.value)
    assert (
        calls == []
        and not (tmp_path / "dest").exists()
        and not (tmp_path / "outside.json").exists()
    )


def test_aliases_in_the_sources_file_are_refused(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("a: &a [x, x]\nfiles: [*a, *a]\n")
    with pytest.raises(ValueError, match="aliases are refused"):
        fetch(tmp_path / "dest", path, opener=None)


def test_a_short_transfer_is_an_error_naming_the_url_and_writes_nothing(tmp_path):
    import http.client

    class Broken(io.BytesIO):
        def read(self, n=-1):
            raise http.client.IncompleteRead(b"partial", 100)

    sources = _sources(tmp_path, [GOOD])
    named = r"files\[0\]\.url' = 'https://example\.org/a\.json': download failed"
    with pytest.raises(ValueError, match=named):
        fetch(tmp_path / "dest", sources, opener=lambda url, timeout: Broken())
    assert not list((tmp_path).rglob("a.json")) and not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize(
    "second",
    [
        "TOY/A.json",  # the same file on a case-insensitive file system
        "toy",  # a file where the other entry needs a folder
    ],
)
def test_two_entries_for_one_file_or_a_file_over_a_folder_are_refused(tmp_path, second):
    calls = []
    sources = _sources(tmp_path, [GOOD, GOOD | {"path": second, "url": "https://example.org/b"}])
    with pytest.raises(ValueError) as err:
        fetch(tmp_path / "dest", sources, opener=lambda url, timeout: calls.append(url))
    assert "files[1].path" in str(err.value) and str(sources) in str(err.value)
    assert repr(second) in str(err.value)
    assert calls == [] and not (tmp_path / "dest").exists()


def test_distinct_plain_paths_are_accepted(tmp_path):
    files = [GOOD, GOOD | {"path": "toy/b.json"}, GOOD | {"path": "toy2/a.json", "license": "MIT"}]
    assert [e["path"] for e in _entries(_sources(tmp_path, files))] == [
        "toy/a.json",
        "toy/b.json",
        "toy2/a.json",
    ]


def test_nfc_and_nfd_spellings_of_one_name_are_one_file(tmp_path):
    nfc, nfd = "toy/\u00e1.json", "toy/a\u0301.json"
    second = GOOD | {"path": nfd, "url": "https://x.org/b"}
    sources = _sources(tmp_path, [GOOD | {"path": nfc}, second])
    with pytest.raises(ValueError, match=r"files\[1\]\.path.*the same file as files\[0\]"):
        fetch(tmp_path / "dest", sources, opener=lambda url, timeout: None)
    assert not (tmp_path / "dest").exists()
