"""Inputs left open by the thirty-sixth attack and found by the thirty-seventh and thirty-eighth
(each part below names its round). Round 36: a results header that leaves out a study's title or
claims, ``--out`` onto a folder nothing can be written into or through a dangling link, a FIFO in
a results folder's place of a file, a pretraining recipe's integers written as whole exponent
numbers (good input that was refused), the benchmark table printing two τ_dec as one. Round 37:
training settings that diverge, a relabelled draft, seconds no clock reads, heavy records of
unplanned cells, a submission's method. Round 38: fuzzy matching behind a regex comment, lm-eval
config numbers and output path, a blank prompt, fields no run writes, a legacy draft name, the
first unplanned cell. Each case failed on the commit before its fix, but the controls."""

from __future__ import annotations

import copy
import json
import math
import os

import pytest
import yaml

from suite.distill.recipe_file import load_recipe
from suite.errors import SpecError
from tests.hostile import refused
from tests.test_hostile_round18_tools import ALIGN, TINY
from tests.test_hostile_round23 import _report_of
from tests.test_hostile_round30 import difficulty, forged_report_refused  # noqa: F401 (fixture)
from tests.test_hostile_round33 import linked_reference  # noqa: F401 (fixture)
from tests.test_submissions import scored, tiny  # noqa: F401 (fixtures)


def _without(field, study=None):
    def edit(records, header):
        if study is None:
            del header[field]
        else:
            del header[field][study]

    return edit


@pytest.mark.parametrize(
    ("edit", "field"),
    [(_without("study_titles"), "study_titles"),
     (_without("study_claims"), "study_claims"),
     (_without("study_titles", "difficulty"), "study_titles"),
     (_without("study_claims", "difficulty"), "study_claims")],
)  # fmt: skip
def test_a_header_states_each_studys_title_claims_and_cells(difficulty, edit, field, tmp_path,  # noqa: F811
                                                            capsys):  # fmt: skip
    """A header without a study's title reported its figures under the file's name."""
    forged_report_refused(difficulty, tmp_path, capsys, edit, "run.json", f"'{field}'", "resume")


def test_the_genuine_header_is_reported(difficulty, tmp_path, capsys):  # noqa: F811
    from suite.cli import main

    assert main(["report", str(difficulty), "--out", str(tmp_path / "rep")]) == 0
    assert "Dataset difficulty" in (tmp_path / "rep" / "report.html").read_text()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_report_out_where_nothing_can_be_written_names_out(difficulty, tmp_path, capsys):  # noqa: F811
    """``--out /proc/self`` ended on the OS error of a temporary file, naming no option."""
    refused(["report", str(difficulty), "--out", "/proc/self"], tmp_path, capsys,
            "field '--out'", "'/proc/self'", "cannot write into it")  # fmt: skip


@pytest.mark.parametrize("below", [False, True])
def test_out_through_a_dangling_link_says_so(difficulty, tmp_path, capsys, below):  # noqa: F811
    """A link to nothing was described as a path that 'exists and is not a folder'."""
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    out = link / "sub" if below else link
    refused(["report", str(difficulty), "--out", str(out)], tmp_path, capsys,
            "field '--out'", "symbolic link to a missing path", "nowhere")  # fmt: skip
    assert not (tmp_path / "nowhere").exists()


def test_a_fifo_in_a_results_folder_is_named_as_one(difficulty, tmp_path, capsys):  # noqa: F811
    import shutil

    folder = tmp_path / "results"
    shutil.copytree(difficulty, folder)
    (folder / ".lock").unlink(missing_ok=True)
    os.mkfifo(folder / ".lock")
    argv = ["run", "difficulty", "--profile", "smoke", "--out", str(folder), "--quiet"]
    before = (folder / "cells.jsonl").read_bytes()
    refused(argv, tmp_path, capsys, ".lock", "a FIFO", "remove it")
    assert (folder / "cells.jsonl").read_bytes() == before


