"""Inputs of the twenty-fifth attack, against the twenty-fourth round's fixes: optimizer states
of other settings, numbers that underflow in JSON and decimals at a bound, a manifest of a
bundle verify refuses, and a profile of another dtype resuming a results folder. Each case
failed on the commit before its fix."""

from __future__ import annotations

import json

import pytest

from suite.errors import SpecError
from tests.hostile import refused, restate_analytic
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_round24 import _resumable
from tests.test_submissions import scored, tiny  # noqa: F401 (fixtures)

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")


def _forge_optimizer(ckpt, edit) -> None:
    import torch

    state = torch.load(ckpt / "optimizer.pt", weights_only=True)
    edit(state)
    torch.save(state, ckpt / "optimizer.pt")


def _groups(**over):
    def edit(state):
        for group in state["param_groups"]:
            for key, value in over.items():
                if value is None:
                    del group[key]
                else:
                    group[key] = value

    return edit


def _steps(value):
    import torch

    def edit(state):
        for held in state["state"].values():
            held["step"] = torch.tensor(value)

    return edit


def _negative_second_moment(state):
    for held in state["state"].values():
        held["exp_avg_sq"].fill_(-1.0)


@pytest.mark.parametrize(
    ("edit", "shown"),
    [(_groups(weight_decay=1000.0), "weight_decay"), (_groups(betas=(0.0, 0.0)), "betas"),
     (_groups(eps=float("nan")), "eps"), (_groups(eps="x"), "eps"),
     (_groups(maximize=True), "maximize"), (_groups(betas=None), "betas"),
     (_steps(-1.0), "step count"), (_steps(0.5), "step count"), (_steps(7.0), "step count"),
     (_negative_second_moment, "negative second moment")],
    ids=["weight-decay", "betas", "eps-nan", "eps-text", "maximize", "no-betas", "step-negative",
         "step-fraction", "step-ahead", "second-moment-negative"],
)  # fmt: skip
def test_an_optimizer_state_resumes_with_this_runs_settings(edit, shown, tmp_path):
    resume, ckpt = _resumable(tmp_path)
    _forge_optimizer(ckpt, edit)
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        resume()
    assert err.value.path == ckpt / "optimizer.pt" and shown in str(err.value), str(err.value)


def test_an_optimizer_state_as_saved_resumes(tmp_path):
    """The control: the checkpoint as training saved it (its settings read back unchanged)."""
    resume, ckpt = _resumable(tmp_path)
    _forge_optimizer(ckpt, lambda state: None)
    assert resume()["steps"] == 2


@pytest.mark.parametrize("text", ["1e-400", "-2.5e-999", "0.1e-330"])
def test_a_json_number_below_the_smallest_float_is_refused(text):
    from suite.strict import loads_json

    with pytest.raises(ValueError, match="smallest float"):
        loads_json('{"kd_temperature": ' + text + "}")
    assert loads_json('{"a": 5e-324, "b": 0.0e5, "c": -0.0}') == {"a": 5e-324, "b": 0, "c": 0}


def test_a_command_line_temperature_is_bounded_as_written(tmp_path, capsys):
    from tests.test_hostile_round18 import argument_refused

    for text in ("0.0009999999999999999999", "100.00000000000000000001"):
        argv = ["bench", "--temperatures", text, "--out", str(tmp_path / "b")]
        argument_refused(argv, tmp_path, capsys, "--temperature", text)


def _bundle_of(tmp_path, **info):
    """A bundle folder: the tiny tokenizer and target, and a draft whose training.json is
    ``info`` over its true facts."""
    import shutil

    from tests.models import tiny_llama
    from tests.test_hostile_round18_tools import TOKENIZER

    root = tmp_path / "bundle"
    shutil.copytree(TOKENIZER, root / "fam" / "tokenizer")
    (root / "fam" / "tokenizer" / "training.json").write_text('{"artifact": "tokenizer"}')
    for role in ("target", "d1"):
        model = tiny_llama(vocab=300, hidden=16, layers=1, seed=1)
        model.save_pretrained(root / "fam" / role)
        facts = {"artifact": "target" if role == "target" else "draft",
                 "parameters": sum(p.numel() for p in model.parameters())}  # fmt: skip
        if role == "d1":
            facts |= info
        (root / "fam" / role / "training.json").write_text(json.dumps(facts))
    return root


