"""The typed results record: one per-prompt shape for both engines, old results folders still load,
a malformed line is refused by name, and token lengths are bucketed as the figure labels them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from suite.cells import by_token_chars
from suite.errors import SpecError
from suite.record_json import record_from_json, record_to_json
from suite.records import LEGACY_TOKEN_CHARS_OPEN, TOKEN_CHARS_OPEN, ResultRecord
from suite.store import ResultsStore, dumps
from suite.tables import prompt_rows, token_char_buckets

HEADER = {"studies": ["difficulty"], "profile": "smoke"}


def _cell(engine: str, draft: str, n: int) -> tuple[str, dict]:
    cell = {
        "dataset": "gsm8k",
        "decode_temperature": 1.0,
        "draft": draft,
        "engine": engine,
        "family": "llama",
        "max_new_tokens": 16,
        "num_draft_tokens": 4,
        "prompts": n,
        "seed": 0,
        "split": "test",
    }
    return f"{engine}/llama/gsm8k:test/{draft}/t1/K4/s0/n{n}/m16", cell


def old_analytic(draft: str = "base") -> dict:
    """An analytic record exactly as the suite wrote it before records were typed (591b2d2)."""
    key, cell = _cell("analytic", draft, 2)
    return {
        "cell": cell,
        "key": key,
        "prompt_ids": ["test/0", "test/1"],
        "provenance": {
            "git_commit": "0" * 40,
            "git_dirty": False,
            "hardware": {"cpu": "cpu", "cpu_count": 2, "device": "cpu", "torch_threads": 1},
            "models": {  # each model the cell loaded, as every version of the suite names them
                "draft": {"location": "reference/llama/draft", "sha256": "c" * 64},
                "target": {"location": "reference/llama/target", "sha256": "d" * 64},
                "tokenizer": {"location": "reference/llama/tokenizer", "sha256": "e" * 64},
            },
            "packages": {"torch": "2.13.0+cpu"},
            "profile": "smoke",
        },
        "result": {
            "acceptance_by_token_chars": {"1": [12.0, 20], "3": [6.0, 10], "8": [2.0, 2]},
            "acceptance_rate": 0.625,
            "confidence_interval": [0.5, 0.75],
            "confidence_level": 0.95,
            "mean_accepted_length": 2.412353515625,  # Σ 0.625^i, i <= 4
            "n_boot": 1000,
            "position_acceptance": [0.75, 0.5] * 8,
            "prompt_acceptance": [0.5, 0.75],
            "prompt_token_chars": [3.5, None],
            "prompt_tokens": [16, 16],
            "standard_error": 0.08886651018033526,  # the bootstrap's, as the interval
            "temperature": 1.0,
            "tokens": 32,
        },
        "timing": {
            "cost_ratio": 0.25,
            "finished_at": "2026-01-01T00:00:00+00:00",
            "projected_speedup": 1.2061767578125,  # Σ 0.625^i / (4 × 0.25 + 1)
            "sample_seconds": 0.4,
            "score_seconds": 0.3,
        },
    }


def old_empirical(draft: str = "kd-online-gsm8k-t1.0") -> dict:
    key, cell = _cell("empirical", draft, 1)
    gen = {"finish_reason": "length", "text": "The answer is 4.", "tokens": 16}
    return {
        "cell": cell,
        "key": key,
        "prompt_ids": ["test/0"],
        "result": {
            "acceptance_rate": 0.75,
            "accepted": 12,
            "identical_outputs": 0,
            "judged": 13,
            "judged_acceptance_rate": 12 / 13,
            "mean_accepted_length": 4.0,
            "per_prompt": [
                {
                    "acceptance_rate": 0.75,
                    "accepted": 12,
                    "accepted_per_position": [3, 3, 3, 3],
                    "id": "test/0",
                    "identical": False,
                    "judged": 13,
                    "judged_acceptance_rate": 12 / 13,
                    "mean_accepted_length": 4.0,
                    "proposed": 16,
                    "proposed_per_position": [4, 4, 4, 4],
                    "seed": 15793235383387715774,
                    "speculative": gen,
                    "steps": 4,
                    "target": {**gen, "text": "The answer is 5."},
                }
            ],
            "position_acceptance": [0.75, 0.75, 0.75, 0.75],
            "proposed": 16,
            "steps": 4,
            "tokens_speculative": 16,
            "tokens_target": 16,
        },
        "timing": {
            "baseline_seconds": 0.16,
            "finished_at": "2026-01-01T00:00:01+00:00",
            "per_prompt": [
                {
                    "baseline_seconds": 0.16,
                    "draft_seconds": 0.03,
                    "speculative_seconds": 0.1,
                    "speedup": 1.6,
                    "target_seconds": 0.06,
                }
            ],
            "speculative_seconds": 0.1,
            "speedup": 1.6,
        },
    }


def header_of(*records: dict, header: dict = HEADER) -> dict:
    """A run header planning exactly these records, as a run states them (``study_cells``, each
    key once)."""
    keys = list(dict.fromkeys(r["key"] for r in records))
    return header | {"study_cells": {header["studies"][0]: keys}}


def header_planning(cells: str, header: dict = HEADER) -> dict:
    """:func:`header_of` the records among the lines of a cells file (a torn or malformed
    line plans nothing)."""
    records = []
    for line in cells.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("key"), str):
            records.append(record)
    return header_of(*records, header=header)


def _folder(tmp_path: Path, *records: dict) -> Path:
    (tmp_path / "run.json").write_text(json.dumps(header_of(*records)))
    (tmp_path / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return tmp_path


def test_an_old_results_folder_loads_with_facts_read_from_the_draft_names(tmp_path):
    folder = _folder(tmp_path, old_analytic(), old_empirical())
    analytic, empirical = ResultsStore(folder).load().values()
    assert analytic.facts.method == "base" and analytic.facts.source == "name"
    facts = empirical.facts
    assert (facts.method, facts.dataset, facts.kd_temperature, facts.seed) == (
        "online", "gsm8k", 1.0, None,
    )  # fmt: skip
    # Its token-length buckets stopped at 8, and say so.
    assert analytic.result.analytic.by_token_chars.open_from == LEGACY_TOKEN_CHARS_OPEN == 8
    # It writes back as it was read (the facts stay derived), plus where its open bucket starts.
    again = record_to_json(analytic)
    assert again["result"].pop("token_chars_open_bucket") == 8
    assert dumps(again) == dumps(old_analytic())
    assert dumps(record_to_json(empirical)) == dumps(old_empirical())


def test_both_engines_give_one_per_prompt_shape_and_the_table_its_numbers(tmp_path):
    folder = _folder(tmp_path, old_analytic(), old_empirical())
    analytic, empirical = ResultsStore(folder).load().values()
    (a0, a1), (e0,) = analytic.result.prompts, empirical.result.prompts
    assert (a0.prompt, a0.alpha, a0.tokens, a0.token_chars) == ("test/0", 0.5, 16, 3.5)
    assert math.isnan(a1.token_chars) and a0.empirical is None
    # α(1 + α + α² + α³ + α⁴) at K = 4: 1.9375 for α = 0.5.
    assert a0.mean_accepted_length == 1.9375
    assert (e0.alpha, e0.mean_accepted_length, e0.tokens) == (12 / 13, 4.0, 16)
    assert e0.empirical.speculative.text == "The answer is 4." and e0.empirical.accepted == 12
    rows = prompt_rows([analytic, empirical])
    assert rows["alpha"].round(6).tolist() == [0.5, 0.75, round(12 / 13, 6)]
    # γ: projected from α and c = 0.25 (1.9375 / (4 · 0.25 + 1)); measured by the clock.
    assert rows["speedup"].round(6).tolist() == [0.96875, round(3.05078125 / 2, 6), 1.6]
    assert rows["method"].tolist() == ["base", "base", "online"]
    assert rows["draft_config"].tolist() == ["base", "base", "kd-online-gsm8k-t1.0"]
    assert rows["training_seed"].isna().all()  # old names do not say the seed


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        (lambda r: r["result"]["prompt_acceptance"].__setitem__(1, "x"),
         "line 2: result.prompt_acceptance[1]", "x"),
        (lambda r: r["result"].pop("prompt_tokens"), "line 2: result.prompt_tokens", None),
        (lambda r: r["result"]["prompt_tokens"].pop(), "line 2: result.prompt_tokens", 1),
        (lambda r: r["cell"].__setitem__("engine", "magic"), "line 2: cell.engine", "magic"),
        (lambda r: r.__setitem__("key", "elsewhere"), "line 2: key", "elsewhere"),
        (lambda r: r["cell"].__setitem__("draft_facts", {"method": "online", "seed": -1}),
         "line 2: cell.draft_facts.seed", -1),
    ],
)  # fmt: skip
def test_a_malformed_record_is_refused_naming_file_line_field_and_value(
    tmp_path, change, field, value
):
    bad = old_analytic("kd-online-gsm8k-t1.0")
    change(bad)
    folder = _folder(tmp_path, old_empirical(), bad)
    with pytest.raises(SpecError) as err:
        ResultsStore(folder).load()
    assert (Path(err.value.path).name, err.value.field, err.value.value) == (
        "cells.jsonl", field, value,
    )  # fmt: skip


def test_tokens_past_8_characters_get_their_own_buckets_and_the_open_one_is_labelled_12_plus():
    # One prompt, four tokens of 3, 8, 10 and 15 characters; β 1.0, 0.5, 0.25, 0.0.
    chars = np.array([3, 8, 10, 15])
    buckets = by_token_chars([np.array([1.0, 0.5, 0.25, 0.0])], [[0, 1, 2, 3]], chars)
    assert buckets.open_from == TOKEN_CHARS_OPEN == 12
    assert buckets.buckets == ((3, 1.0, 1), (8, 0.5, 1), (10, 0.25, 1), (12, 0.0, 1))
    record = record_from_json(old_analytic())
    new = _with_buckets(record, buckets)
    table = token_char_buckets([new])
    assert table["label"].tolist() == ["3", "8", "10", "12+"]
    assert table["beta"].tolist() == [1.0, 0.5, 0.25, 0.0]
    # An old record's last bucket holds 8 and up: its label says so, and mixed with a new one
    # the buckets from 8 on merge, so no label claims more than the data hold.
    assert token_char_buckets([record])["label"].tolist() == ["1", "3", "8+"]
    mixed = token_char_buckets([record, new])
    assert mixed["label"].tolist() == ["1", "3", "8+"]
    assert mixed["count"].tolist() == [20, 11, 2 + 3]


def _with_buckets(record: ResultRecord, buckets) -> ResultRecord:
    from dataclasses import replace

    analytic = replace(record.result.analytic, by_token_chars=buckets)
    return replace(record, result=replace(record.result, analytic=analytic))


def test_a_record_reads_as_the_json_it_is_stored_as(tmp_path):
    """The view that suite/claims and report/render.py read until they move to attributes."""
    (record,) = ResultsStore(_folder(tmp_path, old_analytic())).load().values()
    assert record["cell"]["draft"] == "base" and record["key"] == record.key
    assert record.get("timing")["cost_ratio"] == 0.25 and "provenance" in record
    assert record["result"]["acceptance_by_token_chars"]["8"] == [2.0, 2]
