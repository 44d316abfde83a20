"""The one interval module: Wilson and bootstrap intervals are scipy's, seeded by the caller."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from suite.stats import intervals
from suite.stats.intervals import (
    bootstrap_mean_interval,
    mean_and_spread,
    percentile_interval,
    t_interval,
    wilson_interval,
)

Z2 = float(sps.norm.ppf(0.975)) ** 2


@pytest.mark.parametrize("k, n", [(0, 100), (3, 7), (50, 100), (99, 100), (100, 100), (1, 1)])
def test_wilson_interval_is_scipys_binomtest_wilson_interval(k, n):
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == (ci.low, ci.high)
    assert 0.0 <= ci.low <= k / n <= ci.high <= 1.0


def test_wilson_interval_keeps_its_width_at_none_and_all_successes():
    n = 40
    low, high = wilson_interval(0, n)
    assert low == 0.0 and high == pytest.approx(Z2 / (n + Z2), rel=1e-12)
    low, high = wilson_interval(n, n)
    assert high == 1.0 and low == pytest.approx(n / (n + Z2), rel=1e-12)
    mirrored = wilson_interval(n - 13, n)
    assert wilson_interval(13, n) == pytest.approx((1 - mirrored.high, 1 - mirrored.low))
    with pytest.raises(ValueError):
        wilson_interval(1, 0)


def test_bootstrap_mean_interval_is_scipys_bootstrap_on_the_callers_generator():
    x = np.random.default_rng(5).normal(20.0, 5.0, 60)
    ours = bootstrap_mean_interval(x, n_boot=3000, rng=np.random.default_rng(7))
    theirs = sps.bootstrap(
        (x,), np.mean, n_resamples=3000, method="percentile", rng=np.random.default_rng(7)
    ).confidence_interval
    assert ours == (theirs.low, theirs.high)
    # scipy draws the resamples a hand-written percentile bootstrap draws from the same generator
    idx = np.random.default_rng(7).integers(0, len(x), size=(3000, len(x)))
    by_hand = np.quantile(x[idx].mean(axis=1), [0.025, 0.975])
    assert ours == pytest.approx(tuple(by_hand), rel=1e-12)
    assert ours.low < x.mean() < ours.high


def test_bca_interval_differs_from_the_percentile_one_on_skewed_data():
    x = np.random.default_rng(3).exponential(1.0, 40)
    pct = bootstrap_mean_interval(x, n_boot=4000, rng=np.random.default_rng(0))
    bca = bootstrap_mean_interval(x, n_boot=4000, rng=np.random.default_rng(0), method="BCa")
    assert bca != pct and bca.low < x.mean() < bca.high
    # BCa shifts a right-skewed mean's interval to the right of the percentile one
    assert bca.high > pct.high


def test_bootstrap_of_one_value_is_that_point_and_bad_options_are_refused():
    assert bootstrap_mean_interval([4.5], n_boot=10, rng=np.random.default_rng(0)) == (4.5, 4.5)
    assert bootstrap_mean_interval([2.0, 2.0, 2.0], n_boot=50, rng=np.random.default_rng(0)) == (
        2.0,
        2.0,
    )
    with pytest.raises(ValueError, match="Generator"):
        bootstrap_mean_interval([1.0, 2.0], n_boot=10, rng=0)
    with pytest.raises(ValueError, match="method"):
        bootstrap_mean_interval([1.0, 2.0], n_boot=10, rng=np.random.default_rng(0), method="t")
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_mean_interval([], n_boot=10, rng=np.random.default_rng(0))


def test_t_interval_is_the_one_sample_t_tests_interval():
    x = np.random.default_rng(2).normal(0.3, 1.0, 25)
    se = x.std(ddof=1) / np.sqrt(len(x))
    expected = sps.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert t_interval(float(x.mean()), float(se), len(x) - 1) == pytest.approx(
        (expected.low, expected.high), rel=1e-12
    )
    assert t_interval(1.0, 0.0, 3) == (1.0, 1.0)


def test_percentile_interval_ignores_undefined_resamples_and_works_per_column():
    samples = np.arange(1001, dtype=float)
    assert percentile_interval(samples) == pytest.approx((25.0, 975.0))
    with_nan = np.concatenate([samples, [np.nan] * 50])
    assert percentile_interval(with_nan) == percentile_interval(samples)
    (low, high), (low2, high2) = percentile_interval(np.column_stack([samples, 2 * samples]))
    assert (low, high, low2, high2) == pytest.approx((25.0, 975.0, 50.0, 1950.0))
    assert percentile_interval(samples, level=0.5) == pytest.approx((250.0, 750.0))


def test_ratio_bootstrap_resamples_units_with_their_denominators_in_blocks():
    rng = np.random.default_rng(3)
    sums, counts = rng.random(9) * 20, rng.integers(5, 30, size=9)
    ci, se = intervals.ratio_bootstrap(sums, counts, n_boot=300, rng=np.random.default_rng(7))
    draw = np.random.default_rng(7)  # the same stream, one index call per block of 128
    index = np.concatenate([draw.integers(0, 9, size=(m, 9)) for m in (128, 128, 44)])
    boot = sums[index].sum(axis=1) / counts[index].sum(axis=1)
    tail = (1 - 0.95) / 2
    assert ci == tuple(np.quantile(boot, [tail, 1 - tail]))
    assert se == boot.std(ddof=1)
    assert ci.low <= sums.sum() / counts.sum() <= ci.high
    one_ci, one_se = intervals.ratio_bootstrap(sums, counts, n_boot=1, rng=np.random.default_rng(7))
    assert one_ci.low == one_ci.high and np.isnan(one_se)


def test_resampled_mean_interval_is_the_percentile_interval_of_one_index_draw():
    values = np.random.default_rng(4).random(25)
    index = np.random.default_rng(0).integers(0, 25, size=(1000, 25))
    expected = tuple(np.percentile(values[index].mean(axis=1), [2.5, 97.5]))
    assert (
        intervals.resampled_mean_interval(values, n_boot=1000, rng=np.random.default_rng(0))
        == expected
    )
    single = intervals.resampled_mean_interval([0.4], n_boot=1000, rng=np.random.default_rng(0))
    assert np.isnan(single.low) and np.isnan(single.high)


def test_mean_and_spread_is_the_mean_and_sample_sd_of_seeds():
    assert mean_and_spread([0.5, 0.7, 0.9]) == (pytest.approx(0.7), pytest.approx(0.2))
    assert mean_and_spread([0.61]) == (0.61, None)
    with pytest.raises(ValueError):
        mean_and_spread([])


def test_the_stats_package_and_the_claims_share_one_confidence_level():
    from suite import stats

    assert stats.CONFIDENCE == intervals.CONFIDENCE == 0.95
    assert stats.wilson_interval is wilson_interval
