"""Inputs of the thirtieth attack, against the twenty-ninth round's fixes: a bundled config of a
larger model than its weights, a last manifest whose carried-over measurements no build makes,
a null in a table's field, and lm-eval's pickle caches. Each case failed on the commit before
its fix."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.hostile import refused
from tests.test_hostile_inputs_more import REPO


def _tiny_folder(tmp_path, **config):
    from suite.io import save_model
    from tests.models import tiny_llama

    folder = tmp_path / "m"
    save_model(tiny_llama(), folder)
    path = folder / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | config))
    return folder


def test_a_config_of_a_larger_model_than_its_weights_is_refused_before_it_is_built(tmp_path):
    """In a subprocess with 3 GB of address space: the config asks for about 40 GB."""
    from tests.hostile import refused_in_a_subprocess

    folder = _tiny_folder(tmp_path, intermediate_size=50_000_000)
    setup = "from suite.models import load_model"
    _, text = refused_in_a_subprocess(setup, f"load_model({str(folder)!r})")
    assert "disagree on shapes" in text, text


def test_a_model_of_its_weights_loads(tmp_path):
    """The control: the same folder with its own config loads."""
    from suite.models import load_model

    assert load_model(_tiny_folder(tmp_path)) is not None


def test_a_config_of_too_many_layers_is_refused(tmp_path):
    from suite.errors import SpecError
    from suite.models import load_model

    with pytest.raises(SpecError) as err:
        load_model(_tiny_folder(tmp_path, num_hidden_layers=5000))
    assert err.value.field == "num_hidden_layers" and err.value.value == 5000, str(err.value)


# The last manifest's measurements, carried over by a build: checked as their readers read them.


def _forged_bundle(tmp_path, edit):
    root = tmp_path / "b"
    manifest = json.loads((REPO / "reference" / "MANIFEST.json").read_text())
    keep = ("llama/tokenizer", "llama/target", "llama/draft")
    manifest["artifacts"] = {k: v for k, v in manifest["artifacts"].items() if k in keep}
    for name in keep:
        shutil.copytree(REPO / "reference" / name, root / name)
    edit(manifest["artifacts"])
    (root / "MANIFEST.json").write_text(json.dumps(manifest))
    return root


def _set(name, key, value):
    def edit(artifacts):
        if value is KeyError:
            del artifacts[name][key]
        else:
            artifacts[name][key] = value

    return edit


def _alpha(artifacts):
    artifacts["llama/draft"]["acceptance"]["alpaca"]["0.0"] = {
        "alpha": 7.5, "ci95": [-3, 9], "tokens": -4
    }  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "field"),
    [(_set("llama/draft", "acceptance", [1]), "llama/draft.acceptance"),
     (_set("llama/draft", "acceptance", {"alpaca": 5}), "llama/draft.acceptance"),
     (_set("llama/target", "evaluation", [1, 2]), "llama/target.evaluation"),
     (_set("llama/draft", "storage", "x"), "llama/draft.storage"),
     (_set("llama/draft", "cost_ratio", -1.0), "llama/draft.cost_ratio"),
     (_alpha, "llama/draft.acceptance"),
     (_set("llama/target", "parameters", None), "llama/target.parameters")],
    ids=["acceptance-list", "acceptance-number", "evaluation-list", "storage-text",
         "cost-ratio-negative", "alpha-above-one", "parameters-null"],
)  # fmt: skip
def test_a_last_manifest_is_checked_before_its_measurements_are_carried_over(
    edit, field, tmp_path, capsys
):
    root = _forged_bundle(tmp_path, edit)
    argv = ["manifest", "--reference", str(root), "--cells", str(tmp_path / "cells")]
    refused(argv, tmp_path, capsys, "MANIFEST.json", field)


def test_a_last_manifest_without_a_cost_ratio_is_read_not_refused():
    """A draft without its cost ratio is not refused by the carry-over check (it was a KeyError
    later: ``_measure_family`` now measures such a draft again, untested here)."""
    from suite.manifest import _carried

    manifest = json.loads((REPO / "reference" / "MANIFEST.json").read_text())
    del manifest["artifacts"]["llama/draft"]["cost_ratio"]
    assert "llama/draft" in _carried(manifest, REPO / "reference" / "MANIFEST.json")


def test_bundle_tables_refuses_a_null_parameter_count(tmp_path, capsys):
    from tests.test_hostile_round21 import _bundle

    def edit(artifacts, copy):
        artifacts["llama/target"]["parameters"] = None

    refused(_bundle(tmp_path, edit), tmp_path, capsys, "MANIFEST.json", "llama/target.parameters")


# lm-eval's caches are pickles: loading one runs its code.


@pytest.mark.parametrize(
    "args",
    [["--use_cache", "cache"], ["-c", "cache"], ["--cache_requests"], ["--cache_requests", "true"],
     ["--cache_requests", "refresh"]],
    ids=["use-cache", "use-cache-short", "cache-requests-bare", "cache-requests", "refresh"],
)  # fmt: skip
def test_lm_eval_run_takes_no_pickle_cache(args, tmp_path, capsys):
    argv = ["lm-eval", "run", "--model", "specdec", "--model_args", "target=t", "--tasks", "x",
            "--output_path", str(tmp_path / "o"), *args]  # fmt: skip
    shown = "--use_cache" if args[0] in ("-c", "--use_cache") else "--cache_requests"
    refused(argv, tmp_path, capsys, shown, "pickles")


@pytest.mark.parametrize("key", ["use_cache", "cache_requests"])
def test_an_lm_eval_config_takes_no_pickle_cache(key, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"{key}: {'cache' if key == 'use_cache' else 'true'}\n"
                      "model_args: {target: t}\n")  # fmt: skip
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x",
            "--output_path", str(tmp_path / "o")]  # fmt: skip
    refused(argv, tmp_path, capsys, "c.yaml", key, "pickles")


def test_a_generation_budget_is_bounded_whatever_the_models_positions():
    """Before the prompt is read: a target of more positions than the bundle's would otherwise
    take any budget its positions allow."""
    from types import SimpleNamespace

    from suite.lm_eval_model import SpecDecLM
    from suite.specs import MAX_NEW_TOKENS

    def past_the_check(context, budget):
        raise AssertionError(f"a budget of {budget} reached the prompt")

    lm = SimpleNamespace(_note_ignored=lambda g: None, max_new_tokens=16,
                         _prompt_ids=past_the_check)  # fmt: skip
    with pytest.raises(ValueError, match="max_gen_toks"):
        SpecDecLM.generate_one(lm, "x", {"max_gen_toks": MAX_NEW_TOKENS + 1}, 0)
    with pytest.raises(AssertionError, match=f"a budget of {MAX_NEW_TOKENS} reached"):
        SpecDecLM.generate_one(lm, "x", {"max_gen_toks": MAX_NEW_TOKENS}, 0)  # the control


# A results folder held against the plan its run made (rebuilt from run.json's studies and
# profile, as a resume rebuilds it).


@pytest.fixture(scope="module")
def difficulty(tmp_path_factory):
    from suite.cli import main

    folder = tmp_path_factory.mktemp("run") / "difficulty"
    assert main(["run", "difficulty", "--profile", "smoke", "--out", str(folder), "--quiet"]) == 0
    return folder


def _forged(difficulty, tmp_path, edit):
    folder = tmp_path / "results"
    folder.mkdir()
    records = [json.loads(line) for line in (difficulty / "cells.jsonl").read_text().splitlines()]
    header = json.loads((difficulty / "run.json").read_text())
    edit(records, header)
    (folder / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "run.json").write_text(json.dumps(header))
    return folder


def forged_report_refused(difficulty, tmp_path, capsys, edit, *texts) -> None:
    """``report`` refuses the genuine folder's copy that ``edit(records, header)`` forged, its
    message naming ``texts``."""
    folder = _forged(difficulty, tmp_path, edit)
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys, *texts)


def _facts(records, header):
    base = next(r for r in records if r["cell"]["draft"] == "base")
    base["cell"]["draft_facts"].update(method="kd", seed=7)


def _temperature(records, header):
    one = next(r for r in records if "/t1/" in r["key"])
    one["cell"]["decode_temperature"] = one["result"]["temperature"] = 1.0000001


def _unplanned_k(records, header):
    import copy

    from tests.hostile import restate_analytic

    other = copy.deepcopy(next(r for r in records if "/K4/" in r["key"]))
    other["cell"]["num_draft_tokens"] = 8
    other["key"] = other["key"].replace("/K4/", "/K8/")
    restate_analytic(other)
    records.append(other)
    header["study_cells"]["difficulty"].append(other["key"])


def _another_study(records, header):
    cells = header["study_cells"].pop("difficulty")
    header.update(studies=["degradation"], study_cells={"degradation": cells},
                  study_claims={"degradation": [7]}, study_titles={"degradation": "x"})  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "shown"),
    [(_facts, "cell.draft_facts"), (_temperature, "cell.decode_temperature"),
     (_unplanned_k, "study_cells.difficulty"), (_another_study, "study_cells.degradation"),
     (lambda r, h: h["study_claims"].update(difficulty=[1, 2, 3]), "study_claims.difficulty"),
     (lambda r, h: h["study_titles"].update(difficulty="Another"), "study_titles.difficulty")],
    ids=["draft-facts", "temperature", "unplanned-cell", "another-study", "claims", "title"],
)  # fmt: skip
def test_a_report_holds_a_folder_to_the_plan_its_run_made(
    edit, shown, difficulty, tmp_path, capsys
):
    from suite.cli import main

    assert main(["report", str(difficulty), "--out", str(tmp_path / "good")]) == 0  # the control
    capsys.readouterr()
    forged_report_refused(difficulty, tmp_path, capsys, edit, shown)


def test_a_run_of_a_profile_outside_the_suite_is_reported_with_its_file(tmp_path, capsys):
    from suite.cli import main

    text = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    assert "\nname: smoke\n" in text
    profile = tmp_path / "mine.yaml"
    profile.write_text(text.replace("\nname: smoke\n", "\nname: mine\n"))
    folder = tmp_path / "results"
    argv = ["run", "difficulty", "--profile", str(profile), "--out", str(folder), "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    report = ["report", str(folder), "--out", str(tmp_path / "rep")]
    refused(report, tmp_path, capsys, "run.json", "'mine'", "--profile FILE")
    assert main([*report, "--profile", str(profile)]) == 0  # given the run's file, reported
