"""Per-prompt statistics: planted effects are found, absent ones are not, and results reproduce."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from suite import stats

N_UNITS = 40
U_GRID = np.array([0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0])
TREND_GRID = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
KD_GRID = np.linspace(0.2, 1.2, 6)


def _pair(shift: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt values of two conditions: shared prompt difficulty plus independent noise 0.05."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.6, 0.1, N_UNITS)
    b = base + rng.normal(0, 0.05, N_UNITS)
    a = base + shift + rng.normal(0, 0.05, N_UNITS)
    return a, b


def _curves(mean_curve: np.ndarray, seed: int = 2, units: int = 30) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return mean_curve + rng.normal(0, 0.05, (units, len(mean_curve)))


def _covers(ci, value: float) -> bool:
    return ci[0] <= value <= ci[1]


# --- paired / independent / one-sample ---------------------------------------------------------


def test_planted_paired_shift_is_found_with_ci_excluding_zero():
    a, b = _pair(0.05)
    res = stats.paired_test(a, b)
    assert res.pvalue < 0.01
    assert res.ci[0] > 0 and _covers(res.ci, 0.05)
    assert res.estimate == pytest.approx(np.mean(a - b))
    assert res.n == N_UNITS and res.alternative == "greater"
    rel = res.details["relative"]
    assert rel == pytest.approx(a.mean() / b.mean() - 1)
    assert 0 < res.details["relative_ci"][0] <= rel <= res.details["relative_ci"][1]


def test_no_paired_shift_gives_large_p_and_ci_covering_zero():
    a, b = _pair(0.0)
    res = stats.paired_test(a, b)
    assert res.pvalue > 0.05
    assert _covers(res.ci, 0.0)
    assert stats.paired_test(a, b, alternative="two-sided").pvalue > 0.05


def test_paired_alternative_direction_is_respected():
    a, b = _pair(0.05)
    assert stats.paired_test(a, b, alternative="less").pvalue > 0.99
    assert stats.paired_test(b, a, alternative="less").pvalue < 0.01
    assert stats.paired_test(b, a, alternative="greater").pvalue > 0.99


def test_identical_conditions_give_p_one():
    a, _ = _pair(0.0)
    res = stats.paired_test(a, a.copy())
    assert res.pvalue == 1.0 and res.estimate == 0.0 and res.ci == (0.0, 0.0)


def test_units_with_nan_are_dropped_from_both_conditions():
    a, b = _pair(0.05)
    a_nan, b_nan = a.copy(), b.copy()
    a_nan[3], b_nan[7] = np.nan, np.nan
    keep = np.ones(N_UNITS, bool)
    keep[[3, 7]] = False
    res = stats.paired_test(a_nan, b_nan)
    assert res.n == N_UNITS - 2
    assert res == stats.paired_test(a[keep], b[keep])


def test_independent_groups_find_planted_difference_but_not_noise():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.65, 0.05, 30), rng.normal(0.6, 0.05, 35)
    res = stats.independent_test(a, b)
    assert res.pvalue < 0.01 and res.ci[0] > 0 and res.n == 65
    assert res.estimate == pytest.approx(a.mean() - b.mean())
    assert res.pvalue == pytest.approx(sps.mannwhitneyu(a, b, alternative="greater").pvalue)
    assert stats.independent_test(a, b, alternative="less").pvalue > 0.99
    same = stats.independent_test(rng.normal(0.6, 0.05, 30), b, alternative="two-sided")
    assert same.pvalue > 0.05 and _covers(same.ci, 0.0)


def test_one_sample_test_compares_with_the_null_value():
    a, b = _pair(0.05)
    d = a - b
    assert stats.one_sample_test(d).pvalue < 0.01
    res = stats.one_sample_test(d, null=0.05, alternative="two-sided")
    assert res.pvalue > 0.05 and _covers(res.ci, 0.05) and res.estimate == pytest.approx(d.mean())


# --- trend ------------------------------------------------------------------------------------


def test_trend_test_detects_a_planted_decreasing_trend():
    Y = _curves(0.7 - 0.1 * TREND_GRID)
    res = stats.trend_test(Y, TREND_GRID, alternative="decreasing")
    assert res.pvalue < 0.01
    assert res.estimate < 0 and res.ci[1] < 0
    assert res.alternative == "less"
    assert _covers(res.details["slope_ci"], -0.1)
    means = res.details["condition_means"]
    assert means == pytest.approx(Y.mean(axis=0).tolist())
    cis = res.details["condition_cis"]
    assert all(lo <= m <= hi for m, (lo, hi) in zip(means, cis, strict=True))


def test_trend_test_does_not_call_flat_or_increasing_curves_decreasing():
    flat = _curves(np.full(5, 0.7), seed=4)
    rising = _curves(0.7 + 0.1 * TREND_GRID, seed=5)
    assert stats.trend_test(flat, TREND_GRID).pvalue > 0.05
    assert stats.trend_test(rising, TREND_GRID).pvalue > 0.05
    up = stats.trend_test(rising, TREND_GRID, alternative="increasing")
    assert up.pvalue < 0.01 and up.estimate > 0


def test_trend_rho_counts_constant_units_as_zero():
    Y = np.array([[3.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    res = stats.trend_test(Y, [0.0, 1.0, 2.0])
    assert res.estimate == pytest.approx(-0.5)


def test_slopes_are_per_unit_ols():
    x = np.array([0.0, 1.0, 3.0])
    Y = np.array([2 * x + 1, -x, np.full(3, 5.0)])
    assert stats.slopes(Y, x) == pytest.approx([2.0, -1.0, 0.0])
    assert stats.slopes(Y, x)[1] == pytest.approx(np.polyfit(x, Y[1], 1)[0])


# --- U shape ----------------------------------------------------------------------------------


def test_u_shape_test_detects_a_planted_u_and_locates_its_vertex():
    Y = _curves(0.4 + 0.2 * (U_GRID - 1.2) ** 2)
    res = stats.u_shape_test(Y, U_GRID)
    assert res.pvalue < 0.01
    assert res.pvalue == max(res.details["p1"], res.details["p2"])
    assert _covers(res.ci, 1.2) and res.details["vertex_inside"]
    assert res.details["slope1_ci"][1] < 0 < res.details["slope2_ci"][0]
    assert res.details["curvature_ci"][0] > 0
    assert res.statistic > 2


def test_u_shape_test_rejects_monotone_decreasing_and_inverted_u():
    falling = stats.u_shape_test(_curves(0.8 - 0.2 * U_GRID), U_GRID)
    inverted = stats.u_shape_test(_curves(0.4 - 0.2 * (U_GRID - 1.0) ** 2), U_GRID)
    assert falling.pvalue > 0.05 and inverted.pvalue > 0.05
    assert not falling.details["vertex_inside"]


def test_quadratic_looking_monotone_curve_is_not_called_a_u():
    # Exponential decay: a quadratic fit puts a convex vertex inside the grid, yet the curve never
    # rises. The two-lines test must not be fooled by the parabola.
    Y = _curves(0.3 + 0.5 * np.exp(-2.5 * U_GRID))
    res = stats.u_shape_test(Y, U_GRID)
    assert res.details["vertex_inside"] and res.details["curvature_ci"][0] > 0
    assert res.pvalue > 0.05


# --- alignment --------------------------------------------------------------------------------


def _grid_data(mean_grid: np.ndarray, seed: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return mean_grid + rng.normal(0, 0.05, (N_UNITS, *mean_grid.shape))


def test_alignment_test_finds_a_planted_diagonal():
    i = np.arange(6)
    G = _grid_data(0.8 - 0.1 * np.abs(i[:, None] - i[None, :]))
    res = stats.alignment_test(G, KD_GRID, KD_GRID)
    assert res.details["best_column_index"] == list(range(6))
    assert res.statistic == pytest.approx(1.0)
    assert res.details["exact"] and res.details["permutations"] == 720
    assert res.pvalue <= 2 / 720
    assert res.ci[0] > 0 and res.details["within_one_step"] == 1.0


def test_alignment_test_ignores_one_column_best_everywhere():
    G = _grid_data(0.5 + 0.1 * (np.arange(6)[None, :] == 3) + np.zeros((6, 1)))
    res = stats.alignment_test(G, KD_GRID, KD_GRID)
    assert res.details["best_column_index"] == [3] * 6
    assert res.statistic == 0.0 and res.pvalue == 1.0


def test_alignment_test_finds_nothing_in_pure_noise():
    res = stats.alignment_test(_grid_data(np.full((6, 6), 0.5), seed=7), KD_GRID, KD_GRID)
    assert res.pvalue > 0.05


def test_alignment_test_uses_random_permutations_beyond_5040():
    i = np.arange(8)
    grid = np.linspace(0.1, 1.5, 8)
    G = _grid_data(0.8 - 0.1 * np.abs(i[:, None] - i[None, :]))
    res = stats.alignment_test(G, grid, grid, seed=3)
    assert not res.details["exact"] and res.details["permutations"] == 5001
    assert res.pvalue == pytest.approx(1 / 5001)
    assert stats.alignment_test(G, grid, grid, seed=3) == res


# --- multiplicity and weighted rank correlation ----------------------------------------------


def test_holm_matches_the_textbook_example():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert stats.adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bh_matches_the_textbook_example_and_scipy():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4/1=0.02, 0.01*4/2=0.02, 0.03*4/3=0.04, 0.04*4/4=0.04 -> running min from top
    assert stats.adjust_pvalues(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    q = np.random.default_rng(8).uniform(0, 0.2, 12)
    assert stats.adjust_pvalues(q, "bh") == pytest.approx(sps.false_discovery_control(q))


def test_adjusted_pvalues_are_capped_at_one_and_skip_nan():
    p = [0.5, np.nan, 0.9, 0.01]
    holm = stats.adjust_pvalues(p, "holm")
    # family of 3: 0.01*3=0.03, 0.5*2=1.0, 0.9*1 -> max(1.0, 0.9)=1.0
    assert math.isnan(holm[1])
    assert holm[[0, 2, 3]] == pytest.approx([1.0, 1.0, 0.03])
    bh = stats.adjust_pvalues(p, "bh")
    assert math.isnan(bh[1]) and bh[[0, 2, 3]] == pytest.approx([0.75, 0.9, 0.03])
    assert np.isnan(stats.adjust_pvalues([np.nan, np.nan])).all()


def test_weighted_spearman_equals_spearman_on_expanded_counts():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 5.0])
    y = np.array([0.9, 0.7, 0.8, 0.5, 0.4, 0.9])
    counts = np.array([3, 1, 4, 2, 5, 2])
    expected = sps.spearmanr(np.repeat(x, counts), np.repeat(y, counts)).statistic
    assert stats.weighted_spearman(x, y, counts) == pytest.approx(expected)
    assert stats.weighted_spearman(x, y, np.ones(6)) == pytest.approx(sps.spearmanr(x, y)[0])
    assert math.isnan(stats.weighted_spearman(x, np.ones(6), counts))


# --- determinism, records and validation ------------------------------------------------------


def test_bootstrap_is_deterministic_per_seed_and_orientation():
    a, b = _pair(0.05)
    d = a - b
    ci = stats.bootstrap_ci(d, seed=11)
    assert ci == stats.bootstrap_ci(d, seed=11)
    assert ci != stats.bootstrap_ci(d, seed=12)
    assert ci == pytest.approx(stats.paired_test(a, b, seed=11).ci)
    Y = _curves(np.zeros(4))
    rows = stats.bootstrap_ci(Y, lambda r: r.mean(axis=0).max(), n_boot=300, seed=4)
    cols = stats.bootstrap_ci(Y.T, lambda c: c.mean(axis=1).max(), n_boot=300, seed=4, axis=1)
    assert rows == cols
    assert stats.paired_test(a, b, seed=5) == stats.paired_test(a, b, seed=5)


def test_result_to_dict_is_json_ready():
    i = np.arange(6)
    res = stats.alignment_test(
        _grid_data(0.8 - 0.1 * np.abs(i[:, None] - i[None, :])), KD_GRID, KD_GRID, n_boot=200
    )
    data = json.loads(json.dumps(res.to_dict()))
    assert data["ci"] == list(res.ci) and data["n"] == N_UNITS
    assert data["details"]["best_column_index"] == list(range(6))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: stats.paired_test(np.ones(5), np.ones(4)), "a and b"),
        (lambda: stats.paired_test(np.ones((5, 2)), np.ones(5)), "a must be 1-D"),
        (lambda: stats.paired_test(np.ones(5), np.ones(5), alternative="up"), "alternative"),
        (lambda: stats.one_sample_test([np.nan, 1.0]), "values needs at least 2"),
        (lambda: stats.one_sample_test([1.0, 2.0], n_boot=0), "n_boot"),
        (lambda: stats.trend_test(np.ones((5, 2)), [0, 1]), "Y needs at least 3"),
        (lambda: stats.trend_test(np.ones((5, 3)), [0, 2, 1]), "x must be strictly increasing"),
        (lambda: stats.trend_test(np.ones((5, 3)), [0, 1]), "x must have 3 values"),
        (lambda: stats.trend_test(np.ones((1, 3)), [0, 1, 2]), "Y needs at least 2 units"),
        (lambda: stats.u_shape_test(np.ones(3), [0, 1, 2]), "Y must be 2-D"),
        (lambda: stats.alignment_test(np.ones((4, 3)), [0, 1, 2], [0, 1]), "G must be 3-D"),
        (lambda: stats.alignment_test(np.ones((4, 3, 2)), [0, 1, 2], [0, 1, 2]), "cols must"),
        (lambda: stats.adjust_pvalues([0.5, 1.5]), "pvalues must lie in"),
        (lambda: stats.adjust_pvalues([0.5], method="bonf"), "method"),
        (lambda: stats.weighted_spearman([1, 2], [1, 2], [1, -1]), "weights must be non-neg"),
        (lambda: stats.bootstrap_ci(np.ones((2, 2, 2))), "values must be 1-D or 2-D"),
        (lambda: stats.slopes(np.ones((3, 2)), [1.0, 1.0]), "x must not be constant"),
    ],
)
def test_invalid_input_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
