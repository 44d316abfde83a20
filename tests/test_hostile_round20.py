"""Inputs of the twentieth attack and the nineteenth's leftovers: analytic records whose
token-length buckets, per-position rates, interval or standard error disagree with their own
prompts, and a profile whose intervals no record could be checked against. Each case failed on
the commit before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suite.errors import SpecError
from tests.hostile import refused, restate_analytic
from tests.test_hostile_round18 import _analytic_folder, _set
from tests.test_records import old_analytic
from tests.test_submissions import tiny  # noqa: F401 (a fixture)

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(_set(acceptance_by_token_chars={"1": [0.0, 5000], "3": [20.0, 20]}),
      "result.acceptance_by_token_chars", "not tokens = 32"),
     (_set(acceptance_by_token_chars={"1": [2.0, 20], "3": [10.0, 12]}),
      "result.acceptance_by_token_chars", "not α × tokens = 20.0"),
     (_set(acceptance_by_token_chars={"1": [12.0, 20], "3": [6.0, 10], "50": [2.0, 2]}),
      "result.acceptance_by_token_chars.50", "open bucket, token_chars_open_bucket = 8"),
     (_set(confidence_interval=[0.0, 0.001]), "result.confidence_interval", "[0.5, 0.75]"),
     (_set(standard_error=1e6), "result.standard_error", "0.0888665"),
     (_set(standard_error=0.0), "result.standard_error", "0.0888665"),
     (_set(mean_accepted_length=None), "result.mean_accepted_length", "Σ α^i"),
     (_set(position_acceptance=[0.625] * 3), "result.position_acceptance",
      "longest continuation, 16"),
     (_set(position_acceptance=[1.0] * 16), "result.position_acceptance", "not α × tokens"),
     (_set(position_acceptance=[None] * 16), "result.position_acceptance[0]", "2 prompts reach")],
    ids=["bucket-counts", "bucket-beta", "bucket-past-open", "ci-not-bootstrap", "se-huge",
         "se-zero", "length-null", "positions-short", "positions-sum", "positions-null"],
)  # fmt: skip
def test_an_analytic_record_agrees_with_its_prompts(edit, field, shown, tmp_path, capsys):
    folder = _analytic_folder(tmp_path, edit)
    refused(["report", folder, "--out", str(tmp_path / "rep")], tmp_path, capsys, field, shown)


def test_the_interval_is_checked_on_its_cells_seed(tmp_path):
    """The same prompts under seed 1: the seed-0 standard error is not its."""
    from suite.errors import SpecError
    from suite.store import ResultsStore

    record = old_analytic()
    record["cell"]["seed"] = 1
    record["key"] = record["key"].replace("/s0/", "/s1/")
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "cells.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(SpecError, match=r"bootstrap's standard deviation, 0\.0857"):
        ResultsStore(folder).load()
    (folder / "cells.jsonl").write_text(json.dumps(restate_analytic(record)) + "\n")
    assert len(ResultsStore(folder).load()) == 1


def test_an_edited_record_restated_as_a_run_writes_it_is_read(tmp_path):
    """The control: prompts edited, then every total, bucket and interval restated, reads."""
    from suite.store import ResultsStore

    record = restate_analytic(_edited(old_analytic()))
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "cells.jsonl").write_text(json.dumps(record) + "\n")
    (read,) = ResultsStore(folder).load().values()
    ci = read.result.analytic.confidence_interval
    assert ci[0] <= read.result.acceptance_rate <= ci[1]


def _edited(record):
    record["result"]["prompt_acceptance"] = [0.25, 0.875]
    record["result"]["prompt_tokens"] = [3, 16]
    return record


def test_an_interval_without_its_resample_count_is_not_shown(tmp_path):
    """An interval whose n_boot is not stated cannot be checked: it is read as absent (a resume
    recomputes the record; a report shows no interval), never shown as stated."""
    from suite.store import ResultsStore

    record = old_analytic()
    record["result"].update(n_boot=None, confidence_interval=[0.0, 0.001], standard_error=9.0)
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "cells.jsonl").write_text(json.dumps(record) + "\n")
    (read,) = ResultsStore(folder).load().values()
    assert read.result.analytic.confidence_interval is None
    assert read.result.analytic.standard_error is None


def test_a_profile_whose_intervals_draw_too_many_prompts_is_refused(tmp_path, capsys):
    text = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    assert "analytic: {prompts: 4" in text
    path = tmp_path / "big.yaml"
    big = text.replace("analytic: {prompts: 4", "analytic: {n_boot: 100000, prompts: 100", 1)
    path.write_text(big.replace("name: smoke", "name: big"))
    argv = ["reproduce", "--profile", str(path), "--out", str(tmp_path / "o"), "--quiet"]
    refused(argv, tmp_path, capsys, "sizes.analytic.n_boot", "100000", "10,000,000")


@pytest.mark.parametrize("seed", [0, 3, 999])
def test_the_restated_interval_is_the_one_a_run_draws(seed):
    """The reader's recomputation (resample counts × sums) gives the writer's interval and
    standard error (indices summed), up to float rounding, zero-token prompts included."""
    import numpy as np

    from suite.stats.intervals import analytic_stream, ratio_bootstrap, restated_ratio_bootstrap

    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 64, size=37)
    tokens[:3] = 0
    sums = rng.random(37) * tokens
    ci, se = ratio_bootstrap(sums, tokens, n_boot=1000, rng=analytic_stream(seed), level=0.9)
    again, se_again = restated_ratio_bootstrap(sums, tokens, seed=seed, n_boot=1000, level=0.9)
    assert np.allclose(ci, again, rtol=1e-12, atol=0) and abs(se - se_again) <= 1e-12
    other, _ = restated_ratio_bootstrap(sums, tokens, seed=seed + 1, n_boot=1000, level=0.9)
    assert tuple(other) != tuple(ci)  # the stream is the seed's


def _two_aligned(stage_draft: str, draft_only: bool = False):
    import copy

    from tests.test_hostile_round18_tools import ALIGN, CONFIG, TRAIN

    def edit(recipe):
        draft = {"config": dict(CONFIG, hidden_size=16), "train": dict(TRAIN),
                 "align": copy.deepcopy(dict(ALIGN, **{"from": stage_draft}))}  # fmt: skip
        recipe["models"]["draft"] = draft
        if not draft_only:
            recipe["models"]["target"]["align"] = copy.deepcopy(ALIGN)

    return edit


def test_two_models_aligned_from_one_stage_are_refused(tmp_path, capsys):
    """One stage folder for two roles: the second resumed the first's pretrained model, and
    train saved the target's weights as the draft."""
    from tests.test_hostile_round18_tools import ALIGN, _train_recipe

    path = _train_recipe(tmp_path, _two_aligned(ALIGN["from"]))
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "tiny.yaml", "models.target.align.from", "tiny-pre",
            "models.draft.align.from names it too")  # fmt: skip