def _recipe(tmp_path, edit):
    recipe = copy.deepcopy(TINY)
    edit(recipe)
    path = tmp_path / "recipe.yaml"
    # as a person writes them: ``2e0`` is a float in YAML 1.2 (safe_dump would write 2.0)
    path.write_text(yaml.safe_dump(recipe).replace(": 2.0\n", ": 2e0\n"))
    return path


def _exponents(recipe):
    target = recipe["models"]["target"]
    recipe.update(seed=0.0, eval_examples=2.0)
    target["config"] = {k: float(v) for k, v in target["config"].items()}
    target["eval_every"] = 1.0
    target["align"] = {**copy.deepcopy(ALIGN), "rounds": 1.0, "batch_size": 2.0}


def test_a_recipes_whole_exponent_integers_are_those_integers(tmp_path):
    """Good input: ``eval_examples: 2e0`` (and every size) was refused as 'expected an integer',
    while the same file's ``train:`` sections read it as 2."""
    path = _recipe(tmp_path, _exponents)
    assert "eval_examples: 2e0" in path.read_text()
    recipe = load_recipe(path)
    target = recipe["models"]["target"]
    align = target["align"]
    read = [recipe["seed"], recipe["eval_examples"], target["eval_every"], align["rounds"],
            align["batch_size"], *target["config"].values()]  # fmt: skip
    assert all(type(v) is int for v in read), read
    assert target["config"]["hidden_size"] == 8 and recipe["eval_examples"] == 2


def test_a_recipes_own_tokenizer_sizes_read_whole_exponents(tmp_path):
    def edit(recipe):
        recipe["tokenizer"] = {"vocab_size": 320.0, "min_frequency": 2.0}

    recipe = load_recipe(_recipe(tmp_path, edit))
    assert recipe["tokenizer"] == {"vocab_size": 320, "min_frequency": 2}
    assert all(type(v) is int for v in recipe["tokenizer"].values())


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(lambda r: r.update(eval_examples=2.5), "eval_examples", "2.5"),
     (lambda r: r.update(seed=0.5), "seed", "0.5"),
     (lambda r: r["models"]["target"]["config"].update(hidden_size=8.5),
      "models.target.config.hidden_size", "8.5"),
     (lambda r: r["models"]["target"].update(eval_every=1e300), "models.target.eval_every",
      "1e+300"),
     (lambda r: r["models"]["target"].update(align={**ALIGN, "rounds": 1.5}),
      "models.target.align.rounds", "1.5")],
)  # fmt: skip
def test_a_recipes_fractional_integers_are_still_refused(tmp_path, edit, field, shown):
    """The control: only a whole number is read as an integer."""
    with pytest.raises(SpecError) as err:
        load_recipe(_recipe(tmp_path, edit))
    assert f"'{field}'" in str(err.value) and shown in str(err.value), str(err.value)


def test_the_bench_table_tells_close_temperatures_apart():
    """0.7 and 0.74 were both printed as 0.7 (the table's and the best-K line's labels)."""
    from suite.bench_table import COLUMNS, _best_lines

    label = COLUMNS[0][2]
    assert [label({"temperature": t}) for t in (0.7, 0.74, 0.0, -0.0, 1.0)] == [
        "0.7", "0.74", "0", "0", "1"]  # fmt: skip
    best = {"num_draft_tokens": 2, "speedup_measured": 1.0, "at_edge_of_sweep": False,
            "assisted_num_draft_tokens": 2, "speedup_assisted": 1.0}  # fmt: skip
    result = {"best_num_draft_tokens": {"d": {"0.7": best, "0.74": best}},
              "headline": {"d": {"0.5": {"speedup": 1.0, "num_draft_tokens": 2}}}}  # fmt: skip
    lines = _best_lines(result)
    assert "τ 0.7: K=2" in lines[1] and "τ 0.74: K=2" in lines[1], lines
    assert "τ 0.5 1.00" in lines[2], lines  # the headline printed 0.5 as "0"


# --- round 37: training settings that diverge or never move a weight; a relabelled draft ---

TRAIN_OK = {"max_steps": 3, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 0, "batch_size": 2}


