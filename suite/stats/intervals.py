"""The suite's confidence intervals, on ``scipy.stats`` wherever it has the method.

- :func:`wilson_interval`: ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.
- :func:`bootstrap_mean_interval`: ``scipy.stats.bootstrap`` of a mean (percentile or BCa), its
  resamples drawn from a ``numpy.random.Generator`` the caller seeds.
- :func:`t_interval`: estimate ± t quantile × standard error (the seed-level contrast test).
- :func:`percentile_interval`: the percentile interval of resamples a caller drew itself (the
  claim tests' vectorised bootstraps, which resample several statistics with the same indices).
- :func:`mean_and_spread`: the mean of a few values (training seeds) and their standard
  deviation, the ``±`` of the bundle's tables: a spread, not an interval.

The analytic engine's interval of α̂ (a ratio of sums over prompts) is computed in
:func:`suite.acceptance.records.summarize`, whose numbers are stored in ``MANIFEST.json``.
"""

from __future__ import annotations

import statistics
import warnings
from typing import Any, NamedTuple

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
BOOTSTRAP_METHODS = ("percentile", "BCa")


class ConfidenceInterval(NamedTuple):
    low: float
    high: float


def wilson_interval(successes: int, n: int, level: float = CONFIDENCE) -> ConfidenceInterval:
    """Wilson score interval of a proportion: sensible at 0/n and n/n, where the normal
    interval collapses to a point."""
    ci = sps.binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return ConfidenceInterval(float(ci.low), float(ci.high))


def bootstrap_mean_interval(
    values: Any,
    *,
    n_boot: int,
    rng: np.random.Generator,
    level: float = CONFIDENCE,
    method: str = "percentile",
) -> ConfidenceInterval:
    """Bootstrap interval of the mean of ``values`` (the units), by ``scipy.stats.bootstrap``.

    A single value has every resample equal to itself: its interval is that point.
    """
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"method must be one of {BOOTSTRAP_METHODS}, got {method!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {x.shape}")
    if x.size == 1:
        return ConfidenceInterval(float(x[0]), float(x[0]))
    res = sps.bootstrap(
        (x,),
        np.mean,
        n_resamples=n_boot,
        confidence_level=level,
        method=method,
        rng=rng,
        vectorized=True,
    )
    return ConfidenceInterval(
        float(res.confidence_interval.low), float(res.confidence_interval.high)
    )


def t_interval(
    estimate: float, standard_error: float, df: float, level: float = CONFIDENCE
) -> ConfidenceInterval:
    """estimate ± t quantile × standard error on ``df`` degrees of freedom."""
    half = float(sps.t.ppf(0.5 + level / 2, df)) * standard_error
    return ConfidenceInterval(estimate - half, estimate + half)


def percentile_interval(samples: Any, level: float = CONFIDENCE) -> Any:
    """Percentile interval along axis 0 of resampled statistics, ignoring resamples where the
    statistic is undefined (NaN): ``(low, high)``, or ``[[low, high], ...]`` per column."""
    tail = 100 * (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(np.asarray(samples, dtype=float), [tail, 100 - tail], axis=0)
    return (float(lo), float(hi)) if np.ndim(lo) == 0 else np.column_stack([lo, hi]).tolist()


def mean_and_spread(values: Any) -> tuple[float, float | None]:
    """Mean of the values and their sample standard deviation (None for a single value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_and_spread needs at least one value")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None