@pytest.mark.parametrize(
    ("damage", "shown"),
    [("parameters", "parameters"), ("weights", "no .safetensors weights"),
     ("no-target", "no target")],
)  # fmt: skip
def test_manifest_refuses_a_bundle_verify_refuses(damage, shown, tmp_path, capsys):
    root = _bundle_of(tmp_path, **({"parameters": 5} if damage == "parameters" else {}))
    if damage == "weights":
        (root / "fam" / "d1" / "model.safetensors").unlink()
    if damage == "no-target":
        (root / "fam" / "target" / "training.json").unlink()
    argv = ["manifest", "--reference", str(root), "--cells", str(tmp_path / "cells")]
    refused(argv, tmp_path, capsys, shown)
    assert not (root / "MANIFEST.json").exists()


def _smoke_in(tmp_path, dtype: str):
    text = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    assert "dtype" not in text
    folder = tmp_path / dtype
    folder.mkdir()
    (folder / "smoke.yaml").write_text(text + f"dtype: {dtype}\n")
    return str(folder / "smoke.yaml")


def _run(profile: str, out) -> tuple[int, int]:
    """(cells, already done) of the difficulty study's analytic cells under ``profile``."""
    from suite.profiles import load_profile
    from suite.runner import run_plan
    from suite.studies import load_studies, plan_studies

    plan = plan_studies(load_studies(["difficulty"]), load_profile(profile), ("analytic",))
    report = run_plan(plan, out, progress=False)
    return report.cells, report.already_done


def test_a_profile_of_another_dtype_recomputes_the_records(tmp_path):
    """A profile file named smoke in bfloat16 kept every float32 record of a smoke folder."""
    out = tmp_path / "out"
    cells, done = _run("smoke", out)
    assert done == 0
    assert _run(_smoke_in(tmp_path, "float32"), out) == (cells, cells)  # the control: the same
    assert _run(_smoke_in(tmp_path, "bfloat16"), out) == (cells, 0)
    dtypes = {json.loads(line)["provenance"]["hardware"]["dtype"]
              for line in (out / "cells.jsonl").read_text().splitlines()}  # fmt: skip
    assert dtypes == {"bfloat16"}
    assert _run("smoke", out) == (cells, 0)


def test_a_report_refuses_records_of_two_dtypes(tmp_path, capsys):
    from pathlib import Path

    from tests.test_hostile_round18 import _analytic_folder

    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    path = folder / "cells.jsonl"
    record = json.loads(path.read_text())
    other = json.loads(json.dumps(record))
    other["cell"]["seed"] = 1
    other["key"] = other["key"].replace("/s0/", "/s1/")
    other["provenance"]["hardware"]["dtype"] = "bfloat16"
    restate_analytic(other)  # its interval, on seed 1's bootstrap stream
    path.write_text(json.dumps(record) + "\n" + json.dumps(other) + "\n")
    header = json.loads((folder / "run.json").read_text())
    header["study_cells"] = {header["studies"][0]: [record["key"], other["key"]]}
    (folder / "run.json").write_text(json.dumps(header))
    argv = ["report", str(folder), "--out", str(tmp_path / "rep")]
    refused(argv, tmp_path, capsys, "cells.jsonl", "provenance.hardware.dtype", "'bfloat16'")


# submissions and their results


def _model(value):
    def edit(data, folder):
        data["model"] = value

    return edit


@pytest.mark.parametrize(
    ("model", "shown"),
    [(".", "inside the submission"), ("model/", "inside the submission"),
     ("./model", "inside the submission"), ("other/folder", "its records scored the draft at"),
     ("meta-llama/Llama-3-8B@" + "a" * 40, "its records scored the draft at")],
    ids=["itself", "trailing-slash", "dot-prefix", "another-folder", "a-hub-model"],
)  # fmt: skip
def test_a_submission_jsons_model_is_the_one_its_records_scored(
    model,
    shown,
    scored,  # noqa: F811
    tmp_path,
    capsys,
):
    from tests.test_hostile_round23 import _report_of

    argv = _report_of(scored, tmp_path, _model(model))
    refused(argv, tmp_path, capsys, "submission.json", "'model'", shown)


