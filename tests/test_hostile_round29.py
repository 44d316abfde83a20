"""Inputs of the twenty-ninth attack, and one left from earlier rounds: a config stating two
dtypes. Each case failed on the commit before its fix."""

from __future__ import annotations

import json

import pytest

from tests.hostile import refused
from tests.test_submissions import tiny  # noqa: F401 (fixture)


@pytest.mark.parametrize(
    ("stated", "ok"),
    [({"dtype": "float32", "torch_dtype": "bfloat16"}, False),
     ({"dtype": "bfloat16", "torch_dtype": "float32"}, False),
     ({"dtype": "float32", "torch_dtype": "float32"}, True),
     ({"dtype": None, "torch_dtype": "float32"}, True)],
    ids=["two-dtypes", "two-dtypes-swapped", "one-dtype-twice", "one-null"],
)  # fmt: skip
def test_a_submitted_config_states_one_dtype(stated, ok, tiny, tmp_path, capsys):  # noqa: F811
    from suite.cli import main
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    folder = _copy(tiny, tmp_path / "s")
    path = folder / "model" / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | stated))
    if ok:
        assert main(_check(folder, tiny)) == 0
    else:
        refused(_check(folder, tiny), tmp_path, capsys, "config.json", "'torch_dtype'",
                repr(stated["torch_dtype"]))  # fmt: skip


# Optimizer states no training makes: tensors the update cannot write, or writes twice.


def _expanded(m):
    import torch

    m["exp_avg"] = torch.zeros(1).expand(m["exp_avg"].shape)


def _shared(m):
    m["exp_avg_sq"] = m["exp_avg"].abs()
    m["exp_avg"] = m["exp_avg_sq"]


def _view(m):
    import torch

    m["exp_avg"] = torch.zeros(m["exp_avg"].numel() + 1)[1:].view(m["exp_avg"].shape)


@pytest.mark.parametrize(
    ("change", "shown"),
    [(_expanded, "its own values"),
     (lambda m: m.update(step=__import__("torch").tensor(True)), "step count"),
     (lambda m: m.update(step=__import__("torch").tensor(1 + 0j)), "step count"),
     (lambda m: m.update(step=__import__("torch").tensor(1, dtype=__import__("torch").uint8)),
      "step count"),
     (lambda m: m.update(step=__import__("torch").tensor([[1.0]])), "step count"),
     (lambda m: m.update(exp_avg_sq=m["exp_avg_sq"].to_sparse()), "not a dense tensor"),
     (_shared, "shares its memory"), (_view, "its own values")],
    ids=["expanded", "bool-step", "complex-step", "uint8-step", "step-of-shape-1x1", "sparse",
         "one-tensor-for-both-moments", "a-view"],
)  # fmt: skip
def test_each_optimizer_state_tensor_is_one_training_makes(change, shown, tmp_path):
    from suite.errors import SpecError
    from tests.test_hostile_round24 import _resumable
    from tests.test_hostile_round25 import _forge_optimizer
    from tests.test_hostile_round26 import _moment

    resume, ckpt = _resumable(tmp_path)
    _forge_optimizer(ckpt, _moment(change))
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        resume()
    assert err.value.path == ckpt / "optimizer.pt" and shown in str(err.value), str(err.value)


def test_two_parameters_sharing_one_moment_are_refused(tmp_path):
    from suite.errors import SpecError
    from tests.test_hostile_round24 import _resumable
    from tests.test_hostile_round25 import _forge_optimizer

    def edit(state):
        held = list(state["state"].values())
        same = [h for h in held if h["exp_avg"].shape == held[0]["exp_avg"].shape]
        assert len(same) >= 2  # the tiny model has two parameters of one shape
        same[1]["exp_avg"] = same[0]["exp_avg"]

    resume, ckpt = _resumable(tmp_path)
    _forge_optimizer(ckpt, edit)
    with pytest.raises(SpecError, match="shares its memory") as err:
        resume()
    assert err.value.path == ckpt / "optimizer.pt", str(err.value)


# A KD data cache's values compared type for type.


def _kd_cache_at(tmp_path, tau):
    import torch

    from suite.distill.offline import KDRequest, generate_kd_data
    from tests.models import tiny_llama

    target = tiny_llama(vocab=8)
    request = KDRequest("a" * 64, "gsm8k", tau, 1, 4, 0, 7, chunk_size=2)
    prompts = [[1, 2], [3, 4], [5, 6]]
    torch.manual_seed(0)
    again = lambda: generate_kd_data(target, prompts, request, cache_root=tmp_path / "kd")  # noqa: E731
    again()
    (final,) = (tmp_path / "kd").glob("*/data.json")
    return final, again


