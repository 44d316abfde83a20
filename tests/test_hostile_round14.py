"""Inputs of the fourteenth attack: refusals that did not name the field or the value, and
inputs that were accepted, ended in a traceback or left files behind.

* a tag that names a Python object (``!!python/name:os.system``) showed its value as ``None``
  or an empty string: the refusal now shows the node as written;
* a results folder's ``run.json`` (or a recipe, a submission record) that is not a mapping was
  refused with no field: it is named ``(document)``;
* a tokenizer regex that our rules pass but Oniguruma refuses (``(?si)``) was named by the
  tokenizer folder and the library's load error: it is named by ``tokenizer.json``'s field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil

import pytest

from suite.cli import main
from tests.hostile import refused
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_results import LINE, _folder
from tests.test_hostile_tokenizer_ids import _case


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!!python/name:os.system", "!!python/name:os.system"),
        ('!!python/object/apply:os.system ["echo hi"]', "!!python/object/apply:os.system"),
        ("!custom text", "!custom text"),
    ],
)
def test_a_python_tag_in_a_task_file_shows_the_tag(tmp_path, capsys, value, shown):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "evil.yaml").write_text(f"name: evil\ndescription: {value}\n")
    err = refused(["tasks", "--tasks-dir", str(tasks)], tmp_path, capsys, "evil.yaml")
    assert "field 'description'" in err and shown in err, err
    assert "= None" not in err and "= ''" not in err


@pytest.mark.parametrize("run", ["[1, 2]", '"text"', "7"])
def test_a_run_header_that_is_not_a_mapping_names_the_document(tmp_path, capsys, run):
    folder = _folder(tmp_path, LINE + "\n", run)
    err = refused(["report", str(folder)], tmp_path, capsys, "run.json", "(document)")
    assert f"= {json.loads(run)!r}" in err, err


def _oniguruma_refuses(data, config):
    data["pre_tokenizer"] = {
        "type": "Split",
        "pattern": {"Regex": "(?si)a"},
        "behavior": "Isolated",
        "invert": False,
    }


def test_a_regex_oniguruma_refuses_is_named_by_its_field(tmp_path, capsys):
    profile, study = _case(tmp_path, _oniguruma_refuses)
    argv = ["run", str(study), "--profile", str(profile), "--out", str(tmp_path / "o")]
    err = refused(argv, tmp_path, capsys, "tok/tokenizer.json", "pre_tokenizer.pattern.Regex")
    assert "'(?si)a'" in err and "Oniguruma" in err, err


def test_a_regex_oniguruma_compiles_still_loads(tmp_path, capsys):
    """The control: the same tokenizer with a pattern Oniguruma compiles runs."""

    def good(data, config):
        _oniguruma_refuses(data, config)
        data["pre_tokenizer"]["pattern"]["Regex"] = "(?i)a"

    profile, study = _case(tmp_path, good)
    argv = ["run", str(study), "--profile", str(profile), "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err


# --- task specs, studies and profiles ------------------------------------------------------

STUDY = """name: s
title: t
claims: []
description: d
family: llama
engines: [analytic]
grid:
  datasets: [gsm8k]
  drafts: [{method: base}]
  decode_temperatures: [0.0]
  num_draft_tokens: 4
"""
SMOKE = ["--profile", "smoke", "--engine", "analytic", "--quiet"]


def _tasks(tmp_path, change=None, name: str = "gsm8k", text: str | None = None):
    """A copy of the bundled task folder with ``name``'s spec edited by ``change(text)``."""
    tasks = tmp_path / "tasks"
    shutil.copytree(REPO / "tasks", tasks, ignore=shutil.ignore_patterns("studies", "profiles"))
    path = tasks / f"{name}.yaml"
    path.write_text(text if text is not None else change(path.read_text()))
    return tasks


def _instruction(tmp_path, template: str):
    """The task folder with gsm8k's instruction template replaced."""
    old = "instruction: '{{ question }}'"

    def change(text: str) -> str:
        assert old in text
        return text.replace(old, f"instruction: {template}")

    return _tasks(tmp_path, change)


def _study(tmp_path, text: str = STUDY, name: str = "s") -> str:
    folder = tmp_path / "studies"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
    return str(folder / f"{name}.yaml")


def _run(tmp_path, *studies: str, out: str = "o") -> list[str]:
    return ["run", *SMOKE, "--out", str(tmp_path / out), *studies]


