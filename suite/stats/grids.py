"""Shapes over a grid of conditions within one checkpoint: the U of the two-lines test with the
breakpoint at the mean curve's minimum (kept for comparison; the claims use
:func:`suite.stats.seeds.split_u_test`), and the best-column alignment permutation test (claim 2's
evidence, not its test)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from scipy import stats as sps

from suite.stats.core import (
    ALTERNATIVES,
    MAX_EXACT_PERMUTATIONS,
    RANDOM_PERMUTATIONS,
    TestResult,
    _array,
    _boot_means,
    _check_options,
    _ci,
    _curves,
    _drop_nan_units,
    _grid,
    _indices,
    _signed_rank,
    _spearman_rows,
    slopes,
)


def u_shape_test(Y: Any, x: Any, *, n_boot: int = 2000, seed: int = 0) -> TestResult:
    """U shape (fall then rise) of per-unit curves Y by the two-lines test (Simonsohn 2018).

    Breakpoint xb: the x of the mean curve's minimum (at either end: no U, p = 1). Per unit, OLS
    slopes on x <= xb and on x >= xb; one-sided Wilcoxon signed-rank across units for slope1 < 0
    (p1) and slope2 > 0 (p2); pvalue = max(p1, p2) (intersection-union). statistic = min(z1, z2)
    with z_i = Phi^-1(1 - p_i): the evidence of the weaker segment (NaN when untestable).
    The quadratic fit to the mean curve only locates the vertex (estimate, bootstrap CI over
    units); a quadratic fit alone is not evidence of a U, the two-lines p-value is. xb is chosen
    from the same data, which favors a U; in simulations of flat and decaying curves (30 units,
    7 conditions) the intersection-union still rejected at most 3.5% of the time at 0.05.
    """
    _check_options(None, ALTERNATIVES, n_boot)
    Y, x = _curves(Y, x, min_conditions=3)
    k = len(x)
    mean_curve = Y.mean(axis=0)
    design = np.vander(x, 3, increasing=True)  # columns 1, x, x^2
    idx = _indices(np.random.default_rng(seed), len(Y), n_boot)
    boot_curves = _boot_means(Y, idx)
    coef = np.linalg.lstsq(design, mean_curve, rcond=None)[0]
    boot_coef = np.linalg.lstsq(design, boot_curves.T, rcond=None)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = float(-coef[1] / (2 * coef[2]))
        boot_vertex = -boot_coef[1] / (2 * boot_coef[2])
    vertex_ci = _ci(np.where(np.isfinite(boot_vertex), boot_vertex, np.nan))
    b = int(np.argmin(mean_curve))
    details: dict[str, Any] = {
        "breakpoint": float(x[b]),
        "curvature": float(coef[2]),
        "curvature_ci": list(_ci(boot_coef[2])),
        "vertex_inside": bool(x[0] <= vertex_ci[0] and vertex_ci[1] <= x[-1]),
    }
    name = "two-lines U test (Simonsohn 2018; Wilcoxon signed-rank on segment slopes)"
    result = dict(estimate=vertex, estimate_name="quadratic vertex x", ci=vertex_ci, n=len(Y))
    if b + 1 < 2 or k - b < 2:  # a segment with fewer than 2 points: the minimum is at an end
        details["reason"] = "minimum of the mean curve at an end of x: no U"
        return TestResult(name, math.nan, 1.0, alternative="greater", details=details, **result)
    s1, s2 = slopes(Y[:, : b + 1], x[: b + 1]), slopes(Y[:, b:], x[b:])
    p1, p2 = _signed_rank(s1, "less")[1], _signed_rank(s2, "greater")[1]
    boot_slopes = _boot_means(np.column_stack([s1, s2]), idx)
    details.update(
        slope1=float(s1.mean()), slope1_ci=list(_ci(boot_slopes[:, 0])), p1=p1,
        slope2=float(s2.mean()), slope2_ci=list(_ci(boot_slopes[:, 1])), p2=p2,
    )  # fmt: skip
    z = float(min(sps.norm.isf(p1), sps.norm.isf(p2)))
    return TestResult(name, z, max(p1, p2), alternative="greater", details=details, **result)


def alignment_test(
    G: Any, rows: Any, cols: Any, *, n_boot: int = 2000, seed: int = 0
) -> TestResult:
    """Does the best column track the row value (e.g. best KD temperature per decoding temperature)?

    G: (units, len(rows), len(cols)). Statistic: Spearman rho between row values and the value of
    each row's best column (argmax of the mean over units). p-value: permutation of the column
    values (the same for all rows; all of them if len(cols)! <= 5040), one-sided, identity counted.
    Estimate: diagonal advantage, the mean over rows of G at the column closest to the row value
    minus the mean of the other columns, per unit then averaged; CI by bootstrap over units.
    """
    _check_options(None, ALTERNATIVES, n_boot)
    G = _drop_nan_units(_array(G, "G", 3), "G")
    _, n_rows, n_cols = G.shape
    if n_rows < 2 or n_cols < 2:
        raise ValueError(f"G needs at least 2 rows and 2 columns per unit, got shape {G.shape}")
    rows = _grid(rows, "rows", n_rows, increasing=False)
    cols = _grid(cols, "cols", n_cols, increasing=False)
    rng = np.random.default_rng(seed)
    best = G.mean(axis=0).argmax(axis=1)
    rho = float(_spearman_rows(cols[best][None, :], rows)[0])
    exact = math.factorial(n_cols) <= MAX_EXACT_PERMUTATIONS
    if exact:
        perms = np.array(list(itertools.permutations(range(n_cols))))
    else:
        random_perms = np.argsort(rng.random((RANDOM_PERMUTATIONS, n_cols)), axis=1)
        perms = np.vstack([np.arange(n_cols), random_perms])
    perm_rho = _spearman_rows(cols[perms][:, best], rows)
    pvalue = float(np.mean(perm_rho >= rho - 1e-12))
    closest = np.abs(cols[None, :] - rows[:, None]).argmin(axis=1)
    on = G[:, np.arange(n_rows), closest]
    advantage = (on - (G.sum(axis=2) - on) / (n_cols - 1)).mean(axis=1)
    idx = _indices(rng, len(G), n_boot)
    boot_best = _boot_means(G, idx).argmax(axis=2)
    details = {
        "best_columns": cols[best].tolist(),
        "best_column_index": best.tolist(),
        "closest_column_index": closest.tolist(),
        "rho": rho,
        "rho_ci": list(_ci(_spearman_rows(cols[boot_best], rows))),
        "within_one_step": float(np.mean(np.abs(best - closest) <= 1)),
        "permutations": len(perms),
        "exact": exact,
    }
    kind = "exact" if exact else "random"
    return TestResult(
        f"best-column alignment, permutation test ({kind}, {len(perms)} permutations)", rho, pvalue,
        float(advantage.mean()), "diagonal advantage", _ci(_boot_means(advantage, idx)), len(G),
        "greater", details,
    )  # fmt: skip
