"""Results folders and the commands that read them, from the fourteenth attack: records a reader
accepted that a run cannot write, a resume that kept records of other prompts, facts, plans or
no provenance, a lock holder's text read whole, and report, bench and distill inputs read
loosely. Each case failed on the commit before its fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from suite.cli import main
from tests.hostile import refused, restate_analytic, snapshot
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_results import HEADER, LINE, _folder, _sub

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")


@pytest.mark.parametrize(
    ("cells", "field", "value"),
    [
        (_sub('"finished_at": "2026-01-01T00:00:00+00:00"', '"finished_at": "\\u001b[31mred"'),
         "timing.finished_at", "U+001B"),
        (_sub('"num_draft_tokens": 4', '"num_draft_tokens": 0').replace("/K4/", "/K0/"),
         "cell.num_draft_tokens", "0"),
        (_sub('"draft": "base"', '"draft": "base/t9"').replace("/base/", "/base/t9/"),
         "cell.draft", "base/t9"),
        (_sub('"dataset": "gsm8k"', '"dataset": "gs\\u202em"'), "cell.dataset", "U+202E"),
        (_sub('"confidence_interval": [0.5, 0.75]', '"confidence_interval": [0.5, 1e300]'),
         "result.confidence_interval", "1e+300"),
        (_sub('"confidence_interval": [0.5, 0.75]', '"confidence_interval": [null, 0.75]'),
         "result.confidence_interval", "None"),
        (_sub('"3": [6.0, 10]', '"01": [6.0, 10]'), "acceptance_by_token_chars.01", "twice"),
        (_sub('"prompt_token_chars": [3.5, null]', '"prompt_token_chars": [-1e308, null]'),
         "result.prompt_token_chars[0]", "characters per token"),
    ],
    ids=["control-finished-at", "k-zero", "slash-in-draft", "bidi-dataset", "ci-past-one",
         "ci-null", "bucket-twice", "token-chars-negative"],
)  # fmt: skip
def test_a_record_a_run_cannot_write_is_refused(tmp_path, capsys, cells, field, value):
    folder = _folder(tmp_path, cells, None)
    refused(["report", str(folder)], tmp_path, capsys, "cells.jsonl", field, value)


def _header(**extra) -> str:
    return json.dumps(HEADER | extra)


def test_a_record_of_a_cell_no_study_plans_is_refused_by_the_report(tmp_path, capsys):
    key = json.loads(LINE)["key"]
    run = _header(study_cells={"difficulty": [key.replace("/s0/", "/s7/")]})
    folder = _folder(tmp_path, LINE + "\n", run)
    refused(["report", str(folder)], tmp_path, capsys, "cells.jsonl", "field 'key'", key)


def test_a_study_title_with_a_control_character_is_refused(tmp_path, capsys):
    folder = _folder(tmp_path, LINE + "\n", _header(study_titles={"difficulty": "a\u001b[2Jb"}))
    refused(["report", str(folder)], tmp_path, capsys, "run.json", "study_titles.difficulty")


def test_a_torn_last_line_is_named_by_the_report(tmp_path, capsys):
    folder = _folder(tmp_path, LINE + "\n" + LINE[:-40], None)
    assert main(["report", str(folder), "--out", str(tmp_path / "r")]) == 0
    assert "without its newline" in capsys.readouterr().err


def test_report_files_take_the_umask_not_a_private_mode(tmp_path, capsys):
    folder = _folder(tmp_path, LINE + "\n", None)
    assert main(["report", str(folder)]) == 0
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(folder / "report.html").st_mode & 0o777 == 0o666 & ~mask


def test_a_hundred_thousand_prompt_ids_are_read_in_linear_time(tmp_path):
    """A time bomb, in a child with a timeout: the duplicate check scanned the list so far for
    every id (56 s for one line of 100,000 ids on this machine); a set reads it at once."""
    n = 100_000
    record = json.loads(LINE)
    record["cell"]["prompts"] = n
    record["key"] = record["key"].replace("/n2/", f"/n{n}/")
    record["prompt_ids"] = [f"test/{i}" for i in range(n)]
    result = record["result"]
    result["prompt_acceptance"], result["prompt_tokens"] = [0.5] * n, [16] * n
    result["acceptance_rate"], result["tokens"] = 0.5, 16 * n
    result["mean_accepted_length"] = sum(0.5**i for i in range(5))
    result["prompt_token_chars"] = [3.0] * n
    restate_analytic(record)
    folder = _folder(tmp_path, json.dumps(record) + "\n", None)
    code = f"from suite.store import ResultsStore\nprint(len(ResultsStore({str(folder)!r}).load()))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=REPO
    )
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr[-2000:]


def test_a_folder_of_too_many_prompt_results_is_refused(tmp_path, monkeypatch):
    from suite import store
    from suite.errors import SpecError

    other = restate_analytic(
        json.loads(LINE.replace("/s0/", "/s1/").replace('"seed": 0', '"seed": 1'))
    )
    folder = _folder(tmp_path, LINE + "\n" + json.dumps(other) + "\n", None)
    assert len(store.ResultsStore(folder).load()) == 2  # the control: within the cap
    monkeypatch.setattr(store, "MAX_FOLDER_PROMPTS", 3)
    with pytest.raises(SpecError, match="prompt results in one folder"):
        store.ResultsStore(folder).load()


def test_a_lock_holder_names_itself_in_one_bounded_line(tmp_path):
    folder = _folder(tmp_path, LINE + "\n", None)
    text = tmp_path / "holder.txt"
    text.write_text("pid 1 on host\nerror: all is fine" + "x" * (1 << 20))
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(folder / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        f"os.write(fd, open({str(text)!r}, 'rb').read())\n"
        "print('held', flush=True)\ntime.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        from suite.errors import SpecError, error_line
        from suite.store import ResultsStore

        with pytest.raises(SpecError) as err, ResultsStore(folder).lock():
            pass
        line = error_line(err.value)
        assert "\n" not in line and len(line) < 2_000, len(line)
        assert "pid 1 on host\\nerror: all is fine" in line and err.value.field == "holder"
    finally:
        holder.kill()
        holder.wait()


STUDY = """name: s
title: t
claims: []
description: d
family: llama
engines: [analytic]
grid:
  datasets: [gsm8k]
  drafts: [{method: base}]
  decode_temperatures: [0.0]
  num_draft_tokens: 4