@pytest.mark.parametrize(
    ("tau", "edit", "field"),
    [(1.0, lambda d: d.update(temperatures=[True] * len(d["temperatures"])), "temperatures"),
     (0.0, lambda d: d.update(temperatures=[False] * len(d["temperatures"])), "temperatures"),
     (1.0, lambda d: d.update(temperatures=[1] * len(d["temperatures"])), "temperatures"),
     (1.0, lambda d: d.update(prompt_index=[float(i) for i in d["prompt_index"]]),
      "prompt_index"),
     (1.0, lambda d: d["prompts"][0].__setitem__(0, True), "prompts")],
    ids=["temperature-true", "temperature-false", "temperature-int", "prompt-index-float",
         "prompt-token-true"],
)  # fmt: skip
def test_a_kd_cache_is_read_type_for_type(tau, edit, field, tmp_path):
    from suite.errors import SpecError

    final, again = _kd_cache_at(tmp_path, tau)
    assert again().temperatures[0] == tau  # the control: the cache as written is read
    data = json.loads(final.read_text())
    edit(data)
    final.write_text(json.dumps(data))
    with pytest.raises(SpecError) as err:
        again()
    assert err.value.path == final and err.value.field == field, str(err.value)


# lm-eval run: every argument as lm-eval's own parser hands it over, and its --config file.


def _lm_eval(tmp_path, *args):
    return ["lm-eval", "run", "--model", "specdec", "--tasks", "x",
            "--output_path", str(tmp_path / "o"), *args]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "shown"),
    [(["--model_args", '{"target": "t", "temperature": true}'], "temperature=True"),
     (["-wa", "target=t", "temperature=1e-400"], "temperature='1e-400'"),
     (["-xa", "target=t,num_draft_tokens=١"], "num_draft_tokens"),
     (["-sa", "target=t", "temperature=1e-400"], "temperature='1e-400'"),
     (["--seed", "١,٢,٣,٤"], "--seed"),
     (["--gen_kwargs", "max_gen_toks=٤"], "--gen_kwargs"),
     (["--limit", "٥"], "--limit")],
    ids=["json-true", "joined-write-out", "joined-predict-only", "joined-log-samples",
         "seed-digits", "gen-kwargs-digits", "limit-digits"],
)  # fmt: skip
def test_lm_eval_arguments_are_read_as_its_parser_hands_them_over(args, shown, tmp_path, capsys):
    refused(_lm_eval(tmp_path, *args), tmp_path, capsys, shown)


_BAD_CONFIGS = {
    "yaml-on": ("model_args:\n  target: t\n  temperature: on\n", "temperature=True"),
    "joined-flag": ("model_args: target=t,temperature=1e-400\n", "temperature='1e-400'"),
    "aliases": (
        "metadata:\n  a0: &a0 [x, x]\n  a1: [*a0, *a0]\nmodel_args: {target: t}\n",
        "aliases",
    ),
    "unknown-key": ("bogus: 1\n", "'bogus'"),
    "model-args-number": ("model_args: 5\n", "model_args"),
    "model-args-list": ("model_args: [a]\n", "model_args"),
    "seed-digits": ("seed: '١'\nmodel_args: {target: t}\n", "seed"),
    "not-utf8": (b"model_args: \xff\n", "UTF-8"),
}


@pytest.mark.parametrize("name", list(_BAD_CONFIGS))
def test_an_lm_eval_config_is_one_lm_eval_reads_whole(name, tmp_path, capsys):
    text, shown = _BAD_CONFIGS[name]
    config = tmp_path / "c.yaml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text, encoding="utf-8")
    flag = ["-wC", str(config)] if name == "joined-flag" else ["--config", str(config)]
    refused(_lm_eval(tmp_path, *flag), tmp_path, capsys, "c.yaml", shown)


