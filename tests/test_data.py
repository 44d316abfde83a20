"""Loading examples: counts per split, stable splits, answers, formats and bad data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

import suite.data
import suite.data_files
from suite.data import (
    DEFAULT_DATA_DIR,
    Example,
    data_root,
    extract_answer,
    load_examples,
    normalize_number,
    record_hash,
)
from suite.errors import SpecError
from suite.specs import format_prompt, load_task

ROOT = data_root()
needs_data = pytest.mark.skipif(
    ROOT is None or not (ROOT / "gsm8k").is_dir(), reason="local data mirror not found"
)

TOY_RECORDS = [
    {"question": "What is 2 + 3?", "solution": "2 + 3 = 5\n#### 5"},
    {"question": "What is 10 * 100?", "solution": "10 * 100 = 1000\n#### 1,000"},
    {"question": "Say hi.", "solution": "hi"},
]


def toy_spec(name: str = "toy", **overrides) -> dict:
    spec = {
        "name": name,
        "description": "A toy task.",
        "license": "MIT",
        "source": {"format": "jsonl"},
        "splits": {"test": {"files": ["toy/test.jsonl"]}},
        "instruction": "{{ question }}",
        "reference": "{{ solution }}",
        "answer": {
            "template": "{{ solution }}",
            "normalize": "number",
            "patterns": [{"regex": r"####\s*(-?[\d,.]+)"}],
        },
    }
    spec.update(overrides)
    return spec


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A data root and a tasks folder holding one JSONL task: what a user adds for a dataset."""
    data, tasks = tmp_path / "data", tmp_path / "tasks"
    (data / "toy").mkdir(parents=True)
    lines = "".join(json.dumps(r) + "\n" for r in TOY_RECORDS)
    (data / "toy" / "test.jsonl").write_text(lines, encoding="utf-8")
    tasks.mkdir()
    monkeypatch.setenv("SUITE_DATA_DIR", str(data))

    def write(spec: dict) -> Path:
        path = tasks / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        return tasks

    write(toy_spec())
    return data, tasks, write


@needs_data
@pytest.mark.parametrize(
    ("task", "split", "count"),
    [
        ("gsm8k", "train", 7473),
        ("gsm8k", "test", 1319),
        ("mt_bench", "test", 80),
        ("vicuna_bench", "test", 80),
        ("humaneval", "test", 164),
        ("svamp", "test", 1000),
        ("self_instruct", "test", 252),
    ],
)
def test_record_count_per_split(task, split, count):
    assert len(load_examples(task, split)) == count


@needs_data
def test_asdiv_a_is_the_unique_ids_across_the_folds():
    folds = sorted((ROOT / "asdiv" / "nfolds" / "asdiv-a").glob("fold*.txt"))
    ids = {line.strip() for f in folds for line in f.read_text().splitlines() if line.strip()}
    examples = load_examples("asdiv", "test")
    assert len(folds) == 5
    assert len(ids) == 1218
    assert {e.id for e in examples} == ids
    assert len(examples) == 1218


@needs_data
def test_alpaca_split_is_about_90_10_disjoint_and_covers_all_5000():
    train, test = load_examples("alpaca", "train"), load_examples("alpaca", "test")
    assert len(train) + len(test) == 5000
    assert (len(train), len(test)) == (4530, 470)
    assert 0.88 < len(train) / 5000 < 0.92
    assert not {e.id for e in train} & {e.id for e in test}


@needs_data
def test_alpaca_split_follows_record_content_not_file_order(tmp_path, monkeypatch):
    records = json.loads((ROOT / "alpaca" / "alpaca_5000.json").read_text(encoding="utf-8"))[:300]
    test_sets = []
    for name, rows in (("forward", records), ("reversed", records[::-1])):
        (tmp_path / name / "alpaca").mkdir(parents=True)
        (tmp_path / name / "alpaca" / "alpaca_5000.json").write_text(json.dumps(rows))
        monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / name))
        test_sets.append({(e.instruction, e.reference) for e in load_examples("alpaca", "test")})
    assert test_sets[0] == test_sets[1]
    assert len(test_sets[0]) == sum(record_hash(r) >= 0.9 for r in records) == 23


def test_record_hash_is_sha256_of_canonical_json():
    record = {"output": "No", "instruction": "Is it?", "input": ""}
    same_record_other_key_order = {"input": "", "instruction": "Is it?", "output": "No"}
    assert record_hash(record) == record_hash(same_record_other_key_order)
    assert record_hash(record) == record_hash({**record, "extra": None})
    assert record_hash(record) == pytest.approx(0.0821175, abs=1e-7)
    assert 0.0 <= record_hash({"x": 1}) < 1.0


