"""The suite's confidence intervals, on ``scipy.stats`` wherever it has the method.

- :func:`wilson_interval`: ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.
- :func:`bootstrap_mean_interval`: ``scipy.stats.bootstrap`` of a mean (percentile or BCa), its
  resamples drawn from a ``numpy.random.Generator`` the caller seeds.
- :func:`t_interval`: estimate ± t quantile × standard error (the seed-level contrast test).
- :func:`percentile_interval`: the percentile interval of resamples a caller drew itself (the
  claim tests' vectorised bootstraps, which resample several statistics with the same indices).
- :func:`ratio_bootstrap`: the percentile bootstrap of a ratio of sums over paired units (the
  analytic engine's α̂: β summed over a prompt's tokens, over its token count), with its
  standard error.
- :func:`resampled_mean_interval`: the percentile bootstrap of a mean from one index draw (the
  report's figure bands).
- :func:`mean_and_spread`: the mean of a few values (training seeds) and their standard
  deviation, the ``±`` of the bundle's tables: a spread, not an interval.

:func:`ratio_bootstrap` and :func:`resampled_mean_interval` draw their own resamples with numpy,
not ``scipy.stats.bootstrap``: their random streams are fixed by numbers already published (α̂'s
interval in every analytic record and in ``reference/MANIFEST.json``; the figures' bands), so
their draws and quantiles must stay as they are.
"""

from __future__ import annotations

import functools
import statistics
import warnings
from typing import Any, NamedTuple

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
BOOTSTRAP_METHODS = ("percentile", "BCa")
RATIO_BOOTSTRAP_BLOCK = 128  # resamples drawn per call of the generator in ratio_bootstrap
# Spawn key of an analytic cell's bootstrap stream, apart from its per-prompt sampling streams.
ANALYTIC_BOOTSTRAP_STREAM = 2**31 - 1
# Prompt draws of one analytic interval (resamples × prompts): the full profile makes 200,000; a
# record's interval is recomputed when it is read, so this bounds what one record can cost.
MAX_BOOTSTRAP_DRAWS = 4_000_000


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


def ratio_bootstrap(
    numerators: Any,
    denominators: Any,
    *,
    n_boot: int,
    rng: np.random.Generator,
    level: float = CONFIDENCE,
) -> tuple[ConfidenceInterval, float]:
    """Percentile bootstrap of ``Σ numerators / Σ denominators`` with the pairs as the unit.

    Each resample draws as many units as there are, with replacement, keeping a unit's numerator
    and denominator together (a prompt's summed β and its token count), and takes the ratio of
    the resampled sums. Returns the ``level`` percentile interval (``numpy.quantile``, linear)
    and the resamples' standard deviation (NaN for a single resample) as the standard error.
    Indices are drawn ``RATIO_BOOTSTRAP_BLOCK`` resamples at a time, each block one
    ``rng.integers`` call: the stream behind the published α̂ intervals.
    """
    sums = np.asarray(numerators)
    counts = np.asarray(denominators)
    n = len(sums)
    boot = np.empty(n_boot)
    for start in range(0, n_boot, RATIO_BOOTSTRAP_BLOCK):
        stop = min(start + RATIO_BOOTSTRAP_BLOCK, n_boot)
        index = rng.integers(0, n, size=(stop - start, n))
        boot[start:stop] = sums[index].sum(axis=1) / counts[index].sum(axis=1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    standard_error = float(boot.std(ddof=1)) if n_boot > 1 else float("nan")
    return ConfidenceInterval(float(low), float(high)), standard_error


def analytic_stream(seed: int) -> np.random.Generator:
    """The bootstrap stream of an analytic cell run with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence((seed, ANALYTIC_BOOTSTRAP_STREAM)))


@functools.lru_cache(maxsize=4)
def _resample_counts(seed: int, n: int, n_boot: int) -> np.ndarray:
    """How often each of ``n`` units is drawn in each of ``ratio_bootstrap``'s resamples on
    the stream of ``seed``: ``(n_boot, n)``, the same draws as that function's indices. Cells
    of one seed and size share it (a run holds a handful of such keys)."""
    rng = analytic_stream(seed)
    out = np.empty((n_boot, n))
    for start in range(0, n_boot, RATIO_BOOTSTRAP_BLOCK):
        stop = min(start + RATIO_BOOTSTRAP_BLOCK, n_boot)
        index = rng.integers(0, n, size=(stop - start, n))
        index += np.arange(stop - start)[:, None] * n
        out[start:stop] = np.bincount(index.ravel(), minlength=(stop - start) * n).reshape(-1, n)
    out.flags.writeable = False
    return out


def restated_ratio_bootstrap(
    numerators: Any, denominators: Any, *, seed: int, n_boot: int, level: float
) -> tuple[ConfidenceInterval, float]:
    """:func:`ratio_bootstrap` on the analytic stream of ``seed``, recomputed from the units'
    sums (up to float rounding): what a stored analytic record's interval and standard error
    must be. At most ``MAX_BOOTSTRAP_DRAWS`` draws (``ValueError`` past it)."""
    sums = np.asarray(numerators, dtype=float)
    counts = np.asarray(denominators, dtype=float)
    if n_boot * len(sums) > MAX_BOOTSTRAP_DRAWS or not len(sums) or n_boot < 1:
        raise ValueError(f"expected 1 to {MAX_BOOTSTRAP_DRAWS:,} draws, got {n_boot} × {len(sums)}")
    draws = _resample_counts(int(seed), len(sums), int(n_boot))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (draws @ sums) / (draws @ counts)
    tail = (1.0 - level) / 2
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    standard_error = float(boot.std(ddof=1)) if n_boot > 1 else float("nan")
    return ConfidenceInterval(float(low), float(high)), standard_error


def resampled_mean_interval(
    values: Any, *, n_boot: int, rng: np.random.Generator, level: float = CONFIDENCE
) -> ConfidenceInterval:
    """Percentile bootstrap interval of the mean of ``values``, the rows its units.

    One ``rng.integers`` call draws every resample (``n_boot`` rows of indices); the interval is
    the ``numpy.percentile`` (linear) of the resampled means at ``(100 − 100·level) / 2`` and its
    complement (2.5 and 97.5 at 95%). Fewer than two values have no interval: NaN, NaN.
    """
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return ConfidenceInterval(float("nan"), float("nan"))
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    tail = (100 - 100 * level) / 2
    low, high = np.percentile(v[idx].mean(axis=1), [tail, 100 - tail])
    return ConfidenceInterval(float(low), float(high))


def mean_and_spread(values: Any) -> tuple[float, float | None]:
    """Mean of the values and their sample standard deviation (None for a single value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_and_spread needs at least one value")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None
