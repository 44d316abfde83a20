"""The report on a synthetic results folder: self-contained, escaped, strict JSON, CLI, browser.

The records are written directly (no model runs), shaped like the runner's, with planted effects
so every figure has data, and with generated text that tries to inject a script.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from suite.claims import REGISTRY
from suite.cli import main
from suite.report.render import CELL_COLUMNS, PROMPT_COLUMNS, claims_table, render_report
from suite.stats.intervals import restated_ratio_bootstrap
from tests.hostile import restate_timing, stats_counts

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "results" / "test-artifacts"
PAYLOAD = "<script>alert(1)</script>"
# Visible in the dumped DOM if it ever ran: a new title and an attribute on <body>.
ACTIVE = (
    "<script>document.title='PWNED';document.body.setAttribute('data-pwned','1')</script>"
    "<img src=x onerror=\"document.title='PWNED'\">"
)
DATASETS = ("gsm8k", "alpaca")
TAUS = (0.0, 0.5, 1.0, 1.5, 2.0)
KD_TAUS = (0.0, 0.5, 1.0)
PROMPTS = [f"test/{i}" for i in range(6)]
PROVENANCE = {
    "git_commit": "0" * 40,
    "git_dirty": False,
    "hardware": {"cpu": "test cpu", "cpu_count": 2, "device": "cpu", "torch_threads": 1},
    "models": {
        "target": {"location": "reference/llama/target", "sha256": "a" * 64},
        "tokenizer": {"location": "reference/llama/tokenizer", "sha256": "b" * 64},
        "draft": {"location": "reference/llama/draft", "sha256": "c" * 64},
    },
    "packages": {"numpy": np.__version__, "torch": "2.13.0+cpu"},
    "profile": "synthetic",
}


def _drafts(dataset: str) -> list[str]:
    kd = [f"kd-{m}-{dataset}-t{t}" for m in ("offline", "online") for t in KD_TAUS]
    return ["base", *kd, f"kd-offline-{dataset}-recipe", f"kd-online-{dataset}-recipe"]


def _alpha(dataset: str, draft: str, tau: float, noise: float) -> float:
    """Planted: α falls with τ_dec, peaks at τ_kd = τ_dec, online and recipe a little higher."""
    if draft == "base":
        a = 0.72 - 0.18 * tau
    else:
        kd = re.search(r"-t([\d.]+)$", draft)
        gap = 0.0 if kd is None else abs(tau - float(kd.group(1)))
        a = 0.8 - 0.08 * tau - 0.12 * gap + (0.03 if "online" in draft else 0.0)
        a += 0.04 if kd is None else 0.0
    a -= 0.06 if dataset == "alpaca" else 0.0
    return float(np.clip(a + noise, 0.02, 0.98))


def _cell(engine, dataset, draft, tau, n):
    cell = {
        "engine": engine,
        "family": "llama",
        "dataset": dataset,
        "split": "test",
        "draft": draft,
        "decode_temperature": tau,
        "num_draft_tokens": 4,
        "seed": 0,
        "prompts": n,
        "max_new_tokens": 16,
    }
    key = f"{engine}/llama/{dataset}:test/{draft}/t{tau:g}/K4/s0/n{n}/m16"
    return key, cell


def _analytic(dataset, draft, tau, rng) -> dict:
    key, cell = _cell("analytic", dataset, draft, tau, len(PROMPTS))
    alphas = [_alpha(dataset, draft, tau, rng.normal(0, 0.02) + 0.01 * i) for i in range(6)]
    mean = float(np.mean(alphas))
    slope = min(0.05, min(mean, 1.0 - mean) / 2.5)  # β falls with token length, Σβ kept
    chars = {str(c): [16 * (mean + slope * (3.5 - c)), 16] for c in range(1, 7)}
    interval, error = restated_ratio_bootstrap(
        [16 * a for a in alphas], [16] * len(alphas), seed=cell["seed"], n_boot=200, level=0.95
    )
    return {
        "key": key,
        "cell": cell,
        "prompt_ids": PROMPTS,
        "provenance": PROVENANCE,
        "result": {
            "acceptance_rate": mean,  # every prompt has 16 tokens: the token-weighted mean
            "confidence_interval": list(interval),  # the bootstrap a run would have drawn
            "standard_error": error,
            "n_boot": 200,
            "prompt_acceptance": alphas,
            "prompt_tokens": [16] * len(PROMPTS),
            "prompt_token_chars": [2.0 + (dataset == "alpaca")] * len(PROMPTS),
            "position_acceptance": [mean] * 16,
            "mean_accepted_length": sum(mean**i for i in range(K_DRAFT + 1)),
            "acceptance_by_token_chars": chars,
        },
        "timing": {
            "cost_ratio": 0.2,
            "projected_speedup": 1.5,
            "sample_seconds": 0.5,
            "score_seconds": 0.25,
            "finished_at": "2026-01-01T00:00:00+00:00",
        },
    }


K_DRAFT = 4  # the empirical cells' draft length (K4 in their keys)
MAX_NEW = 16  # every synthetic output ends on length at the cells' max_new_tokens


def _counts(alpha: float) -> dict:
    """Counts a run could have written for a judged acceptance rate near ``alpha``: the
    decoder's own bookkeeping (suite.decoding.speculative.GenerationStats) over steps that draft
    K tokens (fewer near max_new_tokens) and keep each while the judged rate stays at α."""
    from suite.decoding.speculative import GenerationStats

    alpha = min(max(alpha, 0.0), 1.0)
    st = GenerationStats(proposed_per_position=[0] * K_DRAFT, accepted_per_position=[0] * K_DRAFT)
    emitted = 0
    while emitted < MAX_NEW:
        k = min(K_DRAFT, MAX_NEW - emitted - 1)
        kept = 0
        while kept < k and st.accepted + kept + 1 <= alpha * (st.judged + kept + 1):
            kept += 1
        st.add_block(k, kept)
        emitted += kept + 1
    return stats_counts(st)


def _generation(pid: str, text: str, alpha: float) -> dict:
    out = {"tokens": MAX_NEW, "finish_reason": "length", "text": text}
    counts = _counts(alpha)
    return {
        "id": pid,
        "seed": 7,
        **counts,
        "mean_accepted_length": 1 + counts["accepted"] / counts["steps"],
        "identical": False,
        "speculative": out,
        "target": {**out, "text": text.upper()},
    }


def _totals(per: list[dict]) -> dict:
    """A cell's counts and rates: its prompts' counts added up."""
    total = {k: sum(p[k] for p in per) for k in ("steps", "proposed", "accepted", "judged")}
    accepted = [sum(p["accepted_per_position"][i] for p in per) for i in range(K_DRAFT)]
    proposed = [sum(p["proposed_per_position"][i] for p in per) for i in range(K_DRAFT)]
    return {
        **total,
        "tokens_speculative": 16 * len(per),
        "tokens_target": 16 * len(per),
        "acceptance_rate": total["accepted"] / total["proposed"],
        "judged_acceptance_rate": total["accepted"] / total["judged"],
        "mean_accepted_length": 1 + total["accepted"] / total["steps"],
        "position_acceptance": [a / p for a, p in zip(accepted, proposed, strict=True)],
    }


def _empirical(draft: str, tau: float, payload: bool) -> dict:
    ids = PROMPTS[:2] + ([f"test/{PAYLOAD}"] if payload else [])
    key, cell = _cell("empirical", "gsm8k", draft, tau, len(ids))
    per = [
        _generation(pid, f"The answer is {i}.", _alpha("gsm8k", draft, tau, 0.01 * i))
        for i, pid in enumerate(PROMPTS[:2])
    ]
    if payload:
        per.append(_generation(ids[-1], f"{PAYLOAD} and {ACTIVE}", 0.5))
    return {
        "key": key,
        "cell": cell,
        "prompt_ids": ids,
        "provenance": PROVENANCE,
        "result": {
            **_totals(per),
            "identical_outputs": 0,
            "per_prompt": per,
        },
        "timing": {
            "speedup": 1.3,
            "speculative_seconds": 1.0,
            "baseline_seconds": 1.3,
            "per_prompt": [{"speedup": 1.2 + 0.1 * i} for i in range(len(per))],
            "finished_at": "2026-01-01T00:01:00+00:00",
        },
    }


def write_results(folder: Path) -> Path:
    """A results folder in which every study holds every cell: all figures have data."""
    rng = np.random.default_rng(0)
    records = [
        _analytic(dataset, draft, tau, rng)
        for dataset in DATASETS
        for draft in _drafts(dataset)
        for tau in TAUS
    ]
    records += [
        _empirical(draft, tau, payload=(draft == "base" and tau == 1.0))
        for draft in ("base", "kd-online-gsm8k-t1.0")
        for tau in (0.0, 1.0)
    ]
    for record in records:
        restate_timing(record)  # γ as its rates and seconds give it
    keys = [r["key"] for r in records]
    home = {n: claim.studies[0] for n, claim in REGISTRY.items()}  # the Llama family's study
    studies = sorted(set(home.values()))
    header = {
        "studies": studies,
        "profile": "synthetic",
        "study_cells": {s: keys for s in studies},
        "study_claims": {s: [n for n, t in home.items() if t == s] for s in studies},
        "study_titles": {s: f"Study {s} {PAYLOAD}" for s in studies},
    }
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(header))
    (folder / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("report") / "results")


@pytest.fixture(scope="module")
def report(results) -> Path:
    from tests.conftest import plan_of_header

    with pytest.MonkeyPatch.context() as patch:
        plan_of_header(patch)
        return render_report(results)


def test_the_report_is_self_contained_and_holds_the_claims_table(results, report):
    assert report == results / "report.html"
    html = report.read_text(encoding="utf-8")
    assert '<table id="claims">' in html
    claims = html.split('<table id="claims">', 1)[1].split("</table>", 1)[0]
    assert claims.count("<tr>") == 1 + 8  # header + one row per claim
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    sources = re.findall(r"""\ssrc\s*=\s*["']([^"']*)""", html)
    assert len(sources) >= 8 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"<(?:script|link|iframe|object)\b", html, re.I)
    assert "Content-Security-Policy" in html


