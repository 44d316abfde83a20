"""Inputs of the thirty-third attack against bench's options: one draft folder under two
spellings (timed twice), a task listed twice (each prompt put in twice), and options bench
silently ignored where they do not apply (``--tasks`` where it times random token ids,
``--limit-cells`` without ``--executor-compare``, ``--random-pair`` beside ``--draft``). Each
refusal failed on the commit before its fix; the controls hold the genuine uses."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from suite import bench, bench_pairs
from suite.bench_pairs import Pair
from tests.hostile import refused
from tests.models import REPO
from tests.test_bench import FAST, TINY_DRAFT, TINY_TARGET, _args, bundle  # noqa: F401 (fixture)

QUICK = [*FAST, "--temperatures", "0", "--num-draft-tokens", "1"]


def _bench(tmp_path, *argv: str) -> list[str]:
    return ["bench", "--out", str(tmp_path / "out"), *QUICK, *argv]


@pytest.fixture
def tiny_random(monkeypatch):
    """The random pair at test size: a pre-fix run that ignores an option ends in seconds."""
    original = bench_pairs.random_pair
    monkeypatch.setattr(
        bench_pairs,
        "random_pair",
        lambda **kw: original(
            vocab_size=64, target_shape=TINY_TARGET, draft_shape=TINY_DRAFT, seed=kw["seed"]
        ),
    )


@pytest.fixture
def given(tmp_path):
    """A tiny target (no tokenizer.json) and draft saved as folders: ``(target, draft)``."""
    target, draft = bench_pairs.random_pair(
        vocab_size=64, target_shape=TINY_TARGET, draft_shape=TINY_DRAFT, seed=1
    )
    target.save_pretrained(tmp_path / "target")
    draft.save_pretrained(tmp_path / "draft")
    return tmp_path / "target", tmp_path / "draft"


# --- one draft folder under two spellings ---


def _spellings(tmp_path, monkeypatch, kind):
    """Two spellings of ``tmp_path/draft`` (the ``given`` fixture's draft): the first as typed,
    the second another way."""
    monkeypatch.chdir(tmp_path)
    if kind == "absolute":
        return "draft", str(tmp_path / "draft")
    if kind == "dot-dot":
        (tmp_path / "sub").mkdir()
        return "draft", "sub/../draft"
    if kind == "link":
        (tmp_path / "link").symlink_to(tmp_path / "draft", target_is_directory=True)
        return str(tmp_path / "draft"), "link"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["absolute", "dot-dot", "link"])
def test_one_draft_folder_under_two_spellings_is_refused(kind, given, tmp_path, capsys,
                                                         monkeypatch):  # fmt: skip
    first, second = _spellings(tmp_path, monkeypatch, kind)
    argv = _bench(tmp_path, "--target", str(given[0]), "--draft", first, "--draft", second)
    refused(argv, tmp_path, capsys, "--draft", repr(second), "the folder of an earlier --draft")


def test_a_drafts_entry_naming_an_earlier_draft_is_refused(given, tmp_path, capsys, monkeypatch):
    first, second = _spellings(tmp_path, monkeypatch, "absolute")
    argv = _bench(tmp_path, "--target", str(given[0]), "--draft", first, "--drafts", second)
    refused(argv, tmp_path, capsys, "--draft", repr(second), "the folder of an earlier --draft")


def test_two_different_draft_folders_are_taken_in_order(tmp_path, monkeypatch):
    """The control: same name, different folders (and a link to another folder) are kept."""
    for name in ("a/draft", "b/draft", "c"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "c", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    args = _args(tmp_path / "out", "--draft", "a/draft", "--draft", str(tmp_path / "b" / "draft"))
    args.drafts = [tmp_path / "link"]
    bench._check_args(args)
    given = ["a/draft", str(tmp_path / "b" / "draft"), str(tmp_path / "link")]
    assert [str(p) for p in args.draft] == given
    assert not (tmp_path / "out").exists()


# --- a task listed twice ---


@pytest.mark.parametrize("tasks", [["gsm8k", "gsm8k"], ["gsm8k", "alpaca", "gsm8k"]])
def test_a_task_listed_twice_is_refused(tasks, bundle, tmp_path, capsys, monkeypatch):  # noqa: F811
    """Refused as the command line is read (every option of several values lists each once)."""
    from suite.cli import main

    monkeypatch.setattr(bench_pairs, "REFERENCE_FAMILY", bundle)
    with pytest.raises(SystemExit) as exit_:
        main(_bench(tmp_path, "--tasks", *tasks))
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--tasks 'gsm8k': listed twice" in err, err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="listed twice"):  # and by bench's own check, called alone
        bench._check_tasks(tasks, None)


# --- --tasks where bench times random token ids ---


def test_tasks_with_the_random_pair_are_refused(tiny_random, tmp_path, capsys):
    argv = _bench(tmp_path, "--random-pair", "--tasks", "gsm8k")
    refused(argv, tmp_path, capsys, "--tasks", "'gsm8k'", "tokenizer", "--random-pair")


def test_tasks_with_a_target_folder_without_tokenizer_are_refused(given, tmp_path, capsys):
    target, draft = given
    argv = _bench(tmp_path, "--target", str(target), "--draft", str(draft), "--tasks", "gsm8k")
    refused(argv, tmp_path, capsys, "--tasks", "'gsm8k'", "tokenizer.json", str(target))


def test_tasks_with_a_given_pair_without_tokenizer_are_refused_before_timing(tmp_path):
    """The last guard: a pair whose tokenizer is None (as a test or caller gives it) with
    --tasks is refused before anything is timed or written."""
    target, draft = bench_pairs.random_pair(
        vocab_size=64, target_shape=TINY_TARGET, draft_shape=TINY_DRAFT, seed=0
    )
    pair = Pair(target, {"d": draft}, {"kind": "tiny"}, None)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="--tasks"):
        bench.run(_args(out, "--tasks", "gsm8k", "--num-draft-tokens", "1"), pair=pair)
    assert not out.exists()


def test_random_pair_beside_a_draft_is_refused(given, tmp_path, capsys):
    """--draft times the given folders: --random-pair beside it was ignored."""
    target, draft = given
    argv = _bench(tmp_path, "--target", str(target), "--draft", str(draft), "--random-pair")
    refused(argv, tmp_path, capsys, "--random-pair", "--draft")


def test_tasks_with_the_bundled_tokenizer_are_timed(bundle, tmp_path, monkeypatch):  # noqa: F811
    """The control: --draft without --target takes the bundle's tokenizer, and real test-split
    prompts of both tasks, alternating, are timed."""
    monkeypatch.setattr(bench_pairs, "REFERENCE_FAMILY", bundle)
    out = tmp_path / "out"
    quick = [*QUICK]
    quick[quick.index("--prompts") + 1] = "2"  # an option is given once
    argv = ["--out", str(out), *quick, "--draft", str(bundle / "draft")]
    assert bench.main([*argv, "--tasks", "gsm8k", "alpaca"]) == 0
    result = json.loads((out / "latest.json").read_text())
    assert result["pair"]["prompts"] == "test-split instructions of gsm8k, alpaca (--tasks)"
    assert result["prompts"] == 2


def test_tasks_with_a_target_folder_holding_a_tokenizer_are_timed(bundle, tmp_path):  # noqa: F811
    """The control: a --target folder with its own tokenizer.json takes --tasks."""
    target = tmp_path / "target"
    shutil.copytree(bundle / "target", target)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(REPO / "reference" / "llama" / "tokenizer" / name, target / name)
    out = tmp_path / "out"
    argv = ["--out", str(out), *QUICK, "--target", str(target), "--draft", str(bundle / "draft")]
    assert bench.main([*argv, "--tasks", "gsm8k"]) == 0
    result = json.loads((out / "latest.json").read_text())
    assert result["pair"]["prompts"] == "test-split instructions of gsm8k (--tasks)"


# --- --limit-cells without --executor-compare ---


def test_limit_cells_without_executor_compare_is_refused(bundle, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setattr(bench_pairs, "REFERENCE_FAMILY", bundle)
    argv = _bench(tmp_path, "--limit-cells", "3")
    refused(argv, tmp_path, capsys, "--limit-cells", "3", "--executor-compare")


def test_limit_cells_with_executor_compare_is_taken(tmp_path):
    """The control: --limit-cells is --executor-compare's option (its checks only: the
    comparison itself starts Ray)."""
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    argv = ["--out", str(tmp_path / "out"), "--executor-compare", "--limit-cells", "3"]
    args = parser.parse_args(argv)
    bench._check_args(args)
    assert args.limit_cells == 3 and not (tmp_path / "out").exists()