def test_an_lm_eval_config_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    """In a subprocess with a timeout: the defect was a hang."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    argv = [sys.executable, "-m", "suite", *_lm_eval(tmp_path, "--config", str(fifo))]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env=os.environ | {"PYTHONPATH": os.getcwd()})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_a_good_lm_eval_config_is_read_with_numbers_as_written(tmp_path):
    from suite.lm_eval_args import read_config

    config = tmp_path / "c.yaml"
    # seeds as a YAML list: a quoted '1,2,3,4' is one text to lm-eval, whose int() refuses it
    config.write_text("model: specdec\nseed: [1, 2, 3, 4]\nlimit: 5\n"
                      "model_args: {target: t, temperature: 0.7, seed: 3}\n")  # fmt: skip
    read = read_config(str(config))
    assert read["model_args"] == {"target": "t", "temperature": "0.7", "seed": "3"}
    assert read["limit"] == "5" and read["seed"] == ["1", "2", "3", "4"]


# Results folders: records naming where each model came from, a commit as git writes one, and
# a header a run writes.


def _results_of(tmp_path, record, header=None, submission=None):
    from tests.test_records import header_of

    folder = tmp_path / "results"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(header or header_of(record)))
    (folder / "cells.jsonl").write_text(json.dumps(record) + "\n")
    if submission is not None:
        (folder / "submission.json").write_text(json.dumps(submission))
    return folder


def _submitted(location: bool):
    from tests.test_records import old_analytic

    record = old_analytic("sub-x")
    record["cell"]["draft_facts"] = {"method": "other", "origin": "submission",
                                     "source": "submission.yaml"}  # fmt: skip
    record["provenance"]["models"]["draft"] = {"location": "submissions/x/model",
                                               "sha256": "c" * 64}  # fmt: skip
    if not location:
        del record["provenance"]["models"]["draft"]["location"]
    submission = {"name": "x", "draft": "sub-x", "model": "model", "sha256": "c" * 64,
                  "training": {"method": "other"}}  # fmt: skip
    return record, submission


@pytest.mark.usefixtures("hand_made_plan")
def test_a_submitted_drafts_record_without_its_location_is_refused(tmp_path, capsys):
    from suite.cli import main

    record, submission = _submitted(location=True)
    good = _results_of(tmp_path / "good", record, submission=submission)
    assert main(["report", str(good), "--out", str(tmp_path / "rep-good")]) == 0  # control
    capsys.readouterr()
    record, submission = _submitted(location=False)
    folder = _results_of(tmp_path / "bad", record, submission=submission)
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys,
            "cells.jsonl", "provenance.models.draft.location")  # fmt: skip


@pytest.mark.usefixtures("hand_made_plan")
@pytest.mark.parametrize(
    "model", [{}, {"location": None, "sha256": None}, {"location": ""}],
    ids=["empty", "nulls", "empty-location"],
)  # fmt: skip
def test_a_record_naming_no_location_for_a_model_is_refused(model, tmp_path, capsys):
    from tests.test_records import old_analytic

    record = old_analytic()
    record["provenance"]["models"]["target"] = model
    folder = _results_of(tmp_path, record)
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys,
            "cells.jsonl", "provenance.models.target")  # fmt: skip


@pytest.mark.usefixtures("hand_made_plan")
@pytest.mark.parametrize(
    ("commit", "ok"),
    [("x", False), ("0" * 39 + "G", False), ("A" * 40, False), ("z" * (1 << 20), False),
     ("0" * 41, False), (None, True), ("0123456789abcdef" * 4, True)],
    ids=["one-letter", "not-hex", "upper-case", "a-megabyte", "41-digits", "null", "sha256"],
)  # fmt: skip
def test_a_records_git_commit_is_one_git_writes(commit, ok, tmp_path, capsys):
    from suite.cli import main
    from tests.test_records import old_analytic

    record = old_analytic()
    record["provenance"]["git_commit"] = commit
    folder = _results_of(tmp_path, record)
    argv = ["report", str(folder), "--out", str(tmp_path / "rep")]
    if ok:
        assert main(argv) == 0
    else:
        refused(argv, tmp_path, capsys, "cells.jsonl", "git_commit")


@pytest.mark.usefixtures("hand_made_plan")
@pytest.mark.parametrize(
    ("header", "field"),
    [({"studies": [], "profile": "smoke"}, "studies"),
     ({"studies": ["nosuchstudy"], "profile": "smoke"}, "study_cells"),
     ({"profile": "smoke"}, "studies"),
     ({"studies": ["difficulty"]}, "profile"),
     ("evil", "evil")],
    ids=["no-study", "unknown-study-unplanned", "studies-absent", "profile-absent",
         "unknown-field"],
)  # fmt: skip
def test_a_run_header_is_one_a_run_writes(header, field, tmp_path, capsys):
    from tests.test_records import header_of, old_analytic

    record = old_analytic()
    if header == "evil":
        header = header_of(record) | {"evil": {"x": [1, {"y": "<script>"}]}}
    folder = _results_of(tmp_path, record, header=header)
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys,
            "run.json", field)  # fmt: skip


@pytest.mark.usefixtures("hand_made_plan")
def test_a_report_out_that_cannot_be_made_names_the_option(tmp_path, capsys):
    from tests.test_records import old_analytic

    folder = _results_of(tmp_path, old_analytic())
    refused(["report", str(folder), "--out", "/proc/self/x"], tmp_path, capsys, "--out",
            "/proc/self/x")  # fmt: skip
