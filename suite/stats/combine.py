"""Combining series: mid-p values for discrete tests, combined p-values, joint bootstrap intervals.

A discrete test's p-value is P(T >= t); under the null it is stochastically larger than uniform,
and a degenerate series (every difference zero) gives p = 1 by construction. Combined by
Stouffer, such a p-value becomes z = -inf (or -8.2 once clipped at 1 - 1e-16) and vetoes every
other series. The mid-p, P(T > t) + P(T = t) / 2 = (p_greater + 1 - p_less) / 2, is centred at
1/2 under the null and is 1/2 for a degenerate series, so it carries no weight either way;
:func:`combine_pvalues` takes mid-p values and calls ``scipy.stats.combine_pvalues``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as sps

from suite.stats.intervals import percentile_interval

_FLIP = {"greater": "less", "less": "greater"}


def mid_p(p_tail: float, p_opposite_tail: float) -> float:
    """Mid-p from the two one-sided p-values of one discrete statistic, P(T>=t) and P(T<=t)."""
    return float(min(max((p_tail + 1.0 - p_opposite_tail) / 2.0, 0.0), 1.0))


def mid_p_signed_rank(d, alternative: str) -> float:
    """Mid-p of the Wilcoxon signed-rank test of d against 0 (1/2 when every d is 0)."""
    d = np.asarray(d, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0 or np.all(d == 0):
        return 0.5
    p = sps.wilcoxon(d, alternative=alternative).pvalue
    q = sps.wilcoxon(d, alternative=_FLIP[alternative]).pvalue
    return mid_p(float(p), float(q))


def combine_pvalues(pvalues, method: str = "stouffer") -> float:
    """One-sided p-values of independent series combined by ``scipy.stats.combine_pvalues``.

    Pass mid-p values for discrete tests; NaN entries are dropped. Values are kept strictly
    inside (0, 1) only so that the normal quantile is finite; a mid-p never reaches 1.
    """
    p = np.asarray([x for x in pvalues if np.isfinite(x)], dtype=float)
    if p.size == 0:
        return float("nan")
    if p.size == 1:
        return float(p[0])
    tiny = np.finfo(float).tiny
    p = np.clip(p, tiny, 1.0 - np.finfo(float).eps)
    return float(sps.combine_pvalues(p, method=method).pvalue)


def joint_mean_ci(
    M, statistic=np.mean, *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """``statistic`` of the series' means, with a joint bootstrap interval: (estimate, lo, hi).

    M: units x series (NaN where a unit is absent from a series). Units (prompts) are resampled
    together for every series, so series that share prompts keep their correlation: an interval
    of the combined estimate, never an average of per-series endpoints. ``statistic`` maps the
    vector of series means to a number (default: their mean).
    """
    M = np.asarray(M, dtype=float)
    if M.ndim == 1:
        M = M[:, None]
    M = M[~np.isnan(M).all(axis=1)]
    if len(M) < 2:
        raise ValueError(f"joint bootstrap needs at least 2 units, got {len(M)}")
    idx = np.random.default_rng(seed).integers(0, len(M), size=(n_boot, len(M)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        boots = np.array([statistic(np.nanmean(M[i], axis=0)) for i in idx], dtype=float)
        estimate = float(statistic(np.nanmean(M, axis=0)))
    lo, hi = percentile_interval(boots)
    return estimate, lo, hi
