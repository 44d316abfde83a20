"""Inputs of the twenty-third attack, against the twenty-second round's fixes: a submission.json
that contradicts its records in ways the first agreement rule let through, KD data caches of
empty responses, linked or far larger than their request, a checkpoint of NaN weights, and
bundle manifests of impossible losses or KD temperatures. Each case failed on the commit
before its fix."""

from __future__ import annotations

import json
import shutil

import pytest

from suite.errors import SpecError
from tests.hostile import refused
from tests.test_hostile_round21 import _bundle, _kd_cache
from tests.test_submissions import scored, tiny  # noqa: F401 (fixtures)


def _report_of(scored, tmp_path, edit):  # noqa: F811
    """A copy of a submit's results folder, its submission.json edited; the report command."""
    out, _ = scored
    folder = tmp_path / "res"
    shutil.copytree(out, folder)
    for name in ("report.html", "cells.csv", "prompts.csv", "summary.json"):
        (folder / name).unlink(missing_ok=True)
    info = folder / "submission.json"
    data = json.loads(info.read_text())
    edit(data, folder)
    info.write_text(json.dumps(data))
    profile = out.parent / "profiles" / "smoke.yaml"  # the run's profile (tests/test_submissions)
    return ["report", str(folder), "--out", str(tmp_path / "rep"), "--profile", str(profile)]


def _set(**over):
    def edit(data, folder):
        data.update(over)

    return edit


def _training(**over):
    def edit(data, folder):
        data["training"].update(over)

    return edit


def _no_draft_model(data, folder):
    """The submission's records name no draft model; submission.json states another sha256."""
    path = folder / "cells.jsonl"
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["cell"]["draft"] == data["draft"]:
            del record["provenance"]["models"]["draft"]
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    data["sha256"] = "0" * 64


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(_set(model="/etc/passwd@x"), "model", "owner/name@<40-hex commit>"),
     (_set(model="../../etc@x"), "model", "owner/name@<40-hex commit>"),
     (_training(kd_temperature=0.0005), "training.kd_temperature", "0.001"),
     (_set(draft=None, name="mallory", sha256=None), "draft", "missing required field"),
     (_training(method="online"), "training.method", "'offline'"),
     (_training(kd_temperature=1.0), "training.kd_temperature", "0.5"),
     (_training(dataset="gsm8k"), "training.dataset", "None"),
     (_training(seed=5), "training.seed", "None"),
     (_training(divergence="fkl"), "training.divergence", "None"),
     (_set(training=None), "training.method", "'offline'"),
     (_set(evil={"a": [1, 2]}), "evil", "unknown field"),
     (_training(kd_temperatures="x"), "training.kd_temperatures", "KD temperatures"),
     (_set(authors=[]), "authors", "1 to 256"),
     (_set(license=""), "license", "not blank"),
     (_set(profile=["smoke"]), "profile", "one line"),
     (_no_draft_model, "provenance.models.draft", "naming no draft model")],
    ids=["hub-absolute", "hub-up", "tiny-kd-temperature", "no-draft", "method", "kd-temperature",
         "dataset", "seed", "divergence", "no-training", "unknown-field", "unknown-training-field",
         "no-authors", "blank-license", "profile-list", "no-draft-model"],
)  # fmt: skip
def test_a_submission_json_states_what_its_records_hold(
    edit,
    field,
    shown,
    scored,  # noqa: F811
    tmp_path,
    capsys,
):
    argv = _report_of(scored, tmp_path, edit)
    file = "cells.jsonl" if field.startswith("provenance") else "submission.json"
    refused(argv, tmp_path, capsys, file, field, shown)


def test_a_submission_json_as_submit_wrote_it_is_reported(scored, tmp_path):  # noqa: F811
    """The control: the same copy, unedited; and a Hub model as submit writes one is the
    model of records that scored its fetched folder (named by its commit)."""
    from suite.cli import main
    from suite.report.render import _scored_from

    assert main(_report_of(scored, tmp_path, lambda data, folder: None)) == 0
    hub = "owner/name@" + "a" * 40
    assert _scored_from(hub, "/home/u/.cache/suite/hub/x/" + "a" * 40, "x")
    assert not _scored_from(hub, "/tmp/submissions/x/model", "x")


