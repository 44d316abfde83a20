"""Submissions on a tiny bundle: every refusal names file, field and value and writes nothing;
a valid submission is scored with both engines beside the bundled drafts and gets a leaderboard.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import yaml

from suite.claims import evaluate
from suite.claims.checks import CLAIMS
from suite.cli import main
from suite.errors import SpecError
from suite.profiles import load_profile, load_profile_file
from suite.studies import load_studies, study_names
from suite.submissions import EXAMPLE, load_submission, validate
from suite.submit import LEADERBOARD, make_example, submission_plan, submit
from suite.tables import prompt_rows, read_records
from tests.models import perturbed, tiny_llama, write_training

REPO = Path(__file__).resolve().parents[1]
TOKENIZER = REPO / "reference" / "llama" / "tokenizer"
LIMIT = 400_000  # the tiny drafts have about 283k parameters


def _model_folder(model, folder: Path) -> Path:
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(TOKENIZER / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny bundle, a profile over it (named smoke: it takes the studies' smoke grids) and a
    valid submission folder to copy."""
    root = tmp_path_factory.mktemp("submissions")
    bundle = root / "bundle"
    shutil.copytree(TOKENIZER, bundle / "tokenizer")
    target = tiny_llama(vocab=4096, hidden=32, layers=2, seed=0, sharpness=8.0)
    target.save_pretrained(bundle / "target")
    perturbed(target, 0.3, seed=1).save_pretrained(bundle / "draft")
    perturbed(target, 0.1, seed=2).save_pretrained(bundle / "kd-offline-gsm8k-t0.0")
    write_training(bundle / "kd-offline-gsm8k-t0.0")
    (root / "profiles").mkdir()
    profile = {
        "name": "smoke",
        "description": "tiny models for tests",
        "max_draft_parameters": LIMIT,
        "models": {"llama": {"bundle": str(bundle)}},
        "sizes": {
            "analytic": {"prompts": 3, "seeds": 1, "max_new_tokens": 8},
            "empirical": {"prompts": 2, "seeds": 1, "max_new_tokens": 8},
        },
    }
    (root / "profiles" / "smoke.yaml").write_text(yaml.safe_dump(profile))
    good = root / "good" / "tiny-draft"
    _model_folder(perturbed(target, 0.2, seed=3), good / "model")
    spec = {
        "name": "tiny-draft",
        "authors": ["A. Researcher"],
        "description": "A perturbed copy of the tiny target <script>alert(1)</script>",
        "model": {"path": "model"},
        "target": "llama",
        "training": {"method": "offline", "kd_temperature": 0.5, "data": "gsm8k train"},
        "license": "Apache-2.0",
    }
    (good / "submission.yaml").write_text(yaml.safe_dump(spec))
    return root


def _profile(tiny) -> str:
    return str(tiny / "profiles" / "smoke.yaml")


def _copy(tiny, tmp_path, name="tiny-draft") -> Path:
    folder = tmp_path / name
    shutil.copytree(tiny / "good" / "tiny-draft", folder, symlinks=True)
    return folder


def _edit(folder: Path, **changes) -> None:
    path = folder / "submission.yaml"
    spec = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            spec.pop(key)
        else:
            spec[key] = value
    path.write_text(yaml.safe_dump(spec))


def _json_edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _swap_two_tokens(folder: Path) -> None:
    def swap(data):
        vocab = data["model"]["vocab"]
        vocab["!"], vocab['"'] = vocab['"'], vocab["!"]

    _json_edit(folder / "model" / "tokenizer.json", swap)


def _symlink_out(folder: Path) -> None:
    outside = folder.parent / "outside.safetensors"
    shutil.copy2(folder / "model" / "model.safetensors", outside)
    (folder / "model" / "extra.safetensors").symlink_to(outside)


def _model_is_a_symlink_out(folder: Path) -> None:
    shutil.move(folder / "model", folder.parent / "elsewhere")
    (folder / "model").symlink_to(folder.parent / "elsewhere", target_is_directory=True)


def _too_big(folder: Path) -> None:
    shutil.rmtree(folder / "model")
    _model_folder(tiny_llama(vocab=4096, hidden=64, layers=2, seed=5), folder / "model")


