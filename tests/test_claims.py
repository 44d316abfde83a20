"""The claims on synthetic results with known answers: planted effects found, flat grids never
called reproduced."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from suite import stats
from suite.claims import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    REGISTRY,
    REPRODUCED,
    ClaimData,
    Evaluation,
    Figure,
    decide_folder,
    register_claim,
)
from suite.claims.model import PAPER_FILE, check_words, load_paper
from suite.errors import SpecError
from suite.store import ResultsStore
from suite.studies import Cell, load_studies
from tests.hostile import restate_analytic

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")

GRID = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
OOD = [0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0]
PROMPTS = 40


def _kd_names() -> list[str]:
    return [f"kd-{m}-{{d}}-t{t:.1f}" for m in ("offline", "online") for t in GRID]


def _record(cell: Cell, alphas: np.ndarray) -> dict:
    """A record as a run writes it: its totals, rates and buckets restated from its prompts."""
    return restate_analytic(
        {
            "key": cell.key,
            "cell": cell.to_dict(),
            "prompt_ids": [f"test/{i}" for i in range(len(alphas))],
            "result": {
                "acceptance_rate": float(alphas.mean()),
                "prompt_acceptance": [float(a) for a in alphas],
                "prompt_tokens": [64] * len(alphas),
                "prompt_token_chars": [3.0] * len(alphas),
                "acceptance_by_token_chars": {},
            },
            "timing": {"cost_ratio": 0.25},
            "provenance": {"profile": "synthetic", "models": _models(cell)},  # as the header's
        }
    )


def _models(cell: Cell) -> dict:
    """Each model a cell loads, at its bundle location, with a hash of its own."""
    import hashlib

    def model(path: str) -> dict:
        return {"location": path, "sha256": hashlib.sha256(path.encode()).hexdigest()}

    root = f"reference/{cell.family}"
    return {role: model(f"{root}/{name}") for role, name in
            (("tokenizer", "tokenizer"), ("target", "target"), ("draft", cell.draft))}  # fmt: skip


def _write(
    folder: Path,
    studies: dict[str, list[tuple]],
    alpha: Callable,
    claims: dict[str, list[int]] | None = None,
    families: dict[str, str] | None = None,
) -> Path:
    """studies: name -> [(dataset, draft, τ_dec)]; alpha(rng, dataset, draft, τ) -> per-prompt α.

    ``families``: study -> model family (llama when absent); alpha then also gets ``family=``.
    ``claims``: study -> the claims it tests, as a run's header records them.
    """
    rng = np.random.default_rng(0)
    prompt_effect = rng.normal(0, 0.03, PROMPTS)
    records, study_cells = {}, {}
    for study, cells in studies.items():
        keys = []
        family = (families or {}).get(study, "llama")
        for dataset, draft, tau in cells:
            cell = Cell("analytic", family, dataset, "test", draft, tau, 4, 0, PROMPTS, 64)
            if cell.key not in records:
                kw = {"family": family} if families else {}
                values = alpha(rng, dataset, draft, tau, **kw) + prompt_effect
                records[cell.key] = _record(cell, np.clip(values, 0.01, 0.99))
            keys.append(cell.key)
        study_cells[study] = keys
    header = {"studies": sorted(studies), "profile": "synthetic", "study_cells": study_cells}
    if claims is not None:
        header["study_claims"] = claims
    store = ResultsStore(folder)
    store.open(header)
    for record in records.values():
        store.append(record)
    return folder


def _grid_cells(dataset="gsm8k", drafts=None, taus=GRID) -> list[tuple]:
    names = drafts or [n.format(d=dataset) for n in _kd_names()]
    return [(dataset, d, t) for d in names for t in taus]


def _tau_kd(draft: str) -> float:
    return float(draft.rsplit("-t", 1)[1])


def _noise(rng, scale=0.03):
    return rng.normal(0, scale, PROMPTS)


def _verdicts(folder) -> dict[int, str]:
    return {c.number: c.verdict for c in decide_folder(folder).claims}


def test_a_planted_diagonal_is_found(tmp_path):
    def alpha(rng, dataset, draft, tau):
        return 0.7 - 0.3 * abs(_tau_kd(draft) - tau) + _noise(rng)

    folder = _write(tmp_path, {"alignment": _grid_cells()}, alpha)
    decision = decide_folder(folder)
    claim = decision.claims[1]
    assert claim.number == 2 and claim.verdict == REPRODUCED
    assert claim.pvalue_adjusted < 0.05 and claim.test["estimate"] > 0.05
    # Claims whose studies were not run say so.
    assert {c.number: c.verdict for c in decision.claims}[6] == NOT_RUN


def test_a_planted_u_is_detected_and_a_monotone_fall_is_not(tmp_path):
    cells = _grid_cells("svamp", ["base", "kd-online-gsm8k-t1.0"], OOD)

    def u(rng, dataset, draft, tau):
        return 0.35 + 0.25 * (tau - 1.2) ** 2 + _noise(rng)

    def fall(rng, dataset, draft, tau):
        return 0.8 - 0.2 * tau + _noise(rng)

    assert _verdicts(_write(tmp_path / "u", {"out_of_domain": cells}, u))[5] == REPRODUCED
    assert _verdicts(_write(tmp_path / "fall", {"out_of_domain": cells}, fall))[5] != REPRODUCED


def test_planted_degradation_and_online_advantage_are_reproduced(tmp_path):
    drafts = ["base", *[n.format(d="gsm8k") for n in _kd_names()]]

    def alpha(rng, dataset, draft, tau):
        slope = -0.3 if draft == "base" else -0.1  # KD falls, but less steeply
        online = 0.03 + 0.05 * tau if "online" in draft else 0.0
        return 0.75 + slope * tau + online + _noise(rng)

    cells = _grid_cells(drafts=drafts)
    studies = {"degradation": cells, "online_offline": _grid_cells()}
    verdicts = _verdicts(_write(tmp_path, studies, alpha))
    assert verdicts[1] == REPRODUCED
    assert verdicts[3] == REPRODUCED
    assert verdicts[4] == REPRODUCED
    # Online is better at τ_dec = 0 too, so the open question (claim 8) is contradicted.
    assert verdicts[8] == NOT_REPRODUCED


def test_a_rising_series_makes_claim_1_not_reproduced(tmp_path):
    def alpha(rng, dataset, draft, tau):
        return 0.5 + (0.2 if draft == "base" else -0.2) * tau + _noise(rng)

    drafts = ["base", "kd-offline-gsm8k-t0.0", "kd-online-gsm8k-t1.0"]
    verdicts = _verdicts(_write(tmp_path, {"degradation": _grid_cells(drafts=drafts)}, alpha))
    assert verdicts[1] == NOT_REPRODUCED


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_flat_grid_is_never_called_reproduced(tmp_path, seed):
    drafts = ["base", *[n.format(d="gsm8k") for n in _kd_names()]]
    recipe = ["kd-offline-gsm8k-recipe", "kd-online-gsm8k-recipe", "kd-online-gsm8k-t1.0"]
    rng_seed = np.random.default_rng(seed)

    def flat(rng, dataset, draft, tau):
        return 0.6 + rng_seed.normal(0, 0.05, PROMPTS)

    studies = {
        "degradation": _grid_cells(drafts=drafts),
        "alignment": _grid_cells(),
        "online_offline": _grid_cells(),
        "out_of_domain": _grid_cells("svamp", ["base", "kd-online-gsm8k-t1.0"], OOD),
        "recipe": _grid_cells(drafts=recipe, taus=[0.6, 0.8, 1.0]),
        "difficulty": _grid_cells(drafts=["base"]) + _grid_cells("alpaca", ["base"]),
    }
    verdicts = _verdicts(_write(tmp_path, studies, flat))
    assert set(verdicts) == set(range(1, 9))
    assert REPRODUCED not in verdicts.values(), verdicts
    assert set(verdicts.values()) <= {INCONCLUSIVE, NOT_REPRODUCED}


def test_a_recipe_gain_is_measured_as_a_relative_speedup(tmp_path):
    drafts = ["kd-offline-gsm8k-recipe", "kd-offline-gsm8k-t1.0", "kd-offline-gsm8k-t0.8"]

    def alpha(rng, dataset, draft, tau):
        return (0.75 if "recipe" in draft else 0.6) + _noise(rng, 0.02)

    folder = _write(tmp_path, {"recipe": _grid_cells(drafts=drafts, taus=[0.6, 0.8, 1.0])}, alpha)
    claim = {c.number: c for c in decide_folder(folder).claims}[6]
    assert claim.verdict == REPRODUCED
    gain = claim.numbers["llama"]["relative_gain"]
    assert 0.1 < gain < 0.5
    assert json.loads(json.dumps(claim.to_dict()))["number"] == 6


def test_an_anti_diagonal_is_not_taken_for_alignment(tmp_path):
    def alpha(rng, dataset, draft, tau):
        return 0.7 - 0.3 * abs(_tau_kd(draft) - (1.0 - tau)) + _noise(rng)

    assert _verdicts(_write(tmp_path, {"alignment": _grid_cells()}, alpha))[2] != REPRODUCED


T5_KD = [0.0, 0.5, 1.0]


def _two_families(tmp_path, alpha) -> Path:
    """Llama studies on the 6 × 6 grid and T5 studies on τ_kd {0, 0.5, 1}, drafts named alike."""
    t5 = ["base", *[f"kd-{m}-gsm8k-t{t:.1f}" for m in ("offline", "online") for t in T5_KD]]
    llama = ["base", *[n.format(d="gsm8k") for n in _kd_names()]]
    studies = {
        "degradation": _grid_cells(drafts=llama),
        "alignment": _grid_cells(),
        "degradation_t5": _grid_cells(drafts=t5),
        "alignment_t5": _grid_cells(drafts=t5[1:]),
    }
    claims = {"degradation": [1, 4], "alignment": [2]}
    claims |= {"degradation_t5": [1, 4], "alignment_t5": [2]}
    families = {"degradation_t5": "t5", "alignment_t5": "t5"}
    return _write(tmp_path, studies, alpha, claims, families)


def test_a_claim_is_tested_on_every_family_and_each_family_alone(tmp_path):
    def alpha(rng, dataset, draft, tau, family):
        if draft == "base":
            return 0.7 - 0.3 * tau + _noise(rng)
        return 0.8 - 0.15 * abs(_tau_kd(draft) - tau) - 0.3 * tau + _noise(rng)

    decision = decide_folder(_two_families(tmp_path, alpha))
    claims = {c.number: c for c in decision.claims}
    assert claims[2].verdict == REPRODUCED and claims[1].verdict == REPRODUCED
    # Series of both families enter the test, each labelled with its family.
    assert {row["family"] for row in claims[2].evidence} == {"llama", "t5"}
    t5_rows = [r for r in claims[1].evidence if r["family"] == "t5"]
    assert len(t5_rows) == 7  # the base draft and six KD drafts of T5, not merged with Llama's
    for number in (1, 2):
        families = claims[number].families
        assert set(families) == {"llama", "t5"}
        assert all(f["direction_ok"] and not f["contradicted"] for f in families.values())
    assert claims[1].families["t5"]["test"]["pvalue"] < 0.05
    # The diagonal advantage is tested per prompt (not by permuting three τ_kd columns, whose
    # exact p could never go below 1/6), so T5's 3 × 3 grid decides on its own.
    t5_alignment = claims[2].families["t5"]["test"]
    assert t5_alignment["pvalue"] < 0.05 and t5_alignment["ci"][0] > 0
    assert claims[2].families["llama"]["test"]["pvalue"] < 0.05
    # Drafts without a training seed: each verdict says it rests on one checkpoint.
    assert any("one checkpoint" in note for note in claims[2].notes)


def test_a_family_that_contradicts_the_claim_is_seen_alone_and_together(tmp_path):
    def alpha(rng, dataset, draft, tau, family):
        if family == "t5":  # the T5 drafts improve with τ_dec: against claim 1
            return 0.4 + 0.3 * tau + _noise(rng)
        return 0.7 - 0.3 * tau + _noise(rng)

    claims = {c.number: c for c in decide_folder(_two_families(tmp_path, alpha)).claims}
    llama, t5 = claims[1].families["llama"], claims[1].families["t5"]
    assert llama["verdict"] == REPRODUCED and t5["verdict"] == NOT_REPRODUCED
    assert llama["direction_ok"] and not llama["contradicted"]
    assert t5["contradicted"] and not t5["direction_ok"]
    # Intersection-union: families that disagree never pool into one verdict.
    assert claims[1].verdict == INCONCLUSIVE
    assert any("families do not agree" in note for note in claims[1].notes)


def test_the_report_compares_the_families_and_draws_each_familys_study(tmp_path):
    from suite.report.render import claims_table, render_report

    def alpha(rng, dataset, draft, tau, family):
        off = 0.3 if draft == "base" else abs(_tau_kd(draft) - tau)
        return 0.8 - 0.15 * off - 0.3 * tau + _noise(rng)

    folder = _two_families(tmp_path / "results", alpha)
    html = render_report(folder).read_text(encoding="utf-8")
    table = html.split('<table id="family-comparison">', 1)[1].split("</table>", 1)[0]
    assert "<th>llama</th><th>t5</th>" in table
    assert ": reproduced" in table  # each family's own verdict
    # Claim 2's heat maps: one figure per family's study.
    section = html.split('id="claim-2"', 1)[1].split("</section>", 1)[0]
    assert "Study: alignment." in section and "Study: alignment_t5." in section
    assert section.count('<img src="data:image/png;base64,') == 2
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    claim2 = next(c for c in summary["claims"] if c["number"] == 2)
    assert set(claim2["families"]) == {"llama", "t5"}
    terminal = claims_table(decide_folder(folder)).split("Each family alone", 1)[1]
    assert "  2  llama: +" in terminal and "; t5: +" in terminal


def test_families_on_different_temperature_grids_are_tested_together(tmp_path):
    t5 = [f"kd-{m}-gsm8k-t{t:.1f}" for m in ("offline", "online") for t in T5_KD]
    quarter = [0.0, 0.25, 0.5, 0.75, 1.0]

    def alpha(rng, dataset, draft, tau, family):
        online = 0.02 + 0.06 * tau if "online" in draft else 0.0
        return 0.7 - 0.2 * tau + online + _noise(rng)

    studies = {
        "online_offline": _grid_cells(),
        "online_offline_t5": _grid_cells(drafts=t5, taus=quarter),
    }
    claims = {"online_offline": [3, 8], "online_offline_t5": [3, 8]}
    folder = _write(tmp_path, studies, alpha, claims, {"online_offline_t5": "t5"})
    claim = {c.number: c for c in decide_folder(folder).claims}[3]
    assert claim.verdict == REPRODUCED, claim.summary
    trends = [r for r in claim.evidence if r.get("part") == "gap grows with τ_dec"]
    assert {r["family"] for r in trends} == {"llama", "t5"}


# --- the registry: a claim in one place -----------------------------------------------------------


def _kd_beats_base(data: ClaimData) -> Evaluation:
    """KD drafts accept more than the base draft, paired on the prompt (a claim for the tests)."""
    frame = data.frame
    kd = frame[frame["method"] != "base"].groupby("prompt")["alpha"].mean()
    base = frame[frame["method"] == "base"].groupby("prompt")["alpha"].mean()
    res = stats.paired_test(kd[base.index].to_numpy(), base.to_numpy(), alternative="greater")
    summary = f"KD minus base α per prompt: {res.estimate:+.3f}."
    return Evaluation(res, res.ci[0] > 0, res.ci[1] < 0, summary)


def _gap_figure(frame) -> bytes:
    """A figure of the claim's own: mean α per draft."""
    import matplotlib.pyplot as plt

    from suite.report.plotting import png

    fig, ax = plt.subplots(figsize=(3, 2))
    frame.groupby("draft")["alpha"].mean().plot.bar(ax=ax)
    return png(fig)


