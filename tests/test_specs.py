"""Task specs: the bundled ones load, and every kind of bad input names file, field and value."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
import yaml

from suite.errors import SpecError
from suite.specs import (
    DEFAULT_STOP,
    INSTRUCTION_FORMAT,
    TASKS_DIR,
    TaskSpec,
    format_prompt,
    format_training_text,
    load_spec,
    load_specs,
    load_task,
    read_yaml,
)

BUNDLED = {
    "alpaca",
    "asdiv",
    "gsm8k",
    "humaneval",
    "mt_bench",
    "self_instruct",
    "svamp",
    "vicuna_bench",
}


def valid_spec(name: str = "toy") -> dict:
    return {
        "name": name,
        "description": "A toy task.",
        "license": "MIT",
        "source": {"format": "jsonl"},
        "splits": {"test": {"files": ["toy/test.jsonl"]}},
        "instruction": "{{ question }}",
        "reference": "{{ solution }}",
        "answer": {"template": "{{ solution }}", "patterns": [{"regex": r"#### (\d+)"}]},
        "generation": {"max_new_tokens": 32, "stop": ["\n\n"]},
    }


def write_spec(folder: Path, spec: dict, stem: str | None = None, suffix: str = ".yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem or spec['name']}{suffix}"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def test_instruction_format_is_the_alpaca_style_header():
    assert INSTRUCTION_FORMAT == "### Instruction:\n{instruction}\n\n### Response:\n"
    assert format_prompt("Add 2 and 3.") == "### Instruction:\nAdd 2 and 3.\n\n### Response:\n"


def test_format_prompt_keeps_braces_in_the_instruction_verbatim():
    assert format_prompt("use {x} and {}") == "### Instruction:\nuse {x} and {}\n\n### Response:\n"


def test_training_text_is_prompt_plus_response_without_eos():
    text = format_training_text("Say hi.", "Hi!")
    assert text == "### Instruction:\nSay hi.\n\n### Response:\nHi!"


def test_bundled_tasks_are_the_eight_datasets():
    specs = load_specs()
    assert set(specs) == BUNDLED
    assert all(spec.path.parent == TASKS_DIR for spec in specs.values())


def test_bundled_splits_in_domain_have_train_and_out_of_domain_only_test():
    specs = load_specs()
    assert specs["gsm8k"].split_names == ("train", "test")
    assert specs["alpaca"].split_names == ("train", "test")
    for name in BUNDLED - {"gsm8k", "alpaca"}:
        assert specs[name].split_names == ("test",), name


def test_every_bundled_task_stops_at_the_instruction_header():
    for spec in load_specs().values():
        assert "### Instruction" in spec.stop
        assert spec.max_new_tokens > 0


def test_answer_extraction_is_declared_where_a_reference_answer_exists():
    specs = load_specs()
    with_answer = {name for name, spec in specs.items() if spec.answer is not None}
    assert with_answer == {"gsm8k", "svamp", "asdiv"}
    assert specs["gsm8k"].answer.normalize == "number"


def test_spec_is_frozen_hashable_and_picklable():
    spec = load_task("gsm8k")
    assert isinstance(spec, TaskSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"
    assert hash(spec) == hash(load_task("gsm8k"))
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_extra_stop_strings_extend_the_defaults(tmp_path):
    spec = load_spec(write_spec(tmp_path, valid_spec()))
    assert spec.stop == (*DEFAULT_STOP, "\n\n")
    assert spec.max_new_tokens == 32


def test_generation_block_is_optional(tmp_path):
    raw = valid_spec()
    del raw["generation"]
    spec = load_spec(write_spec(tmp_path, raw))
    assert spec.stop == DEFAULT_STOP
    assert spec.max_new_tokens == 256


def test_load_specs_honours_suite_tasks_dir(tmp_path, monkeypatch):
    write_spec(tmp_path, valid_spec("alpha"))
    write_spec(tmp_path, valid_spec("beta"), suffix=".yml")
    monkeypatch.setenv("SUITE_TASKS_DIR", str(tmp_path))
    assert sorted(load_specs()) == ["alpha", "beta"]
    assert load_task("beta").name == "beta"


def test_spec_error_reads_file_field_value_message():
    err = SpecError(
        Path("tasks/foo.yaml"),
        "splits.test.files[0]",
        "x.jsonl",
        "file not found under data root /work/shared/data",
    )
    assert str(err) == (
        "tasks/foo.yaml: field 'splits.test.files[0]' = 'x.jsonl': "
        "file not found under data root /work/shared/data"
    )
    assert isinstance(err, ValueError)
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


def _set(raw: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return raw


def _drop(raw: dict, key: str) -> dict:
    del raw[key]
    return raw


# (test id, edit of a valid spec, "field '<field>' = <value>" expected in the error)
BAD_SPECS = [
    ("unknown_top_field", lambda r: _set(r, "colour", "blue"), "field 'colour' = 'blue'"),
    (
        "unknown_nested_field",
        lambda r: _set(r, "splits.test.fils", ["a"]),
        "field 'splits.test.fils' = ['a']",
    ),
    (
        "unknown_pattern_field",
        lambda r: _set(r, "answer.patterns.0.group", 2),
        "field 'answer.patterns[0].group' = 2",
    ),
    ("missing_required_field", lambda r: _drop(r, "instruction"), "field 'instruction' = None"),
    ("missing_nested_field", lambda r: _set(r, "source", {}), "field 'source.format' = None"),
    (
        "wrong_type_int",
        lambda r: _set(r, "generation.max_new_tokens", "many"),
        "field 'generation.max_new_tokens' = 'many'",
    ),
    (
        "wrong_type_bool_for_int",
        lambda r: _set(r, "generation.max_new_tokens", True),
        "field 'generation.max_new_tokens' = True",
    ),
    (
        "non_positive_int",
        lambda r: _set(r, "generation.max_new_tokens", 0),
        "field 'generation.max_new_tokens' = 0",
    ),
    (
        "wrong_type_list",
        lambda r: _set(r, "splits.test.files", "toy.jsonl"),
        "field 'splits.test.files' = 'toy.jsonl'",
    ),
    ("wrong_type_string", lambda r: _set(r, "license", 3), "field 'license' = 3"),
    (
        "bad_jinja_syntax",
        lambda r: _set(r, "instruction", "{{ question "),
        "field 'instruction' = '{{ question ': bad Jinja2 template",
    ),
    (
        "unknown_format",
        lambda r: _set(r, "source.format", "csv"),
        "field 'source.format' = 'csv'",
    ),
    (
        "xml_without_record_tag",
        lambda r: _set(r, "source.format", "xml"),
        "field 'source.record_tag' = None",
    ),
    (
        "absolute_path",
        lambda r: _set(r, "splits.test.files", ["/etc/passwd"]),
        "field 'splits.test.files[0]' = '/etc/passwd'",
    ),
    (
        "dotdot_path",
        lambda r: _set(r, "splits.test.files", ["toy/../../secret.jsonl"]),
        "field 'splits.test.files[0]' = 'toy/../../secret.jsonl'",
    ),
    (
        "bad_regex",
        lambda r: _set(r, "answer.patterns.0.regex", "(unclosed"),
        "field 'answer.patterns[0].regex' = '(unclosed'",
    ),
    (
        "bad_select",
        lambda r: _set(r, "answer.patterns.0.select", "middle"),
        "field 'answer.patterns[0].select' = 'middle'",
    ),
    (
        "bad_hash_range",
        lambda r: _set(r, "splits.test.hash_range", [0.9, 0.1]),
        "field 'splits.test.hash_range' = [0.9, 0.1]",
    ),
    ("empty_splits", lambda r: _set(r, "splits", {}), "field 'splits' = {}"),
    ("not_a_mapping", lambda r: _set(r, "source", "jsonl"), "field 'source' = 'jsonl'"),
]


@pytest.mark.parametrize(
    ("edit", "expected"), [b[1:] for b in BAD_SPECS], ids=[b[0] for b in BAD_SPECS]
)
def test_bad_spec_raises_spec_error_naming_file_field_and_value(tmp_path, edit, expected):
    path = write_spec(tmp_path, edit(valid_spec()), stem="toy")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ") or message.startswith("toy.yaml: ")
    assert expected in message


def test_paths_in_id_files_are_checked_too(tmp_path):
    raw = _set(valid_spec(), "splits.test.id_field", "ID")
    raw["splits"]["test"]["id_files"] = ["ok.txt", "../../ids.txt"]
    with pytest.raises(SpecError, match=r"splits\.test\.id_files\[1\]' = '\.\./\.\./ids\.txt'"):
        load_spec(write_spec(tmp_path, raw))


def test_name_must_match_file_stem(tmp_path):
    path = write_spec(tmp_path, valid_spec("toy"), stem="other")
    with pytest.raises(SpecError, match=r"other\.yaml: field 'name' = 'toy': must match"):
        load_spec(path)


def test_duplicate_task_name_across_the_folder(tmp_path):
    write_spec(tmp_path, valid_spec("toy"))
    write_spec(tmp_path, valid_spec("toy"), suffix=".yml")
    with pytest.raises(SpecError, match=r"toy\.yml: field 'name' = 'toy': duplicate task name"):
        load_specs(tmp_path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"toy\.yaml: invalid YAML"):
        load_spec(path)


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"toy\.yaml: .*expected a YAML mapping"):
        load_spec(path)


def test_unknown_task_name_lists_the_known_ones():
    with pytest.raises(SpecError) as info:
        load_task("nope")
    message = str(info.value)
    assert "field 'task' = 'nope'" in message
    assert (
        "alpaca, asdiv, gsm8k, humaneval, mt_bench, self_instruct, svamp, vicuna_bench" in message
    )


def test_unknown_split_lists_the_known_ones():
    with pytest.raises(SpecError, match=r"gsm8k\.yaml: field 'splits' = 'dev': .*train, test"):
        load_task("gsm8k").split("dev")


def test_missing_tasks_folder_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="task folder not found"):
        load_specs(tmp_path / "absent")


# --- YAML that explodes or is not text ---------------------------------------------------------

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (BILLION_LAUGHS, "YAML aliases are refused"),
        ("a: &a [*a]\n", "YAML aliases are refused"),
        ("name: x\nbase: &b {k: 1}\nother: *b\n", "found alias *b"),
        (b"name: caf\xe9\n", "is not UTF-8 (byte 9"),
        ("a: " + "x" * (1 << 20) + "\n", "is over 1048576 bytes"),
    ],
)
def test_yaml_with_aliases_oversized_or_not_utf8_is_refused_naming_the_file(
    tmp_path, content, expected
):
    path = tmp_path / "bomb.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SpecError) as err:
        read_yaml(path, "study")
    assert expected in str(err.value) and "bomb.yaml" in str(err.value)


def test_an_anchor_without_alias_and_plain_yaml_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("name: &n ok\nsizes: [1, 2]\n", encoding="utf-8")
    assert read_yaml(path, "study") == {"name": "ok", "sizes": [1, 2]}


def test_error_values_are_cut_while_written_not_after():
    huge = {"x": [list(range(10**6))] * 3}
    text = str(SpecError("f.yaml", "field", huge, "bad"))
    assert len(text) < 300 and text.startswith("f.yaml: field 'field' = {'x': [[0, 1, 2")