@pytest.mark.parametrize(
    ("over", "field", "shown"),
    [({"weight_decay": 1e9}, "weight_decay", "1000000000.0"),
     ({"weight_decay": 1e6}, "weight_decay", "1000000.0"),
     ({"lr": 1.0, "min_lr": 0.0, "weight_decay": 1.0}, "weight_decay", "1.0"),
     ({"lr": 5e-324, "min_lr": 0.0}, "lr", "5e-324"),
     ({"grad_clip": 1e-300}, "grad_clip", "1e-300")],
)  # fmt: skip
def test_training_settings_that_diverge_or_never_move_a_weight_are_refused(over, field, shown):
    """``weight_decay: 1e9`` saved a checkpoint of NaN weights with finite losses."""
    from suite.distill.loop import train_config

    with pytest.raises(SpecError) as err:
        train_config({**TRAIN_OK, **over}, "r.yaml", "models.target.train")
    assert err.value.field == f"models.target.train.{field}", str(err.value)
    assert shown in str(err.value), str(err.value)


def test_usual_training_settings_are_read():
    """The control: the bundled recipes' settings and the loop's defaults."""
    from suite.distill.loop import train_config

    read = train_config({**TRAIN_OK, "weight_decay": 0.1, "grad_clip": 1.0}, "r.yaml")
    assert (read.weight_decay, read.grad_clip) == (0.1, 1.0)
    assert train_config({**TRAIN_OK, "lr": 1.0, "min_lr": 0.0}, "r.yaml").weight_decay == 0.1


def test_a_run_whose_weights_diverge_saves_no_checkpoint(tmp_path):
    """The loss of a model of NaN weights stays finite; the checkpoint is refused, not saved."""
    import torch

    from suite.distill.loop import TrainConfig, train
    from suite.distill.pretrain import lm_loss
    from tests.models import tiny_llama

    cfg = TrainConfig(
        max_steps=3, lr=1.0, min_lr=1.0, warmup_steps=0, weight_decay=1e9, batch_size=2, log_every=1
    )  # fmt: skip  (past the reader, as a forged call)
    batch = torch.randint(0, 8, (2, 5))
    with pytest.raises(SpecError, match="NaN or infinite weight at step 3") as err:
        train(tiny_llama(), cfg, lambda s: batch, lm_loss, tmp_path / "ck", desc="t")
    assert err.value.field == "weights", str(err.value)
    assert not (tmp_path / "ck" / "model.safetensors").exists()


def _relabelled(manifest):
    manifest["artifacts"]["llama/draft"]["kind"] = "target"


def _second_target(manifest):
    entry = dict(manifest["artifacts"]["llama/target"], path="llama/target-2")
    manifest["artifacts"]["llama/target-2"] = entry


def _target_as_draft(manifest):
    manifest["artifacts"]["t5/target"]["kind"] = "draft"


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(_relabelled, "artifacts.llama/draft.kind", "'target'"),
     (_second_target, "artifacts.llama/target-2.kind", "'target'"),
     (_target_as_draft, "artifacts.t5/target.kind", "'draft'")],
)  # fmt: skip
def test_an_artifacts_kind_is_the_one_its_facts_make(edit, field, shown, linked_reference, capsys,  # noqa: F811
                                                     tmp_path):  # fmt: skip
    """A draft relabelled as a target passed verify and dropped the base-draft rows."""
    path = linked_reference / "MANIFEST.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.unlink()  # a hard link: replaced, not edited
    path.write_text(json.dumps(manifest))
    for argv in (["verify", "--hashes-only"], ["bundle-tables"]):
        refused([*argv, "--bundle", str(linked_reference)], tmp_path, capsys,
                "MANIFEST.json", f"'{field}'", shown)  # fmt: skip


# --- round 37: seconds no clock reads, a speedup checked against infinity, heavy records ---