def test_a_claim_registered_in_one_place_is_decided_and_rendered(tmp_path):
    from suite.report.render import render_report

    registry = REGISTRY.copy()
    caption = "α against τ_dec, drawn for claim nine."
    registry.register(
        9,
        studies=["degradation"],
        metric="acceptance_rate",
        figures=[Figure("temperature_curves", caption), Figure(_gap_figure, "Mean α per draft.")],
    )(_kd_beats_base)
    paper = load_paper()
    paper["claims"][9] = {
        "title": "KD drafts beat the base draft",
        "statement": "Distilled drafts are accepted more often than the draft they start from.",
        "source": "a test",
    }
    paper_path = tmp_path / "paper.yaml"
    paper_path.write_text(yaml.safe_dump(paper, allow_unicode=True), encoding="utf-8")

    def alpha(rng, dataset, draft, tau):
        return (0.5 if draft == "base" else 0.7) - 0.1 * tau + _noise(rng)

    drafts = ["base", "kd-offline-gsm8k-t0.0", "kd-online-gsm8k-t1.0"]
    folder = _write(tmp_path / "results", {"degradation": _grid_cells(drafts=drafts)}, alpha)
    decision = decide_folder(folder, paper_path, registry)
    claim = decision.claims[-1]
    assert [c.number for c in decision.claims] == list(range(1, 10))
    assert claim.number == 9 and claim.verdict == REPRODUCED
    assert claim.title == "KD drafts beat the base draft" and claim.pvalue_adjusted < 0.05
    assert 0.15 < claim.test["estimate"] < 0.25

    html = render_report(folder, registry=registry, paper_path=paper_path).read_text("utf-8")
    section = html.split('id="claim-9"', 1)[1].split("</section>", 1)[0]
    assert "KD drafts beat the base draft" in section and caption in section
    assert "Mean α per draft." in section
    assert section.count('<img src="data:image/png;base64,') == 2
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["claims"][-1]["number"] == 9 and summary["claims"][-1]["verdict"] == REPRODUCED
    # The suite's own registry and report are untouched.
    assert list(REGISTRY) == list(range(1, 9))
    assert [c.number for c in decide_folder(folder).claims] == list(range(1, 9))


