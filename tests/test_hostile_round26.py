"""Inputs of the twenty-sixth attack, against the twenty-fifth round's fixes: a submission.json
naming another model than its records scored, a results folder scoring one draft with two
models, and make-example's number options. Each case failed on the commit before its fix."""

from __future__ import annotations

import json

import pytest

from tests.hostile import refused
from tests.test_hostile_round23 import _report_of
from tests.test_submissions import scored, tiny  # noqa: F401 (fixtures)

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")


def _model(value):
    def edit(data, folder):
        data["model"] = value

    return edit


@pytest.mark.parametrize(
    "model",
    ["evil/not-really-hub@" + "0" * 40, "tiny-draft/model"],
    ids=["hub-for-a-local-folder", "its-name-twice"],
)
def test_a_submission_jsons_model_names_the_submissions_own_folder(
    model,
    scored,  # noqa: F811
    tmp_path,
    capsys,
):
    argv = _report_of(scored, tmp_path, _model(model))
    refused(argv, tmp_path, capsys, "submission.json", "'model'", "its records scored")


def test_a_hub_models_records_name_its_commits_folder():
    from suite.report.render import _scored_from

    commit = "a" * 40
    assert _scored_from(f"o/n@{commit}", f"/home/u/.cache/suite/submissions/x/{commit}", "x")
    assert not _scored_from(f"o/n@{commit}", f"/tmp/subs/y/{commit}", "x")
    assert _scored_from("model", "/tmp/subs/x/model", "x")
    assert not _scored_from("x/model", "/tmp/subs/x/model", "x")


def test_a_local_model_folder_named_like_a_commit_is_refused(tiny, tmp_path, capsys):  # noqa: F811
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy, _edit

    folder = _copy(tiny, tmp_path)
    name = "0123456789abcdef0123456789abcdef01234567"
    (folder / "model").rename(folder / name)
    _edit(folder, model={"path": name})
    refused(_check(folder, tiny), tmp_path, capsys, "model.path", "like a commit")


def _two_models(role: str, draft: str | None):
    """Every other record of ``draft`` (all records: None) names another model in ``role``."""

    def edit(data, folder):
        path = folder / "cells.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        mine = [r for r in records if draft is None or r["cell"]["draft"] == draft]
        for record in mine[::2]:
            record["provenance"]["models"][role] = {"location": "elsewhere/x", "sha256": "f" * 64}
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        data["sha256"] = None

    return edit


@pytest.mark.parametrize(
    ("role", "draft"),
    [("draft", "sub-tiny-draft"), ("draft", "base"), ("target", None), ("tokenizer", None)],
    ids=["the-submitted-draft", "a-bundled-draft", "the-target", "the-tokenizer"],
)
def test_one_model_in_each_role_of_a_results_folder(role, draft, scored, tmp_path, capsys):  # noqa: F811
    argv = _report_of(scored, tmp_path, _two_models(role, draft))
    refused(argv, tmp_path, capsys, "cells.jsonl", f"provenance.models.{role}", "another")


@pytest.mark.parametrize(
    ("argv", "shown"),
    [(["--noise", "١١"], "--noise"), (["--noise", "1_1"], "--noise"),
     (["--seed", "1267650600228229401496703205376"], "--seed"), (["--seed", "-1"], "--seed")],
    ids=["noise-digits", "noise-underscore", "seed-huge", "seed-negative"],
)  # fmt: skip
def test_make_examples_numbers_are_refused_as_options(argv, shown, tmp_path, capsys):
    from tests.test_hostile_round18 import argument_refused

    argument_refused(["submissions", "make-example", *argv], tmp_path, capsys, shown, argv[1])


# checkpoints, the bundle's manifest and task templates


def _moment(change):
    def edit(state):
        first = next(iter(state["state"].values()))
        change(first)

    return edit


@pytest.mark.parametrize(
    "change",
    [lambda m: m.update(exp_avg=__import__("torch").tensor(0.0)),
     lambda m: m.update(exp_avg_sq=__import__("torch").tensor(0.0)),
     lambda m: m.pop("exp_avg_sq"), lambda m: m.pop("exp_avg"),
     lambda m: m.update(exp_avg=[1.0]), lambda m: m.update(extra=1.0)],
    ids=["scalar-first-moment", "scalar-second-moment", "no-second-moment", "no-first-moment",
         "a-list", "an-extra-entry"],
)  # fmt: skip
def test_each_parameters_moments_are_its_own(change, tmp_path):
    from suite.errors import SpecError
    from tests.test_hostile_round24 import _resumable
    from tests.test_hostile_round25 import _forge_optimizer

    resume, ckpt = _resumable(tmp_path)
    _forge_optimizer(ckpt, _moment(change))
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        resume()
    assert err.value.path == ckpt / "optimizer.pt", str(err.value)