def _timed(speculative, baseline=None, speedup=None):
    def edit(records, header):
        record = next(r for r in records if r["cell"]["engine"] == "empirical")
        timing, (prompt,) = record["timing"], record["timing"]["per_prompt"]
        prompt.update(speculative_seconds=speculative, draft_seconds=0.0, target_seconds=0.0)
        timing["speculative_seconds"] = speculative
        for item in (prompt, timing):
            if baseline is not None:
                item["baseline_seconds"] = baseline
            if speedup is None:
                item.pop("speedup")
            else:
                item["speedup"] = speedup

    return edit


@pytest.mark.parametrize(
    ("edit", "shown"),
    [(_timed(5e-324), "5e-324"), (_timed(1e-310, 1.0, 777.0), "1e-310")],
    ids=["divides-by-zero", "speedup-of-infinity"],
)  # fmt: skip
def test_seconds_no_clock_reads_are_refused(difficulty, edit, shown, tmp_path, capsys):  # noqa: F811
    """5e-324 s ended report and a resume in a ZeroDivisionError; 1e-310 s made the expected
    γ infinite, and any stated speedup (777) was 'equal' to it."""
    forged_report_refused(difficulty, tmp_path, capsys, edit, "cells.jsonl",
                          "speculative_seconds", shown, "a clock reads nanoseconds")  # fmt: skip


def test_a_resume_refuses_seconds_no_clock_reads(difficulty, tmp_path, capsys):  # noqa: F811
    from tests.test_hostile_round30 import _forged

    folder = _forged(difficulty, tmp_path, _timed(5e-324))
    argv = ["run", "difficulty", "--profile", "smoke", "--out", str(folder), "--quiet"]
    refused(argv, tmp_path, capsys, "cells.jsonl", "speculative_seconds", "5e-324")


def test_a_value_is_never_the_same_as_infinity():
    from suite.record_read import _same

    assert not _same(777.0, math.inf) and not _same(math.inf, 1.0)
    assert _same(math.inf, math.inf) and _same(1.0, 1.0 + 1e-12)  # the control


def _unplanned_heavy(records, header):
    from suite.record_read import _read_cell, _Reader

    extra = copy.deepcopy(next(r for r in records if r["cell"]["engine"] == "analytic"))
    extra["cell"]["decode_temperature"] = 1.5
    extra["key"] = _read_cell(_Reader(extra["cell"], "cell")).key
    records.append(extra)


def test_unplanned_records_are_refused_before_restating(difficulty, tmp_path, capsys,  # noqa: F811
                                                        monkeypatch):  # fmt: skip
    """Each line of cells.jsonl restated its bootstrap (up to 4M draws) before a key no study
    plans was refused: about 28 minutes for a folder at the size bound, 2 to parse it."""
    import suite.record_read

    def restated(*args, **kwargs):
        raise AssertionError("an interval was restated before the cells were held to the plan")

    monkeypatch.setattr(suite.record_read, "restated_ratio_bootstrap", restated)
    forged_report_refused(difficulty, tmp_path, capsys, _unplanned_heavy, "cells.jsonl",
                          "field 'key'", "/t1.5/", "plans")  # fmt: skip
    folder = tmp_path / "results"  # a resume refuses it as early
    argv = ["run", "difficulty", "--profile", "smoke", "--out", str(folder), "--quiet"]
    refused(argv, tmp_path, capsys, "cells.jsonl", "field 'key'", "/t1.5/", "does not plan")


# --- round 37: a submission's method, as `submissions check` reads it ---


def _method(method, records=True):
    def edit(data, folder):
        data["training"]["method"] = method
        if not records:
            return
        path = folder / "cells.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        for line in lines:
            if line["cell"]["draft"].startswith("sub-"):
                line["cell"]["draft_facts"]["method"] = method
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    return edit


@pytest.mark.parametrize(
    ("edit", "where", "field"),
    [(_method("magic"), "cells.jsonl", "cell.draft_facts.method"),
     (_method("base"), "cells.jsonl", "cell.draft_facts.method"),
     (_method("x" * 200), "cells.jsonl", "cell.draft_facts.method"),
     (_method("magic", records=False), "submission.json", "training.method")],
    ids=["magic", "base", "long", "json-alone"],
)  # fmt: skip
def test_a_submissions_method_is_one_check_takes(scored, edit, where, field, tmp_path, capsys):  # noqa: F811
    """A method `submissions check` refuses ('magic', or the bundle's 'base') was reported when
    submission.json and the records stated it alike."""
    argv = _report_of(scored, tmp_path, edit)
    refused(argv, tmp_path, capsys, where, field, "offline, online, other")