@needs_data
def test_alpaca_instruction_joins_input_with_a_blank_line():
    first = load_examples("alpaca", "train", limit=1)[0]
    assert first.id == "train/0"
    assert first.instruction == (
        "Are the two sentences below grammatically correct? Output yes or no.\n\n"
        "Sentence 1: I am going to the store.\nSentence 2: I goes to the store."
    )
    assert first.reference == "No"
    assert first.answer is None


@needs_data
def test_gsm8k_answer_is_the_number_after_hashes():
    first = load_examples("gsm8k", "test", limit=1)[0]
    assert first.instruction.startswith("Janet’s ducks lay 16 eggs per day.")
    assert first.reference.endswith("#### 18")
    assert first.answer == "18"
    answers = [e.answer for e in load_examples("gsm8k", "test")]
    assert None not in answers
    assert answers[:5] == ["18", "3", "70000", "540", "20"]


@needs_data
def test_svamp_and_asdiv_answers_are_normalised_numbers():
    svamp = load_examples("svamp", "test", limit=1)[0]
    assert svamp.id == "chal-1"
    assert svamp.answer == "51"  # Answer 51.0
    assert svamp.instruction == (
        "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack "
        "How much do you have to pay to buy each pack?"
    )
    asdiv = load_examples("asdiv", "test", limit=1)[0]
    assert (asdiv.id, asdiv.answer) == ("nluds-0001", "9")  # Answer '9 (apples)'
    assert None not in {e.answer for e in load_examples("asdiv", "test")}


def test_extract_answer_from_generations():
    gsm8k, asdiv, alpaca = load_task("gsm8k"), load_task("asdiv"), load_task("alpaca")
    assert extract_answer(gsm8k, "She pays $1,234.50 in all.\n#### $1,234.50") == "1234.5"
    assert extract_answer(gsm8k, "First 3 eggs, then 15. The answer is 18.") == "18"
    assert extract_answer(gsm8k, "#### -7") == "-7"
    assert extract_answer(gsm8k, "no number here") is None
    assert extract_answer(asdiv, "9 (apples)") == "9"
    assert extract_answer(asdiv, "14  (seats)") == "14"
    assert extract_answer(alpaca, "#### 5") is None  # no answer extraction declared


def test_normalize_number_strips_commas_dollars_and_trailing_zero():
    assert normalize_number("1,000") == "1000"
    assert normalize_number("$18") == "18"
    assert normalize_number("51.0") == "51"
    assert normalize_number("2.50") == "2.5"
    assert normalize_number("18.") == "18"
    assert normalize_number("-0.0") == "0"
    assert normalize_number(",") == ""


@needs_data
def test_out_of_domain_prompts_use_first_turn_and_instance_input():
    mt = load_examples("mt_bench", "test", limit=1)[0]
    assert mt.id == "81"
    assert mt.instruction.startswith("Compose an engaging travel blog post about a recent trip")
    assert "Rewrite your previous response" not in mt.instruction
    selfi = load_examples("self_instruct", "test", limit=1)[0]
    assert selfi.id == "user_oriented_task_0"
    assert selfi.instruction.startswith("The sentence you are given might be too wordy")
    assert "\n\nIf you have any questions about my rate" in selfi.instruction
    humaneval = load_examples("humaneval", "test", limit=1)[0]
    assert humaneval.id == "HumanEval/0"
    assert humaneval.instruction.startswith("from typing import List")
    assert humaneval.reference.startswith("    for idx, elem in enumerate(numbers):")


@needs_data
def test_every_prompt_is_the_formatted_instruction_and_order_is_stable():
    first = load_examples("vicuna_bench", "test")
    again = load_examples("vicuna_bench", "test")
    assert first == again
    assert [e.id for e in first[:3]] == ["1", "2", "3"]
    assert all(e.prompt == format_prompt(e.instruction) for e in first)
    assert load_examples("vicuna_bench", "test", limit=5) == first[:5]
    assert load_examples("vicuna_bench", "test", limit=0) == []


def test_data_root_prefers_env_then_shared_data(monkeypatch, tmp_path):
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.delenv("SUITE_DATA_DIR")
    expected = DEFAULT_DATA_DIR if DEFAULT_DATA_DIR.is_dir() else suite.data.data_cache_dir()
    assert data_root() == expected
    assert DEFAULT_DATA_DIR.parts[-2:] == ("shared", "data")


