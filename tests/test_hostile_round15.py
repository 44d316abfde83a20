"""Inputs of the fifteenth attack (a fresh one against the fourteenth round's fixes): records whose
numbers or text a run cannot write, a resume that dropped good records or kept ones without a
resample count, submissions that ``check`` passed and ``submit`` refused, profiles whose sizes or
folders were unbounded, checks that ``run`` made and ``reproduce`` did not, and errors of more
than one line. Each case failed on the commit before its fix."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from suite.cli import main
from tests.hostile import refused
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_results import LINE, _folder, _sub
from tests.test_hostile_round14_results import STUDY, _resume, one_cell  # noqa: F401 (a fixture)
from tests.test_hostile_submissions import _tensor
from tests.test_submissions import _copy, tiny  # noqa: F401 (a fixture)

SMOKE = REPO / "tasks" / "profiles" / "smoke.yaml"


@pytest.mark.parametrize(
    ("cells", "field", "value"),
    [
        (_sub('"test/0"', '"test/0\\u001b[31m"'), "prompt_ids[0]", "U+001B"),
        (_sub('"torch": "2.13.0+cpu"', '"torch\\u001b[2J": "2"'), "provenance.packages",
         "U+001B"),
        (_sub('"torch": "2.13.0+cpu"', '"torch": {"nested": [1]}'), "provenance.packages.torch",
         "expected a number"),
        (_sub('"models": {"draft"', '"models": {"evil"'), "provenance.models.evil", "a role"),
        (_sub('"sha256": "' + "c" * 64, '"sha256": "' + "c" * 5000), "models.draft.sha256",
         "64 hex digits"),
        (_sub('"1": [12.0, 20]', '"1": [26.0, 20]'), "acceptance_by_token_chars.1", "Σβ <= count"),
        # a sign, not other digits: a float written with more digits than it holds is refused
        # for that since round 43
        (_sub('"standard_error": 0.0888', '"standard_error": -0.0888'), "result.standard_error",
         "-0.0888"),
        (_sub('"confidence_level": 0.95', '"confidence_level": 42'), "result.confidence_level",
         "42"),
        (_sub('"finished_at": "2026-01-01T00:00:00+00:00"', '"finished_at": "' + "x" * 100 + '"'),
         "timing.finished_at", "ISO 8601"),
        (_sub('"prompt_ids": ["test/0", "test/1"]', '"prompt_ids": ["test/0"]'), "prompt_ids",
         "1 ids for a cell of 2 prompts"),
    ],
    ids=["prompt-id-escape", "package-escape", "package-nested", "model-role", "model-sha256",
         "bucket-sum", "standard-error", "level", "finished-at", "fewer-ids"],
)  # fmt: skip
@pytest.mark.usefixtures("hand_made_plan")  # a folder built by hand
def test_a_record_a_run_cannot_write_is_refused(tmp_path, capsys, cells, field, value):
    folder = _folder(tmp_path, cells, None)
    refused(["report", str(folder)], tmp_path, capsys, "cells.jsonl", field, value)


def test_a_record_stating_no_resample_count_is_recomputed(one_cell, tmp_path, capsys):  # noqa: F811
    def drop(lines):
        for line in lines:
            line["result"]["n_boot"] = None
        return lines

    record = _resume(one_cell, tmp_path, capsys, drop)
    assert record["result"]["n_boot"] == 1000


def test_a_record_over_the_readers_value_count_is_not_written(tmp_path, monkeypatch):
    from suite import store
    from suite.errors import SpecError

    folder = tmp_path / "r"
    folder.mkdir()
    monkeypatch.setattr(store, "MAX_LINE_VALUES", 10)
    with pytest.raises(SpecError, match="JSON values"):
        store.ResultsStore(folder).append(json.loads(LINE))
    assert not (folder / "cells.jsonl").exists() or not (folder / "cells.jsonl").read_bytes()


def test_a_non_finite_logit_is_named_by_its_model_not_scored(monkeypatch):
    import torch

    from suite import cells
    from suite.decoding.sampling import NonFiniteLogits, probs_from_logits
    from suite.errors import SpecError
    from suite.profiles import load_profile
    from suite.studies import load_study, plan_studies

    with pytest.raises(NonFiniteLogits, match="the draft gives NaN"):
        probs_from_logits(torch.tensor([[0.0, float("nan")]]), 0.0, "draft")
    assert probs_from_logits(torch.tensor([[0.0, 1.0]]), 0.0).tolist() == [[0.0, 1.0]]
    profile = load_profile("smoke")
    (cell,) = plan_studies([load_study(REPO / "tasks" / "studies" / "difficulty.yaml")], profile,
                           ("empirical",)).cells[:1]  # fmt: skip

    def nan(*args, **kwargs):
        raise NonFiniteLogits("draft")

    monkeypatch.setattr(cells, "run_empirical", nan)
    with pytest.raises(SpecError) as err:
        list(cells.execute_unit(("empirical", [cell]), cells.Context(profile, {})))
    assert err.value.field == "draft" and "gives NaN or infinite logits" in str(err.value)
    assert str(err.value).startswith("reference/llama/draft") or "llama/draft" in str(err.value)


def _half_profile(tmp_path, tiny) -> str:  # noqa: F811
    text = (tiny / "profiles" / "smoke.yaml").read_text()
    path = tmp_path / "p16" / "smoke.yaml"
    path.parent.mkdir()
    path.write_text(text + "dtype: float16\n")
    return str(path)


def test_a_submitted_configs_special_ids_must_be_the_targets(tmp_path):
    """``submit`` paired the models and refused another eos id naming no file; ``check`` now
    compares config.json's ids with the target's (the bundled Llama target states them)."""
    from suite.errors import SpecError
    from suite.profiles import load_profile
    from suite.strict import read_config
    from suite.submissions import _same_vocab_size

    family = load_profile("smoke").models["llama"]
    config = read_config(REPO / "reference" / "llama" / "draft" / "config.json")
    _same_vocab_size(tmp_path, config, family, "llama")  # the control: the bundled draft's
    with pytest.raises(SpecError) as err:
        _same_vocab_size(tmp_path, config | {"eos_token_id": 99999}, family, "llama")
    assert err.value.field == "eos_token_id" and err.value.value == 99999
    assert Path(err.value.path).name == "config.json"


def _not_utf8(folder: Path) -> None:
    (folder / "model" / os.fsdecode(b"notes\xff.txt")).write_text("hello")


@pytest.mark.parametrize(
    ("change", "half", "field", "value"),
    [
        (_tensor("model.norm.weight", lambda t: t.clone().fill_(1e5)), True, "model.norm.weight",
         "float16"),
        (_not_utf8, False, "notes\\udcff.txt", "not UTF-8"),
    ],
    ids=["past-float16", "file-name-bytes"],
)  # fmt: skip
def test_check_refuses_what_submit_would(tiny, tmp_path, capsys, change, half, field, value):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    change(folder)
    profile = _half_profile(tmp_path, tiny) if half else str(tiny / "profiles" / "smoke.yaml")
    refused(["submissions", "check", str(folder), "--profile", profile], tmp_path, capsys, field,
            value)  # fmt: skip


def _tokenizer_profile(tmp_path, name: str, text: bytes | None = None, size: int = 0) -> Path:
    tok = tmp_path / "tok"
    shutil.copytree(REPO / "reference" / "llama" / "tokenizer", tok)
    extra = tok / "additional_chat_templates"
    extra.mkdir()
    path = extra / name
    if text is not None:
        path.write_bytes(text)
    else:
        with path.open("wb") as fh:
            fh.truncate(size)
    profile = tmp_path / "p.yaml"
    profile.write_text(SMOKE.read_text().replace("name: smoke", "name: p").replace(
        "llama: {bundle: reference/llama}",
        f"llama: {{target: {{path: reference/llama/target}}, tokenizer: {{path: {tok}}}, "
        "drafts: {base: {path: reference/llama/draft}}}"))  # fmt: skip
    return profile


@pytest.mark.parametrize(
    ("text", "size", "shown"),
    [(None, 64 << 20, "characters"), (b"{% for i in range(9) %}x{% endfor %}", 0, "range")],
    ids=["huge", "hostile"],
)
def test_additional_chat_templates_are_checked_with_the_profile(tmp_path, capsys, text, size,
                                                                 shown):  # fmt: skip
    profile = _tokenizer_profile(tmp_path, "default.jinja", text, size)
    study = tmp_path / "s.yaml"
    study.write_text(STUDY)
    argv = ["run", "--profile", str(profile), "--quiet", "--out", str(tmp_path / "o"), str(study)]
    refused(argv, tmp_path, capsys, "p.yaml", "additional_chat_templates", shown)


def test_an_additional_chat_template_is_in_the_fingerprint(tmp_path):
    from suite.profiles import _folder_digest

    profile = _tokenizer_profile(tmp_path, "default.jinja", b"{{ messages[0]['content'] }}")
    tok = Path(profile.read_text().split("tokenizer: {path: ")[1].split("}")[0])
    before = _folder_digest(tok)
    (tok / "additional_chat_templates" / "default.jinja").write_text(
        "Q: {{ messages[0]['content'] }}"
    )
    assert _folder_digest(tok) != before


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("analytic: {prompts: 4,", "analytic: {batch_size: 100000, prompts: 4,", "batch_size"),
    ],
)
def test_a_profile_size_past_its_cap_is_refused(tmp_path, capsys, old, new, field):
    profile = tmp_path / "smoke.yaml"
    profile.write_text(SMOKE.read_text().replace(old, new))
    study = tmp_path / "s.yaml"
    study.write_text(STUDY)
    argv = ["run", "--profile", str(profile), "--quiet", "--out", str(tmp_path / "o"), str(study)]
    refused(argv, tmp_path, capsys, "smoke.yaml", field, "at most 256")


def test_a_decode_temperature_past_100_is_refused(tmp_path, capsys):
    study = tmp_path / "s.yaml"
    study.write_text(STUDY.replace("[0.0]", "[1e39]"))
    argv = ["run", "--profile", "smoke", "--quiet", "--out", str(tmp_path / "o"), str(study)]
    refused(argv, tmp_path, capsys, "s.yaml", "decode_temperatures[0]", "[0, 100]")


def test_a_whole_exponent_number_is_an_integer(tmp_path):
    from suite.profiles import load_profile_file

    profile = tmp_path / "smoke.yaml"
    profile.write_text(SMOKE.read_text().replace("max_draft_parameters: 2000000",
                                                 "max_draft_parameters: 2E6"))  # fmt: skip
    assert load_profile_file(profile).max_draft_parameters == 2_000_000


def test_too_many_draft_folders_are_refused(tmp_path, capsys, monkeypatch):
    from suite import profiles

    monkeypatch.setattr(profiles, "MAX_DRAFTS", 3)
    profile = tmp_path / "smoke.yaml"
    profile.write_text(SMOKE.read_text())
    with pytest.raises(profiles.SpecError, match="over 3 draft folders"):
        profiles.load_profile_file(profile)


@pytest.mark.parametrize(
    ("change", "shown"),
    [(lambda s: s.replace("claims: []", "claims: [99]"), "no such claim"),
     (lambda s: s.replace("[{method: base}]", "[{method: online, kd_temperature: 9.5}]")
      + "missing_drafts: skip\n", "plans no cells")],
    ids=["unknown-claim", "no-cells"],
)  # fmt: skip
def test_reproduce_checks_its_studies_as_run_does(tmp_path, capsys, change, shown):
    study = tmp_path / "s.yaml"
    study.write_text(change(STUDY))
    argv = ["reproduce", "--studies", str(study), "--profile", "smoke", "--out",
            str(tmp_path / "o"), "--workers", "1", "--quiet"]  # fmt: skip
    refused(argv, tmp_path, capsys, "s.yaml", shown)


def test_a_folder_holding_a_folder_named_like_the_runs_file_is_refused(tmp_path, capsys):
    out = tmp_path / "o"
    (out / "submission.json").mkdir(parents=True)
    study = tmp_path / "s.yaml"
    study.write_text(STUDY)
    argv = ["run", "--profile", "smoke", "--quiet", "--out", str(out), str(study)]
    refused(argv, tmp_path, capsys, "submission.json", "not a results folder")


def test_bench_alternates_splits_of_different_lengths():
    from suite.bench import task_prompts
    from suite.models import load_model, load_tokenizer

    tokenizer = load_tokenizer(REPO / "reference" / "llama" / "tokenizer")
    target = load_model(REPO / "reference" / "llama" / "target")
    prompts = task_prompts(tokenizer, 170, ("gsm8k", "mt_bench"), target)
    assert len(prompts) == 170  # mt_bench has 80: gsm8k goes on alone


@pytest.mark.parametrize(
    "argv",
    [["run", "--threads", "-1", "difficulty"], ["bench", "--prompts", "x"], ["nosuch"]],
)
def test_a_bad_argument_is_one_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: python -m suite")
    assert err.count("\n") == 1, err


def test_out_of_memory_is_one_line(capsys, monkeypatch):
    from suite.cli import commands

    def grow(args):
        raise MemoryError

    monkeypatch.setattr(commands, "cmd_tasks", grow)
    assert main(["tasks"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory") and err.count("\n") == 1


def test_lm_eval_export_caps_the_token_budget(tmp_path, capsys):
    argv = ["lm-eval", "export", "--out", str(tmp_path / "x"), "--tasks", "gsm8k",
            "--max-gen-toks", "100000"]  # fmt: skip
    refused(argv, tmp_path, capsys, "max_gen_toks", "100000")


def test_a_model_folder_of_too_many_or_too_deep_entries_is_refused(tiny, tmp_path, capsys,  # noqa: F811
                                                                   monkeypatch):  # fmt: skip
    from suite import submission_files

    folder = _copy(tiny, tmp_path)
    argv = ["submissions", "check", str(folder), "--profile", str(tiny / "profiles" / "smoke.yaml")]
    deep = folder / "model" / "logs"
    for i in range(9):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    refused(argv, tmp_path, capsys, "d7", "nested over 8 folders")
    shutil.rmtree(folder / "model" / "logs")
    monkeypatch.setattr(submission_files, "MAX_MODEL_FILES", 3)
    refused(argv, tmp_path, capsys, "model", "over 3 files and folders")
