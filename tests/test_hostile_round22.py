"""Inputs of the twenty-second attack, against the twenty-first round's fixes: KD data caches
of another shape, checkpoint folders and states that are links, a bundle's model of 0
parameters, a submission.json that contradicts its own results, and KD temperatures no recipe
makes. Each case failed on the commit before its fix."""

from __future__ import annotations

import json

import pytest

from suite.errors import SpecError
from tests.hostile import refused
from tests.test_hostile_round21 import _bundle, _kd_cache
from tests.test_submissions import tiny  # noqa: F401 (a fixture)

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")


def _responses_number(d):
    d["responses"] = 5


def _one_forged(d):
    d.update(responses=[[5]], prompt_index=[0], temperatures=[0.5])


def _none(d):
    d.update(responses=[], prompt_index=[], temperatures=[])


def _reordered(d):
    d["prompt_index"] = list(reversed(d["prompt_index"]))


@pytest.mark.parametrize(
    ("damage", "field"),
    [(_responses_number, "responses"), (_one_forged, "(document)"), (_none, "(document)"),
     (_reordered, "prompt_index")],
    ids=["responses-number", "fewer", "empty", "reordered"],
)  # fmt: skip
def test_a_kd_cache_holds_every_response_the_request_makes(tmp_path, damage, field):
    _, final, again = _kd_cache(tmp_path)
    data = json.loads(final.read_text())
    damage(data)
    final.write_text(json.dumps(data))
    with pytest.raises(SpecError) as err:
        again()
    assert "to sample the data again" in str(err.value), str(err.value)
    assert err.value.field in (field, "responses"), str(err.value)


def _trained(tmp_path):
    import torch

    from suite.distill.loop import TrainConfig, train
    from suite.distill.pretrain import lm_loss
    from tests.models import tiny_llama

    cfg = TrainConfig(max_steps=2, lr=1e-2, min_lr=1e-3, warmup_steps=0, batch_size=2)
    batch = torch.randint(0, 8, (2, 5))
    train(tiny_llama(), cfg, lambda s: batch, lm_loss, tmp_path / "ck", desc="t", stop_at=1)
    return lambda: train(tiny_llama(), cfg, lambda s: batch, lm_loss, tmp_path / "ck", desc="t")


def test_a_dangling_state_link_is_refused_not_a_fresh_start(tmp_path):
    resume = _trained(tmp_path)
    state = tmp_path / "ck" / "state.json"
    state.unlink()
    state.symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(SpecError, match="symbolic link"):
        resume()
    assert state.is_symlink()  # not replaced by a fresh start


def test_a_checkpoint_folder_that_is_a_link_is_refused(tmp_path):
    resume = _trained(tmp_path)
    (tmp_path / "ck").rename(tmp_path / "elsewhere")
    (tmp_path / "ck").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SpecError, match="symbolic link"):
        resume()


def test_bundle_tables_refuses_a_model_of_no_parameters(tmp_path, capsys):
    def none(artifacts, copy):
        artifacts["llama/target"]["parameters"] = 0

    refused(_bundle(tmp_path, none), tmp_path, capsys, "MANIFEST.json", "parameters")


def test_fetch_says_a_sha256_is_lower_case(tmp_path, capsys):
    from suite.cli import main

    (tmp_path / "s.yaml").write_text(
        f"files:\n  - path: x.txt\n    url: https://127.0.0.1:1/x.txt\n    sha256: {'A' * 64}\n"
    )
    assert main(["fetch", str(tmp_path / "d"), "--sources", str(tmp_path / "s.yaml")]) == 2
    assert "lower-case" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("training", "field"),
    [({"kd_temperatures": [0.5, 0.5], "recipe": True}, "kd_temperatures[1]"),
     ({"kd_temperatures": [0.5, 0.5000000001], "recipe": True}, "kd_temperatures[1]"),
     ({"kd_temperature": 1.5e-4}, "kd_temperature")],
    ids=["twice", "twice-rounded", "below-minimum"],
)  # fmt: skip
def test_a_submissions_kd_temperatures_are_recipes(training, field, tiny, tmp_path, capsys):  # noqa: F811
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy, _edit

    folder = _copy(tiny, tmp_path)
    _edit(folder, training={"method": "offline", "kd_temperature": None, "data": "x", **training})
    refused(_check(folder, tiny), tmp_path, capsys, "submission.yaml", field)


@pytest.mark.parametrize(
    ("over", "field", "shown"),
    [({}, "draft", "no record of this folder scores this draft"),
     ({"profile": "quick"}, "profile", "run.json names profile 'smoke'"),
     ({"model": "/etc"}, "model", "inside the submission"),
     ({"model": "../../etc"}, "model", "inside the submission")],
    ids=["draft-not-scored", "profile", "model-absolute", "model-up"],
)  # fmt: skip
def test_a_submission_json_agrees_with_its_results(over, field, shown, tmp_path, capsys):
    from pathlib import Path

    from tests.test_hostile_round18 import _analytic_folder

    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    data = {"name": "x", "draft": "sub-x", "target": "llama", "model": "model", **over}
    (folder / "submission.json").write_text(json.dumps(data))
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys,
            "submission.json", field, shown)  # fmt: skip


def test_a_models_train_field_is_named_with_its_model(tmp_path, capsys):
    from tests.test_hostile_round18_tools import _train, _train_recipe

    path = _train_recipe(tmp_path, _train(lr=float("nan")))
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "tiny.yaml", "'models.target.train.lr'")
