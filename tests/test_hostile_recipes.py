"""Hostile KD recipes (``python -m suite distill --recipe PATH --list``): each is refused with exit
status 2, naming the file, the field and the value, with no traceback and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from suite.cli import main
from tests.hostile import refused

RECIPE = Path(__file__).resolve().parents[1] / "reference" / "recipes" / "kd-llama.yaml"
GOOD = yaml.safe_load(RECIPE.read_text())


def _with(**over) -> dict:
    return GOOD | over


def _train(**over) -> dict:
    return GOOD | {"train": GOOD["train"] | over}


# (id, recipe, field, value)
CASES = [
    ("tau-twice", _with(kd_temperatures=[0.4, 0.4]), "kd_temperatures[1]", "0.4"),
    ("tau-same-name", _with(kd_temperatures=[0.4, 0.404]), "kd_temperatures[1]", "0.404"),
    ("tau-named-greedy", _with(kd_temperatures=[0.0, 0.001]), "kd_temperatures[1]", "0.001"),
    ("tau-nearly-two-decimals", _with(kd_temperatures=[0.0, 0.4000000005]), "kd_temperatures[1]",
     "0.4000000005"),
    ("tau-huge", _with(kd_temperatures=[0.0, 1e250]), "kd_temperatures[1]", "1e+250"),
    ("tau-nan", _with(kd_temperatures=[float("nan")]), "kd_temperatures[0]", "nan"),
    ("tau-inf", _with(full_grid_kd_temperatures=[float("inf")]), "full_grid_kd_temperatures[0]",
     "inf"),
    ("tau-recipe-nan", _with(recipe_temperatures=[float("nan")]), "recipe_temperatures[0]", "nan"),
    ("tau-recipe-zero", _with(recipe_temperatures=[0.0]), "recipe_temperatures[0]", "0.0"),
    ("tau-negative-zero", _with(kd_temperatures=[-0.0, 0.4]), "kd_temperatures[0]", "-0.0"),
    ("tau-tiny", _with(kd_temperatures=[1e-39]), "kd_temperatures[0]", "1e-39"),
    ("tau-bool", _with(kd_temperatures=[True]), "kd_temperatures[0]", "True"),
    ("seed-negative", _with(seed=-5), "seed", "-5"),
    ("seed-huge", _with(seeds=[10**90 - 1]), "seeds", "999"),
    ("seeds-bool", _with(seeds=[0, True]), "seeds", "True"),
    ("methods-int", _with(methods=5), "methods", "5"),
    ("methods-dict", _with(methods={"offline": 1}), "methods", "offline"),
    ("methods-twice", _with(methods=["offline", "offline"]), "methods[1]", "offline"),
    ("models-string", _with(models="target base_draft tokenizer"), "models", "target base"),
    ("models-escape", _with(models=GOOD["models"] | {"target": "../x"}), "models.target", "../x"),
    ("datasets-unknown", _with(datasets=["nosuchdataset"]), "datasets[0]", "nosuchdataset"),
    ("datasets-path", _with(datasets=["../../x"]), "datasets[0]", "../../x"),
    ("datasets-twice", _with(datasets=["gsm8k", "gsm8k"]), "datasets[1]", "gsm8k"),
    ("divergence-list", _with(divergence=["forward_kl"]), "divergence", "forward_kl"),
    ("samples-huge", _with(offline=GOOD["offline"] | {"samples_per_prompt": 10**9}),
     "offline.samples_per_prompt", "1000000000"),
    ("prompts-zero", _with(prompts=GOOD["prompts"] | {"per_dataset": 0}), "prompts.per_dataset",
     "0"),
    ("train-int", _with(train=5), "train", "5"),
    ("train-missing", _with(train={"lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 1}),
     "train.max_steps", "None"),
    ("train-lr-string", _train(lr="fast"), "train.lr", "fast"),
    ("train-lr-nan", _train(lr=float("nan")), "train.lr", "nan"),
    ("train-log-every-zero", _train(log_every=0), "train.log_every", "0"),
    ("train-steps-float", _train(max_steps=1.5), "train.max_steps", "1.5"),
    ("name-traversal", _with(name="../escaped-by-recipe-name"), "name", "../escaped"),
    ("name-absolute", _with(name="/tmp/x"), "name", "/tmp/x"),
    ("name-upper", _with(name="KD"), "name", "KD"),
    ("unknown-field", _with(run="rm -rf /"), "run", "rm -rf"),
]  # fmt: skip


def _run(tmp_path, data) -> list[str]:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return ["distill", "--recipe", str(path), "--out", str(tmp_path / "out"), "--list"]


def test_the_good_recipe_lists_its_drafts(tmp_path, capsys):
    assert main(_run(tmp_path, GOOD)) == 0
    assert "kd-offline-gsm8k-t0.4-s0" in capsys.readouterr().out


@pytest.mark.parametrize(("data", "field", "value"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_a_hostile_recipe_is_refused_naming_file_field_and_value(
    tmp_path, capsys, data, field, value
):
    refused(_run(tmp_path, data), tmp_path, capsys, "recipe.yaml", f"'{field}'", value)


def test_a_pretraining_recipe_name_cannot_leave_the_checkpoint_root(tmp_path):
    from suite.distill.pretrain import load_recipe
    from suite.errors import SpecError

    raw = yaml.safe_load((RECIPE.parent / "llama.yaml").read_text()) | {"name": "../../x"}
    path = tmp_path / "llama.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as err:
        load_recipe(path)
    assert err.value.field == "name" and err.value.value == "../../x"


@pytest.mark.parametrize("seed", [2**64, -1, 1.5, True])
def test_a_pretraining_recipe_seed_has_a_ceiling(tmp_path, seed):
    from suite.distill.pretrain import load_recipe
    from suite.errors import SpecError

    raw = yaml.safe_load((RECIPE.parent / "llama.yaml").read_text())
    path = tmp_path / "llama.yaml"
    path.write_text(yaml.safe_dump(raw | {"seed": seed}))
    with pytest.raises(SpecError) as err:
        load_recipe(path)
    assert err.value.field == "seed" and err.value.value == seed
    assert "[0, 4,294,967,296)" in str(err.value)
    path.write_text(yaml.safe_dump(raw | {"seed": 2**32 - 1}))  # the largest seed is read
    assert load_recipe(path)["seed"] == 2**32 - 1


def test_an_align_stage_name_cannot_leave_the_checkpoint_root(tmp_path, monkeypatch):
    from suite.distill import pretrain
    from suite.errors import SpecError

    raw = yaml.safe_load((RECIPE.parent / "llama.yaml").read_text())
    role = next(r for r, spec in raw["models"].items() if "align" in spec)
    raw["models"][role]["align"]["from"] = "../../planted"
    path = tmp_path / "llama.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    with pytest.raises(SpecError) as err:
        pretrain.run_model(pretrain.load_recipe(path), role, tmp_path / "out")
    assert err.value.field == f"models.{role}.align.from" and err.value.value == "../../planted"
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "planted").exists()