def test_a_records_submission_method_is_one_check_takes():
    from suite.drafts import SUBMISSION, facts_from_mapping

    def fail(field, value, message):
        return SpecError("cells.jsonl", field, value, message)

    with pytest.raises(SpecError, match="offline, online, other") as err:
        facts_from_mapping({"method": "magic", "origin": SUBMISSION}, fail, "cell.draft_facts.")
    assert err.value.field == "cell.draft_facts.method"
    assert facts_from_mapping({"method": "other", "origin": SUBMISSION}, fail).method == "other"
    assert facts_from_mapping({"method": "base"}, fail).method == "base"  # the bundle's own


def test_a_submit_folder_with_its_own_method_is_reported(scored, tmp_path, capsys):  # noqa: F811
    """The control: the folder submit wrote, its method as stated."""
    from suite.cli import main

    argv = _report_of(scored, tmp_path, lambda data, folder: None)
    assert main(argv) == 0, capsys.readouterr().err


# --- round 38: regex comments, lm-eval config numbers and output path, a blank prompt,
# --- fields no run writes, legacy draft names, the first unplanned cell ---


@pytest.mark.parametrize(
    "pattern",
    [r"####\s*(?#[)(99){e<=2}", "(?x)#[\n(?:abc){e<=1}", "(?#[)(42){s<=1}",
     "(?x:a # [\n){e<=1}", "(?x)(?-x:#[)]){e<=1}", "(?#[)(?:\\d+){e<=3}"],
)  # fmt: skip
def test_fuzzy_matching_behind_a_regex_comment_is_refused(pattern):
    """A '[' in a comment opened a class for the brace check, so a fuzzy repeat after it
    passed and the regex module matched '99' in '18'."""
    from suite.sandbox import regex_problem

    assert "not a repeat count" in (regex_problem(pattern) or ""), pattern


@pytest.mark.parametrize(
    "pattern",
    [r"\N{DIGIT ONE}(\d+)", "(?x) (\\d+) # e.g. {42}", "(?x:a # c\n)(?#x)b{2}",
     r"(?#a\)(\d+)", r"####\s*(\-?[0-9.,]+)"],
)  # fmt: skip
def test_regexes_with_comments_and_named_escapes_are_read(pattern):
    """Good input: a named escape's braces were read as fuzzy matching (and the controls)."""
    from suite.sandbox import regex_problem

    assert regex_problem(pattern) is None, pattern


def _spec_folder(tmp_path, name: str, regex: str):
    """A --tasks-dir folder of one GSM8K-like spec whose answer pattern is ``regex`` (YAML)."""
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / f"{name}.yaml").write_text(
        f"name: {name}\ndescription: d\nlicense: MIT\nsource: {{format: jsonl}}\n"
        "splits:\n  test:\n    files: [gsm8k/test.jsonl]\ninstruction: '{{ question }}'\n"
        "answer:\n  template: '{{ answer }}'\n  normalize: number\n  patterns:\n"
        f"    - regex: {regex}\n"
    )
    return folder


def test_a_task_spec_hiding_fuzzy_matching_in_a_comment_is_refused(tmp_path, capsys):
    folder = _spec_folder(tmp_path, "fz", "'####\\s*(?#[)(99){e<=2}'")
    argv = ["tasks", "fz", "--show", "2", "--tasks-dir", str(folder)]
    refused(argv, tmp_path, capsys, "fz.yaml", "regex", "not a repeat count")


