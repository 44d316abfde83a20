"""Inputs of the eighteenth attack: results records whose stored α, mean accepted length, token
counts or temperature contradict what their own prompts and cell say (an analytic α of 0 over
prompts of 0.75, a negative mean accepted length, 2^53 tokens in a 16-token cell), a cells.jsonl
in UTF-16 or with a byte-order mark, a run.json naming another profile than its records, a
``--workers`` in the billions, a model config's ``{"__float__": "Infinity"}``, NaN logits named
by role only, empty path arguments read as the working folder, and paths that are not regular
files named as unknown names. Each case failed on the commit before its fix."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from suite.cli import build_parser, main
from suite.report.folder import check_folder
from tests.hostile import refused, snapshot
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_round16 import _forged, empirical  # noqa: F401 (a fixture)
from tests.test_records import header_of, old_analytic

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")

LLAMA = REPO / "reference" / "llama"


def argument_refused(argv: list[str], folder: Path, capsys, *expected: str) -> str:
    """An argument error: exit 2 on one line naming every ``expected`` text, nothing written."""
    before = snapshot(folder)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: python -m suite"), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, (text, err)
    assert snapshot(folder) == before
    return err


def _analytic_folder(tmp_path: Path, edit) -> str:
    record = old_analytic()
    edit(record["result"])
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps(header_of(record)))
    (folder / "cells.jsonl").write_text(json.dumps(record) + "\n")
    return str(folder)


def _set(**over):
    return lambda result: result.update(over)


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(_set(acceptance_rate=0.0), "result.acceptance_rate", "token-weighted mean, 0.625"),
     (_set(mean_accepted_length=-1e300), "result.mean_accepted_length", "Σ α^i"),
     (_set(prompt_tokens=[2**53, 16]), "result.prompt_tokens[0]", "max_new_tokens, 16"),
     (_set(prompt_tokens=[0, 16]), "result.prompt_acceptance[0]", "null exactly"),
     (_set(tokens=33), "result.tokens", "sum, 32"),
     (_set(temperature=-5.0), "result.temperature", "decode_temperature, 1"),
     (_set(n_boot=0), "result.n_boot", "at least one resample")],
    ids=["alpha-not-its-prompts", "length-negative", "tokens-past-m", "tokens-zero-alpha",
         "tokens-total", "temperature", "n-boot-zero"],
)  # fmt: skip
def test_an_analytic_record_agrees_with_its_prompts_and_cell(tmp_path, capsys, edit, field, shown):
    folder = _analytic_folder(tmp_path, edit)
    refused(["report", folder], tmp_path, capsys, "cells.jsonl", field, shown)


def _prompt(key, value):
    return lambda result: result["per_prompt"][0].__setitem__(key, value)


def _spec_tokens(result):
    result["per_prompt"][0]["speculative"]["tokens"] = 2**53


def _one_more(key):
    return lambda result: result.__setitem__(key, result[key] + 1)


def _positions(result):
    result["position_acceptance"] = [1.0] * len(result["position_acceptance"])


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(_prompt("mean_accepted_length", -7.0), "per_prompt[0].mean_accepted_length",
      "1 + accepted / steps"),
     (_set(mean_accepted_length=99.0), "result.mean_accepted_length", "1 + accepted / steps"),
     (_spec_tokens, "per_prompt[0].speculative.tokens", "max_new_tokens"),
     (_one_more("tokens_speculative"), "result.tokens_speculative", "prompts' sum"),
     (_one_more("tokens_target"), "result.tokens_target", "prompts' sum"),
     (_positions, "result.position_acceptance", "accepted / proposed by position")],
    ids=["prompt-length", "cell-length", "tokens-past-m", "spec-total", "target-total",
         "positions"],
)  # fmt: skip
def test_an_empirical_record_agrees_with_its_prompts_and_cell(empirical, tmp_path, capsys, edit,  # noqa: F811
                                                              field, shown):  # fmt: skip
    folder = _forged(empirical, tmp_path, edit)
    refused(["report", folder], tmp_path, capsys, "cells.jsonl", field, shown)


def test_the_runs_own_empirical_record_is_read(empirical):  # noqa: F811 (the control)
    assert check_folder(empirical)


@pytest.mark.parametrize(
    ("encode", "shown"),
    [(lambda raw: raw.decode().encode("utf-16-be"), "line 1"),
     (lambda raw: b"\xef\xbb\xbf" + raw, "byte-order mark")],
    ids=["utf-16", "bom"],
)  # fmt: skip
def test_a_cells_file_is_utf8_without_a_bom(tmp_path, capsys, encode, shown):
    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    assert check_folder(folder)  # the control: the same record in UTF-8
    cells = folder / "cells.jsonl"
    cells.write_bytes(encode(cells.read_bytes()))
    refused(["report", str(folder)], tmp_path, capsys, "cells.jsonl", shown)


def test_a_run_header_naming_another_profile_than_its_records_is_refused(tmp_path, capsys):
    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    header = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps(header | {"profile": "quick"}))
    refused(["report", str(folder)], tmp_path, capsys, "provenance.profile", "'smoke'", "'quick'")


def test_workers_are_bounded_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["run", "difficulty", "--profile", "smoke", "--quiet", "--out", str(out)]
    argument_refused(
        [*argv, "--workers", "100000000000"], tmp_path, capsys, "--workers", "1 to 256"
    )
    assert not out.exists()
    assert build_parser().parse_args([*argv, "--workers", "4"]).workers == 4  # the control


def test_an_out_below_a_file_names_the_option(tmp_path, capsys):
    (tmp_path / "afile").write_text("mine\n")
    argv = ["run", "difficulty", "--profile", "smoke", "--out", str(tmp_path / "afile" / "sub")]
    refused(argv, tmp_path, capsys, "field 'out'", "afile exists and is not a folder")


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_yaml_path_that_is_not_a_regular_file_is_named(tmp_path, capsys, kind):
    path = tmp_path / "p.yaml"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    out = str(tmp_path / "o")
    for argv, field in (
        (["run", "difficulty", "--profile", str(path), "--out", out], "profile"),
        (["run", str(path), "--profile", "smoke", "--out", out], "study"),
    ):
        refused(argv, tmp_path, capsys, f"field '{field}'", "not a regular file")


def _model_copy(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(LLAMA / "draft", folder)
    return folder


def test_a_special_float_object_in_a_config_is_refused(tmp_path, capsys):
    folder = _model_copy(tmp_path, "inf")
    config = json.loads((folder / "config.json").read_text())
    config["rope_parameters"]["rope_theta"] = {"__float__": "Infinity"}
    (folder / "config.json").write_text(json.dumps(config))
    argv = ["generate", "--target", str(folder), "--max-new-tokens", "2", "hi"]
    refused(argv, tmp_path, capsys, "config.json", "rope_parameters.rope_theta", "special float")


def test_nan_logits_in_generate_name_the_models_folder(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    folder = _model_copy(tmp_path, "overflow")
    weights = load_file(folder / "model.safetensors")
    weights["model.norm.weight"] = weights["model.norm.weight"].clone().fill_(float("inf"))
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    target = str(LLAMA / "target")
    for argv, role in (
        (["generate", "--target", str(folder)], "target"),
        (["generate", "--target", target, "--draft", str(folder)], "draft"),
    ):
        refused([*argv, "--max-new-tokens", "4", "hi"], tmp_path, capsys, str(folder),
                f"field '{role}'", "NaN or infinite logits")  # fmt: skip


def test_a_prompt_that_is_not_utf8_is_named(tmp_path, capsys):
    prompt = os.fsdecode(b"hi \xff there")  # as Python hands a command line's byte over
    argv = ["generate", "--target", str(LLAMA / "target"), "--max-new-tokens", "2", prompt]
    refused(argv, tmp_path, capsys, "field 'prompt'", "not valid UTF-8")


@pytest.mark.parametrize(
    "argv",
    [["calibrate", "--n-sim", "1", "--claims", "1", "--out", ""],
     ["tasks", "--tasks-dir", ""],
     ["bench", "--out", ""],
     ["quality", "--out", ""],
     ["train", "--out", "", "--only", "tokenizer"],
     ["distill", "--out", "", "--list"],
     ["generate", "--target", "", "hi"]],
    ids=["calibrate", "tasks", "bench", "quality", "train", "distill", "generate"],
)  # fmt: skip
def test_an_empty_path_argument_is_refused_not_read_as_the_working_folder(
    tmp_path, capsys, monkeypatch, argv
):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    argument_refused(argv, tmp_path, capsys, "''", "an empty one names no file")
    assert snapshot(tmp_path) == before


def _read_in_child(folder: Path, timeout: float):
    import subprocess
    import sys

    code = f"from suite.store import ResultsStore\nprint(len(ResultsStore({str(folder)!r}).load()))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def test_a_cells_file_of_blank_lines_is_refused_by_its_line_count(tmp_path):
    """A time bomb, in a child with a timeout: 50 MiB of newlines took 87 s to skip."""
    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    with (folder / "cells.jsonl").open("ab") as fh:
        fh.write(b"\n" * (64 << 20))
    done = _read_in_child(folder, 30)
    assert done.returncode == 1 and "over 20,000 lines" in done.stderr, done.stderr[-2000:]


def test_copies_of_one_line_are_read_once_not_parsed_each_time(tmp_path):
    """A time bomb, in a child with a timeout: each copy was parsed and checked (4 ms each)."""
    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    line = (folder / "cells.jsonl").read_bytes()
    (folder / "cells.jsonl").write_bytes(line * 19_000)
    done = _read_in_child(folder, 30)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr[-2000:]
