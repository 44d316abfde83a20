"""Bounds on what a task template renders and on how far a split is rendered, and temperatures that
a cell key cannot tell apart. A field over 64 KiB, or one render whose joins and strings output
over 4 MiB in all, is refused naming the spec, the field, the record and the split; a split is
rendered only as far as its caller reads it (``--show``, a profile's prompts), with the same
records as before; ``decode_temperatures: [1.0, 1.0000001]`` is refused, not run as one cell.
Memory bombs run in a subprocess under a 3 GiB address-space cap and a timeout."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import suite.data
from suite.data import MAX_FIELD_CHARS, count_examples, load_examples
from suite.drafts import DraftFacts
from suite.profiles import load_profile
from suite.specs import load_specs
from suite.studies import load_study, plan_studies
from suite.template_arguments import MAX_FILTER_OUTPUT, MAX_RENDER_FILTER_OUTPUT
from tests.hostile import refused, snapshot
from tests.test_data import needs_data
from tests.test_hostile_recipes import _run as _recipe_run
from tests.test_hostile_recipes import _with as _recipe
from tests.test_hostile_specs import GOOD
from tests.test_hostile_specs import _folder as _spec_folder
from tests.test_studies import _study

REPO = Path(__file__).resolve().parents[1]
SEP = '"' + "x" * 16 + '"'


def _limit():
    cap = 3 << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _suite(argv: list[str], data: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    """``python -m suite ARGV`` in a subprocess under the memory cap, reading ``data``."""
    return subprocess.run(
        [sys.executable, "-m", "suite", *argv], cwd=REPO, capture_output=True, text=True,
        timeout=timeout, preexec_fn=_limit, env=os.environ | {"SUITE_DATA_DIR": str(data)},
    )  # fmt: skip


def _data(tmp_path: Path, records: list[dict]) -> Path:
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (data / "toy" / "test.jsonl").write_text(lines, encoding="utf-8")
    return data


def _spec(tmp_path: Path, **fields) -> Path:
    """The good toy spec with ``fields`` replaced (``answer`` replaces the answer's template)."""
    spec = json.loads(json.dumps(GOOD))
    for key, value in fields.items():
        if key == "answer":
            spec["answer"]["template"] = value
        else:
            spec[key] = value
    return _spec_folder(tmp_path, yaml.safe_dump(spec, sort_keys=False))


def _joined(name: str, copies: int) -> str:
    """``{{ (name ~ name ~ ...)|join(16 x's) }}``: one join just under its 1 MiB cap."""
    return "{{ (" + " ~ ".join([name] * copies) + f")|join({SEP}) }}}}"


# The red-team reproducers: ~100 joins each under the 1 MiB cap, over GSM8K-sized records (a
# question of 848 characters, an answer of 1,070), 1,319 of them. Before, every record of the
# split was rendered and kept: 2.15 GB and 21 s for --show 1.
JOIN3 = {
    "instruction": _joined("question", 60) + f")|join({SEP}) }}}}" * 4,
    "reference": _joined("answer", 50) * 6,
    "answer": _joined("answer", 50) * 6,
}
JOIN2 = {"instruction": JOIN3["instruction"]}
GSM8K_LIKE = [{"question": "q" * 848, "answer": "a" * 1064, "solution": "#### 5"}] * 1319


@pytest.mark.parametrize("fields", [JOIN3, JOIN2], ids=["j-concat-join3", "j-concat-join2"])
def test_a_template_of_a_hundred_joins_is_refused_at_the_first_record(tmp_path, fields):
    folder, data = _spec(tmp_path, **fields), _data(tmp_path, GSM8K_LIKE)
    before = snapshot(tmp_path)
    proc = _suite(["tasks", "toy", "--show", "1", "--tasks-dir", str(folder)], data)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for text in ("toy.yaml", "'instruction'", "record 0 of split 'test'", f"{MAX_FIELD_CHARS:,}"):
        assert text in proc.stderr, (text, proc.stderr[-2000:])
    assert len(proc.stderr) < 10_000 and len(proc.stdout) < 1_000
    assert snapshot(tmp_path) == before


def test_only_the_records_shown_are_rendered(tmp_path):
    """Record 0 renders small, every later one over the cap: --show 1 reads record 0 only (before,
    the whole split was rendered and kept: gigabytes), --show 2 is refused at record 1."""
    records = [{"question": "2?", "answer": "4", "solution": "#### 4"}, *GSM8K_LIKE]
    folder, data = _spec(tmp_path, **JOIN2), _data(tmp_path, records)
    proc = _suite(["tasks", "toy", "--show", "1", "--tasks-dir", str(folder)], data)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "toy/test: 1320 examples" in proc.stdout
    assert f"2{'x' * 16}?" in proc.stdout and len(proc.stdout) < 20_000
    proc = _suite(["tasks", "toy", "--show", "2", "--tasks-dir", str(folder)], data)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "'instruction'" in proc.stderr and "record 1 of split 'test'" in proc.stderr


@pytest.mark.parametrize("field", ["instruction", "reference", "answer", "id"])
def test_a_field_over_64_kib_is_refused_naming_field_record_and_split(
    tmp_path, capsys, monkeypatch, field
):
    folder = _spec(tmp_path, **{field: "{{ big }}"})
    records = [{"question": "1 + 1?", "big": "2"}, {"question": "?", "big": "y" * (1 << 16) + "y"}]
    data = _data(tmp_path, [{**r, "solution": "#### 2"} for r in records])
    monkeypatch.setenv("SUITE_DATA_DIR", str(data))
    named = "answer.template" if field == "answer" else field
    argv = ["tasks", "toy", "--show", "2", "--tasks-dir", str(folder)]
    refused(argv, tmp_path, capsys, "toy.yaml", f"'{named}'", "record 1 of split 'test'",
            "65,536 characters")  # fmt: skip


def test_a_field_of_64_kib_renders(tmp_path, monkeypatch):
    folder = _spec(tmp_path, instruction="{{ question }}")
    record = {"question": "z" * MAX_FIELD_CHARS, "solution": "#### 2"}
    monkeypatch.setenv("SUITE_DATA_DIR", str(_data(tmp_path, [record])))
    [example] = load_examples("toy", "test", tasks_dir=folder)
    assert example.instruction == "z" * MAX_FIELD_CHARS


def test_the_joins_of_one_render_share_a_budget(tmp_path, capsys, monkeypatch):
    """Five joins of just under 1 MiB each, counted (``|length``): no field is long, but one
    render may not build over 4 MiB of join output."""
    one = "(" + " ~ ".join(["question"] * 6) + f")|join({SEP})|length"
    joined = 10_000 * 6 * 17 - 16  # characters of one join
    assert joined < MAX_FILTER_OUTPUT and 4 * joined < MAX_RENDER_FILTER_OUTPUT < 5 * joined
    folder = _spec(tmp_path, instruction="{{ " + " + ".join([one] * 5) + " }}")
    record = {"question": "q" * 10_000, "solution": "#### 2"}
    monkeypatch.setenv("SUITE_DATA_DIR", str(_data(tmp_path, [record])))
    argv = ["tasks", "toy", "--show", "1", "--tasks-dir", str(folder)]
    refused(argv, tmp_path, capsys, "toy.yaml", "'instruction'", "record 0 of split 'test'",
            "join", f"{MAX_RENDER_FILTER_OUTPUT:,} characters in all")  # fmt: skip
    (tmp_path / "four").mkdir()
    folder = _spec(tmp_path / "four", instruction="{{ " + " + ".join([one] * 4) + " }}")
    [example] = load_examples("toy", "test", tasks_dir=folder)
    assert example.instruction == str(4 * joined)


# Every bundled split as the suite rendered it before rendering became lazy (commit b472db0):
# the number of examples and the sha256 of their JSON (ids, instructions, references, answers).
BUNDLED = [
    ("alpaca", "train", 4530, "a4755ee021cdac7973da3f254c455ab18f8030a9cc50b3193002401df7b57890"),
    ("alpaca", "test", 470, "2fe5cadf9aef4f0b2904bd40029e9fbbb26bf123a67c354711dadfcc0a265d9b"),
    ("asdiv", "test", 1218, "2992591da1f5e8ca013f893465c7c800ba00e08c0256d95ff375794242d3fea8"),
    ("gsm8k", "train", 7473, "b7ca53a4890d4c55a8eef4e8ef830245bffe5954a0cec9ab7257cbd44b8328db"),
    ("gsm8k", "test", 1319, "d8e5e14bdb56a2a397b5304178b6c126575bf7126521d28f6e524a9f68b95307"),
    ("humaneval", "test", 164, "4926ac960840b4509871a8080c70355b9b12cdce8c80770613e42c033f0f8806"),
    ("mt_bench", "test", 80, "f37497b25e311cbf7a5b3ab29bda3f25726b8d0631be7894abb230683009a061"),
    ("self_instruct", "test", 252,
     "46d793479a75ad4e00aeb663faaea3a687434c50ec1217b54d0c880f23491887"),
    ("svamp", "test", 1000, "38191f21e597d54ea3bd419b7197a08c6dda36f3754a01556a97b79418042fe1"),
    ("vicuna_bench", "test", 80,
     "e91c3b6e0b2667f44be4cbd019496395cb4c3a98042617efe02205c57410f7c6"),
]  # fmt: skip


def test_every_bundled_split_is_pinned():
    assert {(t, s) for t, s, *_ in BUNDLED} == {
        (name, split) for name, spec in load_specs().items() for split in spec.split_names
    }


@needs_data
@pytest.mark.parametrize(("task", "split", "count", "digest"), BUNDLED,
                         ids=[f"{t}-{s}" for t, s, *_ in BUNDLED])  # fmt: skip
def test_a_bundled_split_renders_the_same_records_as_before_and_lazily(task, split, count, digest):
    suite.data._split.cache_clear()
    few = load_examples(task, split, limit=7)
    assert len(suite.data._loaded(task, split, None).examples) == 7  # no more were rendered
    assert count_examples(task, split) == count
    every = load_examples(task, split)
    blob = json.dumps([e.__dict__ for e in every], ensure_ascii=False, sort_keys=True)
    assert (len(every), hashlib.sha256(blob.encode()).hexdigest()) == (count, digest)
    assert few == every[:7]
    assert load_examples(task, split, limit=100) == every[:100]


# --- temperatures that print alike in a cell key --------------------------------------------


def _grid(**over) -> dict:
    study = _study()
    study["grid"] = study["grid"] | over
    return study


COLLISIONS = [
    ("tau-one", _grid(decode_temperatures=[1.0, 1.0000001]), "grid.decode_temperatures[1]",
     "1.0000001", "grid.decode_temperatures[0] = 1.0", "t1 in a cell key"),
    ("tau-ninety-nine", _grid(decode_temperatures=[0.0, 99.99991, 99.99994]),
     "grid.decode_temperatures[2]", "99.99994", "grid.decode_temperatures[1] = 99.99991",
     "t99.9999"),
    ("tau-profile", _study(profiles={"smoke": {"grid": {"decode_temperatures": [0.5, 0.5000001]}}}),
     "profiles.smoke.grid.decode_temperatures[1]", "0.5000001", "t0.5 in a cell key"),
    ("tau-empirical", _study(empirical={"decode_temperatures": [2.0, 2.0000001]}),
     "empirical.decode_temperatures[1]", "2.0000001", "empirical.decode_temperatures[0] = 2.0"),
]  # fmt: skip


@pytest.mark.parametrize("case", [c[1:] for c in COLLISIONS], ids=[c[0] for c in COLLISIONS])
def test_two_temperatures_one_cell_key_are_refused_when_the_study_is_read(tmp_path, capsys, case):
    data, *named = case
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    argv = ["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "mini.yaml", *named)


def test_two_studies_that_spell_two_temperatures_alike_are_refused(tmp_path, capsys):
    """Each study's list is sound; together they would run one cell at 1.0 for both."""
    first, second = tmp_path / "one.yaml", tmp_path / "two.yaml"
    first.write_text(yaml.safe_dump(_grid(decode_temperatures=[1.0]) | {"name": "one"}))
    second.write_text(yaml.safe_dump(_grid(decode_temperatures=[1.0000001]) | {"name": "two"}))
    argv = ["run", str(first), str(second), "--profile", "smoke", "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "two.yaml", "decode_temperatures", "1.0000001", "t1")


@pytest.mark.parametrize("key", ["kd_temperatures", "full_grid_kd_temperatures"])
def test_a_recipe_with_two_temperatures_spelled_alike_is_refused(tmp_path, capsys, key):
    argv = _recipe_run(tmp_path, _recipe(**{key: [0.4, 9.999991, 9.999994]}))
    refused(argv, tmp_path, capsys, "recipe.yaml", f"'{key}[2]'", "9.999994", "t9.99999")


@pytest.mark.parametrize("taus", [[0.5, 0.50001], [0.0, 0.001], [1.0, 1.00001], [99.0, 99.001]])
def test_close_temperatures_with_distinct_keys_are_two_cells(tmp_path, taus):
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(_grid(decode_temperatures=taus)))
    plan = plan_studies([load_study(path)], load_profile("smoke"))
    assert [c.decode_temperature for c in plan.cells] == taus
    assert len({c.key for c in plan.cells}) == 2


def test_a_draft_configuration_keeps_every_digit_of_a_stated_kd_temperature():
    """Seeds of one configuration are pooled: τ_kd 0.401 and 0.404 are two configurations."""

    def config(tau: float) -> str:
        return DraftFacts(method="online", dataset="gsm8k", kd_temperature=tau).configuration("x")

    assert config(0.4) == "kd-online-gsm8k-t0.4" and config(1) == "kd-online-gsm8k-t1.0"
    assert config(0.401) != config(0.404)
    assert config(0.401) == "kd-online-gsm8k-t0.401"
