"""Inputs of the eighteenth attack on the report: results folders whose records are consistent but
whose values are all undefined or all the same (every analytic α null, every empirical count 0,
no timing, every α 1). A run could write each (every continuation empty, a perfect draft); the
report drew a traceback (a KeyError in the engines' comparison, a TypeError in a figure), a
matplotlib error about negative error bars, or numpy warnings on stderr. Each case failed on the
commit before its fix; the folders are tampered copies of a real smoke-profile folder and of the
synthetic folder of tests/test_report.py, whose every figure has data."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from suite.claims import engine_agreement
from suite.cli import main
from suite.report import figures, plotting
from tests.hostile import refused, restate_timing
from tests.test_report import write_results


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """A results folder of the smoke profile, made once for the module (about 30 s)."""
    out = tmp_path_factory.mktemp("round18r") / "smoke"
    argv = ["reproduce", "--profile", "smoke", "--out", str(out), "--quiet", "--workers", "1"]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("round18r") / "synthetic")


def _tampered(base: Path, tmp_path: Path, *edits) -> Path:
    """A copy of ``base`` whose records each edit rewrote (in place, record by record)."""
    folder = tmp_path / "results"
    folder.mkdir()
    shutil.copy(base / "run.json", folder / "run.json")
    records = [json.loads(line) for line in (base / "cells.jsonl").read_text().splitlines()]
    for record in records:
        for edit in edits:
            edit(record)
        restate_timing(record)  # γ as the edited rates and seconds give it
    (folder / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _reported(folder: Path, tmp_path: Path, capsys) -> dict:
    """``report`` exits 0 and writes the report, printing nothing on stderr and raising no
    warning (numpy's or matplotlib's); its summary.json."""
    out = tmp_path / "report"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["report", str(folder), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err == "", err
    assert not caught, [f"{w.category.__name__}: {w.message} ({w.filename})" for w in caught]
    for name in ("report.html", "summary.json", "prompts.csv", "cells.csv"):
        assert (out / name).is_file(), name
    return json.loads((out / "summary.json").read_text())


# --- consistent record edits --------------------------------------------------------------------


def _analytic_undefined(record: dict) -> None:
    """An analytic cell whose every continuation is empty: no token, α null everywhere."""
    if record["cell"]["engine"] != "analytic":
        return
    x = record["result"]
    n = len(x["prompt_acceptance"])
    x.update(
        acceptance_rate=None,
        prompt_acceptance=[None] * n,
        prompt_tokens=[0] * n,
        mean_accepted_length=None,
        position_acceptance=[],  # a rate per position of the longest continuation: none
        prompt_token_chars=[None] * n,  # no token has no length
        standard_error=None,
        acceptance_by_token_chars={},
    )
    x.pop("confidence_interval", None)
    if "tokens" in x:
        x["tokens"] = 0


def _counts_zero(part: dict) -> None:
    part.update(
        proposed=0, accepted=0, judged=0, steps=0, acceptance_rate=None,
        judged_acceptance_rate=None, mean_accepted_length=None,
    )  # fmt: skip


def _empirical_undefined(record: dict) -> None:
    """An empirical cell in which no step ran: every count 0, every rate null, no token out."""
    if record["cell"]["engine"] != "empirical":
        return
    x = record["result"]
    for prompt in x["per_prompt"]:
        _counts_zero(prompt)
        k = record["cell"]["num_draft_tokens"]
        prompt.update(proposed_per_position=[0] * k, accepted_per_position=[0] * k)
        prompt["speculative"]["tokens"] = 0  # a step emits a token: none ran, none came out
        prompt["speculative"]["finish_reason"] = None
        prompt["identical"] = False  # the target's output is not empty
    _counts_zero(x)
    x["tokens_speculative"] = 0
    x["identical_outputs"] = 0
    x["position_acceptance"] = [None] * record["cell"]["num_draft_tokens"]


def _no_timing(record: dict) -> None:
    record.pop("timing", None)


def _null_timing(record: dict) -> None:
    record["timing"] = {k: None for k in record.get("timing") or {}}


def _analytic_perfect(record: dict) -> None:
    """A perfect draft, as the analytic engine states it: α = 1 everywhere, CI [1, 1], SE 0."""
    if record["cell"]["engine"] != "analytic":
        return
    x, k = record["result"], record["cell"]["num_draft_tokens"]
    x.update(
        prompt_acceptance=[1.0] * len(x["prompt_acceptance"]),
        acceptance_rate=1.0,
        mean_accepted_length=k + 1.0,
        position_acceptance=[1.0] * len(x["position_acceptance"]),
        confidence_interval=[1.0, 1.0],
        standard_error=0.0,
    )
    buckets = x["acceptance_by_token_chars"]
    x["acceptance_by_token_chars"] = {c: [float(n), n] for c, (_, n) in buckets.items()}


def _empirical_judged_all(record: dict) -> None:
    """Every draft accepted: the empirical α is 1, with the counts a decoder keeps for it (every
    synthetic output ends on length, at the cells' max_new_tokens)."""
    from tests.test_report import _counts, _totals

    if record["cell"]["engine"] != "empirical":
        return
    x = record["result"]
    for prompt in x["per_prompt"]:
        counts = _counts(1.0)
        prompt.update(counts, mean_accepted_length=1 + counts["accepted"] / counts["steps"])
    x.update(_totals(x["per_prompt"]))


def _same_cost(record: dict) -> None:
    """One cost ratio and one measured speedup everywhere: γ is the same in every cell."""
    timing = record.get("timing") or {}
    if "cost_ratio" in timing:
        timing["cost_ratio"] = 0.1
    prompts = record["result"].get("per_prompt") or []
    for t, p in zip(timing.get("per_prompt") or [], prompts, strict=False):
        t["speculative_seconds"] = max(p["speculative"]["tokens"], 1) * 0.01
        t["baseline_seconds"] = max(p["target"]["tokens"], 1) * 0.011
    restate_timing(record)  # γ of these seconds: 1.1 on every prompt


# --- D12, D13: an engine without one defined α ---------------------------------------------------


def test_every_analytic_alpha_null_is_reported_without_a_comparison(smoke, tmp_path, capsys):
    summary = _reported(_tampered(smoke, tmp_path, _analytic_undefined), tmp_path, capsys)
    assert summary["agreement"] == {"cells": 0}
    analytic = {c["number"]: c for c in summary["per_engine"]["analytic"]}
    assert {c["verdict"] for c in analytic.values()} <= {"inconclusive", "not run"}


def test_an_empirical_cell_in_which_no_step_ran_is_refused(smoke, tmp_path, capsys):
    """Every count 0 and no output: no decode writes it (each takes a step and ends on a
    reason), so a report refuses it rather than report an engine without values."""
    folder = _tampered(smoke, tmp_path, _empirical_undefined)
    argv = ["report", str(folder), "--out", str(tmp_path / "report")]
    refused(argv, tmp_path, capsys, "cells.jsonl", "speculative.finish_reason")


def test_the_engine_comparison_of_an_engine_without_values_has_no_cells():
    rows = pd.DataFrame(
        {
            "engine": ["analytic", "empirical"] * 3,
            "family": "llama", "dataset": "gsm8k", "draft": "base", "decode_temperature": 0.0,
            "num_draft_tokens": 4, "prompt": ["p0", "p0", "p1", "p1", "p2", "p2"],
            "alpha": [np.nan, 0.5, np.nan, 0.6, np.nan, 0.7],
        }
    )  # fmt: skip
    assert engine_agreement(rows) == {"cells": 0}


# --- D14: no timing -----------------------------------------------------------------------------


@pytest.mark.parametrize("edit", [_no_timing, _null_timing], ids=["absent", "null"])
def test_records_without_timing_are_reported(smoke, tmp_path, capsys, edit):
    summary = _reported(_tampered(smoke, tmp_path, edit), tmp_path, capsys)
    assert summary["agreement"]["cells"] > 0  # α is there: the engines are still compared


# --- D15: every α 1 -----------------------------------------------------------------------------


def test_every_analytic_alpha_one_is_reported_without_warnings(smoke, tmp_path, capsys):
    summary = _reported(_tampered(smoke, tmp_path, _analytic_perfect), tmp_path, capsys)
    agreement = summary["agreement"]
    assert agreement["cells"] >= 3 and agreement["pearson_r"] is None  # α constant: no r


def test_error_bars_are_never_negative():
    """Identical values summarised: their mean may lie a rounding error outside their interval
    (three seeds at 0.1 average to 0.10000000000000002 > 0.1)."""
    tenth = float(np.mean([0.1, 0.1, 0.1]))
    assert tenth > 0.1
    s = pd.DataFrame({"x": [0.0, 1.0], "mean": [tenth, 1.0], "lo": [0.1, 1.0], "hi": [0.1, 1.0]})
    fig, ax = plt.subplots()
    try:  # matplotlib refuses a negative error bar
        plotting.draw_band(ax, s, "x", "black", "a draft", bars=True)
    finally:
        plt.close(fig)
    assert (plotting.error_bars(s) >= 0).all()
    frame = pd.DataFrame(
        {
            "dataset": "gsm8k", "method": "base", "decode_temperature": [0.0] * 3 + [1.0] * 3,
            "alpha": [tenth] * 6, "prompt": ["p0", "p1", "p2"] * 2, "engine": "analytic",
        }
    )  # fmt: skip
    assert figures.dataset_difficulty(frame) is not None


# --- the same class in the other figures and claims ---------------------------------------------


@pytest.mark.usefixtures("hand_made_plan")  # a folder built by hand
@pytest.mark.parametrize(
    "edits",
    [
        (_analytic_undefined,),
        (_no_timing,),
        (_analytic_undefined, _no_timing),
        (_analytic_perfect, _empirical_judged_all, _same_cost),
    ],
    ids=["analytic-null", "no-timing", "all-undefined", "all-constant"],
)
def test_every_figure_and_claim_takes_undefined_or_constant_values(
    synthetic, tmp_path, capsys, edits
):
    """The synthetic folder draws every figure (heatmaps, U-curve, recipe bars, token lengths)."""
    _reported(_tampered(synthetic, tmp_path, *edits), tmp_path, capsys)


@pytest.mark.usefixtures("hand_made_plan")  # a folder built by hand
def test_the_untampered_synthetic_folder_still_draws_every_figure(synthetic, tmp_path, capsys):
    _reported(synthetic, tmp_path, capsys)
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 12  # every figure drawn
