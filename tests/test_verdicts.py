"""Verdicts a reviewer can trust: each defect of the old rules, and a reduced calibration.

Every test here fails on the old behaviour it names: prompts as the only unit between drafts,
Stouffer on clipped p-values, a permutation p blind to n, a breakpoint chosen on the data it is
tested on, "not reproduced" from an interval alone, pooled families, one engine's few prompts
overturning the other.
"""

from __future__ import annotations

import numpy as np
import pytest

from suite import stats
from suite.calibration import calibrate_claim, mc_limit, verdicts_of
from suite.calibration.scenarios import simulate
from suite.calibration.synth import PROFILES
from suite.claims import REGISTRY, ClaimData, Evaluation
from suite.claims.model import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    ClaimResult,
)
from suite.claims.online import _online_minus_offline
from suite.claims.verdicts import MIN_UNITS, across_engines, combine_families, family_verdict

X = np.array([0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0])


def _checkpoints(rng, seeds=3, prompts=32, seed_sd=0.02, resid_sd=0.05) -> np.ndarray:
    """Seeds x prompts contrasts with no true difference: only checkpoint shifts and noise."""
    return rng.normal(0, seed_sd, (seeds, 1)) + rng.normal(0, resid_sd, (seeds, prompts))


# --- defect 1: the training seed is the unit between drafts ---------------------------------------


def test_seed_contrast_test_holds_its_size_where_prompt_level_tests_do_not():
    rng = np.random.default_rng(1)
    seed_level, prompt_level = [], []
    for _ in range(300):
        D = _checkpoints(rng)
        seed_level.append(stats.seed_contrast_test(D).pvalue < 0.05)
        # The old rule: seeds averaged within a prompt, prompts the only unit.
        prompt_level.append(stats.one_sample_test(D.mean(axis=0)).pvalue < 0.05)
    assert np.mean(seed_level) <= mc_limit(300)
    assert np.mean(prompt_level) > 0.15  # a checkpoint's luck taken for a method's effect


def test_one_checkpoint_is_said_in_the_result():
    res = stats.seed_contrast_test(np.random.default_rng(0).normal(0.1, 0.05, (1, 30)))
    assert res.details["one_checkpoint"] and res.details["seed_sd"] is None
    three = stats.seed_contrast_test(_checkpoints(np.random.default_rng(0)))
    assert not three.details["one_checkpoint"] and three.details["seed_sd"] > 0
    assert len(three.details["seed_means"]) == 3


def test_claim_3_pairs_online_and_offline_by_training_seed():
    frame = simulate(3, PROFILES["quick"], True, 0)["llama"]
    diff = _online_minus_offline(frame)
    assert sorted(diff["seed"].unique()) == [0.0, 1.0, 2.0]
    ev = REGISTRY[3].check(ClaimData(frame))
    assert ev.test.details["n_seeds"] == 3 and ev.pvalue_against is not None


# --- defect 3: combining series -------------------------------------------------------------------


def test_a_degenerate_series_does_not_veto_the_others():
    good = [1e-4, 2e-4, 5e-4]
    degenerate = stats.mid_p_signed_rank(np.zeros(20), "greater")
    assert degenerate == 0.5
    assert stats.combine_pvalues([*good, degenerate]) < 0.01
    # The old rule: p = 1 clipped at 1 - 1e-16 is z = -8.2, which outweighs three strong series.
    from scipy import stats as sps

    z = sps.norm.isf(np.clip([*good, 1.0], 1e-300, 1 - 1e-16)).sum() / 2
    assert sps.norm.sf(z) > 0.05


def test_a_joint_interval_is_not_the_mean_of_endpoints():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, 40)
    est, lo, hi = stats.joint_mean_ci(np.column_stack([a, -a]))
    assert est == pytest.approx(0.0) and lo == pytest.approx(0.0) and hi == pytest.approx(0.0)
    one = stats.joint_mean_ci(a)
    assert one[2] - one[1] > 0.3  # each series alone is uncertain; averaged endpoints would say so


def test_families_that_disagree_are_never_pooled_into_a_verdict():
    assert combine_families({"llama": REPRODUCED, "t5": REPRODUCED})[0] == REPRODUCED
    verdict, why = combine_families({"llama": REPRODUCED, "t5": NOT_REPRODUCED})
    assert verdict == INCONCLUSIVE and "do not agree" in why
    assert combine_families({"llama": REPRODUCED, "t5": NOT_RUN})[0] == REPRODUCED