def test_an_aligned_draft_trains_on_checkpoints_of_its_own(tmp_path, monkeypatch):
    """Align checkpoints were always target-align: an aligned draft resumed the target's."""
    import shutil

    from suite.cli import main
    from tests.test_hostile_round18_tools import TOKENIZER, _train_recipe

    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    out = tmp_path / "out"
    shutil.copytree(TOKENIZER, out / "tokenizer")
    path = _train_recipe(tmp_path, _two_aligned("draft-pre", draft_only=True))
    assert main(["train", "--recipe", path, "--out", str(out), "--only", "target", "draft"]) == 0
    made = sorted(p.name for p in (tmp_path / "ckpt" / "tiny").iterdir())
    assert "draft-align" in made and "target-align" not in made, made
    for role, hidden in (("target", 8), ("draft", 16)):
        assert json.loads((out / role / "config.json").read_text())["hidden_size"] == hidden


def test_a_terminated_submit_removes_its_private_copy_and_lock(tiny, tmp_path):  # noqa: F811
    """SIGTERM (a timeout, a cancelled CI job) left submit's full private model copy and its
    lock file in the cache for good; now the command ends as an exception does."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.test_hostile_round18_submissions import _submit
    from tests.test_submissions import _copy

    cache = tmp_path / "cache"
    env = dict(os.environ, SUITE_SUBMISSION_CACHE=str(cache), OMP_NUM_THREADS="1")
    argv = _submit(_copy(tiny, tmp_path), tiny, tmp_path / "out")
    child = subprocess.Popen(
        [sys.executable, "-m", "suite", *argv],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    staged = cache / ".staged"
    try:
        deadline = time.monotonic() + 120
        while not any(p.is_dir() and any(p.iterdir()) for p in _entries(staged)):
            assert child.poll() is None, child.stderr.read()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.005)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        child.kill()
        child.wait()
    assert _entries(staged) == [], _entries(staged)


def _entries(folder):
    return sorted(folder.iterdir()) if folder.is_dir() else []


# --- attack A: records a run never writes ---------------------------------------------------------


def _empirical_edit(edit):
    from tests.test_records import old_empirical

    def made(record):
        edit(record)
        return record

    return lambda: made(old_empirical())


def _analytic_edit(edit):
    def made(record):
        edit(record)
        return record

    return lambda: made(old_analytic())


def _prompt(**over):
    return lambda r: r["result"]["per_prompt"][0].update(over)


def _identical(r):
    r["result"]["per_prompt"][0]["identical"] = True
    r["result"]["identical_outputs"] = 1


def _rising(r):
    r["result"]["per_prompt"][0]["accepted_per_position"] = [2, 3, 3, 4]
    r["result"]["position_acceptance"] = [0.5, 0.75, 0.75, 1.0]


def _no_output(r):
    r["result"]["per_prompt"][0]["speculative"] = None
    r["result"]["tokens_speculative"] = 0


def _hot(r):
    r["cell"]["decode_temperature"] = 1e300
    r["key"] = r["key"].replace("/t1/", "/t1e+300/")


def _facts(**over):
    def edit(r):
        r["cell"]["draft_facts"] = {"method": "base", "source": "profile", **over}

    return edit


def _timing(**over):
    return lambda r: r["timing"].update(over)


def _chars_without_tokens(r):
    x = r["result"]
    x["prompt_tokens"], x["prompt_acceptance"] = [0, 16], [None, 0.75]
    restate_analytic(r)
    x["prompt_token_chars"] = [7.5, None]


@pytest.mark.parametrize(
    ("make", "field", "shown"),
    [(_empirical_edit(_identical), "per_prompt[0].identical", "one token count and one text"),
     (_empirical_edit(_rising), "accepted_per_position", "not rise with the position"),
     (_empirical_edit(_no_output), "per_prompt[0].speculative", "expected a JSON object"),
     (_empirical_edit(_prompt(steps=4, accepted=12)), None, None),  # the control
     (_empirical_edit(lambda r: r["result"]["per_prompt"][0]["speculative"].update(
         finish_reason="banana")), "speculative.finish_reason", "length, eos, stop"),
     (_empirical_edit(lambda r: r["result"]["per_prompt"][0]["target"].update(
         finish_reason="length", tokens=5)), "target.tokens", "max_new_tokens, 16"),
     (_empirical_edit(_timing(speedup=999.0)), "timing.speedup", "seconds per token"),
     (_empirical_edit(lambda r: r["timing"]["per_prompt"][0].update(speedup=9.0)),
      "per_prompt[0].speedup", "seconds per token"),
     (_empirical_edit(_timing(speculative_seconds=0.2)), "timing.speculative_seconds",
      "prompts' sum"),
     (_empirical_edit(_hot), "cell.decode_temperature", "[0.001, 100]"),
     (_empirical_edit(_facts(method="base\nFORGED,row")), "draft_facts.method", "U+000A"),
     (_empirical_edit(_facts(divergence="a\tb")), "draft_facts.divergence", "U+0009"),
     (_empirical_edit(_facts(kd_temperatures=[0.5] * 300)), "draft_facts.kd_temperatures",
      "at most 256"),
     (_analytic_edit(_timing(projected_speedup=4.99)), "timing.projected_speedup",
      "1.2061767578125"),
     (_analytic_edit(_timing(cost_ratio=0.0005)), "timing.cost_ratio", "[0.001, 100]"),
     (_analytic_edit(_timing(cost_ratio=100.5)), "timing.cost_ratio", "[0.001, 100]"),
     (_analytic_edit(lambda r: r["result"].update(acceptance_by_token_chars=False)),
      "acceptance_by_token_chars", "expected a mapping"),
     (_analytic_edit(_chars_without_tokens), "prompt_token_chars[0]", "token count is 0")],
    ids=["identical-differ", "positions-rise", "no-output", "control", "finish-banana",
         "length-short", "speedup", "prompt-speedup", "seconds-sum", "temperature-huge",
         "facts-newline", "facts-tab", "facts-taus", "projected", "cost-small", "cost-large",
         "buckets-false", "chars-no-tokens"],
)  # fmt: skip
def test_a_record_a_run_never_writes_is_refused(make, field, shown, tmp_path, capsys):
    from tests.test_hostile_results import HEADER

    record = make()
    folder = tmp_path / "results"
    folder.mkdir()
    header = {**HEADER, "study_cells": {HEADER["studies"][0]: [record["key"]]}}
    (folder / "run.json").write_text(json.dumps(header))
    (folder / "cells.jsonl").write_text(json.dumps(record) + "\n")
    argv = ["report", str(folder), "--out", str(tmp_path / "rep")]
    if field is None:
        from suite.store import ResultsStore

        assert len(ResultsStore(folder).load()) == 1
        return
    refused(argv, tmp_path, capsys, field, shown)


# --- attack A: specs and profiles that made a run write what it could not read ---


def test_a_task_whose_id_renders_empty_is_refused_before_the_folder(tmp_path, capsys, monkeypatch):
    from tests.test_hostile_round14 import _run, _study, _tasks

    tasks = _tasks(tmp_path, lambda t: t + "id: '{{ \"\" }}'\n")
    monkeypatch.setenv("SUITE_TASKS_DIR", str(tasks))
    refused(_run(tmp_path, _study(tmp_path)), tmp_path, capsys, "gsm8k.yaml", "'id'", "empty id")
    assert not (tmp_path / "o").exists()


def test_a_split_name_no_record_can_hold_is_refused_with_its_spec(tmp_path, capsys):
    from tests.test_hostile_round14 import _tasks

    long = "s" * 200
    tasks = _tasks(tmp_path, lambda t: t.replace("\n  test:", f"\n  {long}:", 1))
    argv = ["tasks", "--tasks-dir", str(tasks)]
    refused(argv, tmp_path, capsys, "gsm8k.yaml", "splits.sss", "1 to 128")


@pytest.mark.parametrize(
    "where", ["nl\nx", "t\tb", "/".join(["d" * 200] * 5)], ids=["newline", "tab", "long"]
)
def test_a_profile_folder_no_record_can_state_is_refused(where, tmp_path, capsys):
    import shutil

    bundle = tmp_path / where / "llama"
    shutil.copytree(REPO / "reference" / "llama", bundle, symlinks=True,
                    ignore=shutil.ignore_patterns("kd-*"))  # fmt: skip
    text = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    assert "bundle: reference/llama" in text
    path = tmp_path / "smoke.yaml"
    path.write_text(text.replace("bundle: reference/llama", f"bundle: {json.dumps(str(bundle))}"))
    argv = ["reproduce", "--profile", str(path), "--out", str(tmp_path / "o"), "--quiet"]
    refused(argv, tmp_path, capsys, "smoke.yaml", "models.llama.bundle")
    assert not (tmp_path / "o").exists()


def test_a_record_its_reader_refuses_is_never_appended(tmp_path):
    """The last guard: whatever let a record through, the store reads each line back before it
    writes it, so no run leaves a line that makes its folder unreadable."""
    from dataclasses import replace

    from suite.errors import SpecError
    from suite.record_json import record_from_json
    from suite.store import ResultsStore

    record = record_from_json(old_analytic())
    store = ResultsStore(tmp_path)
    store.append(record)  # the control
    bad = replace(record, cell=replace(record.cell, seed=1))  # the seed-0 interval: not its own
    with pytest.raises(SpecError, match="would not read back"):
        store.append(bad)
    assert (tmp_path / "cells.jsonl").read_text().count("\n") == 1


# --- attack B: submissions ---


@pytest.mark.parametrize("part", ["a\tb", "x\ny", "x\u202ey"], ids=["tab", "newline", "bidi"])
def test_a_submission_folder_no_record_can_name_is_refused_by_check(
    part,
    tiny,  # noqa: F811
    tmp_path,
    capsys,
    monkeypatch,
):
    """check said ok; submit scored every cell, then refused its own records, leaving them.
    Named on the command line, such a path is refused as an argument (round 48); named from
    inside it, by the records' rule."""
    from suite.cli import main
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    (tmp_path / part).mkdir()
    folder = _copy(tiny, tmp_path / part)
    with pytest.raises(SystemExit) as done:
        main(_check(folder, tiny))
    assert done.value.code == 2
    assert "a path holds no control or invisible character" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path / part)
    relative = Path(folder.name)
    refused(_check(relative, tiny), tmp_path, capsys, "model.path", "records hold plain text")


