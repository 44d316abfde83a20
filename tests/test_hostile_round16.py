"""Inputs of the sixteenth attack: empirical records whose counts and rates disagree, and the
commands earlier rounds tried least (``train`` and ``distill`` recipes, ``verify`` and
``bundle-tables`` manifests), where tracebacks, unbounded sizes and half-written folders
remained. Each case failed on the commit before its fix."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from suite.cli import main
from tests.hostile import refused
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_round14_results import STUDY

RECIPES = REPO / "reference" / "recipes"


@pytest.fixture(scope="module")
def empirical(tmp_path_factory):
    """A one-cell empirical results folder of the smoke profile."""
    root = tmp_path_factory.mktemp("round16")
    (root / "s.yaml").write_text(STUDY.replace("engines: [analytic]", "engines: [empirical]"))
    argv = ["run", "--profile", "smoke", "--quiet", "--out", str(root / "o"), str(root / "s.yaml")]
    assert main(argv) == 0
    return root / "o"


def _forged(empirical, tmp_path, edit) -> str:
    out = tmp_path / "o"
    shutil.copytree(empirical, out)
    record = json.loads((out / "cells.jsonl").read_text())
    edit(record["result"])
    (out / "cells.jsonl").write_text(json.dumps(record) + "\n")
    return str(out)


def _prompt(**over):
    return lambda result: result["per_prompt"][0].update(over)


def _judged(result):
    p = result["per_prompt"][0]
    p["judged_acceptance_rate"] = 1.0 if p["judged_acceptance_rate"] != 1.0 else 0.5


def _per_position(result):
    p = result["per_prompt"][0]
    p["accepted_per_position"] = [n + 99 for n in p["accepted_per_position"]]


CASES = [
    ("accepted-past-proposed", _prompt(accepted=10**6), "per_prompt[0].acceptance_rate",
     "out of"),
    ("judged-rate-forged", _judged, "per_prompt[0].judged_acceptance_rate", "expected"),
    ("per-position-forged", _per_position, "per_prompt[0].accepted_per_position", "add up"),
    ("identical-outputs", lambda r: r.update(identical_outputs=1000), "result.identical_outputs",
     "1000"),
    ("totals-forged", lambda r: r.update(steps=r["steps"] + 5), "result.steps", "prompts' sum"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "field", "shown"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
@pytest.mark.usefixtures("hand_made_plan")  # a folder of a study file of its own
def test_an_empirical_record_whose_counts_disagree_is_refused(empirical, tmp_path, capsys, edit,
                                                              field, shown):  # fmt: skip
    folder = _forged(empirical, tmp_path, edit)
    refused(["report", folder], tmp_path, capsys, "cells.jsonl", field, shown)


@pytest.mark.usefixtures("hand_made_plan")  # a folder built by hand
def test_a_real_empirical_record_is_read(empirical, tmp_path):
    from suite.report.folder import check_folder

    assert check_folder(_forged(empirical, tmp_path, lambda r: None))


def _recipe(tmp_path, edit, name: str = "llama.yaml"):
    recipe = yaml.safe_load((RECIPES / name).read_text())
    edit(recipe)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [
        (lambda r: r.update(datasets="gsm8k"), "datasets", "non-empty list"),
        (lambda r: r.update(datasets=[]), "datasets", "non-empty list"),
        (lambda r: r.update(datasets=["nope"]), "datasets[0]", "unknown task"),
        (lambda r: r["models"]["target"]["align"].update(samples_per_prompt=10**11),
         "models.target.align.samples_per_prompt", "at most 64"),
        (lambda r: r["models"]["target"]["align"].update(temperature=float("inf")),
         "models.target.align.temperature", "at most 10"),
    ],
    ids=["datasets-string", "datasets-empty", "datasets-unknown", "align-samples", "align-inf"],
)  # fmt: skip
def test_a_train_recipe_is_read_whole_before_out_is_made(tmp_path, capsys, edit, field, shown):
    path = _recipe(tmp_path, edit)
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "llama.yaml", field, shown)
    assert not (tmp_path / "out").exists()


def test_train_only_a_model_the_recipe_lacks_is_refused(tmp_path, capsys):
    path = _recipe(tmp_path, lambda r: r["models"].pop("draft"))
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out"), "--only", "draft"]
    refused(argv, tmp_path, capsys, "llama.yaml", "--only", "no models.draft")


def test_a_copied_tokenizers_training_json_is_read_strictly_before_out_is_made(tmp_path, capsys):
    tok = tmp_path / "tok"
    shutil.copytree(REPO / "reference" / "llama" / "tokenizer", tok)
    (tok / "training.json").write_text('["vocab_size"]')

    def edit(recipe):
        recipe["tokenizer"]["copy_from"] = str(tok)

    path = _recipe(tmp_path, edit, "t5.yaml")
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "training.json", "JSON object")
    assert not (tmp_path / "out").exists()


def test_a_distillation_grid_past_its_cap_is_refused(tmp_path, capsys, monkeypatch):
    from suite.distill import recipe_spec

    argv = ["distill", "--recipe", str(RECIPES / "kd-llama.yaml"), "--out", str(tmp_path / "d"),
            "--list"]  # fmt: skip
    assert main(argv) == 0  # the control: the bundled grid
    capsys.readouterr()
    monkeypatch.setattr(recipe_spec, "MAX_GRID_DRAFTS", 10)
    refused(argv, tmp_path, capsys, "kd-llama.yaml", "seeds", "at most 10")


def test_bundle_tables_leaves_out_an_entropy_without_its_target():
    """A manifest's ``entropy_at_tau_1`` with only ``base_draft`` passed the type check, then
    the model table raised KeyError: the pair is shown only where both sides are stated."""
    from suite.bundle_tables import model_table

    manifest = json.loads((REPO / "reference" / "MANIFEST.json").read_text())
    name, entry = next(
        (n, e) for n, e in manifest["artifacts"].items() if e.get("entropy_at_tau_1")
    )
    assert " vs " in model_table(manifest)  # the control: both sides stated
    for value in entry["entropy_at_tau_1"].values():
        value.pop("target", None)
    row = next(line for line in model_table(manifest).splitlines() if f"`{name}`" in line)
    assert " vs " not in row


def test_logits_that_overflow_when_divided_by_the_temperature_are_named():
    import torch

    from suite.decoding.sampling import NonFiniteLogits, probs_from_logits

    logits = torch.tensor([[3e38, 0.0]])
    assert probs_from_logits(logits, 1.0).tolist() == [[1.0, 0.0]]  # the control: τ = 1
    with pytest.raises(NonFiniteLogits, match="the draft"):
        probs_from_logits(logits, 0.6, "draft")


def test_a_profile_models_generation_config_is_named_not_a_traceback(tmp_path, capsys):
    bundle = tmp_path / "llama"
    shutil.copytree(REPO / "reference" / "llama", bundle, ignore=shutil.ignore_patterns("kd-*"))
    (bundle / "draft" / "generation_config.json").write_text('{"max_new_tokens": "5"}')
    profile = tmp_path / "p.yaml"
    smoke = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    profile.write_text(smoke.replace("name: smoke", "name: p").replace(
        "llama: {bundle: reference/llama}", f"llama: {{bundle: {bundle}}}"))  # fmt: skip
    study = tmp_path / "s.yaml"
    study.write_text(STUDY)
    argv = ["run", "--profile", str(profile), "--quiet", "--out", str(tmp_path / "o"), str(study)]
    refused(argv, tmp_path, capsys, "draft/generation_config.json", "max_new_tokens", "'5'")


def test_a_tokenizer_with_named_chat_templates_passes():
    """transformers makes a mapping of name to template of ``chat_template.jinja`` and
    ``additional_chat_templates/``; each is checked, the mapping is not refused as such."""
    from suite.sandbox import chat_template_refusal

    good = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert chat_template_refusal({"default": good, "tool_use": good}) is None
    bad = "{% for i in range(9) %}x{% endfor %}"
    assert "range" in chat_template_refusal({"default": good, "tool_use": bad})


def test_a_zip_whose_names_cannot_be_read_is_refused(tmp_path):
    """Its names flagged UTF-8 but not: listing it raised UnicodeDecodeError, an error naming no
    file; an archive that cannot be listed is refused like a torch.save one."""
    import io
    import zipfile

    from suite.pickle_sniff import is_pickle

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("name-x.txt", b"hello")
    data = bytearray(buf.getvalue())
    for i in range(len(data) - 4):  # each header's flags: bit 11, names are UTF-8
        if data[i : i + 4] in (b"PK\x03\x04", b"PK\x01\x02"):
            data[i + (7 if data[i + 2] == 3 else 9)] |= 0x08
    path = tmp_path / "notes.dat"
    path.write_bytes(bytes(data).replace(b"name-x", b"name\xff\xfe"))
    with pytest.raises(UnicodeDecodeError):
        zipfile.ZipFile(path).namelist()  # what the sniffer met
    assert is_pickle(path) is True


def test_an_output_name_held_by_a_folder_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "x"
    (out / "suite_svamp.yaml").mkdir(parents=True)  # the second task's file
    argv = ["lm-eval", "export", "--out", str(out), "--tasks", "gsm8k", "svamp", "--limit", "1"]
    refused(argv, tmp_path, capsys, "suite_svamp.yaml", "not a file")
    cal = tmp_path / "c"
    (cal / "calibration.md").mkdir(parents=True)
    argv = ["calibrate", "--n-sim", "1", "--claims", "1", "--out", str(cal)]
    refused(argv, tmp_path, capsys, "calibration.md", "not a file")


def test_tasks_show_and_bundle_tables_escape_what_they_print(tmp_path, capsys, monkeypatch):
    tasks = tmp_path / "tasks"
    shutil.copytree(REPO / "tasks", tasks, ignore=shutil.ignore_patterns("studies", "profiles"))
    path = tasks / "gsm8k.yaml"
    old = "instruction: '{{ question }}'"
    path.write_text(
        path.read_text().replace(old, "instruction: '{{ question }}{{ \"\\x9b\\u202e\" }}'")
    )
    argv = ["tasks", "--tasks-dir", str(tasks), "gsm8k", "--split", "test", "--show", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "\\x9b" in out and "\\u202e" in out and "\x9b" not in out and "\u202e" not in out