@pytest.mark.usefixtures("hand_made_plan")
def test_a_record_naming_no_model_is_refused(tmp_path, capsys):
    """A plain run's records whose provenance names no model at all are not reported."""
    from pathlib import Path

    from tests.test_hostile_round18 import _analytic_folder

    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    path = folder / "cells.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record["provenance"]["models"] = {}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    argv = ["report", str(folder), "--out", str(tmp_path / "rep")]
    refused(argv, tmp_path, capsys, "cells.jsonl", "provenance.models.tokenizer")


def test_a_kd_cache_of_empty_responses_is_refused(tmp_path):
    _, final, again = _kd_cache(tmp_path)
    data = json.loads(final.read_text())
    data["responses"] = [[] for _ in data["responses"]]
    final.write_text(json.dumps(data))
    with pytest.raises(SpecError, match="at least the token that ends it") as err:
        again()
    assert "to sample the data again" in str(err.value)


def test_kept_parts_of_empty_responses_are_refused(tmp_path):
    _, final, again = _kd_cache(tmp_path)
    folder = final.parent
    final.unlink()
    (folder / "part-000-00000.json").write_text("[[], []]")
    (folder / "part-000-00001.json").write_text("[[]]")
    with pytest.raises(SpecError, match="at least the token that ends it"):
        again()
    assert not final.exists()


def test_a_kd_cache_folder_that_is_a_link_is_refused(tmp_path):
    _, final, again = _kd_cache(tmp_path)
    folder = final.parent
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere)
    with pytest.raises(SpecError, match="symbolic link"):
        again()
    (elsewhere / "data.json").unlink()  # an empty folder behind the link: nothing is sampled in
    with pytest.raises(SpecError, match="symbolic link"):
        again()
    assert list(elsewhere.iterdir()) == []


def test_a_kd_cache_far_larger_than_its_request_is_not_read(tmp_path):
    """Three prompts of two tokens, four new tokens each: a 4 MB data.json is refused by its
    size, before it is parsed."""
    _, final, again = _kd_cache(tmp_path)
    final.write_text('{"pad": [' + "0," * (2 << 20) + '0], "key": "x"}')
    with pytest.raises(SpecError) as err:
        again()
    assert "bytes" in str(err.value) and "to sample the data again" in str(err.value)
    assert str(final) in str(err.value)


def test_a_part_far_larger_than_its_chunk_is_not_read(tmp_path):
    _, final, again = _kd_cache(tmp_path)
    folder = final.parent
    final.unlink()
    (folder / "part-000-00000.json").write_text("[" + "[1]," * (1 << 18) + "[1]]")
    with pytest.raises(SpecError) as err:
        again()
    assert "bytes" in str(err.value) and "part-000-00000.json" in str(err.value)


def test_a_checkpoint_of_nan_weights_is_refused_as_the_checkpoint(tmp_path):
    from safetensors.torch import load_file, save_file

    from tests.test_hostile_round22 import _trained

    resume = _trained(tmp_path)
    path = tmp_path / "ck" / "model.safetensors"
    weights = load_file(path)
    name = sorted(weights)[0]
    weights[name] = weights[name].clone().fill_(float("nan"))
    save_file(weights, path, metadata={"format": "pt"})
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        resume()
    assert err.value.path == path and err.value.value == name, str(err.value)


def _huge_loss(artifacts, copy):
    artifacts["llama/target"]["heldout_loss"] = {"gsm8k": 1.7e308, "alpaca": 2.0}


def _negative_loss(artifacts, copy):
    artifacts["llama/target"]["heldout_loss"] = {"gsm8k": 2.0, "alpaca": -1.0}


def _negative_pretrained_loss(artifacts, copy):
    artifacts["llama/target"]["pretrained"] = {"heldout_loss": {"gsm8k": -0.5}}


def _huge_entropy(artifacts, copy):
    artifacts["llama/target"]["entropy_at_tau_1"] = {"gsm8k": {"target": 1e308}}


def _kd_tau_no_recipe_makes(artifacts, copy):
    artifacts["llama/kd-offline-alpaca-t0.6-s0"]["kd_temperature"] = 99.99