CASES = {
    "a .bin checkpoint": (
        lambda f: (f / "model" / "pytorch_model.bin").write_bytes(b"\x80\x04."),
        "pytorch_model.bin", "model.path", "pytorch_model.bin",
    ),
    "a .pt file in a subfolder": (
        lambda f: (f / "model" / "extra").mkdir() or (f / "model" / "extra" / "w.pt").touch(),
        "w.pt", "model.path", "w.pt",
    ),
    "a pickle under another name": (
        lambda f: (f / "model" / "weights.dat").write_bytes(pickle.dumps({"w": 1}, protocol=4)),
        "weights.dat", "model.path", "weights.dat",
    ),
    "trust_remote_code in the YAML": (
        lambda f: _edit(f, trust_remote_code=True),
        "submission.yaml", "trust_remote_code", True,
    ),
    "auto_map in config.json": (
        lambda f: _json_edit(
            f / "model" / "config.json",
            lambda d: d.update(auto_map={"AutoModelForCausalLM": "mine.Model"}),
        ),
        "config.json", "auto_map", {"AutoModelForCausalLM": "mine.Model"},
    ),
    "two tokens swapped (same size)": (
        _swap_two_tokens, "tokenizer.json", "vocabulary", {"!": 3},
    ),
    "another vocab_size": (
        lambda f: _json_edit(f / "model" / "config.json", lambda d: d.update(vocab_size=4097)),
        "config.json", "vocab_size", 4097,
    ),
    "another eos token": (
        lambda f: _json_edit(
            f / "model" / "tokenizer_config.json", lambda d: d.update(eos_token="<|pad|>")
        ),
        "tokenizer_config.json", "eos_token_id", 1,
    ),
    "no tokenizer files": (
        lambda f: (f / "model" / "tokenizer.json").unlink(), "model", "tokenizer", "model",
    ),
    "a path with ..": (
        lambda f: _edit(f, model={"path": "../tiny-draft/model"}),
        "submission.yaml", "model.path", "../tiny-draft/model",
    ),
    "an absolute path": (
        lambda f: _edit(f, model={"path": str(f / "model")}),
        "submission.yaml", "model.path", "ABSOLUTE",
    ),
    "a symlink out of the folder": (
        _symlink_out, "extra.safetensors", "model.path", "OUTSIDE",
    ),
    "a model folder that is a symlink out": (
        _model_is_a_symlink_out, "submission.yaml", "model.path", "model",
    ),
    "a missing field": (lambda f: _edit(f, license=None), "submission.yaml", "license", None),
    "a negative τ_kd": (
        lambda f: _edit(f, training={"method": "offline", "kd_temperature": -1, "data": "x"}),
        "submission.yaml", "training.kd_temperature", -1,
    ),
    "a NaN τ_kd": (
        lambda f: _edit(f, training={"method": "offline", "kd_temperature": math.nan, "data": "x"}),
        "submission.yaml", "training.kd_temperature", "NAN",
    ),
    "an unknown method": (
        lambda f: _edit(f, training={"method": "magic", "kd_temperature": None, "data": "x"}),
        "submission.yaml", "training.method", "magic",
    ),
    "no authors": (lambda f: _edit(f, authors=[]), "submission.yaml", "authors", []),
    "a name that is not the folder's": (
        lambda f: _edit(f, name="other"), "submission.yaml", "name", "other",
    ),
    "an unpinned Hub model": (
        lambda f: _edit(f, model={"hub": "owner/draft", "revision": "main"}),
        "submission.yaml", "model.revision", "main",
    ),
    "both path and hub": (
        lambda f: _edit(f, model={"path": "model", "hub": "owner/draft"}),
        "submission.yaml", "model", {"path": "model", "hub": "owner/draft"},
    ),
    "an unknown target family": (
        lambda f: _edit(f, target="mistral"), "submission.yaml", "target", "mistral",
    ),
    "too many parameters for the profile": (
        _too_big, "model.safetensors", "parameters", "BIG",
    ),
    "a config asking for thousands of layers": (
        lambda f: _json_edit(
            f / "model" / "config.json", lambda d: d.update(num_hidden_layers=5000)
        ),
        "config.json", "num_hidden_layers", 5000,
    ),
    "a config of another architecture": (
        lambda f: _json_edit(
            f / "model" / "config.json", lambda d: d.update(model_type="mistral")
        ),
        "config.json", "model_type", "mistral",
    ),
    "a config whose sizes disagree with the weights": (
        lambda f: _json_edit(
            f / "model" / "config.json",
            lambda d: d.update(intermediate_size=d["intermediate_size"] + 8),
        ),
        "config.json", "weight shape", "model.layers.0.mlp.down_proj.weight",
    ),
    "a config with one layer more than the weights": (
        lambda f: _json_edit(
            f / "model" / "config.json",
            lambda d: d.update(num_hidden_layers=d["num_hidden_layers"] + 1),
        ),
        "config.json", "missing weight", "LAYER",
    ),
    "a protocol-0 pickle under another name": (
        lambda f: (f / "model" / "weights.dat").write_bytes(pickle.dumps({"w": 1}, protocol=0)),
        "weights.dat", "model.path", "weights.dat",
    ),
    "a protocol-1 pickle under another name": (
        lambda f: (f / "model" / "w.data").write_bytes(pickle.dumps([1, 2], protocol=1)),
        "w.data", "model.path", "w.data",
    ),
    "a nested trust_remote_code": (
        lambda f: _edit(f, model={"path": "model", "options": {"trust_remote_code": True}}),
        "submission.yaml", "model.options.trust_remote_code", True,
    ),
    "a name with a trailing newline": (
        lambda f: _edit(f, name=f.name + "\n"), "submission.yaml", "name", "NEWLINE",
    ),
    "a revision with a trailing newline": (
        lambda f: _edit(f, model={"hub": "owner/draft", "revision": "a" * 40 + "\n"}),
        "submission.yaml", "model.revision", "a" * 40 + "\n",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_each_refusal_names_file_field_and_value_and_writes_nothing(tiny, tmp_path, case):
    change, file, field, value = CASES[case]
    folder = _copy(tiny, tmp_path)
    change(folder)
    out = tmp_path / "out"
    with pytest.raises(SpecError) as err:
        submit(folder, profile=_profile(tiny), out=out, progress=False)
    e = err.value
    assert Path(e.path).name == file and e.field == field, str(e)
    if value == "ABSOLUTE":
        assert Path(e.value).is_absolute()
    elif value == "OUTSIDE":
        assert not Path(e.value).resolve().is_relative_to(folder)
    elif value == "NAN":
        assert math.isnan(e.value)
    elif value == "LAYER":
        assert e.value.startswith("model.layers.") and "missing" in e.field
    elif value == "NEWLINE":
        assert e.value == folder.name + "\n"
    elif value == "BIG":
        assert e.value > LIMIT and f"{LIMIT:,}" in str(e)
    else:
        assert e.value == value, str(e)
    assert not out.exists()


def test_a_valid_submission_counts_parameters_from_the_headers(tiny):
    sub = load_submission(tiny / "good" / "tiny-draft")
    checked = validate(sub, load_profile_file(_profile(tiny)))
    model = tiny_llama(vocab=4096, hidden=32, layers=2)
    assert checked.parameters == sum(p.numel() for p in model.parameters())
    assert checked.model.name == "sub-tiny-draft" and sub.training.kd_temperature == 0.5
    # The submission's YAML states its facts; its label is only a label.
    facts = checked.model.facts
    assert (facts.origin, facts.method, facts.kd_temperature, facts.dataset) == (
        "submission", "offline", 0.5, None,
    )  # fmt: skip


def test_a_submission_states_its_facts_in_its_yaml_and_joins_the_leaderboard_once(tiny, tmp_path):
    folder = _copy(tiny, tmp_path)
    training = {
        "method": "offline",
        "kd_temperature": 0.0,
        "data": "GSM8K train, SeqKD",
        "dataset": "gsm8k",
        "seed": 2,
        "divergence": "cross_entropy",
    }
    _edit(folder, training=training)
    sub = load_submission(folder)
    facts = sub.training.facts
    assert (facts.method, facts.dataset, facts.kd_temperature, facts.seed) == (
        "offline", "gsm8k", 0.0, 2,
    )  # fmt: skip
    assert (facts.origin, facts.source) == ("submission", "submission.yaml")
    profile = load_profile_file(_profile(tiny))
    plan = submission_plan(validate(sub, profile), profile)
    # Its facts match the bundled τ_kd 0 draft's, but the leaderboard's bundled drafts are
    # selected with origin: bundle; the submission joins once, by its label.
    drafts = [c.draft for c in plan.cells if c.engine == "analytic" and c.dataset == "gsm8k"]
    assert drafts == ["base", "kd-offline-gsm8k-t0.0", "sub-tiny-draft"] * 2  # τ_dec 0 and 1
    submitted = next(c for c in plan.cells if c.draft == "sub-tiny-draft")
    assert submitted.draft_facts == facts
    _edit(folder, training={**training, "seed": "two"})
    with pytest.raises(SpecError) as err:
        load_submission(folder)
    assert (err.value.field, err.value.value) == ("training.seed", "two")


@pytest.fixture(scope="module")
def scored(tiny):
    out = tiny / "scored"
    result = submit(tiny / "good" / "tiny-draft", profile=_profile(tiny), out=out, progress=False)
    return out, result


def test_submit_scores_the_draft_with_both_engines_and_renders_a_leaderboard(tiny, scored):
    out, result = scored
    records = read_records(out)
    mine = [r for r in records if r["cell"]["draft"] == "sub-tiny-draft"]
    assert {r["cell"]["engine"] for r in mine} == {"analytic", "empirical"}
    # The smoke grid: τ_dec 0 and 1 on both datasets; kd-*-t1.0 is not in this bundle (skipped).
    assert {(r["cell"]["dataset"], r["cell"]["decode_temperature"]) for r in mine} == {
        (d, t) for d in ("gsm8k", "alpaca") for t in (0.0, 1.0)
    }
    drafts = {r["cell"]["draft"] for r in records}
    assert drafts == {"base", "kd-offline-gsm8k-t0.0", "sub-tiny-draft"}
    # In the tables a submission's method is "submission", whatever it states: no claim takes it.
    rows = prompt_rows(records).drop_duplicates("draft").set_index("draft")
    assert rows.loc["sub-tiny-draft", ["method", "draft_origin"]].tolist() == ["submission"] * 2
    assert rows.loc["kd-offline-gsm8k-t0.0", ["method", "draft_origin"]].tolist() == [
        "offline", "bundle",
    ]  # fmt: skip
    empirical = {r["cell"]["draft"] for r in records if r["cell"]["engine"] == "empirical"}
    assert empirical == {"base", "sub-tiny-draft"}
    assert result.ran == result.cells == len(records)
    html = result.report.read_text(encoding="utf-8")
    assert '<section id="leaderboard">' in html and "sub-tiny-draft" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    summary = json.loads((out / "summary.json").read_text())
    board = summary["leaderboard"]
    assert board["drafts"] == ["sub-tiny-draft"]
    assert board["submission"]["authors"] == ["A. Researcher"]
    gsm8k = next(
        t for t in board["tables"] if t["dataset"] == "gsm8k" and t["engine"] == "analytic"
    )
    for row in gsm8k["rows"]:
        assert row["best"]["draft"] in {"base", "kd-offline-gsm8k-t0.0"}
        assert 0.0 <= row["test"]["pvalue"] <= 1.0 and row["test"]["n"] >= 2
    # The claims never see a submission: no claim study ran, so every claim is "not run".
    assert {c["verdict"] for c in summary["claims"]} == {"not run"}


def test_the_claims_select_bundled_methods_only(scored):
    out, _ = scored
    records = read_records(out)
    keys = [r["key"] for r in records]
    header = {"study_cells": {study: keys for study, _ in CLAIMS.values()}}
    for engine, evaluations in evaluate(prompt_rows(records), header, records).items():
        for number, per_family in evaluations.items():
            if number == 5 or per_family is None:  # claim 5 needs τ_dec above 1: never here
                continue
            for ev in per_family.values():  # one evaluation per model family
                evidence = json.dumps(ev.evidence, default=str)
                assert "sub-tiny-draft" not in evidence, (engine, number)


def test_another_submission_or_changed_weights_in_the_same_folder_are_refused(
    tiny, scored, tmp_path
):
    out, _ = scored
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other = _copy(tiny, tmp_path, "other-draft")
    _edit(other, name="other-draft")
    with pytest.raises(SpecError, match="another submission"):
        submit(other, profile=_profile(tiny), out=out, progress=False)
    changed = _copy(tiny, tmp_path / "changed")
    weights = changed / "model" / "model.safetensors"
    tensors = safetensors.torch.load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1  # other weights, the same shapes
    safetensors.torch.save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(SpecError, match="changed") as err:
        submit(changed, profile=_profile(tiny), out=out, progress=False)
    assert err.value.field == "sha256"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_cli_exits_2_on_bad_input_and_tells_how_to_build_the_example(tiny, tmp_path, capsys):
    bad = _copy(tiny, tmp_path)
    _edit(bad, training={"method": "offline", "kd_temperature": -1, "data": "x"})
    out = tmp_path / "out"
    assert main(["submit", str(bad), "--profile", _profile(tiny), "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert "submission.yaml" in message and "training.kd_temperature" in message and "-1" in message
    example = tmp_path / EXAMPLE
    example.mkdir()
    shutil.copy2(REPO / "submissions" / EXAMPLE / "submission.yaml", example)
    assert main(["submit", str(example), "--profile", _profile(tiny), "--out", str(out)]) == 2
    assert "python -m suite submissions make-example" in capsys.readouterr().err
    good = str(tiny / "good" / "tiny-draft")
    with pytest.raises(SystemExit) as exit_:  # an argument error, before anything is read
        main(["submit", good, "--profile", _profile(tiny), "--out", str(out), "--workers", "0"])
    assert exit_.value.code == 2 and "--workers" in capsys.readouterr().err
    assert not out.exists()


def test_make_example_builds_a_submission_that_validates_in_the_smoke_profile(tmp_path):
    folder = tmp_path / EXAMPLE
    folder.mkdir()
    shutil.copy2(REPO / "submissions" / EXAMPLE / "submission.yaml", folder)
    make_example(target=folder / "model")
    assert sorted(os.listdir(folder / "model")) == [
        "config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
        "tokenizer_config.json",
    ]  # fmt: skip
    checked = validate(load_submission(folder), load_profile("smoke"))
    assert 500_000 < checked.parameters < 2_000_000


def test_the_leaderboard_study_stays_out_of_all_and_profiles_bound_draft_size(tmp_path):
    assert "leaderboard" in study_names()
    names = {s.name for s in load_studies(["all"])}
    assert "leaderboard" not in names and names == set(study_names()) - {"leaderboard"}
    (study,) = load_studies([str(LEADERBOARD)])
    assert study.claims == () and study.missing_drafts == "skip"
    assert load_profile("smoke").max_draft_parameters == 2_000_000
    assert load_profile("quick").max_draft_parameters == 2_000_000
    assert load_profile("full").max_draft_parameters is None
    spec = yaml.safe_load((REPO / "tasks" / "profiles" / "smoke.yaml").read_text())
    (tmp_path / "smoke.yaml").write_text(yaml.safe_dump({**spec, "max_draft_parameters": 0}))
    with pytest.raises(SpecError) as err:
        load_profile_file(tmp_path / "smoke.yaml")
    assert (err.value.field, err.value.value) == ("max_draft_parameters", 0)


def test_a_hub_submission_is_pinned_and_checked_on_its_local_copy(tiny, tmp_path, monkeypatch):
    folder = _copy(tiny, tmp_path)
    sha = "0123456789abcdef" * 2 + "01234567"
    _edit(folder, model={"hub": "owner/tiny-draft", "revision": sha})
    fetched = tmp_path / "fetched"
    shutil.copytree(folder / "model", fetched)
    monkeypatch.setattr("suite.submissions._fetch_hub", lambda sub: fetched)
    sub = load_submission(folder)
    checked = validate(sub, load_profile_file(_profile(tiny)))
    assert checked.model.path == fetched and sub.to_dict()["model"] == f"owner/tiny-draft@{sha}"
    (fetched / "optimizer.pt").touch()  # a pickle in the fetched copy is refused like a local one
    with pytest.raises(SpecError) as err:
        validate(sub, load_profile_file(_profile(tiny)))
    assert (Path(err.value.path).name, err.value.field) == ("optimizer.pt", "model.hub")