@pytest.mark.parametrize(
    ("file", "key", "value"),
    [("generation_config.json", "bos_token_id", 99999),
     ("generation_config.json", "bos_token_id", -7),
     ("config.json", "bos_token_id", 1_000_000_000)],
)  # fmt: skip
def test_one_special_id_outside_the_vocabulary_is_refused(file, key, value, tiny, tmp_path, capsys):  # noqa: F811
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    folder = _copy(tiny, tmp_path)
    path = folder / "model" / file
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(data))
    refused(_check(folder, tiny), tmp_path, capsys, file, key, str(value), "vocab_size")


# --- attack C: train ---


def test_a_block_longer_than_the_models_positions_is_refused_with_the_recipe(tmp_path, capsys):
    from tests.test_hostile_round18_tools import _train, _train_recipe

    path = _train_recipe(tmp_path, _train(block_size=200))  # positions: 64
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "tiny.yaml", "models.target.train.block_size", "200", "64")


def _damage_weights(ck):
    (ck / "model.safetensors").write_bytes((ck / "model.safetensors").read_bytes()[:100])


def _fifo_weights(ck):
    import os

    (ck / "model.safetensors").unlink()
    os.mkfifo(ck / "model.safetensors")


def _link_weights(ck):
    (ck / "model.safetensors").rename(ck / "w")
    (ck / "model.safetensors").symlink_to(ck / "w")


