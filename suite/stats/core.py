"""Statistics for the report's claims: per-prompt tests, each with an effect size and 95% interval.

The unit of analysis is the prompt: every array has one prompt per row on its first axis (seeds are
averaged within a prompt by the caller), so tokens are never treated as independent samples. Units
that contain NaN are dropped and ``n`` reports how many were used. Every random draw comes from
``np.random.default_rng(seed)``, so every interval and permutation p-value is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from suite.jsonable import jsonable
from suite.stats.intervals import percentile_interval as _ci

ALTERNATIVES = ("greater", "less", "two-sided")
MAX_EXACT_PERMUTATIONS = 5040
RANDOM_PERMUTATIONS = 5000


@dataclass(frozen=True)
class TestResult:
    """One test of one claim, modeled on scipy.stats results, plus an effect size and its 95% CI."""

    __test__ = False  # keeps pytest from collecting this class

    test: str
    statistic: float
    pvalue: float
    estimate: float
    estimate_name: str
    ci: tuple[float, float]
    n: int
    alternative: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy: tuples become lists, numpy scalars become Python numbers."""
        return jsonable(asdict(self))


def _array(values: Any, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D (units first), got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values")
    return arr


def _drop_nan_units(arr: np.ndarray, name: str, min_units: int = 2) -> np.ndarray:
    """Drop every unit (row) with a NaN anywhere, so all statistics use the same units."""
    arr = arr[~np.isnan(arr).any(axis=tuple(range(1, arr.ndim)))]
    if len(arr) < min_units:
        raise ValueError(f"{name} needs at least {min_units} units without NaN, got {len(arr)}")
    return arr


def _grid(values: Any, name: str, size: int, *, increasing: bool) -> np.ndarray:
    arr = _array(values, name, 1)
    if len(arr) != size:
        raise ValueError(f"{name} must have {size} values to match the data, got {len(arr)}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN: {arr.tolist()}")
    if increasing and np.any(np.diff(arr) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {arr.tolist()}")
    return arr


def _curves(Y: Any, x: Any, min_conditions: int) -> tuple[np.ndarray, np.ndarray]:
    Y = _array(Y, "Y", 2)
    if Y.shape[1] < min_conditions:
        raise ValueError(f"Y needs at least {min_conditions} conditions (columns), shape {Y.shape}")
    x = _grid(x, "x", Y.shape[1], increasing=True)
    return _drop_nan_units(Y, "Y"), x


def _check_options(alternative: str | None, allowed: tuple[str, ...], n_boot: int) -> None:
    if alternative is not None and alternative not in allowed:
        raise ValueError(f"alternative must be one of {allowed}, got {alternative!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")


def _indices(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    return rng.integers(0, n, size=(n_boot, n))


def _boot_means(X: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean over units of X for each bootstrap resample (rows of idx): (n_boot, *X.shape[1:])."""
    n_boot, n = idx.shape
    flat = (np.arange(n_boot)[:, None] * n + idx).ravel()
    counts = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(float)
    return (counts @ X.reshape(n, -1) / n).reshape(n_boot, *X.shape[1:])


def _signed_rank(d: np.ndarray, alternative: str) -> tuple[float, float]:
    """Wilcoxon signed-rank of d against 0; all-zero differences carry no evidence (p = 1)."""
    if np.all(d == 0):
        return 0.0, 1.0
    res = sps.wilcoxon(d, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def _spearman_rows(V: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Spearman rho of each row of V against x (mid-ranks); a constant row gives 0."""
    rv = sps.rankdata(V, axis=1)
    rv = rv - rv.mean(axis=1, keepdims=True)
    rx = sps.rankdata(x) - (len(x) + 1) / 2
    denom = np.sqrt((rv**2).sum(axis=1) * (rx**2).sum())
    return np.divide(rv @ rx, denom, out=np.zeros(len(V)), where=denom > 1e-12)


def _sided(alternative: str) -> str:
    return "two-sided" if alternative == "two-sided" else f"one-sided, {alternative}"


def bootstrap_ci(
    values: Any,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    axis: int = 0,
) -> tuple[float, float]:
    """95% percentile bootstrap CI of ``statistic``, resampling units (entries along ``axis``).

    Works for 1-D and 2-D values; ``statistic`` receives each resample in the input's orientation.
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim not in (1, 2):
        raise ValueError(f"values must be 1-D or 2-D, got shape {arr.shape}")
    if axis not in range(arr.ndim):
        raise ValueError(f"axis must be 0 or {arr.ndim - 1} for values of shape {arr.shape}")
    _check_options(None, ALTERNATIVES, n_boot)
    units = _drop_nan_units(_array(np.moveaxis(arr, axis, 0), "values", arr.ndim), "values")
    idx = _indices(np.random.default_rng(seed), len(units), n_boot)
    boots = [float(statistic(np.moveaxis(units[i], 0, axis))) for i in idx]
    return _ci(np.array(boots))


def paired_test(
    a: Any, b: Any, *, alternative: str = "greater", n_boot: int = 2000, seed: int = 0
) -> TestResult:
    """Two conditions on the same units: Wilcoxon signed-rank of a - b, mean difference, paired CI.

    details: mean_a, mean_b and relative = mean(a) / mean(b) - 1 with its paired bootstrap CI.
    """
    _check_options(alternative, ALTERNATIVES, n_boot)
    a, b = _array(a, "a", 1), _array(b, "b", 1)
    if a.shape != b.shape:
        raise ValueError(f"a and b must pair the same units, got shapes {a.shape} and {b.shape}")
    a, b = _drop_nan_units(np.column_stack([a, b]), "a and b").T
    d = a - b
    statistic, pvalue = _signed_rank(d, alternative)
    idx = _indices(np.random.default_rng(seed), len(d), n_boot)
    boots = _boot_means(np.column_stack([d, a, b]), idx)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = a.mean() / b.mean() - 1
        boot_relative = boots[:, 1] / boots[:, 2] - 1
    details = {
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "relative": float(relative),
        "relative_ci": list(_ci(boot_relative)),
    }
    return TestResult(
        f"Wilcoxon signed-rank (paired, {_sided(alternative)})", statistic, pvalue,
        float(d.mean()), "mean paired difference", _ci(boots[:, 0]), len(d), alternative, details,
    )  # fmt: skip


def independent_test(
    a: Any, b: Any, *, alternative: str = "greater", n_boot: int = 2000, seed: int = 0
) -> TestResult:
    """Different units per group: Mann-Whitney U, difference of means, per-group bootstrap CI."""
    _check_options(alternative, ALTERNATIVES, n_boot)
    a = _drop_nan_units(_array(a, "a", 1), "a")
    b = _drop_nan_units(_array(b, "b", 1), "b")
    res = sps.mannwhitneyu(a, b, alternative=alternative)
    rng = np.random.default_rng(seed)
    boot_a = _boot_means(a, _indices(rng, len(a), n_boot))
    boot_b = _boot_means(b, _indices(rng, len(b), n_boot))
    details = {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "n_a": len(a), "n_b": len(b)}
    return TestResult(
        f"Mann-Whitney U ({_sided(alternative)})", float(res.statistic), float(res.pvalue),
        float(a.mean() - b.mean()), "difference of means", _ci(boot_a - boot_b),
        len(a) + len(b), alternative, details,
    )  # fmt: skip


def one_sample_test(
    values: Any,
    *,
    alternative: str = "greater",
    null: float = 0.0,
    n_boot: int = 2000,
    seed: int = 0,
) -> TestResult:
    """Per-unit values against a fixed null: Wilcoxon signed-rank of values - null, mean, CI."""
    _check_options(alternative, ALTERNATIVES, n_boot)
    if not math.isfinite(null):
        raise ValueError(f"null must be finite, got {null!r}")
    v = _drop_nan_units(_array(values, "values", 1), "values")
    statistic, pvalue = _signed_rank(v - null, alternative)
    boots = _boot_means(v, _indices(np.random.default_rng(seed), len(v), n_boot))
    return TestResult(
        f"Wilcoxon signed-rank (one-sample vs {null:g}, {_sided(alternative)})", statistic, pvalue,
        float(v.mean()), "mean", _ci(boots), len(v), alternative, {"null": float(null)},
    )  # fmt: skip


def slopes(Y: Any, x: Any) -> np.ndarray:
    """Per-unit OLS slope of Y[i] on x; a unit with a NaN gets a NaN slope (rows stay aligned)."""
    Y = _array(Y, "Y", 2)
    x = _grid(x, "x", Y.shape[1], increasing=False)
    xc = x - x.mean()
    if not np.any(xc != 0):
        raise ValueError(f"x must not be constant, got {x.tolist()}")
    return (Y - Y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)


def trend_test(
    Y: Any, x: Any, *, alternative: str = "decreasing", n_boot: int = 2000, seed: int = 0
) -> TestResult:
    """Monotone trend of per-unit curves Y (units x len(x)) along ordered conditions x.

    p-value: Page's L (one-sided by construction); estimate: mean per-unit Spearman rho.
    """
    _check_options(alternative, ("decreasing", "increasing"), n_boot)
    Y, x = _curves(Y, x, min_conditions=3)
    k = len(x)
    ranks = np.arange(1, k + 1) if alternative == "increasing" else np.arange(k, 0, -1)
    page = sps.page_trend_test(Y, predicted_ranks=ranks)
    rho, unit_slopes = _spearman_rows(Y, x), slopes(Y, x)
    idx = _indices(np.random.default_rng(seed), len(Y), n_boot)
    boots = _boot_means(np.column_stack([rho, unit_slopes, Y]), idx)
    details = {
        "direction": alternative,
        "x": x.tolist(),
        "condition_means": Y.mean(axis=0).tolist(),
        "condition_cis": _ci(boots[:, 2:]),
        "mean_slope": float(unit_slopes.mean()),
        "slope_ci": list(_ci(boots[:, 1])),
        "page_method": str(page.method),
    }
    return TestResult(
        f"Page's L trend test ({alternative})", float(page.statistic), float(page.pvalue),
        float(rho.mean()), "mean per-unit Spearman rho", _ci(boots[:, 0]), len(Y),
        "greater" if alternative == "increasing" else "less", details,
    )  # fmt: skip


def adjust_pvalues(pvalues: Any, method: str = "holm") -> np.ndarray:
    """Family-wise (Holm step-down) or false-discovery (Benjamini-Hochberg) adjusted p-values.

    NaN stays NaN and does not count in the family; the shape of the input is kept.
    """
    if method not in ("holm", "bh"):
        raise ValueError(f"method must be 'holm' or 'bh', got {method!r}")
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    ok = ~np.isnan(flat)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError(f"pvalues must lie in [0, 1], got {flat[ok].tolist()}")
    out = np.full(flat.shape, np.nan)
    m = int(ok.sum())
    if m:
        order = np.argsort(flat[ok], kind="stable")
        s, i = flat[ok][order], np.arange(1, m + 1)
        if method == "holm":
            adj = np.maximum.accumulate((m - i + 1) * s)
        else:
            adj = np.minimum.accumulate((m / i * s)[::-1])[::-1]
        ranked = np.empty(m)
        ranked[order] = np.clip(adj, 0.0, 1.0)
        out[ok] = ranked
    return out.reshape(p.shape)


def _weighted_midranks(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mid-rank of each bucket when bucket j stands for w[j] tied observations (up to a shift)."""
    inverse = np.unique(v, return_inverse=True)[1]
    total = np.bincount(inverse, weights=w)
    return (np.cumsum(total) - total / 2)[inverse]


def weighted_spearman(x: Any, y: Any, weights: Any) -> float:
    """Spearman rho for bucketed data (weighted Pearson on weighted mid-ranks).

    Equals scipy's spearmanr on the data expanded by integer counts; NaN if either side is constant.
    """
    x, y, w = _array(x, "x", 1), _array(y, "y", 1), _array(weights, "weights", 1)
    if not x.shape == y.shape == w.shape:
        raise ValueError(f"x, y and weights must match, got {x.shape}, {y.shape}, {w.shape}")
    if np.any(w < 0):
        raise ValueError(f"weights must be non-negative, got {w.tolist()}")
    keep = ~(np.isnan(x) | np.isnan(y) | np.isnan(w)) & (w > 0)
    if keep.sum() < 2:
        raise ValueError(f"weights: need at least 2 buckets with positive weight, got {keep.sum()}")
    x, y, w = x[keep], y[keep], w[keep]
    rx, ry = _weighted_midranks(x, w), _weighted_midranks(y, w)
    rx, ry = rx - np.average(rx, weights=w), ry - np.average(ry, weights=w)
    denom = math.sqrt(np.sum(w * rx**2) * np.sum(w * ry**2))
    return float(np.sum(w * rx * ry) / denom) if denom > 1e-12 else math.nan
