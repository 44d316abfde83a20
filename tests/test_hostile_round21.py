"""Inputs of the twenty-first attack, against the twentieth round's fixes: submissions whose
generation config types its special ids loosely, whose license or authors the report would
refuse after every cell ran, whose model folder is swapped for a link while submit copies it,
or whose tokenizer config is a folder; and an example model of infinite noise. Each case failed
on the commit before its fix."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from suite.errors import SpecError
from tests.hostile import refused
from tests.test_hostile_round18_submissions import _check
from tests.test_submissions import _copy, _edit, _profile, tiny  # noqa: F401 (a fixture)

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")


def _generation(folder, **over):
    path = folder / "model" / "generation_config.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(over)
    path.write_text(json.dumps(data))


def test_a_text_special_id_is_named_by_its_field(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _generation(folder, pad_token_id="1")
    refused(_check(folder, tiny), tmp_path, capsys, "generation_config.json", "pad_token_id", "'1'")


@pytest.mark.parametrize("value", [False, 0.0], ids=["bool", "float"])
def test_a_special_id_that_is_not_an_integer_is_refused(value, tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _generation(folder, eos_token_id=value)
    refused(_check(folder, tiny), tmp_path, capsys, "generation_config.json", "eos_token_id",
            "an integer")  # fmt: skip


@pytest.mark.parametrize(
    ("over", "field"),
    [({"license": "MIT\tor Apache-2.0"}, "license"), ({"license": "MIT\nApache"}, "license"),
     ({"license": "L" * 1_100}, "license"),
     ({"authors": [f"A{i}" for i in range(300)]}, "authors")],
    ids=["license-tab", "license-lines", "license-long", "authors-300"],
)  # fmt: skip
def test_check_refuses_what_the_report_would_refuse(over, field, tiny, tmp_path, capsys):  # noqa: F811
    """check said ok; submit ran every cell, then its report refused the submission.json it had
    written, and the folder could be neither resumed nor reported."""
    folder = _copy(tiny, tmp_path)
    _edit(folder, **over)
    refused(_check(folder, tiny), tmp_path, capsys, "submission.yaml", field)


def test_a_tokenizer_config_that_is_a_folder_is_named(tiny, tmp_path, capsys):  # noqa: F811
    from tests.test_hostile_round18_submissions import file_made_a_folder

    folder = file_made_a_folder(tiny, tmp_path, "tokenizer_config.json")
    refused(_check(folder, tiny), tmp_path, capsys, "tokenizer_config.json", "not a regular file")


@pytest.mark.parametrize("noise", ["inf", "1e308", "nan"])
def test_an_example_of_unbounded_noise_is_refused_before_anything_is_written(
    noise, tmp_path, capsys
):
    from suite.cli import main

    if noise == "1e308":  # a number, out of range
        assert main(["submissions", "make-example", "--noise", noise]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "noise must be in [0, 10]" in err, err
    else:  # not a decimal number: the option's own error
        from tests.test_hostile_round18 import argument_refused

        argument_refused(["submissions", "make-example", "--noise", noise], tmp_path, capsys,
                         "--noise", repr(noise))  # fmt: skip


def test_a_model_folder_swapped_for_a_link_while_submit_copies_it_is_refused(tiny, tmp_path):  # noqa: F811
    """The copy followed a link put in place of the checked model folder after the check: a
    model from outside the submission was scored under its own sha256."""
    from suite.profiles import load_profile
    from suite.submissions import load_submission, staged, validate

    folder = _copy(tiny, tmp_path)
    profile = load_profile(_profile(tiny))
    checked = validate(load_submission(folder), profile)
    fingerprint = checked.model.fingerprint()
    outside = tmp_path / "outside"
    shutil.copytree(folder / "model", outside)
    (folder / "model").rename(folder / "model.orig")
    (folder / "model").symlink_to(outside)
    with pytest.raises(SpecError, match="symbolic link appeared"):
        staged(checked, profile, tmp_path / "copy", fingerprint)
    (folder / "model").unlink()
    (folder / "model.orig").rename(folder / "model")
    again = staged(checked, profile, tmp_path / "copy2", fingerprint)  # the control
    assert math.isfinite(again.parameters) and again.model.path == tmp_path / "copy2"


# --- attack A: results folders and YAML numbers ---


def _folder_of(tmp_path, edit_records=None, edit_header=None):
    """The round-18 analytic folder (one record, profile smoke), with edits."""
    from pathlib import Path

    from tests.test_hostile_round18 import _analytic_folder

    folder = Path(_analytic_folder(tmp_path, lambda result: None))
    records = [json.loads(line) for line in (folder / "cells.jsonl").read_text().splitlines()]
    header = json.loads((folder / "run.json").read_text())
    if edit_records:
        records = edit_records(records)
    header["study_cells"] = {header["studies"][0]: [r["key"] for r in records]}  # as planned
    if edit_header:
        edit_header(header)
    (folder / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "run.json").write_text(json.dumps(header))
    return folder


def _second_seed(records):
    from tests.hostile import restate_analytic

    other = json.loads(json.dumps(records[0]))
    other["cell"]["seed"], other["key"] = 1, other["key"].replace("/s0/", "/s1/")
    other["provenance"]["models"]["draft"]["sha256"] = "0" * 64  # scored another draft
    return [records[0], restate_analytic(other)]


def _no_provenance(records):
    for r in records:
        del r["provenance"]
    return records


def _format(records):
    records[0]["provenance"]["prompt_format"] = "evil"
    return records


@pytest.mark.parametrize(
    ("records", "header", "field", "shown"),
    [(None, lambda h: h.update(studies="difficulty"), "studies", "a list of study names"),
     (None, lambda h: h.update(studies=["difficulty", "difficulty"]), "studies", "none twice"),
     (_second_seed, None, "provenance.models.draft.sha256", "another draft"),
     (_no_provenance, None, "provenance", "without provenance"),
     (_format, None, "provenance.prompt_format", "instruction, chat_template")],
    ids=["studies-string", "studies-twice", "two-hashes", "no-provenance", "prompt-format"],
)  # fmt: skip
def test_a_results_folder_no_run_writes_is_refused(records, header, field, shown, tmp_path, capsys):
    folder = _folder_of(tmp_path, records, header)
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys, field, shown)


def test_a_draft_timed_longer_than_its_decode_is_refused(tmp_path, capsys):
    from tests.test_hostile_round20 import _empirical_edit

    record = _empirical_edit(lambda r: r["timing"]["per_prompt"][0].update(draft_seconds=0.2))()
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "cells.jsonl").write_text(json.dumps(record) + "\n")
    from suite.errors import SpecError as Refused
    from suite.store import ResultsStore

    with pytest.raises(Refused, match=r"draft_seconds.*at most its 0\.1 seconds"):
        ResultsStore(folder).load()


def test_yaml_floats_with_a_point_and_an_unsigned_exponent_are_numbers():
    import yaml

    from suite.strict import StrictLoader

    text = "[5.0e0, 2.0e6, .5E1, 1.5e3, 2.56e2, 1e-3, 1.0, 1.2.3e4, .e5]"
    assert yaml.load(text, Loader=StrictLoader) == [
        5.0, 2e6, 5.0, 1500.0, 256.0, 0.001, 1.0, "1.2.3e4", ".e5"
    ]  # fmt: skip


# --- attack C: tools, recipes and caches ---


def test_a_hard_link_in_an_artifact_folder_is_refused(tmp_path, capsys, monkeypatch):
    """train and distill truncated a file outside --out through a hard link planted where they
    save (config.json, tokenizer.json)."""
    from tests.test_hostile_round18_tools import _train_recipe

    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out" / "tokenizer").mkdir(parents=True)
    (tmp_path / "out" / "tokenizer" / "tokenizer.json").hardlink_to(victim)
    argv = ["train", "--recipe", _train_recipe(tmp_path), "--out", str(tmp_path / "out"),
            "--only", "tokenizer"]  # fmt: skip
    refused(argv, tmp_path, capsys, "tokenizer.json", "a hard link")
    assert victim.read_text() == "precious"


def _kd_cache(tmp_path):
    import torch

    from suite.distill.offline import KDRequest, generate_kd_data
    from tests.models import tiny_llama

    target = tiny_llama(vocab=8)
    request = KDRequest("a" * 64, "gsm8k", 0.5, 1, 4, 0, None, chunk_size=2)
    prompts = [[1, 2], [3, 4], [5, 6]]
    torch.manual_seed(0)
    made = generate_kd_data(target, prompts, request, cache_root=tmp_path / "kd")
    (final,) = (tmp_path / "kd").glob("*/data.json")

    def again():
        return generate_kd_data(target, prompts, request, cache_root=tmp_path / "kd")

    return made, final, again


def _forged_key(d):
    d["key"] = "0" * 64


def _big_token(d):
    d["responses"][0] = [999999]


def _negative_token(d):
    d["responses"][0] = [-5]


def _other_prompts(d):
    d["prompts"] = [[5, 6, 7]] * 3


def _hot(d):
    d["temperatures"] = [42.0] * len(d["temperatures"])


@pytest.mark.parametrize(
    ("damage", "field"),
    [(_forged_key, "key"), (_big_token, "responses[0]"), (_negative_token, "responses[0]"),
     (_other_prompts, "prompts"), (_hot, "temperatures")],
    ids=["key", "token-past-vocab", "token-negative", "prompts", "temperature"],
)  # fmt: skip
def test_the_kd_data_cache_is_read_as_strictly_as_a_checkpoint(tmp_path, damage, field):
    made, final, again = _kd_cache(tmp_path)
    assert again() == made  # the control: the cache as written is read back
    data = json.loads(final.read_text())
    damage(data)
    final.write_text(json.dumps(data))
    with pytest.raises(SpecError) as err:
        again()
    assert err.value.field == field and "to sample the data again" in str(err.value), str(err.value)


@pytest.mark.parametrize("kind", ["fifo", "cut", "link"])
def test_a_kd_data_file_that_cannot_be_read_is_one_error(tmp_path, kind):
    import os

    _, final, again = _kd_cache(tmp_path)
    text = final.read_text()
    final.unlink()
    if kind == "fifo":
        os.mkfifo(final)
    elif kind == "cut":
        final.write_text(text[: len(text) // 2])
    else:
        (tmp_path / "elsewhere.json").write_text(text)
        final.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(SpecError, match="to sample the data again"):
        again()


def test_a_kept_part_of_another_size_is_refused_before_it_is_assembled(tmp_path):
    from suite.distill.offline import KDRequest, generate_kd_data
    from tests.models import tiny_llama

    request = KDRequest("a" * 64, "gsm8k", 0.5, 1, 4, 0, None, chunk_size=2)
    key = request.key(((1, 2), (3, 4)), "cpu/float32")
    folder = tmp_path / "kd" / f"gsm8k-t0.5-{key[:16]}"
    folder.mkdir(parents=True)
    (folder / "part-000-00000.json").write_text(json.dumps([[1, 2]] * 100))
    with pytest.raises(SpecError, match="expected 2 responses"):
        generate_kd_data(tiny_llama(vocab=8), [[1, 2], [3, 4]], request, cache_root=tmp_path / "kd")
    assert not (folder / "data.json").exists()


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_distill_lock_that_is_no_file_is_named_not_waited_on(tmp_path, kind):
    import os

    from suite.distill.recipes import claim

    lock = tmp_path / "locks" / "d.lock"
    lock.parent.mkdir()
    os.mkfifo(lock) if kind == "fifo" else lock.mkdir()
    with pytest.raises(SpecError, match="not a regular file"), claim(lock):
        pass


def test_a_draft_whose_training_json_is_a_folder_is_not_built(tmp_path):
    from suite.distill.recipes import KDDraft, is_done

    draft = KDDraft.__new__(KDDraft)
    object.__setattr__(draft, "name", "kd-offline-gsm8k-t0.0-s0")
    (tmp_path / draft.name / "training.json").mkdir(parents=True)
    assert not is_done(tmp_path, draft)
    (tmp_path / draft.name / "training.json").rmdir()
    (tmp_path / draft.name / "training.json").write_text("{}")
    assert is_done(tmp_path, draft)  # the control


@pytest.mark.parametrize(
    "argv",
    [["bundle-tables", "--write", ""], ["fetch", ""], ["fetch", "x", "--sources", ""]],
    ids=["bundle-tables-write", "fetch-dest", "fetch-sources"],
)
def test_an_empty_path_is_refused_by_bundle_tables_and_fetch(argv, tmp_path, capsys):
    from suite.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "expected a path" in err, err


def test_fetch_writes_a_file_of_the_longest_name_a_folder_holds(tmp_path):
    from suite.fetch import _write_new

    path = tmp_path / ("a" * 255)
    _write_new(path, b"hello\n")
    assert path.read_bytes() == b"hello\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        path.name
    ]


def test_fetch_names_an_entry_whose_path_the_system_cannot_hold(tmp_path):
    from suite.fetch import fetch_one

    path = "/".join(["\U0001f600" * 63] * 16)  # 1,023 characters, 4,047 bytes
    entry = {"path": path, "url": "https://127.0.0.1:1/x", "sha256": "0" * 64}
    with pytest.raises(SpecError) as err:
        fetch_one(tmp_path / ("d" * 80), entry, sources=tmp_path / "s.yaml", index=0)
    assert err.value.field == "files[0].path" and "a path is at most" in str(err.value)


def _bundle(tmp_path, edit):
    import copy

    from tests.test_hostile_inputs_more import REPO

    manifest = json.loads((REPO / "reference" / "MANIFEST.json").read_text())
    keep = ("llama/tokenizer", "llama/draft", "llama/target", "llama/kd-offline-alpaca-t0.6-s0")
    manifest["artifacts"] = {k: v for k, v in manifest["artifacts"].items() if k in keep}
    edit(manifest["artifacts"], copy)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "MANIFEST.json").write_text(json.dumps(manifest))
    return ["bundle-tables", "--reference", str(tmp_path / "b")]


def _alpha_above_one(artifacts, copy):
    artifacts["llama/draft"]["acceptance"]["alpaca"]["0.0"]["alpha"] = 1.5


def _tiny_kd(artifacts, copy):
    artifacts["llama/kd-offline-alpaca-t0.6-s0"]["kd_temperature"] = 1e-7


@pytest.mark.parametrize(("edit", "field"), [(_alpha_above_one, "llama/draft.acceptance"),
                                              (_tiny_kd, "kd_temperature")])  # fmt: skip
def test_bundle_tables_refuses_what_no_run_measures(edit, field, tmp_path, capsys):
    refused(_bundle(tmp_path, edit), tmp_path, capsys, "MANIFEST.json", field)


def test_bundle_tables_keeps_two_kd_temperatures_in_two_rows(tmp_path, capsys):
    from suite.cli import main

    def second(artifacts, copy):
        twin = copy.deepcopy(artifacts["llama/kd-offline-alpaca-t0.6-s0"])
        twin.update(kd_temperature=0.61, path="llama/kd-offline-alpaca-t0.61-s0")
        artifacts["llama/kd-offline-alpaca-t0.61-s0"] = twin

    assert main(_bundle(tmp_path, second)) == 0
    out = capsys.readouterr().out
    assert "| offline τ_kd 0.6 |" in out and "| offline τ_kd 0.61 |" in out


def test_train_integers_take_a_whole_exponent_number():
    from suite.distill.loop import train_config

    cfg = train_config({"max_steps": 2e0, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 0e0}, "r")
    assert cfg.max_steps == 2 and isinstance(cfg.max_steps, int) and cfg.warmup_steps == 0


def test_quality_refuses_two_temperatures_its_tables_write_alike(capsys):
    from suite.quality import main

    with pytest.raises(SystemExit) as exit_:
        main(["--temperatures", "1", "1.0000000001", "--out", "/nonexistent/q"])
    assert exit_.value.code == 2 and "written 1 as 1.0" in capsys.readouterr().err


@pytest.mark.parametrize("value", [False, True, "0"], ids=["false", "true", "text"])
def test_a_kd_recipes_eval_every_is_an_integer(value, tmp_path):
    from suite.distill.recipe_spec import load_kd_recipe
    from tests.test_hostile_round18_tools import _kd_recipe

    path = _kd_recipe(tmp_path, lambda r: r.update(eval_every=value))
    with pytest.raises(SpecError) as err:
        load_kd_recipe(path)
    assert err.value.field == "eval_every", str(err.value)
    assert load_kd_recipe(_kd_recipe(tmp_path, lambda r: r.update(eval_every=0)))  # the control


@pytest.mark.parametrize(
    ("facts", "field"),
    [({"vocab_size": "lots"}, "vocab_size"), ({"command": "x\u001b[31mred\nline2"}, "command"),
     ({"recipe": [1, 2]}, "recipe"), ({"min_frequency": -5}, "min_frequency")],
)  # fmt: skip
def test_a_copied_tokenizers_facts_are_typed(facts, field, tmp_path, capsys, monkeypatch):
    import copy

    from tests.test_hostile_round18_tools import TINY, TOKENIZER
    from tests.test_hostile_round18_tools import _train_recipe as recipe_of

    source = tmp_path / "src"
    shutil.copytree(TOKENIZER, source)
    (source / "training.json").write_text(json.dumps({"artifact": "tokenizer", **facts}))
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    assert copy.deepcopy(TINY)["tokenizer"] == {"copy_from": str(TOKENIZER)}
    path = recipe_of(tmp_path, lambda r: r.update(tokenizer={"copy_from": str(source)}))
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "training.json", field)
