"""Inputs of the seventeenth attack, against the sixteenth round's fixes: empirical records whose
counts were dropped or zeroed to pass the count check, a KD grid cap that counted the wrong
lists, a train recipe's dataset that is not a name, output names held by a folder in ``bench``
and ``quality``, newlines in a manifest's names and a task's license, a bad ``train --out``,
decode temperatures past the profiles' ceiling on the command line, and a ``.gitkeep`` in an
``--out`` folder. Each case failed on the commit before its fix."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from suite.cli import main
from tests.hostile import refused
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_round14_results import STUDY
from tests.test_hostile_round16 import _forged, empirical  # noqa: F401 (a fixture)

RECIPES = REPO / "reference" / "recipes"


def _drop_counts(result):
    p = result["per_prompt"][0]
    for key in ("steps", "proposed", "accepted", "judged", "proposed_per_position",
                "accepted_per_position"):  # fmt: skip
        p.pop(key, None)
    p["acceptance_rate"] = p["judged_acceptance_rate"] = 1.0


def _zero_counts(result):
    p = result["per_prompt"][0]
    for key in ("steps", "proposed", "accepted", "judged"):
        p[key] = 0
    p["proposed_per_position"] = p["accepted_per_position"] = [0] * len(p["proposed_per_position"])
    p["acceptance_rate"] = p["judged_acceptance_rate"] = 1.0


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(_drop_counts, "per_prompt[0].steps", "missing"),
     (_zero_counts, "per_prompt[0].acceptance_rate", "expected null")],
    ids=["counts-dropped", "counts-zeroed"],
)  # fmt: skip
@pytest.mark.usefixtures("hand_made_plan")  # a folder of a study file of its own
def test_an_empirical_record_cannot_shed_its_counts(empirical, tmp_path, capsys, edit, field,  # noqa: F811
                                                    shown):  # fmt: skip
    folder = _forged(empirical, tmp_path, edit)
    refused(["report", folder], tmp_path, capsys, "cells.jsonl", field, shown)


def _kd_recipe(tmp_path, **over) -> str:
    recipe = yaml.safe_load((RECIPES / "kd-llama.yaml").read_text()) | over
    path = tmp_path / "kd.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def test_the_kd_grid_cap_counts_the_grid_listed(tmp_path, capsys):
    taus = [round(0.01 * i, 2) for i in range(1, 1001)]
    path = _kd_recipe(tmp_path, kd_temperatures=taus, seeds=list(range(10)),
                      full_grid_kd_temperatures=[0.0])  # fmt: skip
    argv = ["distill", "--recipe", path, "--out", str(tmp_path / "d"), "--list"]
    refused(argv, tmp_path, capsys, "kd.yaml", "seeds", "drafts")


def test_recipe_temperatures_make_one_draft_each_not_one_per_temperature(tmp_path, capsys):
    mix = [round(0.01 * i, 2) for i in range(1, 901)]
    path = _kd_recipe(tmp_path, recipe_temperatures=mix)
    argv = ["distill", "--recipe", path, "--out", str(tmp_path / "d"), "--list"]
    assert main(argv) == 0, capsys.readouterr().err


def test_a_train_dataset_that_is_not_a_name_is_refused(tmp_path, capsys):
    recipe = yaml.safe_load((RECIPES / "llama.yaml").read_text())
    recipe["datasets"] = [{"gsm8k": 1}, "alpaca"]
    path = tmp_path / "llama.yaml"
    path.write_text(yaml.safe_dump(recipe))
    argv = ["train", "--recipe", str(path), "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "llama.yaml", "datasets[0]", "unknown task")


def test_train_names_an_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "out").write_text("")
    argv = ["train", "--recipe", str(RECIPES / "llama.yaml"), "--out", str(tmp_path / "out"),
            "--only", "tokenizer"]  # fmt: skip
    refused(argv, tmp_path, capsys, "--out", "not a folder")


def test_bench_and_quality_check_their_output_names_first(tmp_path, capsys):
    (tmp_path / "b" / "latest.json").mkdir(parents=True)
    argv = ["bench", "--out", str(tmp_path / "b"), "--prompts", "1"]
    refused(argv, tmp_path, capsys, "latest.json", "not a file")
    (tmp_path / "q").write_text("")
    argv = ["quality", "--limit", "1", "--temperatures", "1.0", "--out", str(tmp_path / "q")]
    refused(argv, tmp_path, capsys, "--out", "not a folder")


@pytest.mark.parametrize("command", ["generate", "bench"])
def test_a_command_line_temperature_past_the_ceiling_is_refused(tmp_path, capsys, command):
    if command == "generate":
        target = str(REPO / "reference" / "llama" / "target")
        argv = ["generate", "--target", target, "--temperature", "1000", "--max-new-tokens", "2",
                "hi"]  # fmt: skip
    else:
        argv = ["bench", "--temperatures", "1000", "--out", str(tmp_path / "b")]
    from tests.test_hostile_round18 import argument_refused  # an option's value: argparse's error

    argument_refused(argv, tmp_path, capsys, "--temperature", "'1000'", "to 100")


def test_bundle_tables_refuses_a_name_that_would_print_a_row(tmp_path, capsys):
    from suite.bundle_tables import check_table_fields
    from suite.errors import SpecError

    manifest = json.loads((REPO / "reference" / "MANIFEST.json").read_text())
    check_table_fields(manifest, tmp_path / "MANIFEST.json")  # the control: the bundle's own
    name = next(iter(manifest["artifacts"]))
    manifest["artifacts"][name + "\n| forged | row |"] = manifest["artifacts"].pop(name)
    with pytest.raises(SpecError, match="no control character"):
        check_table_fields(manifest, tmp_path / "MANIFEST.json")


def test_the_tasks_listing_escapes_a_license(tmp_path, capsys):
    tasks = tmp_path / "tasks"
    shutil.copytree(REPO / "tasks", tasks, ignore=shutil.ignore_patterns("studies", "profiles"))
    path = tasks / "gsm8k.yaml"
    text = path.read_text()
    old = next(line for line in text.splitlines() if line.startswith("license:"))
    path.write_text(text.replace(old, 'license: "MIT\\nforged   row"'))
    assert main(["tasks", "--tasks-dir", str(tasks)]) == 0
    out = capsys.readouterr().out
    assert "MIT\\nforged" in out and "\nforged" not in out


def test_a_folder_holding_only_a_gitkeep_is_an_empty_one(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / ".gitkeep").write_text("")
    study = tmp_path / "s.yaml"
    study.write_text(STUDY)
    argv = ["run", "--profile", "smoke", "--quiet", "--out", str(out), str(study)]
    assert main(argv) == 0, capsys.readouterr().err


def test_a_load_failure_of_any_kind_is_one_line(tmp_path, capsys):
    """Llama 3's frequency bands divide by ``low_freq_factor``: 0 gave a 64-line
    ZeroDivisionError at load; it is refused with the config, and any other failure of
    transformers at load is one line naming the folder."""
    from suite.config_values import config_value_field
    from suite.models import _load_error

    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 0.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64, "rope_theta": 10000.0}  # fmt: skip
    assert config_value_field({"rope_parameters": rope})[0] == "rope_parameters.low_freq_factor"
    err = _load_error(tmp_path, ZeroDivisionError("float division by zero"))
    assert "does not load: ZeroDivisionError" in str(err) and "\n" not in str(err)


def test_a_hard_linked_file_is_sniffed_once_and_sniffing_is_bounded(tmp_path, monkeypatch):
    from suite import submission_files
    from suite.errors import SpecError

    calls = []
    real = submission_files.pickles
    monkeypatch.setattr(submission_files, "pickles", lambda ps: calls.extend(ps) or real(ps))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.dat").write_bytes(b"N" * 4096)
    for i in range(20):
        (folder / f"l{i}.dat").hardlink_to(folder / "a.dat")
    files = submission_files.model_files(folder, tmp_path, "model.path")
    assert len(files) == 21 and len(calls) == 1
    monkeypatch.setattr(submission_files, "MAX_SNIFFED_BYTES", 100)
    (folder / "b.dat").write_bytes(b"N" * 4096)
    with pytest.raises(SpecError, match="bytes of files to read as pickles"):
        submission_files.model_files(folder, tmp_path, "model.path")


def test_a_submission_stating_no_eos_is_compared_with_its_default(tmp_path):
    """transformers fills in a Llama config's eos_token_id (2); the target's is 0."""
    from suite.errors import SpecError
    from suite.profiles import load_profile
    from suite.strict import read_config
    from suite.submissions import _same_vocab_size

    folder = tmp_path / "model"
    shutil.copytree(REPO / "reference" / "llama" / "draft", folder)
    config = read_config(folder / "config.json")
    config.pop("eos_token_id", None)
    (folder / "config.json").write_text(json.dumps(config))
    family = load_profile("smoke").models["llama"]
    with pytest.raises(SpecError) as err:
        _same_vocab_size(folder, config, family, "llama")
    assert err.value.field == "eos_token_id"


@pytest.mark.parametrize(
    ("value", "shown"),
    [({"tool_use": "x", "rag": "y"}, "without a 'default'"),
     ([{"name": f"t{i}", "template": "x"} for i in range(17)], "at most 16")],
    ids=["no-default", "too-many"],
)  # fmt: skip
def test_named_chat_templates_need_a_default_and_a_bound(value, shown):
    from suite.sandbox import chat_template_refusal

    assert shown in chat_template_refusal(value)
    assert chat_template_refusal({"default": "x", "tool_use": "y"}) is None  # the control


def test_a_bundle_may_link_its_generation_config(tmp_path):
    from suite.models import check_weights_folder

    draft = tmp_path / "draft"
    shutil.copytree(REPO / "reference" / "llama" / "draft", draft)
    (tmp_path / "gen.json").write_text((draft / "generation_config.json").read_text())
    (draft / "generation_config.json").unlink()
    (draft / "generation_config.json").symlink_to(tmp_path / "gen.json")
    assert check_weights_folder(draft) == draft
