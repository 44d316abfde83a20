"""Answer patterns run on model output under a clock: a pattern that backtracks past the limit is
an error naming the task file, the pattern's field and the pattern, never a hang."""

from __future__ import annotations

import pytest
import regex
import yaml

import suite.data as data
from suite.errors import SpecError
from suite.specs import load_spec


def _spec(tmp_path, pattern: str):
    raw = {
        "name": "toy",
        "description": "A toy task.",
        "license": "MIT",
        "source": {"format": "jsonl"},
        "splits": {"test": {"files": ["toy/test.jsonl"]}},
        "instruction": "{{ question }}",
        "answer": {"template": "{{ solution }}", "patterns": [{"regex": pattern}]},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_spec(path), path


def test_adjacent_repeats_over_the_same_characters_run_within_the_limit(tmp_path):
    # Python's re backtracks on this for minutes at 300 characters; the reader accepts it, and
    # the answer extraction must finish (a timeout would raise SpecError here).
    spec, _ = _spec(tmp_path, "[a-z]*[a-z]*[a-z]*[a-z]*x")
    assert data.extract_answer(spec, "a" * 100_000) is None
    assert data.extract_answer(spec, "a" * 300 + "x") == "a" * 300 + "x"


def test_a_pattern_past_the_clock_is_an_error_naming_file_field_and_pattern(tmp_path, monkeypatch):
    spec, path = _spec(tmp_path, r"(\d+)")
    monkeypatch.setattr(data, "REGEX_SECONDS", 1e-9)
    with pytest.raises(SpecError) as err:
        data.extract_answer(spec, "1 2 3 " * 200_000)
    assert err.value.field == "answer.patterns[0].regex" and err.value.value == r"(\d+)"
    assert str(path) in str(err.value) and "took over" in str(err.value)


def test_the_bundled_answer_patterns_read_as_before(tmp_path):
    spec, _ = _spec(tmp_path, r"####\s*(-?\$?\d[\d,]*(?:\.\d+)?)")
    assert data.extract_answer(spec, "so the total is #### $1,234.50 dollars") == "$1,234.50"


def test_a_split_spends_one_budget_across_all_its_searches(tmp_path, monkeypatch):
    # each search stays under the per-search clock; the split's total budget still stops them
    spec, path = _spec(tmp_path, r"(\d+)")
    data.extract_answer(spec, "#### 7", data.RegexBudget(10.0))  # a budget with time left: fine
    spent = data.RegexBudget(0.0)
    with pytest.raises(SpecError) as err:
        data.extract_answer(spec, "1 2 3 " * 200_000, spent)
    assert err.value.field == "answer.patterns[0].regex" and "in all on one split" in str(err.value)
    assert str(path) in str(err.value)


def test_patterns_run_with_the_engine_and_mode_that_checked_them(tmp_path):
    assert not data._regex("a").flags & regex.V1
    spec, _ = _spec(tmp_path, r"x\{e<=1\}")
    assert data.extract_answer(spec, "x{e<=1}") == "x{e<=1}"
    assert data.extract_answer(spec, "y{e<=1}") is None  # a literal brace, not fuzzy matching