def _other_optimizer(ck):
    import torch

    torch.save({"state": {}, "param_groups": []}, ck / "optimizer.pt")


def _other_moments(ck):
    import torch

    state = torch.load(ck / "optimizer.pt", weights_only=True)
    for moments in state["state"].values():
        moments["exp_avg"] = torch.zeros(3, 3)
    torch.save(state, ck / "optimizer.pt")


def _no_optimizer(ck):
    (ck / "optimizer.pt").unlink()


@pytest.mark.parametrize(
    ("damage", "name"),
    [(_damage_weights, "model.safetensors"), (_fifo_weights, "model.safetensors"),
     (_link_weights, "model.safetensors"), (_other_optimizer, "optimizer.pt"),
     (_other_moments, "optimizer.pt"), (_no_optimizer, "optimizer.pt")],
    ids=["weights-cut", "weights-fifo", "weights-link", "optimizer-other", "moments-other",
         "optimizer-missing"],
)  # fmt: skip
def test_a_damaged_checkpoint_is_one_error_naming_its_file(tmp_path, damage, name):
    """A traceback (a cut or foreign file), a hang (a FIFO) or an errno with no field."""
    import torch

    from suite.distill.loop import TrainConfig, train
    from suite.distill.pretrain import lm_loss
    from tests.models import tiny_llama

    cfg = TrainConfig(max_steps=2, lr=1e-2, min_lr=1e-3, warmup_steps=0, batch_size=2)
    batch = torch.randint(0, 8, (2, 5))
    train(tiny_llama(), cfg, lambda s: batch, lm_loss, tmp_path / "ck", desc="t", stop_at=1)
    damage(tmp_path / "ck")
    with pytest.raises(SpecError) as err:
        train(tiny_llama(), cfg, lambda s: batch, lm_loss, tmp_path / "ck", desc="t")
    assert err.value.field == "checkpoint" and err.value.value == name, str(err.value)
    assert "delete the checkpoint folder" in str(err.value)