# --- defect 4: claim 2's p-value responds to n ----------------------------------------------------


def _alignment_p(prompts: int) -> float:
    sizes = PROFILES["quick"]
    sizes = type(sizes)(prompts, 1, sizes.kd_grid, sizes.dec_grid, sizes.ood_grid)
    frame = simulate(2, sizes, True, 0)["llama"]
    return REGISTRY[2].check(ClaimData(frame)).test.pvalue


def test_claim_2_p_value_responds_to_the_number_of_prompts():
    # The old permutation over the argmaxes of the mean grid gave 1/720 whatever n was.
    assert _alignment_p(4) > 10 * _alignment_p(60)


# --- defect 5: the U test -----------------------------------------------------------------------


def test_a_fall_then_plateau_is_not_taken_for_a_u():
    rng = np.random.default_rng(3)
    plateau = 0.7 - 0.2 * np.minimum(X, 1.0)
    hits = [
        stats.split_u_test(plateau + rng.normal(0, 0.05, (30, len(X))), X, seed=i).pvalue < 0.05
        for i in range(200)
    ]
    assert np.mean(hits) <= mc_limit(200)


def test_a_monotone_fall_is_evidence_against_the_u():
    rng = np.random.default_rng(4)
    res = stats.split_u_test(0.8 - 0.2 * X + rng.normal(0, 0.03, (32, len(X))), X)
    assert res.pvalue > 0.05 and res.details["pvalue_against"] < 0.01
    assert res.ci[1] < 0  # the direction comes from an interval, not a count of series
    assert len(res.details["lines"]) == 2 and X[0] < res.details["breakpoint"] < X[-1]


# --- defect 6: "not reproduced" needs a test; the empirical engine needs enough units -------------


def test_not_reproduced_needs_a_test_in_the_opposite_direction():
    res = stats.seed_contrast_test(np.full((1, 6), -0.1) + np.arange(6) * 1e-3)
    interval_only = Evaluation(res, False, None, "the interval is on the other side")
    assert family_verdict(interval_only, 0.9, None) == INCONCLUSIVE
    tested = Evaluation(res, False, 0.001, "a significant test against")
    assert family_verdict(tested, 0.9, 0.01) == NOT_REPRODUCED
    assert family_verdict(tested, 0.9, 0.2) == INCONCLUSIVE  # after Holm, not significant


def _result(engine: str, verdict: str, units: int) -> ClaimResult:
    return ClaimResult(1, "t", "s", "src", [], engine, verdict, "rule", "", None, None, [], {},
                       units=units)  # fmt: skip


def test_a_few_empirical_prompts_cannot_overturn_the_analytic_verdict():
    few = across_engines(
        {"analytic": _result("analytic", REPRODUCED, 200),
         "empirical": _result("empirical", NOT_REPRODUCED, 6)}, "analytic",
    )  # fmt: skip
    assert few.verdict == REPRODUCED
    enough = across_engines(
        {"analytic": _result("analytic", REPRODUCED, 200),
         "empirical": _result("empirical", NOT_REPRODUCED, MIN_UNITS)}, "analytic",
    )  # fmt: skip
    assert enough.verdict == INCONCLUSIVE


def test_claim_5_is_decided_on_measured_speedup_where_the_empirical_engine_ran():
    assert REGISTRY[5].decide_on == "empirical"
    measured = across_engines(
        {"analytic": _result("analytic", INCONCLUSIVE, 200),
         "empirical": _result("empirical", REPRODUCED, 32)}, "empirical",
    )  # fmt: skip
    assert measured.verdict == REPRODUCED and measured.engine == "empirical"
    too_few = across_engines(
        {"analytic": _result("analytic", INCONCLUSIVE, 200),
         "empirical": _result("empirical", REPRODUCED, 6)}, "empirical",
    )  # fmt: skip
    assert too_few.engine == "analytic"


# --- the reduced calibration --------------------------------------------------------------------

N_NULL, N_POWER = 12, 4


@pytest.mark.parametrize("number", sorted(REGISTRY))
def test_reduced_calibration_keeps_every_claim_within_its_error_rates(number):
    """Per family (where one test's error rate shows; the intersection-union only lowers it):
    at 2 x 12 null simulations, more than 4 false verdicts of a kind (17%) fails."""
    r = calibrate_claim(number, "quick", N_NULL, n_power=N_POWER)
    fam = r["per_family"]
    assert fam["false_reproduced_rate"] <= 4 / 24, fam
    assert fam["false_not_reproduced_rate"] <= 4 / 24, fam
    assert fam["power"] >= 0.5, fam