@pytest.mark.parametrize(
    ("line", "shown"),
    [("temperature: .inf", "inf"), ("temperature: .nan", "nan"), ("max_gen_toks: 1:04", "64"),
     ("max_gen_toks: 0x4", "4"), ("max_gen_toks: 1_0", "10")],
)  # fmt: skip
def test_an_lm_eval_configs_numbers_are_decimal_as_written(line, shown, tmp_path, capsys):
    """YAML 1.1 read these as numbers lm-eval ran with (temperature: Infinity in the results)."""
    config = tmp_path / "c.yaml"
    config.write_text(f"gen_kwargs: {{{line}}}\n")
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x",
            "--output_path", str(tmp_path / "o")]  # fmt: skip
    refused(argv, tmp_path, capsys, "c.yaml", "gen_kwargs.", "decimal digits", f"as {shown})")


def test_an_lm_eval_configs_decimal_numbers_are_read(tmp_path):
    from suite.lm_eval_args import read_config

    config = tmp_path / "c.yaml"
    config.write_text("gen_kwargs: {temperature: 0.5, max_gen_toks: 4, top_p: -1.5E+2}\n")
    assert read_config(str(config))["gen_kwargs"] == {
        "temperature": "0.5", "max_gen_toks": "4", "top_p": "-1.5E+2"}  # fmt: skip


@pytest.mark.parametrize("where", ["/dev/null", "file/x", "file"])
def test_an_lm_eval_output_path_that_cannot_hold_results_is_refused(where, tmp_path, capsys):
    """/dev/null ran the whole evaluation, lm-eval logged a failed save, and it ended 0."""
    (tmp_path / "file").write_text("x")
    path = where if where.startswith("/") else str(tmp_path / where)
    argv = ["lm-eval", "run", "--model", "specdec", "--model_args", "target=t", "--tasks", "x",
            "--output_path", path]  # fmt: skip
    refused(argv, tmp_path, capsys, "--output_path", "not a folder")


@pytest.mark.parametrize("prompt", ["", "   \n\t"])
def test_generate_refuses_a_blank_prompt(prompt, tmp_path, capsys):
    from tests.test_hostile_inputs_more import TARGET

    argv = ["generate", "--target", str(TARGET), "--max-new-tokens", "4", prompt]
    refused(argv, tmp_path, capsys, "field 'prompt'", "asks nothing")


def _field(path, value):
    def edit(records, header):
        record = next(r for r in records if r["cell"]["engine"] == "empirical")
        *parents, last = path.split(".")
        target = record
        for name in parents:
            target = target[name]
        target[last] = value

    return edit


def _junk_copy(records, header):
    records.append({**copy.deepcopy(records[0]), "x": [[] for _ in range(1000)]})


@pytest.mark.parametrize(
    ("edit", "field"),
    [(_field("x", []), "'line 5: x'"), (_field("cell.y", 1), "'line 5: cell.y'"),
     (_field("result.y", 1), "'line 5: result.y'"), (_field("timing.y", 1), "timing.y"),
     (_field("provenance.models.draft.y", 1), "provenance.models.draft.y"),
     (_junk_copy, "'line 6: x'")],
    ids=["top", "cell", "result", "timing", "model", "junk-copy"],
)  # fmt: skip
def test_a_field_no_run_writes_is_refused(difficulty, edit, field, tmp_path, capsys):  # noqa: F811
    """Unknown fields were read past at every level, and copies of one record carrying
    megabytes of different junk were read as that record, each parsed in full."""
    forged_report_refused(difficulty, tmp_path, capsys, edit, "cells.jsonl", field,
                          "no run writes")  # fmt: skip


def test_a_legacy_draft_name_with_no_number_for_its_tau_is_another_draft():
    """``kd-online-gsm8k-t1.2.3`` ended a submit resume on a bare ValueError."""
    from suite.drafts import facts_from_name

    assert facts_from_name("kd-online-gsm8k-t1.2.3").method == "other"
    facts = facts_from_name("kd-online-gsm8k-t0.5-s1")  # the control
    assert (facts.method, facts.kd_temperature, facts.seed) == ("online", 0.5, 1)


def _unplanned_first(records, header):
    _unplanned_heavy(records, header)
    records.insert(0, records.pop())


