"""Inputs of the nineteenth attack, against the eighteenth round's fixes: empirical counts no run
of the cell's K can make, a submission folder whose path no record can hold, a submit --out
inside the folder of submit's private copies, and a cells.jsonl of copies that differ only in
whitespace (the line cap bounds what is parsed). Each case failed on the commit before its fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hostile import refused
from tests.test_hostile_round16 import _forged, empirical  # noqa: F401 (a fixture)
from tests.test_hostile_round18 import _analytic_folder, _read_in_child
from tests.test_hostile_round18_submissions import _check, _submit
from tests.test_submissions import _copy, tiny  # noqa: F401 (a fixture)


def _one_step(result):
    result["per_prompt"][0]["steps"] = 1  # its proposed drafts: several steps of K


@pytest.mark.usefixtures("hand_made_plan")  # a folder of a study file of its own
def test_proposed_drafts_are_at_most_k_per_step(empirical, tmp_path, capsys):  # noqa: F811
    folder = _forged(empirical, tmp_path, _one_step)
    refused(["report", folder], tmp_path, capsys, "per_prompt[0].proposed", "K x steps")


def test_a_model_folder_whose_path_no_record_holds_is_refused_by_check(tiny, tmp_path, capsys):  # noqa: F811
    deep = tmp_path
    for _ in range(9):
        deep = deep / ("d" * 120)
    deep.mkdir(parents=True)
    folder = _copy(tiny, deep)
    assert len(str(folder / "model")) > 1_024
    refused(_check(folder, tiny), tmp_path, capsys, "model.path", "records hold at most 1,024")
    shutil.rmtree(tmp_path / ("d" * 120))


def test_a_submit_out_inside_the_private_copies_is_refused(tiny, tmp_path, capsys, monkeypatch):  # noqa: F811
    import suite.submit

    monkeypatch.setattr(suite.submit, "STAGING", tmp_path / "cache" / ".staged")
    folder = _copy(tiny, tmp_path)
    out = tmp_path / "cache" / ".staged" / ("0" * 32)
    refused(_submit(folder, tiny, out), tmp_path, capsys, "--out", "private model copies")


def test_copies_differing_in_whitespace_are_bounded_by_the_line_cap(tmp_path):
    """A time bomb, in a child with a timeout: copies with other trailing blanks were parsed
    one by one (40,000 took 66 s); the cap refuses past 20,000 lines."""
    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    line = (folder / "cells.jsonl").read_bytes().rstrip(b"\n")
    copies = b"".join(line + b" " * (i % 7) + b"\t" * (i // 7 % 5) + b"\n" for i in range(40_000))
    (folder / "cells.jsonl").write_bytes(copies)
    done = _read_in_child(folder, 60)
    assert done.returncode == 1 and "over 20,000 lines" in done.stderr, done.stderr[-2000:]


def test_a_fifo_met_while_copying_a_submission_is_refused_not_waited_on(tmp_path):
    """The copy submit scores opened each file blocking: a FIFO swapped in after the check hung
    it for good. In a child with a timeout."""
    import os
    import subprocess
    import sys

    from tests.test_hostile_inputs_more import REPO

    (tmp_path / "m").mkdir()
    os.mkfifo(tmp_path / "m" / "notes.txt")
    code = (
        "from pathlib import Path\nfrom suite.errors import SpecError\n"
        "from suite.submissions import _copy_files\n"
        f"m = Path({str(tmp_path / 'm')!r})\n"
        "try:\n"
        f"    _copy_files(m, [m / 'notes.txt'], Path({str(tmp_path / 'into')!r}), 'model.path')\n"
        "except SpecError as err:\n    print(err)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=REPO
    )
    assert "not a regular file" in done.stdout, (done.stdout, done.stderr[-2000:])