def test_a_new_dataset_is_one_yaml_file_and_a_data_file(toy):
    _, tasks, _ = toy
    examples = load_examples("toy", "test", tasks_dir=tasks)
    assert examples[0] == Example(
        id="test/0",
        instruction="What is 2 + 3?",
        prompt="### Instruction:\nWhat is 2 + 3?\n\n### Response:\n",
        reference="2 + 3 = 5\n#### 5",
        answer="5",
    )
    assert [e.answer for e in examples] == ["5", "1000", None]


def test_json_array_gzipped_jsonl_and_xml_load_alike(toy):
    data, tasks, write = toy
    (data / "toy" / "test.json").write_text(json.dumps(TOY_RECORDS), encoding="utf-8")
    with gzip.open(data / "toy" / "test.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in TOY_RECORDS)
    xml = "".join(
        f'<Item ID="q{i}"><question>{r["question"]}</question>'
        f"<solution>{r['solution']}</solution></Item>"
        for i, r in enumerate(TOY_RECORDS)
    )
    (data / "toy" / "test.xml").write_text(f"<Root>{xml}</Root>", encoding="utf-8")
    for fmt, ext, extra in (("json", "json", {}), ("jsonl.gz", "jsonl.gz", {}), ("xml", "xml", {})):
        source = {"format": fmt, **extra, **({"record_tag": "Item"} if fmt == "xml" else {})}
        name = f"toy_{ext.replace('.', '_')}"
        write(toy_spec(name, source=source, splits={"test": {"files": [f"toy/test.{ext}"]}}))
        examples = load_examples(name, "test", tasks_dir=tasks)
        assert [e.answer for e in examples] == ["5", "1000", None], fmt
        assert examples[1].instruction == "What is 10 * 100?", fmt


def test_id_files_keep_only_listed_records_in_file_order(toy):
    data, tasks, write = toy
    (data / "toy" / "ids.txt").write_text("2\n0\n\n", encoding="utf-8")
    lines = "".join(json.dumps({**r, "n": i}) + "\n" for i, r in enumerate(TOY_RECORDS))
    (data / "toy" / "test.jsonl").write_text(lines, encoding="utf-8")
    split = {"files": ["toy/test.jsonl"], "id_field": "n", "id_files": ["toy/ids.txt"]}
    write(toy_spec("toy_ids", id="{{ n }}", splits={"test": split}))
    assert [e.id for e in load_examples("toy_ids", "test", tasks_dir=tasks)] == ["0", "2"]


def test_without_a_data_folder_a_sources_file_is_fetched_into_the_cache_on_first_use(
    toy, tmp_path, monkeypatch
):
    """No $SUITE_DATA_DIR and no mirror: the data cache is the root, a missing file listed in the
    data sources is downloaded there (pinned URL, sha256 checked) once, an unlisted one is an
    error naming the fix, and a mismatched download writes nothing."""
    import hashlib
    import io

    import suite.fetch

    _, tasks, write = toy
    lines = "".join(json.dumps(r) + "\n" for r in TOY_RECORDS).encode()
    sources = tmp_path / "sources.yaml"
    entry = {
        "path": "toy/test.jsonl",
        "url": "https://example.org/toy/test.jsonl",
        "sha256": hashlib.sha256(lines).hexdigest(),
    }
    sources.write_text(yaml.safe_dump({"files": [entry]}), encoding="utf-8")
    cache = tmp_path / "cache"
    monkeypatch.delenv("SUITE_DATA_DIR", raising=False)
    monkeypatch.setattr(suite.data, "DEFAULT_DATA_DIR", tmp_path / "no-mirror")
    monkeypatch.setattr(suite.data, "data_cache_dir", lambda: cache)
    monkeypatch.setattr(suite.data_files, "data_cache_dir", lambda: cache)
    monkeypatch.setattr(suite.fetch, "SOURCES", sources)
    monkeypatch.setattr(
        suite.fetch, "source_entry", lambda path: entry if path == entry["path"] else None
    )
    served = {"bytes": lines + b"tampered", "calls": 0}

    def urlopen(url, timeout):
        served["calls"] += 1
        return io.BytesIO(served["bytes"])

    monkeypatch.setattr(suite.fetch, "_open_https", urlopen)  # the default opener
    assert suite.data.data_root() == cache
    write(toy_spec("toy_cached", source={"format": "jsonl"}))
    with pytest.raises(SpecError, match=r"field 'splits\.test\.files\[0\]' = 'toy/test\.jsonl'"):
        load_examples("toy_cached", "test", tasks_dir=tasks)
    assert not (cache / "toy" / "test.jsonl").exists()
    served["bytes"] = lines
    examples = load_examples("toy_cached", "test", tasks_dir=tasks)
    assert [e.answer for e in examples] == ["5", "1000", None]
    assert (cache / "toy" / "test.jsonl").read_bytes() == lines
    calls = served["calls"]
    load_examples("toy_cached", "test", tasks_dir=tasks)
    assert served["calls"] == calls  # fetched once
    write(toy_spec("toy_other", splits={"test": {"files": ["other/x.jsonl"]}}))
    with pytest.raises(SpecError, match="not a file of the suite's data sources"):
        load_examples("toy_other", "test", tasks_dir=tasks)


def test_a_file_missing_from_a_given_data_folder_names_the_fetch_command(toy, tmp_path):
    _, tasks, write = toy
    write(toy_spec("toy_gone", splits={"test": {"files": ["gone/x.jsonl"]}}))
    with pytest.raises(SpecError, match=r"python -m suite fetch"):
        load_examples("toy_gone", "test", tasks_dir=tasks)


def _error(task: str, tasks: Path, split: str = "test") -> str:
    with pytest.raises(SpecError) as info:
        load_examples(task, split, tasks_dir=tasks)
    return str(info.value)


def test_missing_data_file_names_spec_field_file_and_root(toy):
    data, tasks, write = toy
    write(toy_spec("toy_missing", splits={"test": {"files": ["x.jsonl"]}}))
    assert _error("toy_missing", tasks) == (
        f"{tasks / 'toy_missing.yaml'}: field 'splits.test.files[0]' = 'x.jsonl': "
        f"file not found under data root {data}; fetch the suite's datasets with "
        f"`python -m suite fetch {data}`, or set SUITE_DATA_DIR to a folder that holds them"
    )


def test_undefined_template_variable_names_the_template(toy):
    _, tasks, write = toy
    write(toy_spec("toy_undefined", instruction="{{ prompt }}"))
    message = _error("toy_undefined", tasks)
    assert "toy_undefined.yaml: field 'instruction' = '{{ prompt }}'" in message
    assert "record 0" in message
    assert "'prompt' is undefined" in message


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ question.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
        "{% set x = [] %}{{ x.append(1) }}{{ question }}",
    ],
)
def test_a_template_reaching_python_internals_is_refused_not_run(toy, template, tmp_path):
    _, tasks, write = toy
    marker = tmp_path / "ran"
    write(toy_spec("toy_hostile", instruction=template.replace("MARKER", str(marker))))
    message = _error("toy_hostile", tasks)
    assert "toy_hostile.yaml: field 'instruction'" in message
    # refused when the task file is read, before any record renders
    assert "not allowed in a task template" in message or "is private" in message, message
    assert "record 0" not in message
    assert not marker.exists()


