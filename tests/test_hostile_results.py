"""Hostile results folders (``python -m suite report DIR``) and fetch sources (``python -m suite
fetch DEST --sources FILE``): refused with exit 2, naming file, field and value, nothing changed."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import pytest
import yaml

from suite.report.folder import check_folder
from tests.hostile import refused, snapshot
from tests.test_records import HEADER, old_analytic

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")

LINE = json.dumps(old_analytic())


# the fixture's 16 rates, one per position of its continuations
POSITIONS = '"position_acceptance": ' + json.dumps([0.75, 0.5] * 8)
GAMMA = 1.2061767578125  # the fixture's projected speedup


def _sub(old: str, new: str) -> str:
    assert old in LINE
    return LINE.replace(old, new, 1) + "\n"


# (id, cells.jsonl text, run.json text, texts the error must name)
CASES = [
    ("nan", _sub('"acceptance_rate": 0.625', '"acceptance_rate": NaN'), None, "line 1", "NaN"),
    ("infinity", _sub('"tokens": 32', '"tokens": Infinity'), None, "line 1", "Infinity"),
    ("alpha-above-1", _sub('"prompt_acceptance": [0.5, 0.75]',
                           '"prompt_acceptance": [0.5, 7.5]'), None, "prompt_acceptance[1]", "7.5"),
    ("alpha-negative", _sub('"acceptance_rate": 0.625', '"acceptance_rate": -0.1'), None,
     "acceptance_rate", "-0.1"),
    ("position-alpha", _sub('"position_acceptance": [0.75, 0.5, ',
                            '"position_acceptance": [2, 0.5, '), None, "position_acceptance", "2"),
    ("tokens-negative", _sub("[16, 16]", "[-16, 16]"), None, "prompt_tokens[0]", "-16"),
    ("tokens-float", _sub("[16, 16]", "[1.5, 16]"), None, "prompt_tokens[0]", "1.5"),
    ("duplicate-key", _sub('{"cell"', '{"key": "x", "cell"'), None, "line 1", "duplicate"),
    ("deep", "[" * 5000 + "]" * 5000 + "\n", None, "line 1", "nested"),
    ("huge-int", _sub('"tokens": 32', '"tokens": ' + "9" * 5000), None, "line 1", "digits"),
    ("list-line", "[1, 2]\n", None, "line 1: record", "[1, 2]"),
    ("string-line", '"x"\n', None, "line 1: record", "'x'"),
    ("no-key", json.dumps({"cell": {}}) + "\n", None, "line 1", "cell"),
    ("wrong-key", _sub('"key": "', '"key": "zz'), None, "line 1: key", "zz"),
    ("engine", _sub('"engine": "analytic"', '"engine": "magic"'), None, "cell.engine", "magic"),
    ("not-utf8", LINE[:20] + "\udcff\n", None, "line 1", ""),
    ("garbage", "not json\n", None, "line 1", "not json"),
    ("speedup-impossible", _sub(f'"projected_speedup": {GAMMA}', '"projected_speedup": 1e308'),
     None, "timing.projected_speedup", "1e+308"),
    ("speedup-over-k-plus-1", _sub(f'"projected_speedup": {GAMMA}', '"projected_speedup": 5.5'),
     None, "K + 1 = 5", "5.5"),
    ("seconds-negative", _sub('"sample_seconds": 0.4', '"sample_seconds": -0.4'), None,
     "timing.sample_seconds", "-0.4"),
    ("cost-negative", _sub('"cost_ratio": 0.25', '"cost_ratio": -1'), None, "timing.cost_ratio",
     "-1"),
    ("run-list", LINE + "\n", "[1]", "run.json", "JSON object"),
    ("run-nan", LINE + "\n", '{"studies": NaN}', "run.json", "NaN"),
    ("run-duplicate", LINE + "\n", '{"profile": "a", "profile": "b"}', "run.json", "duplicate"),
    ("run-deep", LINE + "\n", "[" * 5000 + "]" * 5000, "run.json", "nested"),
    ("run-garbage", LINE + "\n", "{", "run.json", "invalid JSON"),
    ("run-studies-type", LINE + "\n", '{"studies": 5, "profile": "x"}', "studies", "5"),
    ("run-study-path", LINE + "\n", '{"studies": ["../../../etc/passwd"], "profile": "x"}',
     "studies", "etc/passwd"),
    ("run-profile-path", LINE + "\n", '{"studies": ["a"], "profile": "/etc"}', "profile", "/etc"),
    ("run-study-cells-path", LINE + "\n",
     '{"studies": ["a"], "profile": "x", "study_cells": {"..": []}}', "study_cells", ".."),
    ("run-studies-ints", LINE + "\n", '{"studies": [1, 2], "profile": "x"}', "studies", "[1, 2]"),
    ("run-studies-nested", LINE + "\n", '{"studies": [["a"]], "profile": "x"}', "studies",
     "[['a']]"),
    ("run-profile-dict", LINE + "\n", '{"studies": ["a"], "profile": {"a": 1}}', "profile",
     "{'a': 1}"),
    ("run-titles-int", LINE + "\n", '{"studies": ["a"], "profile": "x", "study_titles": 5}',
     "study_titles", "5"),
    ("run-cells-ints", LINE + "\n",
     '{"studies": ["a"], "profile": "x", "study_cells": {"a": [1]}}', "study_cells.a", "[1]"),
    ("run-claims-strings", LINE + "\n",
     '{"studies": ["a"], "profile": "x", "study_claims": {"a": "1"}}', "study_claims.a", "'1'"),
    # every count is bounded before any work is done with it (K bounds a sum per prompt)
    ("k-huge", _sub('"num_draft_tokens": 4', '"num_draft_tokens": 1000000000000000'), None,
     "line 1: cell.num_draft_tokens", "1000000000000000"),
    ("seed-huge", _sub('"seed": 0', '"seed": ' + "9" * 90), None, "cell.seed", "999"),
    ("prompts-huge", _sub('"prompts": 2', '"prompts": 1000000'), None, "cell.prompts", "1000000"),
    ("max-new-tokens-huge", _sub('"max_new_tokens": 16', '"max_new_tokens": 100000'), None,
     "cell.max_new_tokens", "100000"),
    ("prompt-ids-over-prompts", _sub('"prompts": 2', '"prompts": 1').replace("/n2/", "/n1/"),
     None, "prompt_ids", "2"),
    ("positions-over-tokens", _sub(POSITIONS, f'"position_acceptance": {[0.5] * 17}'), None,
     "result.position_acceptance", "17"),
    ("n-boot-huge", _sub('"n_boot": 1000', '"n_boot": 1000000000'), None, "n_boot", "1000000000"),
    ("open-bucket-huge",
     _sub('"tokens": 32', '"tokens": 32, "token_chars_open_bucket": 1000000000'), None,
     "token_chars_open_bucket", "1000000000"),
    ("count-huge", _sub('"tokens": 32', '"tokens": ' + "9" * 20), None, "result.tokens", "999"),
    # values a run cannot produce
    ("tau-negative", _sub('"decode_temperature": 1.0', '"decode_temperature": -1.0'), None,
     "cell.decode_temperature", "-1.0"),
    ("tau-below-the-smallest-a-run-makes",
     _sub('"decode_temperature": 1.0', '"decode_temperature": 1e-09').replace("/t1/", "/t1e-09/"),
     None, "cell.decode_temperature", "1e-09"),
    ("ci-reversed",
     _sub('"confidence_interval": [0.5, 0.75]', '"confidence_interval": [0.75, 0.5]'), None,
     "result.confidence_interval", "[0.75, 0.5]"),
    ("prompt-ids-duplicate", _sub('"test/1"]', '"test/0"]'), None, "prompt_ids[1]", "test/0"),
    ("bucket-superscript", _sub('"3": [6.0', '"\u00b2": [6.0'), None,
     "result.acceptance_by_token_chars.\u00b2", "\u00b2"),
    ("bucket-long-key", _sub('"3": [6.0', '"' + "9" * 5000 + '": [6.0'), None,
     "result.acceptance_by_token_chars.999", "ASCII digits"),
    ("tau-negative-zero-key", _sub('"decode_temperature": 1.0', '"decode_temperature": -0.0')
     .replace("/t1/", "/t-0/"), None, "line 1: key", "t-0"),
]  # fmt: skip


def test_a_negative_zero_temperature_reads_as_zero():
    """-0.0 and 0.0 are one greedy cell: the reader gives the one key (t0) a run writes."""
    from suite.record_json import record_from_json

    line = _sub('"decode_temperature": 1.0', '"decode_temperature": -0.0').replace("/t1/", "/t0/")
    line = line.replace('"temperature": 1.0', '"temperature": 0.0')  # the result's own τ
    record = record_from_json(json.loads(line))
    assert math.copysign(1.0, record.cell.decode_temperature) == 1.0
    assert record.key == "analytic/llama/gsm8k:test/base/t0/K4/s0/n2/m16"


def test_a_negative_zero_temperature_cell_is_stored_and_read_under_the_greedy_key(tmp_path):
    from suite.record_json import record_from_json
    from suite.store import ResultsStore

    record = record_from_json(json.loads(LINE))
    cell = dataclasses.replace(record.cell, decode_temperature=-0.0)
    assert cell.key == dataclasses.replace(cell, decode_temperature=0.0).key
    analytic = dataclasses.replace(record.result.analytic, temperature=-0.0)
    result = dataclasses.replace(record.result, analytic=analytic)
    store = ResultsStore(tmp_path / "results")
    store.open(dict(HEADER))
    store.append(dataclasses.replace(record, cell=cell, result=result))
    assert list(store.load()) == [cell.key]
    assert "/t0/" in cell.key


def test_resuming_into_a_folder_with_a_huge_k_is_refused_at_once(tmp_path):
    """A run resuming into the folder reads every line first: a huge K is refused, not summed."""
    from suite.errors import SpecError
    from suite.store import ResultsStore

    folder = _folder(tmp_path, _sub('"num_draft_tokens": 4', '"num_draft_tokens": 10000000000'),
                     None)  # fmt: skip
    before = snapshot(folder)
    with pytest.raises(SpecError) as err:
        ResultsStore(folder).check(dict(HEADER))
    assert "line 1: cell.num_draft_tokens" in str(err.value)
    assert "10000000000" in str(err.value)
    assert snapshot(folder) == before


def _folder(tmp_path, cells: str, run: str | None):
    folder = tmp_path / "results"
    folder.mkdir()
    from tests.test_records import header_planning

    planned = json.dumps(header_planning(cells))
    (folder / "run.json").write_text(run if run is not None else planned)
    (folder / "cells.jsonl").write_bytes(cells.encode("utf-8", "surrogateescape"))
    return folder


def test_the_good_folder_is_read(tmp_path):
    assert check_folder(_folder(tmp_path, LINE + "\n", None))


@pytest.mark.parametrize(("cells", "run", "field", "value"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_a_hostile_results_folder_is_refused(tmp_path, capsys, cells, run, field, value):
    folder = _folder(tmp_path, cells, run)
    name = "run.json" if run is not None else "cells.jsonl"
    refused(["report", str(folder)], tmp_path, capsys, name, field, value)


def _plant(kind: str, folder, target):
    path = folder / ("run.json" if kind.startswith("run") else "cells.jsonl")
    path.unlink()
    if kind.endswith("fifo"):
        os.mkfifo(path)
    else:
        path.symlink_to(target)


@pytest.mark.parametrize("kind", ["cells-link", "run-link", "cells-fifo", "run-fifo"])
def test_links_and_fifos_in_a_results_folder_are_refused_without_reading(tmp_path, capsys, kind):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0\n")
    folder = _folder(tmp_path, LINE + "\n", None)
    _plant(kind, folder, secret)
    err = refused(["report", str(folder)], tmp_path, capsys, "results")
    assert "root:x" not in err


def _hard_linked(tmp_path, name: str):
    """A results folder whose ``name`` is a hard link to a file outside it."""
    victim = tmp_path / "victim.jsonl"
    victim.write_text(LINE + "\n")
    folder = _folder(tmp_path, LINE + "\n", None)
    (folder / name).unlink(missing_ok=True)
    os.link(victim, folder / name)
    return folder, victim


def test_a_hard_linked_cells_file_is_read_by_the_report(tmp_path, capsys):
    """A report writes nothing through it: a snapshot made with ``cp -al`` is reported, and the
    file outside is left as it was (a run resuming into it is refused, below)."""
    folder, victim = _hard_linked(tmp_path, "cells.jsonl")
    assert check_folder(folder)
    assert victim.read_text() == LINE + "\n"


def test_a_resumed_run_does_not_append_through_a_hard_linked_cells_file(tmp_path):
    """The resume check refuses the folder before the lock; an append is refused as well."""
    from suite.errors import SpecError
    from suite.store import ResultsStore

    folder, _ = _hard_linked(tmp_path, "cells.jsonl")
    before = snapshot(tmp_path)
    store = ResultsStore(folder)
    with pytest.raises(SpecError, match="hard links"):
        store.check(dict(HEADER))
    with pytest.raises(SpecError, match="hard links"):
        store.append(json.loads(LINE))
    assert snapshot(tmp_path) == before


def test_a_hard_linked_lock_file_is_not_truncated(tmp_path):
    from suite.errors import SpecError
    from suite.store import ResultsStore

    folder, victim = _hard_linked(tmp_path, ".lock")
    with pytest.raises(SpecError, match="hard links"), ResultsStore(folder).lock():
        pass
    assert victim.read_text() == LINE + "\n"


def test_a_malformed_submission_json_is_refused(tmp_path, capsys):
    folder = _folder(tmp_path, LINE + "\n", None)
    (folder / "submission.json").write_text('{"name": "a", "name": "b"}')
    refused(["report", str(folder)], tmp_path, capsys, "submission.json", "duplicate")


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ('{"authors": 5}', "authors", "5"),
        ('{"authors": ["a", 1]}', "authors", "['a', 1]"),
        ('{"training": "x"}', "training", "'x'"),
        ('{"training": {"seed": "s"}}', "training.seed", "'s'"),
        ('{"training": {"kd_temperature": "hot"}}', "training.kd_temperature", "'hot'"),
        ('{"name": {"a": 1}}', "name", "{'a': 1}"),
        ('{"parameters": "lots"}', "parameters", "'lots'"),
    ],
)
def test_a_submission_json_with_wrong_types_is_refused(tmp_path, capsys, text, field, value):
    folder = _folder(tmp_path, LINE + "\n", None)
    (folder / "submission.json").write_text(text)
    refused(["report", str(folder)], tmp_path, capsys, "submission.json", field, value)


def test_a_report_that_cannot_write_one_file_writes_none(tmp_path, capsys):
    """report.html is a folder: refused naming it, and summary.json and the CSVs stay unwritten."""
    folder = _folder(tmp_path, LINE + "\n", None)
    (folder / "report.html").mkdir()
    refused(["report", str(folder)], tmp_path, capsys, "report.html", "--out", "not a regular")


def test_formula_like_text_is_quoted_in_the_report_csvs(tmp_path):
    """A draft named like a spreadsheet formula is written with a leading quote (OWASP)."""
    import pandas as pd

    from suite.report.output import safe_csv
    from suite.report.render import render_report

    frame = pd.DataFrame({"draft": ["=1+1", "+A1", "-2+3", "@SUM(A1)", "\tx", "ok"],
                          "alpha": [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5]})  # fmt: skip
    rows = pd.read_csv(__import__("io").StringIO(safe_csv(frame)))
    assert list(rows["draft"]) == ["'=1+1", "'+A1", "'-2+3", "'@SUM(A1)", "'\tx", "ok"]
    assert list(rows["alpha"]) == [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5]
    # a record's names are plain (letters, digits, '.', '_', '-'), but one may start with '-';
    # a prompt id is any one line of text
    line = _sub('"draft": "base"', '"draft": "-2"').replace("/base/", "/-2/")
    line = line.replace('"test/0"', '"=HYPERLINK(1)"')
    render_report(_folder(tmp_path, line, None), tmp_path / "html")
    for name in ("cells.csv", "prompts.csv"):
        table = pd.read_csv(tmp_path / "html" / name, dtype=str)
        assert set(table["draft"]) == {"'-2"}
    prompts = pd.read_csv(tmp_path / "html" / "prompts.csv", dtype=str)
    assert "'=HYPERLINK(1)" in set(prompts["prompt"])
    assert sorted(p.name for p in (tmp_path / "html").iterdir()) == [
        "cells.csv", "prompts.csv", "report.html", "summary.json"
    ]  # fmt: skip


GOOD = {"path": "toy/a.json", "url": "https://example.org/a.json", "sha256": "0" * 64}
FETCH = [
    ("dotdot", {"path": "../x"}, "files[0].path", "../x"),
    ("absolute", {"path": "/etc/x"}, "files[0].path", "/etc/x"),
    ("backslash", {"path": "a\\..\\..\\x"}, "files[0].path", "a"),
    ("empty-path", {"path": ""}, "files[0].path", "''"),
    ("path-list", {"path": ["a"]}, "files[0].path", "['a']"),
    ("ctrl-path", {"path": "a\x1b.json"}, "files[0].path", "a"),
    ("long-path", {"path": "a" * 300}, "files[0].path", "aaaa"),
    ("http", {"url": "http://example.org/a"}, "files[0].url", "http://"),
    ("file-url", {"url": "file:///etc/passwd"}, "files[0].url", "file://"),
    ("url-space", {"url": "https://a b"}, "files[0].url", "https://a b"),
    ("long-url", {"url": "https://" + "a" * 3000}, "files[0].url", "https://aaa"),
    ("sha-short", {"sha256": "0" * 63}, "files[0].sha256", "000"),
    ("sha-upper", {"sha256": "A" * 64}, "files[0].sha256", "AAA"),
    ("sha-int", {"sha256": 5}, "files[0].sha256", "5"),
    ("license-list", {"license": ["x", {"y": 1}]}, "files[0].license", "['x', {'y': 1}]"),
    ("license-escape", {"license": "MIT\x1b[2J"}, "files[0].license", "MIT\\x1b[2J"),
    ("unknown-key", {"exec": "rm -rf /"}, "files[0].exec", "unknown key"),
    ("segment-over-255-bytes", {"path": "é" * 200 + "/a.json"}, "files[0].path", "255 bytes"),
    ("dot-git", {"path": ".git/config"}, "files[0].path", ".git/config"),
]  # fmt: skip
FETCH_FILES = [
    ("not-list", "files: 5\n", "files", "5"),
    ("entry-list", "files: [[1]]\n", "files[0]", "[1]"),
    ("too-many", yaml.safe_dump({"files": [dict(GOOD) for _ in range(1001)]}), "files", "1001"),
    ("duplicate-path", yaml.safe_dump({"files": [dict(GOOD), dict(GOOD)]}), "files[1].path",
     "toy/a.json"),
    ("alias", "a: &x [1]\nfiles: *x\n", "sources.yaml", "alias"),
    ("duplicate-key", "files: []\nfiles: []\n", "sources.yaml", "duplicate"),
    ("oversized", "#" * (2 << 20), "sources.yaml", "bytes"),
    ("not-utf8", b"files: [\xff]\n", "sources.yaml", "UTF-8"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "value"), [c[1:] for c in FETCH],
                         ids=[c[0] for c in FETCH])  # fmt: skip
def test_a_hostile_fetch_entry_is_refused(tmp_path, capsys, change, field, value):
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"files": [GOOD | change]}))
    dest = tmp_path / "dest"
    refused(["fetch", str(dest), "--sources", str(sources)], tmp_path, capsys,
            "sources.yaml", field, value)  # fmt: skip


@pytest.mark.parametrize(("text", "field", "value"), [c[1:] for c in FETCH_FILES],
                         ids=[c[0] for c in FETCH_FILES])  # fmt: skip
def test_a_hostile_fetch_sources_file_is_refused(tmp_path, capsys, text, field, value):
    sources = tmp_path / "sources.yaml"
    sources.write_bytes(text if isinstance(text, bytes) else text.encode())
    refused(["fetch", str(tmp_path / "dest"), "--sources", str(sources)], tmp_path, capsys,
            "sources.yaml", field, value)  # fmt: skip


def test_good_sources_with_the_file_present_fetch_nothing(tmp_path, capsys):
    from suite.cli import main

    data = b"{}"
    import hashlib

    entry = GOOD | {"sha256": hashlib.sha256(data).hexdigest()}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"files": [entry]}))
    (tmp_path / "dest" / "toy").mkdir(parents=True)
    (tmp_path / "dest" / "toy" / "a.json").write_bytes(data)
    assert main(["fetch", str(tmp_path / "dest"), "--sources", str(tmp_path / "sources.yaml")]) == 0
    assert "0 files fetched" in capsys.readouterr().out


def _serve(monkeypatch, data: bytes = b"{}") -> dict:
    """urlopen serves ``data``; the good entry with its sha256."""
    import hashlib
    import io

    monkeypatch.setattr("suite.fetch._open_https", lambda url, timeout: io.BytesIO(data))
    return GOOD | {"sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("kind", ["folder-at-the-file", "file-at-a-folder", "dest-a-file"])
def test_fetch_refuses_a_destination_it_cannot_write_naming_the_entry(
    tmp_path, capsys, monkeypatch, kind
):
    entry = _serve(monkeypatch)
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"files": [entry]}))
    dest = tmp_path / "dest"
    if kind == "folder-at-the-file":
        (dest / "toy" / "a.json").mkdir(parents=True)
        expected = ("sources.yaml", "files[0].path", "'toy/a.json'", "is a folder")
    elif kind == "file-at-a-folder":
        dest.mkdir()
        (dest / "toy").write_text("x")
        expected = ("sources.yaml", "files[0].path", "'toy/a.json'", "not a folder")
    else:
        dest.write_text("x")
        expected = ("dest", "DEST", "not a folder")
    refused(["fetch", str(dest), "--sources", str(sources)], tmp_path, capsys, *expected)


def test_a_failed_write_or_download_names_the_sources_file_and_field(tmp_path, capsys, monkeypatch):
    import errno

    import suite.fetch

    entry = _serve(monkeypatch)
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"files": [entry]}))
    (tmp_path / "dest" / "toy").mkdir(parents=True)

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(suite.fetch, "_write_new", full)
    refused(["fetch", str(tmp_path / "dest"), "--sources", str(sources)], tmp_path, capsys,
            "sources.yaml", "files[0].path", "'toy/a.json'", "No space left")  # fmt: skip

    def down(url, timeout):
        raise OSError(errno.ECONNREFUSED, "Connection refused")

    monkeypatch.setattr("suite.fetch._open_https", down)
    refused(["fetch", str(tmp_path / "dest"), "--sources", str(sources)], tmp_path, capsys,
            "sources.yaml", "files[0].url", entry["url"], "Connection refused")  # fmt: skip


def test_good_sources_with_a_license_are_fetched(tmp_path, capsys, monkeypatch):
    """Good-input control: a license text and a nested path are fetched."""
    from suite.cli import main

    entry = _serve(monkeypatch) | {"path": "toy/sub/a.json", "license": "CC BY-NC 4.0 (stated)"}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"files": [entry]}))
    assert main(["fetch", str(tmp_path / "dest"), "--sources", str(tmp_path / "sources.yaml")]) == 0
    assert (tmp_path / "dest" / "toy" / "sub" / "a.json").read_bytes() == b"{}"


def _plant_link(tmp_path: Path, kind: str) -> Path:
    """A link inside DEST on the way to ``toy/a.json``; the outside target must stay intact."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.json").write_text("precious")
    dest = tmp_path / "dest"
    dest.mkdir()
    if kind == "folder-link":
        (dest / "toy").symlink_to(outside, target_is_directory=True)
    else:
        (dest / "toy").mkdir()
        (dest / "toy" / "a.json").symlink_to(outside / "a.json")
    return dest