@pytest.mark.parametrize(
    ("edit", "field"),
    [(_huge_loss, "llama/target.heldout_loss"), (_negative_loss, "llama/target.heldout_loss"),
     (_negative_pretrained_loss, "llama/target.pretrained"),
     (_huge_entropy, "llama/target.entropy_at_tau_1"),
     (_kd_tau_no_recipe_makes, "kd_temperature")],
    ids=["huge-loss", "negative-loss", "negative-pretrained-loss", "huge-entropy", "kd-tau-99"],
)  # fmt: skip
def test_bundle_tables_refuses_losses_and_temperatures_no_run_makes(edit, field, tmp_path, capsys):
    refused(_bundle(tmp_path, edit), tmp_path, capsys, "MANIFEST.json", field)


def test_bundle_tables_names_a_manifest_that_is_not_an_object(tmp_path, capsys):
    from suite.cli import main

    argv = _bundle(tmp_path, lambda artifacts, copy: None)
    path = tmp_path / "b" / "MANIFEST.json"
    path.write_text(json.dumps([json.loads(path.read_text())]))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "(document)" in err and "a JSON list" in err and "'artifacts' = " not in err, err


@pytest.mark.parametrize(
    ("dtype", "shown"),
    [("bogus", "'bogus'"), ("int8", "'int8'"), (["float32"], "['float32']"), (5, "5")],
    ids=["unknown", "integer", "list", "number"],
)
def test_a_submitted_configs_dtype_is_named(dtype, shown, tiny, tmp_path, capsys):  # noqa: F811
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    for key in ("dtype", "torch_dtype"):
        folder = _copy(tiny, tmp_path / key)
        path = folder / "model" / "config.json"
        config = json.loads(path.read_text())
        config[key] = dtype
        path.write_text(json.dumps(config))
        refused(_check(folder, tiny), tmp_path, capsys, "config.json", f"'{key}'", shown)


def test_a_submitted_config_in_float32_passes(tiny, tmp_path):  # noqa: F811
    from suite.cli import main
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    folder = _copy(tiny, tmp_path)
    path = folder / "model" / "config.json"
    config = json.loads(path.read_text())
    config["dtype"] = "float32"
    path.write_text(json.dumps(config))
    assert main(_check(folder, tiny)) == 0


@pytest.mark.parametrize(
    "argv",
    [["generate", "hi", "--target", "t", "--temperature", "1e-400"],
     ["generate", "hi", "--target", "t", "--temperature", "nan"],
     ["generate", "hi", "--target", "t", "--temperature", "0.0005"],
     ["bench", "--temperatures", "0.5", "1e-999"],
     ["quality", "--temperatures", "inf"],
     ["quality", "--temperatures", "1_0"]],
    ids=["underflow", "nan", "below-minimum", "bench-underflow", "quality-inf", "underscore"],
)  # fmt: skip
def test_a_decode_temperature_option_is_0_or_in_range_as_written(argv, tmp_path, capsys):
    """1e-400 is 0.0 to a float: it ran greedy, not at the temperature given."""
    from tests.test_hostile_round18 import argument_refused

    argument_refused(argv, tmp_path, capsys, argv[-1], "0 (greedy)", "--temperature")


@pytest.mark.parametrize(
    "argv",
    [["run", "difficulty", "--workers", "1_0"], ["run", "difficulty", "--workers", "٣"],
     ["bench", "--prompts", "1_0"], ["quality", "--limit", "١٠"],
     ["submissions", "make-example", "--seed", "1_0"]],
    ids=["workers-underscore", "workers-arabic-indic", "bench-underscore", "quality-arabic-indic",
         "make-example-seed"],
)  # fmt: skip
def test_a_whole_number_option_is_written_in_ascii_digits(argv, tmp_path, capsys):
    from tests.test_hostile_round18 import argument_refused

    argument_refused(argv, tmp_path, capsys, argv[-2], repr(argv[-1]))


def test_decode_temperatures_as_written_are_read():
    """The control: 0 in any spelling is greedy; a decimal in range is itself."""
    from suite.number_arguments import decode_temperature

    spelled = ["0", "-0", "0.0", "0e5", "0.7", ".5", "1e-3", "1E1", "100"]
    assert [decode_temperature(t) for t in spelled] == [0, 0, 0, 0, 0.7, 0.5, 0.001, 10, 100]