def test_empty_split_is_an_error(toy):
    data, tasks, write = toy
    (data / "toy" / "none.txt").write_text("nothing-matches\n", encoding="utf-8")
    split = {"files": ["toy/test.jsonl"], "id_field": "question", "id_files": ["toy/none.txt"]}
    write(toy_spec("toy_empty", splits={"test": split}))
    message = _error("toy_empty", tasks)
    assert "toy_empty.yaml: field 'splits.test' = ['toy/test.jsonl']: split is empty" in message


def test_duplicate_example_ids_are_an_error(toy):
    _, tasks, write = toy
    write(toy_spec("toy_dup", id="same"))
    assert "toy_dup.yaml: field 'id' = 'same': duplicate example id" in _error("toy_dup", tasks)


def test_unreadable_data_file_is_an_error(toy):
    data, tasks, write = toy
    (data / "toy" / "bad.jsonl").write_text("{not json\n", encoding="utf-8")
    write(toy_spec("toy_bad", splits={"test": {"files": ["toy/bad.jsonl"]}}))
    assert "toy_bad.yaml: field 'splits.test.files' = ['toy/bad.jsonl']: cannot read as jsonl" in (
        _error("toy_bad", tasks)
    )


def test_unknown_task_and_split_and_bad_limit(toy):
    _, tasks, _ = toy
    assert "field 'task' = 'nope': unknown task; known: toy" in _error("nope", tasks)
    assert "toy.yaml: field 'splits' = 'train': unknown split; known: test" in _error(
        "toy", tasks, "train"
    )
    with pytest.raises(SpecError, match="field 'limit' = -1"):
        load_examples("toy", "test", limit=-1, tasks_dir=tasks)