def test_a_claim_number_already_taken_is_refused():
    registry = REGISTRY.copy()
    taken = r"claim 7 is already registered \(suite\.claims\.difficulty\.claim_difficulty\)"
    with pytest.raises(ValueError, match=taken):
        registry.register(7, studies=["difficulty"], metric="acceptance_rate")(_kd_beats_base)
    assert registry[7].check is REGISTRY[7].check
    with pytest.raises(ValueError, match="claim 1 is already registered"):
        register_claim(1, studies=["degradation"], metric="acceptance_rate")(_kd_beats_base)
    assert REGISTRY[1].check.__name__ == "claim_degradation"
    with pytest.raises(ValueError, match="studies must be a list"):
        registry.register(10, studies="degradation", metric="acceptance_rate")


def test_the_paper_file_holds_the_words_of_exactly_the_registered_claims(tmp_path):
    check_words(load_paper(), list(REGISTRY), PAPER_FILE)
    paper = load_paper()
    with pytest.raises(SpecError, match="claim 9 is registered but has no words") as err:
        check_words(paper, [*REGISTRY, 9], tmp_path / "paper.yaml")
    assert err.value.field == "claims.9"
    paper["claims"][1]["metric"] = "acceptance_rate"  # how to test it belongs to the registration
    with pytest.raises(SpecError, match="not the paper's words") as err:
        check_words(paper, list(REGISTRY), tmp_path / "paper.yaml")
    assert err.value.field == "claims.1.metric" and err.value.value == "acceptance_rate"
    with pytest.raises(SpecError, match="no claim 8 is registered"):
        check_words(load_paper(), list(range(1, 8)), tmp_path / "paper.yaml")


def test_every_registration_names_studies_that_run_and_figures_that_exist():
    from suite.report.render import figure_function

    run = {s.name: s for s in load_studies(["all"])}
    for number, claim in REGISTRY.items():
        assert set(claim.studies) <= set(run), (number, claim.studies)
        assert claim.figures and all(figure_function(number, f) for f in claim.figures)
    # A study that says it tests a claim (every study with claims runs in `all`) is read by it.
    for study in run.values():
        for number in study.claims:
            assert study.name in REGISTRY[number].studies, (study.name, number)