"""


@pytest.fixture(scope="module")
def one_cell(tmp_path_factory):
    """A one-cell results folder of the smoke profile, to copy and edit."""
    root = tmp_path_factory.mktemp("round14")
    (root / "s.yaml").write_text(STUDY)
    argv = ["run", "--profile", "smoke", "--quiet", "--out", str(root / "o"), str(root / "s.yaml")]
    assert main(argv) == 0
    return root


def _resume(one_cell, tmp_path, capsys, change) -> dict:
    out = tmp_path / "o"
    shutil.copytree(one_cell / "o", out)
    path = out / "cells.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in change(lines)))
    capsys.readouterr()
    argv = ["run", "--profile", "smoke", "--quiet", "--out", str(out), str(one_cell / "s.yaml")]
    assert main(argv) == 0, capsys.readouterr().err
    assert "0 already done, 1 run" in capsys.readouterr().out
    kept = path.read_text().splitlines()
    assert len(kept) == 1
    return json.loads(kept[0])


def _each(edit):
    def change(lines):
        for line in lines:
            edit(line)
        return lines

    return change


def test_a_record_without_provenance_is_recomputed(one_cell, tmp_path, capsys):
    record = _resume(one_cell, tmp_path, capsys, _each(lambda r: r.pop("provenance")))
    assert record["provenance"]["profile"] == "smoke"


def test_a_record_with_other_draft_facts_is_recomputed(one_cell, tmp_path, capsys):
    def forge(record):
        record["cell"]["draft_facts"] |= {"method": "online", "kd_temperature": 0.5}

    record = _resume(one_cell, tmp_path, capsys, _each(forge))
    assert record["cell"]["draft_facts"]["method"] == "base"


def test_a_record_of_other_prompts_is_recomputed(one_cell, tmp_path, capsys):
    def other(record):
        record["prompt_ids"] = [i.replace("test/", "train/") for i in record["prompt_ids"]]

    record = _resume(one_cell, tmp_path, capsys, _each(other))
    assert record["prompt_ids"][0].startswith("test/")


def test_a_record_of_a_cell_the_run_does_not_plan_is_refused_and_kept(one_cell, tmp_path, capsys):
    """A hostile extra record, or a resume under another --engine: the folder is refused before
    the lock, and its records are left as they are (not dropped)."""
    out = tmp_path / "o"
    shutil.copytree(one_cell / "o", out)
    path = out / "cells.jsonl"
    record = json.loads(path.read_text())
    record["cell"]["seed"] = 7
    record["key"] = record["key"].replace("/s0/", "/s7/")
    restate_analytic(record)
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    argv = ["run", "--profile", "smoke", "--quiet", "--out", str(out), str(one_cell / "s.yaml")]
    refused(argv, tmp_path, capsys, "cells.jsonl", "/s7/", "does not plan")
    # the good records of another plan (profile sizes edited under the same name): kept too
    path.write_text(path.read_text().splitlines()[0] + "\n")
    (tmp_path / "p").mkdir()
    smoke = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    (tmp_path / "p" / "smoke.yaml").write_text(smoke.replace("prompts: 4", "prompts: 3"))
    argv[argv.index("smoke")] = str(tmp_path / "p" / "smoke.yaml")
    refused(argv, tmp_path, capsys, "cells.jsonl", "/n4/", "does not plan")


def test_a_run_into_a_folder_of_other_files_is_refused(one_cell, tmp_path, capsys):
    out = tmp_path / "home"
    out.mkdir()
    (out / "important.txt").write_text("keep me")
    argv = ["run", "--profile", "smoke", "--quiet", "--out", str(out), str(one_cell / "s.yaml")]
    refused(argv, tmp_path, capsys, "home", "important.txt", "not a results folder")


def test_bench_refuses_an_out_that_is_a_file_before_measuring(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    argv = ["bench", "--out", str(tmp_path / "afile" / "sub"), "--prompts", "1"]
    refused(argv, tmp_path, capsys, "--out", "afile exists and is not a folder")


def test_bench_reads_a_drafts_training_json_strictly(tmp_path, capsys):
    draft = tmp_path / "d"
    shutil.copytree(REPO / "reference" / "llama" / "draft", draft)
    (draft / "training.json").write_text('{"method": "offline", "kd_temperature": NaN}')
    argv = ["bench", "--draft", str(draft), "--out", str(tmp_path / "b"), "--temperatures", "0",
            "--num-draft-tokens", "1", "--prompts", "1", "--max-new-tokens", "4"]  # fmt: skip
    refused(argv, tmp_path, capsys, "training.json", "NaN")


def test_json_results_are_strict(tmp_path):
    from suite.io import write_json_atomic

    write_json_atomic(tmp_path / "a.json", {"x": float("nan"), "y": [float("inf"), 1.5]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": None, "y": [None, 1.5]}


@pytest.mark.parametrize("held", [" 99999999999999999999", " " + "9" * 5000, "\udcff"])
def test_a_distill_lock_with_garbage_is_read_bounded(tmp_path, held):
    """A pid past any (os.kill raised OverflowError), thousands of digits (int() refused it) or
    bytes that are not UTF-8: the lock is another's, left alone, and nothing is raised."""
    import socket

    from suite.distill.recipes import claim

    lock = tmp_path / "kd.lock"
    text = socket.gethostname() + held if held.startswith(" ") else held
    lock.write_text(text, errors="surrogateescape")
    before = snapshot(tmp_path)
    with claim(lock) as mine:
        assert mine is False  # another's, or unreadable as this host's: left alone
    assert snapshot(tmp_path) == before


def test_a_distill_lock_of_a_dead_pid_on_this_host_is_taken_over(tmp_path):
    import socket

    from suite.distill.recipes import claim

    lock = tmp_path / "kd.lock"
    lock.write_text(f"{socket.gethostname()} 9999999999")  # past any pid: no such process
    with claim(lock) as mine:
        assert mine is True
    assert not lock.exists()