@pytest.mark.parametrize(
    ("extra", "field", "shown"),
    [({"study_cells": {"degradation": []}}, "study_cells.degradation", "does not name"),
     ({"study_claims": {"difficulty": [1, 1]}}, "study_claims.difficulty", "none twice"),
     ({"study_claims": {"difficulty": [10**30]}}, "study_claims.difficulty", "1 to 1000"),
     ({"study_titles": {"zzz": "t"}}, "study_titles.zzz", "does not name"),
     ({"studies": ["other"], "study_cells": {"difficulty": []}}, "study_cells.difficulty",
      "does not name"),
     ({"study_cells": {"difficulty": ["\x1b]0;pwned\x07"]}}, "study_cells.difficulty",
      "plain text")],
    ids=["cells-of-another", "claims-twice", "claim-huge", "title-of-another", "no-studies",
         "key-escape"],
)  # fmt: skip
def test_a_run_header_states_only_its_own_studies(extra, field, shown, tmp_path, capsys):
    """A header no run writes: claim 1 was decided on cells listed for a study it did not run."""
    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    header = json.loads((folder / "run.json").read_text())
    header.update(extra)
    (folder / "run.json").write_text(json.dumps(header))
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys, "run.json",
            field, shown)  # fmt: skip


@pytest.mark.parametrize(
    ("over", "field"),
    [({"parameters": -5}, "parameters"), ({"sha256": "not a hash\nsecond line"}, "sha256"),
     ({"training": {"seed": -1}}, "training.seed"),
     ({"training": {"kd_temperature": -3.0}}, "training.kd_temperature"),
     ({"training": {"method": "kd\nforged"}}, "training.method"),
     ({"draft": "sub-other"}, "draft"), ({"name": "x\ty"}, "name")],
    ids=["parameters", "sha256", "seed", "kd-temperature", "method-newline", "draft-other",
         "name-tab"],
)  # fmt: skip
def test_a_submission_json_a_submit_never_writes_is_refused(over, field, tmp_path, capsys):
    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    data = {"name": "x", "draft": "sub-x", "parameters": 5, "sha256": "a" * 64, "authors": ["A"],
            "training": {"seed": 1, "kd_temperature": 0.5, "method": "offline"}}  # fmt: skip
    (folder / "submission.json").write_text(json.dumps(data))  # the control
    from suite.submission_json import check_submission_json

    check_submission_json(folder / "submission.json", data)  # the control: as submit writes it
    for key, value in over.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    (folder / "submission.json").write_text(json.dumps(data))
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys,
            "submission.json", field)  # fmt: skip