def test_a_key_with_a_newline_is_one_escaped_line(tmp_path, capsys):
    tasks = _tasks(tmp_path, lambda t: t + '"x\\nerror: all good": 1\n')
    err = refused(["tasks", "--tasks-dir", str(tasks)], tmp_path, capsys, "x\\nerror: all good")
    assert err.count("\n") == 1 and err.endswith("\n")


def test_a_huge_key_is_cut_in_the_message(tmp_path, capsys):
    tasks = _tasks(tmp_path, lambda t: t + "? " + "k" * 200_000 + "\n: 1\n")
    err = refused(["tasks", "--tasks-dir", str(tasks)], tmp_path, capsys, "gsm8k.yaml", "kkk")
    assert len(err) < 5_000


@pytest.mark.parametrize("name", ["..", "g\nerror: fake", ".hidden"])
def test_a_task_study_or_profile_name_must_be_a_safe_name(tmp_path, capsys, name):
    """Each file is named after its ``name`` (a file name may hold a newline), so only the name
    rule refuses it: a name becomes a cell key's part and a results folder (``results/..``)."""
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    spec = (REPO / "tasks" / "gsm8k.yaml").read_text()
    (tasks / f"{name}.yaml").write_text(spec.replace("name: gsm8k", f"name: {json.dumps(name)}"))
    refused(["tasks", "--tasks-dir", str(tasks)], tmp_path, capsys, "field 'name'")
    study = _study(tmp_path, STUDY.replace("name: s", f"name: {json.dumps(name)}"), name)
    refused(_run(tmp_path, study), tmp_path, capsys, "field 'name'")
    profile = tmp_path / f"{name}.yaml"
    text = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    profile.write_text(text.replace("name: smoke", f"name: {json.dumps(name)}"))
    argv = ["run", "--profile", str(profile), "--quiet", "--out", str(tmp_path / "o"), study]
    refused(argv, tmp_path, capsys, "field 'name'")


def test_a_profile_named_dot_dot_writes_nothing_in_the_working_folder(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    profile = tmp_path / "...yaml"
    text = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    profile.write_text(text.replace("name: smoke", 'name: ".."'))
    study = _study(tmp_path)
    refused(["run", "--profile", str(profile), "--quiet", study], tmp_path, capsys, "'..'")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: s.replace("num_draft_tokens: 4", "num_draft_tokens: []"), "num_draft_tokens"),
        (lambda s: s.replace("claims: []", "claims: [99]"), "claims[0]"),
        (lambda s: s + "split: nope\n", "field 'split'"),
    ],
    ids=["empty-k", "unknown-claim", "unknown-split"],
)
def test_a_study_that_cannot_mean_what_it_says_is_refused(tmp_path, capsys, change, field):
    refused(_run(tmp_path, _study(tmp_path, change(STUDY))), tmp_path, capsys, "s.yaml", field)


def test_a_study_that_plans_no_cells_makes_no_folder(tmp_path, capsys):
    text = STUDY.replace("[{method: base}]", "[{method: online, kd_temperature: 7.5}]")
    refused(_run(tmp_path, _study(tmp_path, text + "missing_drafts: skip\n")), tmp_path, capsys,
            "plans no cells")  # fmt: skip


def test_two_studies_of_one_name_are_refused(tmp_path, capsys):
    a = _study(tmp_path)
    other = tmp_path / "b"
    other.mkdir()
    (other / "s.yaml").write_text(STUDY.replace("[0.0]", "[1.0]"))
    refused(_run(tmp_path, a, str(other / "s.yaml")), tmp_path, capsys, "named twice")


@pytest.mark.parametrize(
    ("stop", "field"),
    [
        ("[" + ", ".join(f'"s{i}"' for i in range(17)) + "]", "generation.stop"),
        ('["' + "x" * 257 + '"]', "generation.stop[0]"),
    ],
)
def test_stop_strings_are_bounded(tmp_path, capsys, stop, field):
    tasks = _tasks(tmp_path, lambda t: t + f"  stop: {stop}\n")  # under gsm8k's generation:
    refused(["tasks", "--tasks-dir", str(tasks)], tmp_path, capsys, "gsm8k.yaml", field)