def test_the_first_unplanned_cell_ends_the_reading(difficulty, tmp_path, capsys):  # noqa: F811
    """A folder whose first line no study plans was refused only after every line was parsed
    (seconds for each 3 MiB line after it); the line after it is never read."""
    from tests.test_hostile_round30 import _forged

    folder = _forged(difficulty, tmp_path, _unplanned_first)
    with (folder / "cells.jsonl").open("a") as fh:
        fh.write('{"not": "a record"\n')
    refused(["report", str(folder), "--out", str(tmp_path / "rep")], tmp_path, capsys,
            "cells.jsonl", "field 'key'", "/t1.5/")  # fmt: skip
    argv = ["run", "difficulty", "--profile", "smoke", "--out", str(folder), "--quiet"]
    refused(argv, tmp_path, capsys, "cells.jsonl", "field 'key'", "/t1.5/", "does not plan")


# --- round 39: --bundle spellings, bench past a model's positions, options given twice ---


def test_the_shortest_abbreviation_of_bundle_is_refused(tmp_path, capsys):
    """``--b DIR`` was taken for --bundle by argparse, and the checkout's bundle was verified."""
    (tmp_path / "empty").mkdir()
    for argv in (["verify", "--b", str(tmp_path / "empty"), "--hashes-only"],
                 ["--b", str(tmp_path / "empty"), "verify", "--hashes-only"]):  # fmt: skip
        with pytest.raises(SystemExit) as done:
            from suite.cli import main

            main(argv)
        assert done.value.code == 2
        assert "write --bundle in full" in capsys.readouterr().err


def test_bundle_and_reference_together_are_refused(tmp_path, capsys):
    """verify used --reference and dropped --bundle without a word."""
    from suite.cli import main

    (tmp_path / "empty").mkdir()
    argv = ["verify", "--bundle", str(tmp_path / "empty"), "--refer", "reference", "--hashes-only"]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert "both name the bundle folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["fetch", "DEST", "--sources", "a.yaml", "--sources", "b.yaml"],
     ["report", "DIR", "--out", "a", "--out", "b"],
     ["run", "difficulty", "--profile", "smoke", "--out", "a", "--out=b"],
     ["manifest", "--cells", "a", "--cells", "b"]],
    ids=["fetch-sources", "report-out", "run-out", "manifest-cells"],
)  # fmt: skip
def test_an_option_of_one_value_is_given_once(argv, tmp_path, capsys, monkeypatch):
    """``fetch --sources bad.yaml --sources good.yaml`` used the second and ended 0."""
    from suite.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "given twice" in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_manifest_cells_is_not_an_empty_path(tmp_path, capsys, monkeypatch):
    """``--cells ''`` made the acceptance cells' results folder in the working folder."""
    from suite.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["manifest", "--cells", ""])
    assert done.value.code == 2 and "--cells" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _short_pair(folder):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    for name, seed in (("t", 0), ("d", 1)):
        torch.manual_seed(seed)
        config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                             num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                             max_position_embeddings=16, tie_word_embeddings=False,
                             bos_token_id=None, eos_token_id=None, pad_token_id=None)  # fmt: skip
        LlamaForCausalLM(config).eval().save_pretrained(folder / name)
    return folder / "t", folder / "d"


@pytest.mark.parametrize("new", ["40", "2"])
def test_bench_refuses_a_decode_past_the_models_positions(new, tmp_path, capsys):
    """A 16-position target was timed over 71 positions and the result written."""
    target, draft = _short_pair(tmp_path / "pair")
    argv = ["bench", "--target", str(target), "--draft", str(draft), "--max-new-tokens", new,
            "--prompts", "1", "--num-draft-tokens", "1", "--temperatures", "0",
            "--out", str(tmp_path / "out")]  # fmt: skip
    # random prompts are 16 to 32 ids long: past 16 positions with any new token
    refused(argv, tmp_path, capsys, "field '--max-new-tokens'", f"= {new}",
            "max_position_embeddings (16)")  # fmt: skip