def test_generated_text_and_ids_are_escaped_never_raw(report):
    html = report.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert PAYLOAD not in html and not re.search(r"<script", html, re.I)
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html


def test_summary_json_is_strict_and_lists_the_eight_claims(results, report):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    summary = json.loads((results / "summary.json").read_text(), parse_constant=refuse)
    assert [c["number"] for c in summary["claims"]] == list(range(1, 9))
    assert set(summary["per_engine"]) == {"analytic", "empirical"}
    assert all(len(v) == 8 for v in summary["per_engine"].values())
    assert summary["agreement"]["cells"] == 4
    prov = summary["provenance"]
    assert prov["cells"] == 2 * 9 * 5 + 4 and prov["profile"] == "synthetic"
    assert {m["sha256"] for m in prov["models"]} == {"a" * 64, "b" * 64, "c" * 64}
    verdicts = {c["verdict"] for c in summary["claims"]}
    assert verdicts <= {"reproduced", "not reproduced", "inconclusive", "not run"}
    assert "not run" not in verdicts  # every study has cells


def test_the_csvs_have_the_expected_columns(results, report):
    with (results / "prompts.csv").open(newline="") as fh:
        prompts = list(csv.DictReader(fh))
    with (results / "cells.csv").open(newline="") as fh:
        cells = list(csv.DictReader(fh))
    assert list(prompts[0]) == PROMPT_COLUMNS and list(cells[0]) == CELL_COLUMNS
    assert len(cells) == 2 * 9 * 5 + 4
    assert len(prompts) == 2 * 9 * 5 * len(PROMPTS) + 4 * 2 + 1  # one payload prompt
    assert {c["speedup_kind"] for c in cells} == {"projected", "measured"}


