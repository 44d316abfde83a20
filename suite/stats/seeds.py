"""Comparisons between drafts with the training seed as the unit, and the sample-split U test.

A draft is a checkpoint: one training run of a configuration. Two configurations are compared
on the contrast D[s, p] (seed s of one minus seed s of the other, or minus a fixed reference, on
prompt p). Seeds and prompts are crossed random factors, so the grand mean's variance is

    Var = σ_seed² / S + σ_prompt² / n + σ_resid² / (S n),

estimated from the two-way ANOVA mean squares as (MS_seed + MS_prompt - MS_resid) / (S n), with
Satterthwaite's degrees of freedom (the standard crossed random-effects analysis). When the
prompt component is estimated at or below 0 it is the seed-level t-test, MS_seed / (S n) on
S - 1 df: the seed term is never swapped for the prompt term's many degrees of freedom, which
makes the test liberal whenever the seed mean square comes out small by chance. With S = 1 it
is the one-sample t-test over prompts, conditional on that checkpoint (``one_checkpoint``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats as sps

from suite.stats.combine import mid_p_signed_rank
from suite.stats.core import (
    TestResult,
    _array,
    _boot_means,
    _ci,
    _curves,
    _indices,
    _signed_rank,
    slopes,
)
from suite.stats.intervals import t_interval


def _mean_squares(D: np.ndarray) -> tuple[float, float, float]:
    S, n = D.shape
    grand = D.mean()
    seed_dev, prompt_dev = D.mean(axis=1) - grand, D.mean(axis=0) - grand
    ms_seed = n * (seed_dev**2).sum() / (S - 1) if S > 1 else 0.0
    ms_prompt = S * (prompt_dev**2).sum() / (n - 1)
    resid = D - grand - seed_dev[:, None] - prompt_dev[None, :]
    ms_resid = (resid**2).sum() / ((S - 1) * (n - 1)) if S > 1 else 0.0
    return float(ms_seed), float(ms_prompt), float(ms_resid)


def _variance_df(D: np.ndarray) -> tuple[float, float]:
    """Variance of the grand mean and its Satterthwaite degrees of freedom."""
    S, n = D.shape
    ms_s, ms_p, ms_r = _mean_squares(D)
    if S == 1:
        return ms_p / n, n - 1.0
    full = ms_s + ms_p - ms_r
    if full <= ms_s:  # no prompt component left over: the seed-level test, S - 1 df
        return ms_s / (S * n), S - 1.0
    terms = (ms_s**2 / (S - 1)) + (ms_p**2 / (n - 1)) + (ms_r**2 / ((S - 1) * (n - 1)))
    return full / (S * n), full**2 / terms


def seed_contrast_test(
    D: Any, *, alternative: str = "greater", null: float = 0.0, label: str = "contrast"
) -> TestResult:
    """Is the mean contrast above (below) ``null``, with seeds and prompts both random?

    D: training seeds x prompts (prompts with a NaN under any seed are dropped). The p-value is
    a t-test of the grand mean with the crossed random-effects variance (module docstring); the
    interval is the matching 95% t interval. details: the seed means and their spread (standard
    deviation), the prompt-level spread, the variance components' df, and ``one_checkpoint``.
    """
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    D = _array(D, "D", 2)
    D = D[:, ~np.isnan(D).any(axis=0)]
    S, n = D.shape
    if S < 1 or n < 2:
        raise ValueError(f"D needs at least 1 seed and 2 prompts without NaN, got shape {D.shape}")
    estimate = float(D.mean())
    var, df = _variance_df(D)
    se = math.sqrt(max(var, 0.0))
    if se == 0.0:
        t = 0.0 if estimate == null else math.copysign(math.inf, estimate - null)
    else:
        t = (estimate - null) / se
    p = float(sps.t.sf(t, df) if alternative == "greater" else sps.t.cdf(t, df))
    ci = t_interval(estimate, se, df)
    seed_means = D.mean(axis=1)
    details = {
        "null": float(null),
        "n_seeds": S,
        "n_prompts": n,
        "df": float(df),
        "seed_means": seed_means.tolist(),
        "seed_sd": float(seed_means.std(ddof=1)) if S > 1 else None,
        "prompt_sd": float(D.mean(axis=0).std(ddof=1)),
        "one_checkpoint": S == 1,
    }
    name = (
        f"seed-level contrast t-test (seeds x prompts crossed, {S} seed{'s' * (S > 1)}, "
        f"one-sided, {alternative} than {null:g})"
    )
    return TestResult(
        name, float(t), p, estimate, f"mean {label}", (ci.low, ci.high), n,
        alternative, details,
    )  # fmt: skip


def _halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def split_u_slopes(Y: np.ndarray, x: np.ndarray, *, seed: int = 0):
    """(choosing units, testing units, breakpoint index, slope1, slope2 of the testing units)."""
    if len(Y) < 4:
        raise ValueError(f"the sample-split U test needs at least 4 units, got {len(Y)}")
    pick, test = _halves(len(Y), seed)
    b = int(np.clip(np.argmin(Y[pick].mean(axis=0)), 1, len(x) - 2))
    held = Y[test]
    return pick, test, b, slopes(held[:, : b + 1], x[: b + 1]), slopes(held[:, b:], x[b:])


def split_u_test(Y: Any, x: Any, *, n_boot: int = 2000, seed: int = 0) -> TestResult:
    """U shape (fall then rise) by the two-lines test with the breakpoint chosen on held-out data.

    The units are split in two at random (``seed``): the breakpoint xb is the minimum of the
    first half's mean curve, kept one step inside the grid so both segments have two points; the
    two segments' per-unit slopes are then tested on the second half only, so the choice of xb
    cannot favour a U. pvalue = max(p(slope1 < 0), p(slope2 > 0)) (intersection-union, Wilcoxon
    signed-rank); details.pvalue_against = min(1, 2 min(p(slope1 > 0), p(slope2 < 0))): a
    significant monotone rise before xb, or fall after it, contradicts the U. The estimate is the
    weaker arm, min(-mean slope1, mean slope2), with its bootstrap interval over the held-out
    units: the direction is read from that interval. details: mid-p of both tests, for combining.
    """
    Y, x = _curves(Y, x, min_conditions=3)
    pick, test, b, s1, s2 = split_u_slopes(Y, x, seed=seed)
    p_fall, p_rise = mid_p_signed_rank(s1, "less"), mid_p_signed_rank(s2, "greater")
    p1, p2 = _signed_rank(s1, "less")[1], _signed_rank(s2, "greater")[1]
    q1, q2 = _signed_rank(s1, "greater")[1], _signed_rank(s2, "less")[1]
    arms = np.column_stack([s1, s2])
    boots = _boot_means(arms, _indices(np.random.default_rng(seed + 1), len(arms), n_boot))
    weaker = np.minimum(-boots[:, 0], boots[:, 1])
    estimate = float(min(-s1.mean(), s2.mean()))
    fit = Y.mean(axis=0)
    details = {
        "breakpoint": float(x[b]),
        "breakpoint_index": b,
        "units_choosing": len(pick),
        "units_testing": len(test),
        "slope1": float(s1.mean()), "slope1_ci": list(_ci(boots[:, 0])), "p1": p1,
        "slope2": float(s2.mean()), "slope2_ci": list(_ci(boots[:, 1])), "p2": p2,
        "mid_p": max(p_fall, p_rise),
        "pvalue_against": float(min(1.0, 2 * min(q1, q2))),
        "mid_p_against": float(min(1.0, 2 * min(1 - p_fall, 1 - p_rise))),
        "x": x.tolist(),
        "mean_curve": fit.tolist(),
        "lines": _two_lines(fit, x, b),
    }  # fmt: skip
    z = float(min(sps.norm.isf(p1), sps.norm.isf(p2)))
    return TestResult(
        "two-lines U test, breakpoint chosen on a held-out half (Wilcoxon signed-rank)", z,
        float(max(p1, p2)), estimate, "weaker arm's slope toward a U (min(-slope1, slope2))",
        _ci(weaker), len(test), "greater", details,
    )  # fmt: skip


def _two_lines(curve: np.ndarray, x: np.ndarray, b: int) -> list[list[float]]:
    """OLS lines through the mean curve on x <= xb and x >= xb: [[x0, y0, xb, yb], [xb, ...]]."""
    out = []
    for lo, hi in ((0, b + 1), (b, len(x))):
        xs, ys = x[lo:hi], curve[lo:hi]
        slope, intercept = np.polyfit(xs, ys, 1)
        out.append([float(xs[0]), float(intercept + slope * xs[0]),
                    float(xs[-1]), float(intercept + slope * xs[-1])])  # fmt: skip
    return out