def test_a_model_folder_named_with_a_colon_is_a_relative_path(tiny, tmp_path):  # noqa: F811
    """``v:1`` was refused as an absolute (Windows drive) path; on POSIX it is a plain name."""
    from suite.cli import main
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy, _edit

    folder = _copy(tiny, tmp_path)
    (folder / "model").rename(folder / "v:1")
    _edit(folder, model={"path": "v:1"})
    assert main(_check(folder, tiny)) == 0


def test_a_submissions_seed_may_be_a_whole_exponent_number(tiny, tmp_path):  # noqa: F811
    from suite.cli import main
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy, _edit

    folder = _copy(tiny, tmp_path)
    _edit(folder, training={"method": "offline", "kd_temperature": 0.5, "data": "x",
                            "seed": 1e3})  # fmt: skip
    assert main(_check(folder, tiny)) == 0


@pytest.mark.parametrize("planted", [".model.tmp", "model"])
def test_make_example_writes_nothing_through_a_planted_link(planted, tmp_path):
    from suite.submit import make_example

    target = tmp_path / "example" / "model"
    target.parent.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "sentinel.txt").write_text("keep")
    (target.parent / planted).symlink_to(victim)
    with pytest.raises(SpecError, match="a link or file where"):
        make_example(target=target)
    assert sorted(p.name for p in victim.iterdir()) == ["sentinel.txt"]
    assert sorted(p.name for p in target.parent.iterdir()) == [planted]


def test_make_example_weights_take_the_umask(tmp_path):
    import os
    import stat

    from suite.submit import make_example

    old = os.umask(0o022)
    try:
        target = make_example(target=tmp_path / "model")
    finally:
        os.umask(old)
    assert stat.S_IMODE((target / "model.safetensors").stat().st_mode) == 0o644
    assert not (tmp_path / ".model.tmp").exists()


def test_an_emptied_optimizer_state_is_refused(tmp_path):
    """A step-1 checkpoint whose moments were removed resumed with fresh ones."""
    resume, ckpt = _resumable(tmp_path)
    _forge_optimizer(ckpt, lambda state: state.update(state={}))
    with pytest.raises(SpecError, match="moments for 0 of the"):
        resume()


def test_a_checkpoint_resumes_only_under_its_training_settings(tmp_path):
    """A recipe whose lr changed under the same name resumed the checkpoint of the old lr."""
    import dataclasses

    import torch

    from suite.distill.loop import TrainConfig, train
    from suite.distill.pretrain import lm_loss
    from tests.models import tiny_llama

    cfg = TrainConfig(max_steps=2, lr=1e-2, min_lr=1e-3, warmup_steps=0, batch_size=2)
    batch = torch.randint(0, 8, (2, 5))

    def run(config, stop_at=None):
        return train(tiny_llama(), config, lambda s: batch, lm_loss, tmp_path / "ck", desc="t",
                     stop_at=stop_at)  # fmt: skip

    run(cfg, stop_at=1)
    state = json.loads((tmp_path / "ck" / "state.json").read_text())
    assert state["train"]["lr"] == 1e-2
    with pytest.raises(SpecError, match=r"the recipe now says 0\.5") as err:
        run(dataclasses.replace(cfg, lr=0.5))
    assert err.value.field == "train.lr"
    assert run(dataclasses.replace(cfg, log_every=1))["steps"] == 2  # not a training setting


def test_a_checkpoint_file_larger_than_its_model_is_not_read(tmp_path):
    """A sparse 20 GiB model.safetensors of a tiny model: refused by its size, unread."""
    resume, ckpt = _resumable(tmp_path)
    with open(ckpt / "model.safetensors", "r+b") as fh:
        fh.truncate(20 << 30)
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        resume()
    assert "not a regular file of at most" in str(err.value), str(err.value)


@pytest.mark.parametrize("name", ["-", "_x", "a" * 65])
def test_a_recipe_name_is_refused_with_its_whole_rule(name, tmp_path, capsys):
    from tests.test_hostile_round18_tools import _train, _train_recipe

    path = _train_recipe(tmp_path, _train())
    from pathlib import Path

    text = Path(path).read_text()
    assert "name: tiny" in text
    Path(path).write_text(text.replace("name: tiny", f"name: '{name}'", 1))
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "'name'", "1 to 64", "starting with a letter or digit")