@pytest.mark.parametrize("kind", ["folder-link", "file-link"])
def test_fetch_does_not_write_through_a_link_inside_its_destination(tmp_path, capsys, kind):
    dest = _plant_link(tmp_path, kind)
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"files": [GOOD]}))
    refused(["fetch", str(dest), "--sources", str(sources)], tmp_path, capsys,
            "sources.yaml", "path", "toy/a.json", "symbolic link")  # fmt: skip
    assert (tmp_path / "outside" / "a.json").read_text() == "precious"


def test_fetch_writes_through_a_unique_temporary_name(tmp_path):
    """A link planted at the old predictable temporary name is neither followed nor left."""
    import hashlib
    import io
    import os

    from suite.fetch import fetch

    data = b'{"a": 1}\n'
    entry = GOOD | {"sha256": hashlib.sha256(data).hexdigest()}
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"files": [entry]}))
    (tmp_path / "outside").write_text("precious")
    (tmp_path / "dest" / "toy").mkdir(parents=True)
    planted = tmp_path / "dest" / "toy" / f".a.json.{os.getpid()}.tmp"
    planted.symlink_to(tmp_path / "outside")
    assert fetch(tmp_path / "dest", sources, opener=lambda url, timeout: io.BytesIO(data)) == [
        "toy/a.json"
    ]
    assert (tmp_path / "dest" / "toy" / "a.json").read_bytes() == data
    assert (tmp_path / "outside").read_text() == "precious"
    left = sorted(p.name for p in (tmp_path / "dest" / "toy").iterdir())
    assert left == [planted.name, "a.json"]


def test_a_line_of_millions_of_empty_values_is_refused_before_it_is_parsed(tmp_path, capsys):
    """A 6 MB line of ``{}`` would take ~300 MB once parsed; it is counted and refused first."""
    bomb = "[" + ",".join(["{}"] * 1_000_001) + "]"
    folder = _folder(tmp_path, LINE + "\n" + bomb + "\n", None)
    refused(["report", str(folder)], tmp_path, capsys, "cells.jsonl", "line 2", "2,000,000")


@pytest.mark.parametrize("name", ["cells.jsonl", "run.json"])
def test_a_folder_in_place_of_a_results_file_is_named_as_such(tmp_path, capsys, name):
    folder = _folder(tmp_path, LINE + "\n", None)
    (folder / name).unlink()
    (folder / name).mkdir()
    refused(["report", str(folder)], tmp_path, capsys, name, "not a regular file")
