"""`python -m suite lm-eval export` with bad arguments: exit 2, the argument or file named, no
traceback and nothing written."""

from __future__ import annotations

import pytest

from suite.lm_eval_cli import main


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--split", "nosuch"], "nosuch"),
        (["--limit", "0"], "--limit"),
        (["--limit", "ten"], "--limit"),
        (["--max-gen-toks", "-5"], "--max-gen-toks"),
        (["--max-gen-toks", "10000000"], "--max-gen-toks"),
    ],
)
def test_a_bad_export_argument_is_refused_and_nothing_written(tmp_path, capsys, args, named):
    out = tmp_path / "out"
    try:
        status = main(["export", "--out", str(out), "--tasks", "gsm8k", *args])
    except SystemExit as e:  # argparse refuses with exit status 2
        status = e.code
    err = capsys.readouterr().err
    assert status == 2 and named in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_a_good_export_writes_the_task_and_its_documents(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", "--out", str(out), "--tasks", "gsm8k", "--limit", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["gsm8k-test.jsonl", "suite_gsm8k.yaml"]
    assert len((out / "gsm8k-test.jsonl").read_text().splitlines()) == 2