def test_the_reduced_calibration_catches_an_inflated_test(monkeypatch):
    """The old claim-3 rule (prompts the only unit, seeds averaged) under checkpoint shifts of
    SD 0.03 in α: the same assertion as above fails for it."""
    from dataclasses import replace

    import suite.calibration.synth as synth

    def prompt_level(data: ClaimData) -> Evaluation:
        diff = _online_minus_offline(data.frame)
        res = stats.one_sample_test(diff.groupby("prompt")["alpha"].mean().to_numpy())
        return Evaluation(res, res.ci[0] > 0, None, "prompt-level")

    registry = REGISTRY.copy()
    registry._claims[3] = replace(REGISTRY[3], check=prompt_level)
    monkeypatch.setattr(synth, "SEED_SD", 0.03)
    runs = [verdicts_of(3, simulate(3, PROFILES["quick"], False, i), registry) for i in range(12)]
    false = np.mean([v == REPRODUCED for _, per in runs for v in per.values()])
    assert false > 4 / 24
    # The seed-level check on the same simulations stays within the bound.
    fair = [verdicts_of(3, simulate(3, PROFILES["quick"], False, i)) for i in range(12)]
    assert np.mean([v == REPRODUCED for _, per in fair for v in per.values()]) <= 4 / 24


# --- defect 2: c is measured once per (target, draft architecture) -------------------------------


def test_cost_ratio_is_measured_once_per_draft_architecture(monkeypatch):
    import types

    import suite.cells.context as cells
    import suite.timing as timing
    from suite.profiles import ModelRef

    class Config:
        def __init__(self, name, width):
            self.name, self.width = name, width

        def to_diff_dict(self):
            return {"_name_or_path": self.name, "hidden_size": self.width}

    models = {
        loc: types.SimpleNamespace(config=Config(loc, width))
        for loc, width in (("t", 64), ("s0", 16), ("s1", 16), ("wide", 32))
    }
    calls = []

    def fake_timer(target, draft, **kw):
        calls.append(draft.config.name)
        return {"cost_ratio": 0.1 * len(calls)}

    monkeypatch.setattr(cells, "_model", lambda loc, rev, dtype, device, sha: models[loc])
    monkeypatch.setattr(timing, "blocked_cost_ratio", fake_timer)
    monkeypatch.setattr(cells, "_COST_RATIOS", {})
    target = ModelRef("target", hub="t")
    c = {
        d: cells._cost_ratio(target, ModelRef(d, hub=d), "float32", "cpu", lambda ref: None)
        for d in models
        if d != "t"
    }
    assert c["s0"] == c["s1"]  # two checkpoints of one architecture: one c
    assert c["wide"] != c["s0"] and calls == ["s0", "wide"]


def test_the_u_curve_figure_draws_for_a_claim_5_study():
    from suite.report.figures import u_curve

    frame = simulate(5, PROFILES["quick"], True, 0)["llama"]
    png = u_curve(frame)
    assert png is not None and png[:4] == b"\x89PNG"


def test_calibrate_writes_the_json_the_issue_names(tmp_path):
    import json

    from suite.cli import main

    assert main(["calibrate", "--n-sim", "1", "--claims", "7", "--out", str(tmp_path)]) == 0
    entry = json.loads((tmp_path / "calibration.json").read_text())["claims"]["7"]
    for key in ("false_reproduced_rate", "false_not_reproduced_rate", "power", "n_sim"):
        assert key in entry
    assert (tmp_path / "calibration.md").read_text().startswith("| claim |")


def test_a_family_without_the_data_for_the_test_has_no_say():
    from suite.claims.verdicts import engine_result

    res = stats.seed_contrast_test(np.random.default_rng(0).normal(0.2, 0.05, (3, 30)))
    per_family = {
        "llama": Evaluation(res, True, 0.99, "tested"),
        "t5": Evaluation(None, False, None, "no KD drafts"),
    }
    info = {"title": "t", "statement": "s", "source": "src"}
    out = engine_result(
        4, info, "analytic", per_family, {(4, "llama"): (0.001, 1.0), (4, "t5"): (None, None)}
    )
    assert out.verdict == REPRODUCED
    assert any("untested for t5" in note for note in out.notes)