def test_a_figure_of_long_names_is_drawn_without_a_warning():
    """A dataset of the longest legal name (128 characters) printed matplotlib's layout warning,
    source line and all, on a report's stderr."""
    import warnings

    import matplotlib.pyplot as plt

    from suite.report.plotting import png

    fig, axes = plt.subplots(2, 3, figsize=(6, 3), layout="constrained")
    for ax in axes.flat:
        ax.set_title("g" + "x" * 127)
        ax.set_ylabel("y" * 128)
        ax.plot([1, 2], [1, 2], label="z" * 128)
    fig.legend(loc="outside right")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert png(fig).startswith(b"\x89PNG")


# --- the nineteenth round's minor leftovers ---


@pytest.mark.parametrize("argv", [["--bundle", "", "verify", "--hashes-only"],
                                  ["verify", "--bundle=", "--hashes-only"]])  # fmt: skip
def test_an_empty_bundle_is_refused_not_read_as_the_default(argv, tmp_path, capsys):
    from suite.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "--bundle" in err, err
    assert "empty path" in err


def test_submissions_check_of_an_empty_path_is_refused(tmp_path, capsys):
    from tests.test_hostile_round18 import argument_refused

    argument_refused(["submissions", "check", ""], tmp_path, capsys, "expected a path")


def test_one_tau_dec_spelled_two_ways_is_refused_by_bundle_tables(tmp_path, capsys):
    bundle = tmp_path / "b"
    bundle.mkdir()
    entry = {"kind": "draft", "path": "fam/kd-x", "files": {"x": "0" * 64}, "method": "offline",
             "kd_temperature": 0.5, "acceptance": {"gsm8k": {"0.6": {"alpha": 0.5},
                                                             "0.60": {"alpha": 0.4}}}}  # fmt: skip
    (bundle / "MANIFEST.json").write_text(json.dumps({"artifacts": {"fam/kd-x": entry}}))
    argv = ["bundle-tables", "--reference", str(bundle)]
    refused(argv, tmp_path, capsys, "MANIFEST.json", "'0.60'", "written '0.6' elsewhere")


def test_train_without_only_makes_what_the_recipe_has(tmp_path, capsys, monkeypatch):
    """A recipe without models.draft: train named an --only nobody gave, and refused."""
    from suite.cli import main
    from tests.test_hostile_round18_tools import _train_recipe

    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    path = _train_recipe(tmp_path)  # a tokenizer (copied) and a target
    assert main(["train", "--recipe", path, "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["target", "tokenizer"]