# --- round 39: a backslash in a verbose comment, Oniguruma's repeat counts, lm-eval's save ---


@pytest.mark.parametrize("pattern", ["(?x)a#\\\n(?:(?:b|b)*)*c", "(?x)a#\\\n(b+)\\1"])
def test_a_backslash_in_a_verbose_comment_is_refused(pattern):
    """re carried the comment over the next line, the regex module ran it: an exponential
    pattern (2.2 s on 25 characters) and a back-reference passed every check."""
    from suite.sandbox import regex_problem

    assert "verbose (?x) comment" in (regex_problem(pattern) or ""), pattern


def test_a_task_spec_hiding_a_pattern_behind_a_verbose_comment_is_refused(tmp_path, capsys):
    folder = _spec_folder(tmp_path, "ev", '"(?x)a#\\\\\\n(?:(?:b|b)*)*c"')
    argv = ["tasks", "ev", "--show", "1", "--tasks-dir", str(folder)]
    refused(argv, tmp_path, capsys, "ev.yaml", "regex", "verbose (?x) comment")


@pytest.mark.parametrize("pattern", ["xa{1,2}+c", "a{2}+", "(?:ab){1,2}+", "\\p{L}{1,2}+", "a{2}?"])
def test_a_tokenizer_repeat_count_oniguruma_repeats_again_is_refused(pattern):
    """Oniguruma reads ``a{1,2}+`` as ``(?:a{1,2})+``: xa{1,2}+c passed every load check and
    panicked on 'x' and 32 'a's."""
    from suite.tokenizer_regex import tokenizer_regex_problem

    assert "Oniguruma applies it" in (tokenizer_regex_problem(pattern) or ""), pattern


@pytest.mark.parametrize("pattern", ["\\p{N}{1,3}", "a{2,3}?", "(?:ab){1,2}", " ?\\p{L}+"])
def test_tokenizer_repeat_counts_both_engines_read_alike_are_read(pattern):
    from suite.tokenizer_regex import tokenizer_regex_problem

    assert tokenizer_regex_problem(pattern) is None, pattern


@pytest.mark.parametrize(
    ("text", "shown"),
    [("gen_kwargs:\n  temperature: 2001-01-01\n", "a date"),
     ("gen_kwargs:\n  1: 2\n", "the key '1'"),
     ("metadata:\n  x: !!binary aGVsbG8=\n", "a bytes"),
     ("output_path: 2001-01-01\n", "expected a path"),
     ("output_path: [a, b]\n", "expected a path")],
    ids=["date", "number-key", "bytes", "date-path", "list-path"],
)  # fmt: skip
def test_an_lm_eval_config_holds_names_text_and_numbers(text, shown, tmp_path, capsys):
    """A date temperature ran, and a date output path ran and saved nothing, ending 0."""
    config = tmp_path / "c.yaml"
    config.write_text(text)
    argv = ["lm-eval", "run", "--config", str(config), "--tasks", "x"]
    refused(argv, tmp_path, capsys, "c.yaml", shown)


def _tracker(output):
    from lm_eval.loggers.evaluation_tracker import EvaluationTracker

    tracker = EvaluationTracker(output_path=str(output))
    tracker.general_config_tracker.model_name_sanitized = "m"
    return tracker


def test_lm_evals_failed_save_ends_the_run_with_an_error(tmp_path):
    """A file where lm-eval makes its model's folder: it logged the failure and ended 0."""
    from suite.lm_eval_args import Refused
    from suite.lm_eval_cli import results_kept

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "m").write_text("keep")
    with results_kept(), pytest.raises(Refused, match="could not save its results"):
        _tracker(tmp_path / "out").save_results_aggregated(results={"results": {}}, samples=None)
    assert (tmp_path / "out" / "m").read_text() == "keep"
    with results_kept():  # the control: a folder it can write
        _tracker(tmp_path / "ok").save_results_aggregated(results={"results": {}}, samples=None)
    assert len(list((tmp_path / "ok" / "m").glob("results_*.json"))) == 1