def test_the_terminal_table_lists_every_claim():
    from suite.claims import Decision
    from suite.claims.model import ClaimResult

    claim = ClaimResult(
        1,
        "Title",
        "s",
        "src",
        [],
        "analytic",
        "reproduced",
        "rule",
        "sum",
        {"estimate": 0.1, "ci": [0.05, 0.2], "estimate_name": "mean"},
        0.01,
        [],
        {},
    )
    text = claims_table(Decision([claim], {}, {}))
    assert "reproduced" in text and "+0.100 [+0.050, +0.200]" in text and "0.010" in text


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "suite", "report", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_renders_the_same_report_and_prints_the_path(results, report, tmp_path, capsys):
    # In process: `python -m suite` runs this same main(); a subprocess would only add the imports.
    out = tmp_path / "elsewhere"
    assert main(["report", str(results), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.html") in printed
    assert "verdict" in printed and printed.count("\n") >= 10
    # Deterministic: the same results give the same bytes, figures included.
    assert (out / "report.html").read_bytes() == report.read_bytes()
    assert (out / "summary.json").read_bytes() == (results / "summary.json").read_bytes()


def test_the_cli_names_a_missing_or_foreign_folder(tmp_path, capsys):
    missing = tmp_path / "no-such-results"
    proc = _cli(str(missing))  # a real `python -m suite report`
    assert proc.returncode == 2 and "no-such-results" in proc.stderr
    assert "Traceback" not in proc.stderr
    empty = tmp_path / "not-results"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "not-results" in err and "run.json" in err
    assert not any(empty.iterdir())  # nothing written into a folder that is not ours


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("SUITE_REQUIRE_BROWSER") == "1":
        pytest.fail("SUITE_REQUIRE_BROWSER=1 but no chromium on PATH: apt-get install chromium")
    pytest.skip("chromium is not installed")


def _browser(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--disable-extensions",
    ]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=60)


def test_a_headless_browser_shows_the_claims_and_runs_no_injected_script(request, tmp_path):
    exe = _chromium()  # before rendering: a skip costs nothing
    report = request.getfixturevalue("report")
    url = report.resolve().as_uri()
    proc = _browser(exe, tmp_path / "profile", "--dump-dom", url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'id="claims"' in dom and "Claim 8" in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # the payload is there, as text
    assert "PWNED" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert not re.search(r"<[a-z]+\b[^>]*\sdata-pwned", dom, re.I)
    assert not re.search(r"<(?:script|img)\b", dom, re.I) or 'src="data:' in dom
    assert not re.search(r"<script\b", dom, re.I)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    proc = _browser(
        exe, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2400", url
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert len(data) > 10_000 and data.startswith(b"\x89PNG\r\n\x1a\n")


def test_cells_csv_takes_a_drafts_method_and_tau_from_its_record_not_its_name():
    """A profile draft named 'da' with online facts showed as method 'other' in cells.csv (and a
    draft named like a KD one would have shown the name's method), unlike prompts.csv."""
    from suite.record_json import record_from_json
    from suite.report.render import cell_table
    from tests.test_records import old_analytic

    line = old_analytic("da")
    line["cell"]["draft_facts"] = {
        "dataset": "gsm8k", "divergence": "cross_entropy", "kd_temperature": 0.6,
        "kd_temperatures": [0.6], "method": "online", "origin": "bundle", "recipe": False,
        "seed": 1, "source": "profile",
    }  # fmt: skip
    row = cell_table([record_from_json(line)]).iloc[0]
    assert (row["method"], row["kd_temperature"], row["kd_dataset"]) == ("online", 0.6, "gsm8k")