def test_training_settings_are_compared_with_their_types(tmp_path):
    from suite.errors import SpecError
    from tests.test_hostile_round24 import _resumable

    resume, ckpt = _resumable(tmp_path)
    state = json.loads((ckpt / "state.json").read_text())
    state["train"]["seed"] = False
    (ckpt / "state.json").write_text(json.dumps(state))
    with pytest.raises(SpecError) as err:
        resume()
    assert err.value.field == "train.seed", str(err.value)


def test_manifest_finds_a_familys_target_in_its_target_folder(tmp_path, capsys):
    from tests.test_hostile_round25 import _bundle_of

    root = _bundle_of(tmp_path)
    (root / "fam" / "target").rename(root / "fam" / "tgt")
    argv = ["manifest", "--reference", str(root), "--cells", str(tmp_path / "cells")]
    refused(argv, tmp_path, capsys, "training.json", "'artifact'", "its folder 'target'")


@pytest.mark.parametrize(
    ("facts", "shown"),
    [({"method": "offline", "kd_temperature": 0.5, "dataset": "gsm8k", "seed": 7}, "dataset"),
     ({"parameters": 12208.0}, "parameters")],
    ids=["kd-facts-added", "parameters-a-float"],
)  # fmt: skip
def test_verify_compares_the_manifests_facts_with_training_json(facts, shown, tmp_path):
    from suite.bundle import artifact_files, verify
    from suite.manifest import _read_artifacts, write_manifest
    from tests.test_hostile_round25 import _bundle_of

    root = _bundle_of(tmp_path)
    artifacts = _read_artifacts(root)
    for entry in artifacts.values():
        entry["files"] = artifact_files(root / entry["path"])
    write_manifest({"artifacts": artifacts}, root)
    assert verify(root, load=False) == []  # the control: as manifest writes it
    artifacts["fam/d1"].update(facts)
    write_manifest({"artifacts": artifacts}, root)
    (problem,) = verify(root, load=False)
    assert "fam/d1" in problem and shown in problem and "training.json" in problem, problem


@pytest.mark.parametrize("template", ["{{ ID.upper }}", "{{ ID['split'] }}", "{{ Body.format }}"])
def test_a_template_prints_fields_not_methods(template, tmp_path, capsys):
    from tests.test_hostile_inputs_more import REPO

    text = (REPO / "tasks" / "svamp.yaml").read_text()
    assert "id: '{{ ID }}'" in text
    (tmp_path / "t").mkdir()
    spec = text.replace("id: '{{ ID }}'", 'id: "' + template + '"')
    (tmp_path / "t" / "svamp.yaml").write_text(spec)
    argv = ["tasks", "svamp", "--show", "1", "--tasks-dir", str(tmp_path / "t")]
    refused(argv, tmp_path, capsys, "svamp.yaml", "is a method, not a field")


@pytest.mark.parametrize(
    ("model_args", "shown"),
    [(["target=t,temperature=1e-400"], "temperature='1e-400'"),
     (["--model_args=target=t,seed=١"], "seed='١'"),
     (["target=t", "num_draft_tokens=1_0"], "num_draft_tokens='1_0'")],
    ids=["underflow", "joined-digit", "space-separated"],
)  # fmt: skip
def test_lm_eval_runs_model_args_are_read_as_written(model_args, shown, tmp_path, capsys):
    """lm-eval's own run parses --model_args into a dict (1e-400 becomes 0.0) before specdec
    sees them: they are read as written first, and nothing runs."""
    joined = model_args[0].startswith("--")
    argv = ["lm-eval", "run", "--model", "specdec",
            *(model_args if joined else ["--model_args", *model_args]),
            "--tasks", "x", "--output_path", str(tmp_path / "o")]  # fmt: skip
    refused(argv, tmp_path, capsys, "model_args", shown)


def test_calibrate_states_each_profile_and_claim_once(tmp_path, capsys):
    """A claim or profile listed twice is refused as the command line is read (it was stated
    once; every option of several values now lists each value once)."""
    from suite.cli import main

    for listed in (["--claims", "1", "1"], ["--profiles", "quick", "quick"]):
        argv = ["calibrate", *listed, "--n-sim", "1", "--out", str(tmp_path / "cal")]
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and f"{listed[0]} " in err and "listed twice" in err, err
    assert not (tmp_path / "cal").exists()
    argv = ["calibrate", "--claims", "1", "--profiles", "quick", "--n-sim", "1",
            "--out", str(tmp_path / "cal")]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    written = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert written["profiles"] == ["quick"], written["profiles"]