def test_stop_strings_within_the_caps_pass(tmp_path, capsys):
    stop = ", ".join(['"\\n\\nQ:"', '"' + "y" * 256 + '"'] + [f'"s{i}"' for i in range(14)])
    tasks = _tasks(tmp_path, lambda t: t + f"  stop: [{stop}]\n")
    assert main(["tasks", "--tasks-dir", str(tasks)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("template", "field", "shown"),
    [
        ("'{{ question[:30] }}{{ \"\\ud800\" }}'", "id", "U+D800"),
        ("'" + "{{ question }}" * 20 + "'", "id", "an id is at most 256"),
        ("'{{ question[:20] }}{{ \"\\x1b[2J\" }}'", "id", "U+001B"),
    ],
)
def test_a_rendered_id_is_short_plain_text(tmp_path, capsys, template, field, shown):
    tasks = _tasks(tmp_path, lambda t: t + f"id: {template}\n")
    argv = ["tasks", "--tasks-dir", str(tasks), "gsm8k", "--split", "test", "--show", "1"]
    refused(argv, tmp_path, capsys, "gsm8k.yaml", f"field '{field}'", shown)


def test_a_rendered_instruction_with_a_surrogate_names_the_spec(tmp_path, capsys, monkeypatch):
    tasks = _instruction(tmp_path, "'{{ question }}{{ \"\\udfff\" }}'")
    assert '{{ "\\udfff" }}' in (tasks / "gsm8k.yaml").read_text()
    monkeypatch.setenv("SUITE_TASKS_DIR", str(tasks))
    refused(
        _run(tmp_path, _study(tmp_path)), tmp_path, capsys, "gsm8k.yaml", "instruction", "U+DFFF"
    )


def test_a_render_error_is_cut(tmp_path, capsys):
    long = "~".join(["question"] * 300)
    tasks = _instruction(tmp_path, f"'{{{{ question[{long}] }}}}'")
    argv = ["tasks", "--tasks-dir", str(tasks), "gsm8k", "--split", "test", "--show", "1"]
    err = refused(argv, tmp_path, capsys, "gsm8k.yaml", "instruction")
    assert len(err) < 5_000


def test_a_resume_under_another_task_spec_recomputes(tmp_path, capsys, monkeypatch):
    study = _study(tmp_path)
    assert main(_run(tmp_path, study)) == 0
    assert main(_run(tmp_path, study)) == 0
    assert "1 already done, 0 run" in capsys.readouterr().out  # the control: the same spec
    tasks = _instruction(tmp_path, "'Ignore this. {{ question | upper }}'")
    monkeypatch.setenv("SUITE_TASKS_DIR", str(tasks))
    assert main(_run(tmp_path, study)) == 0
    assert "0 already done, 1 run" in capsys.readouterr().out
    record = json.loads((tmp_path / "o" / "cells.jsonl").read_text())
    spec = (tasks / "gsm8k.yaml").read_bytes()
    assert record["provenance"]["task"] == hashlib.sha256(spec).hexdigest()


def test_a_spec_is_parsed_once_while_unchanged(tmp_path, monkeypatch):
    from suite import specs

    tasks = _tasks(tmp_path, lambda t: t)
    calls = []
    real = specs.load_spec
    monkeypatch.setattr(specs, "load_spec", lambda p: calls.append(p) or real(p))
    first = specs.load_task("gsm8k", tasks)
    assert specs.load_task("gsm8k", tasks) is first
    parsed = len(calls)
    path = tasks / "gsm8k.yaml"
    path.write_text(path.read_text().replace("Grade-school", "Grade school"))
    assert specs.load_task("gsm8k", tasks).description != first.description  # edited: re-read
    assert len(calls) == parsed + 1


def test_a_task_folder_over_its_byte_cap_is_refused_before_parsing(tmp_path, capsys):
    from suite.specs import MAX_SPECS_BYTES

    tasks = _tasks(tmp_path, lambda t: t)
    for i in range(MAX_SPECS_BYTES // (1 << 20) + 1):
        (tasks / f"pad{i}.yaml").write_text("# " + "x" * ((1 << 20) - 8) + "\n")
    refused(["tasks", "--tasks-dir", str(tasks)], tmp_path, capsys, "tasks_dir", "bytes")


def test_a_decoder_only_target_with_an_encoder_decoder_draft_is_refused_at_read(tmp_path, capsys):
    text = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    pair = (
        "llama: {target: {path: reference/llama/target}, tokenizer: {path: reference/llama/"
        "tokenizer}, drafts: {base: {path: reference/t5/target}}}"
    )
    profile = tmp_path / "p.yaml"
    profile.write_text(text.replace("name: smoke", "name: p").replace(
        "llama: {bundle: reference/llama}", pair))  # fmt: skip
    argv = [
        "run",
        "--profile",
        str(profile),
        "--quiet",
        "--out",
        str(tmp_path / "o"),
        _study(tmp_path),
    ]
    refused(argv, tmp_path, capsys, "p.yaml", "models.llama.drafts.base.path", "encoder-decoder")


def test_exponent_floats_without_a_point_are_numbers(tmp_path):
    from suite.strict import parse_yaml

    data = parse_yaml("a: 1e-3\nb: 2E6\nc: -3e+2\nd: 0x1f\n", tmp_path / "x.yaml")
    assert data == {"a": 0.001, "b": 2e6, "c": -300.0, "d": "0x1f"}


TWO = STUDY.replace("datasets: [gsm8k]", "datasets: [gsm8k, svamp]")


def test_a_chat_template_failing_on_one_prompt_fails_before_any_cell(tmp_path, capsys):
    """It raised inside svamp's cell, after gsm8k's record was stored."""

    def change(data, config):
        config["chat_template"] = (
            "{% if 'dvds' in messages[0]['content'] %}{{ raise_exception('refused prompt') }}"
            "{% endif %}### Instruction:\n{{ messages[0]['content'] }}\n\n### Response:\n"
        )

    profile, study = _case(tmp_path, change)
    text = study.read_text()
    assert "datasets: [gsm8k]" in text
    study.write_text(text.replace("datasets: [gsm8k]", "datasets: [gsm8k, svamp]"))
    argv = ["run", str(study), "--profile", str(profile), "--out", str(tmp_path / "o")]
    refused(argv, tmp_path, capsys, "chat_template", "refused prompt", "of svamp/test")


def test_a_prompt_past_the_targets_positions_names_the_task(tmp_path, capsys, monkeypatch):
    tasks = _tasks(tmp_path, lambda t: t, name="svamp")
    path = tasks / "svamp.yaml"
    text = path.read_text()
    old = next(line for line in text.splitlines() if line.startswith("instruction:"))
    path.write_text(text.replace(old, "instruction: '" + "{{ Body }} " * 40 + "{{ Question }}'"))
    monkeypatch.setenv("SUITE_TASKS_DIR", str(tasks))
    argv = _run(tmp_path, _study(tmp_path, TWO))
    refused(argv, tmp_path, capsys, "svamp.yaml", "field 'instruction'", "max_position_embeddings")


def test_quality_names_a_spec_whose_answers_leave_no_room(tmp_path, capsys, monkeypatch):
    tasks = _tasks(tmp_path, lambda t: t.replace("max_new_tokens: 256", "max_new_tokens: 8192"))
    monkeypatch.setenv("SUITE_TASKS_DIR", str(tasks))
    argv = ["quality", "--limit", "1", "--temperatures", "0", "--out", str(tmp_path / "q")]
    refused(argv, tmp_path, capsys, "gsm8k.yaml", "generation.max_new_tokens", "8192")


def test_a_profile_named_through_a_symbolic_link_is_read(tmp_path, capsys):
    real = tmp_path / "real.yaml"
    text = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()
    real.write_text(text.replace("name: smoke", "name: real"))
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "p.yaml").symlink_to(real)
    argv = ["run", "--profile", str(tmp_path / "l" / "p.yaml"), "--engine", "analytic", "--quiet",
            "--out", str(tmp_path / "o"), _study(tmp_path)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err


def test_a_cell_of_more_prompts_than_its_split_holds_is_keyed_by_what_it_runs(tmp_path):
    from suite.data import count_examples
    from suite.profiles import load_profile
    from suite.studies import load_study, plan_studies

    study = load_study(_study(tmp_path, STUDY.replace("[gsm8k]", "[vicuna_bench]")))
    profile = load_profile("smoke")
    sizes = profile.sizes["analytic"]
    big = dataclasses.replace(profile, sizes=profile.sizes | {"analytic": dataclasses.replace(
        sizes, prompts=100_000)})  # fmt: skip
    (cell,) = plan_studies([study], big, ("analytic",)).cells
    assert cell.prompts == count_examples("vicuna_bench", "test") < 100_000
    assert f"/n{cell.prompts}/" in cell.key
    (small,) = plan_studies([study], profile, ("analytic",)).cells
    assert small.prompts == sizes.prompts  # the control: fewer than the split holds
