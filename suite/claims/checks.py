"""The paper's claims (DESIGN section 7), one function each, decided on the results of a run.

Each claim function takes the per-prompt table of one engine and returns an :class:`Evaluation`:
the primary test whose p-value enters the family-wise adjustment, the estimate with its interval,
and every per-series test as evidence. :func:`decide` adjusts the p-values across claims (Holm)
and applies the verdict rule. The prompt is the unit; seeds are averaged within it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from suite import stats
from suite.claims.model import (
    ALPHA,
    Evaluation,
    empty,
    evidence_row,
    series,
    stouffer,
)
from suite.tables import cube, matrix

# --- claim 1: higher τ_dec lowers α, for every draft --------------------------------------------


def claim_degradation(frame: pd.DataFrame) -> Evaluation:
    """Page's trend test per (dataset, draft); the claim needs every series (intersection-union)."""
    kd = frame[frame["method"].isin(["base", "offline", "online"]) & ~frame["recipe"]]
    evidence, down, up = [], [], []
    for (family, dataset, draft), part in series(kd, ["family", "dataset", "draft"]):
        y, taus, _ = matrix(part, "decode_temperature", "alpha")
        if len(taus) < 3 or len(y) < 2:
            continue
        res = stats.trend_test(y, np.array(taus), alternative="decreasing")
        rev = stats.trend_test(y, np.array(taus), alternative="increasing")
        evidence.append(evidence_row({"family": family, "dataset": dataset, "draft": draft}, res))
        down.append(res)
        up.append(rev.pvalue)
    if not down:
        return empty("no draft has three or more decoding temperatures")
    weakest = max(down, key=lambda r: r.pvalue)
    # Many series: a rise counts against the claim only after Holm across the series.
    rising = int((stats.adjust_pvalues(np.array(up), method="holm") < ALPHA).sum())
    contradicted = rising > 0
    falling = sum(r.pvalue < ALPHA for r in down)
    return Evaluation(
        test=weakest,
        direction_ok=weakest.ci[1] < 0,
        contradicted=contradicted,
        summary=(
            f"α falls with τ_dec for {falling} of {len(down)} drafts × datasets (Page, p < 0.05); "
            f"it rises significantly for {rising} (Holm across series). "
            f"The weakest series' mean per-prompt Spearman ρ is {weakest.estimate:.2f}."
        ),
        evidence=evidence,
    )


# --- claim 2: the diagonal of the τ_kd × τ_dec grid ----------------------------------------------


def claim_alignment(frame: pd.DataFrame) -> Evaluation:
    grid = frame[frame["method"].isin(["offline", "online"]) & ~frame["recipe"]]
    evidence, results = [], []
    for (family, dataset, method), part in series(grid, ["family", "dataset", "method"]):
        g, rows, cols = cube(part, "decode_temperature", "kd_temperature", "alpha")
        if len(rows) < 3 or len(cols) < 3 or len(g) < 2:
            continue
        res = stats.alignment_test(g, np.array(rows), np.array(cols))
        evidence.append(evidence_row({"family": family, "dataset": dataset, "method": method}, res))
        results.append(res)
    if not results:
        return empty("no τ_kd × τ_dec grid with at least 3 × 3 points")
    p = stouffer([r.pvalue for r in results])
    best = [r.details.get("within_one_step", float("nan")) for r in results]
    combined = stats.TestResult(
        test="alignment permutation test per series, combined by Stouffer",
        statistic=float(np.mean([r.statistic for r in results])),
        pvalue=p,
        estimate=float(np.mean([r.estimate for r in results])),
        estimate_name="mean diagonal advantage in α over the series",
        ci=(
            float(np.mean([r.ci[0] for r in results])),
            float(np.mean([r.ci[1] for r in results])),
        ),
        n=int(sum(r.n for r in results)),
        alternative="greater",
        details={"series": len(results)},
    )
    return Evaluation(
        test=combined,
        direction_ok=all(r.ci[0] > 0 for r in results) or combined.ci[0] > 0,
        contradicted=all(r.ci[1] < 0 for r in results),
        summary=(
            f"Over {len(results)} family × dataset × method grids the best τ_kd tracks τ_dec "
            f"with mean Spearman ρ {combined.statistic:.2f}; the best draft is within one grid "
            f"step of the diagonal in {np.nanmean(best):.0%} of rows."
        ),
        evidence=evidence,
    )


# --- claim 3: online beats offline, more at higher τ ---------------------------------------------


def _online_minus_offline(frame: pd.DataFrame) -> pd.DataFrame:
    grid = frame[frame["method"].isin(["offline", "online"]) & ~frame["recipe"]]
    if grid.empty:
        return grid
    wide = grid.pivot_table(
        index=["family", "dataset", "prompt", "decode_temperature", "kd_temperature"],
        columns="method",
        values="alpha",
        aggfunc="mean",
    ).dropna()
    if "online" not in wide or "offline" not in wide:
        return pd.DataFrame()
    diff = (wide["online"] - wide["offline"]).rename("alpha").reset_index()
    # The unit of the tests: one prompt of one dataset under one family's models.
    diff["prompt"] = diff["family"] + "/" + diff["dataset"] + "/" + diff["prompt"]
    return diff


def claim_online_offline(frame: pd.DataFrame) -> Evaluation:
    diff = _online_minus_offline(frame)
    if diff.empty:
        return empty("no τ_kd with both an online and an offline draft")
    per_prompt = diff.groupby("prompt")["alpha"].mean().to_numpy()
    overall = stats.one_sample_test(per_prompt, alternative="greater")
    evidence = [evidence_row({"part": "online − offline, all temperatures"}, overall)]
    trends = []
    # Per family: its prompts share its τ_dec grid (the families' grids may differ).
    for (family,), part in series(diff, ["family"]):
        by_tau, taus, _ = matrix(part, "decode_temperature", "alpha")
        for tau in taus:
            at = part[part["decode_temperature"] == tau].groupby("prompt")["alpha"].mean()
            res = stats.one_sample_test(at.to_numpy(), alternative="greater")
            label = {"family": family, "part": "online − offline", "decode_temperature": tau}
            evidence.append(evidence_row(label, res))
        if len(taus) >= 3 and len(by_tau) >= 2:
            trend = stats.trend_test(by_tau, np.array(taus), alternative="increasing")
            evidence.append(evidence_row({"family": family, "part": "gap grows with τ_dec"}, trend))
            trends.append(trend.pvalue)
    trend_p = stouffer(trends) if trends else None
    p = overall.pvalue if trend_p is None else max(overall.pvalue, trend_p)
    test = stats.TestResult(
        test="intersection-union: online > offline (Wilcoxon) and the gap grows (Page, "
        "per family, combined by Stouffer)",
        statistic=overall.statistic,
        pvalue=p,
        estimate=overall.estimate,
        estimate_name="mean α(online) − α(offline) per prompt",
        ci=overall.ci,
        n=overall.n,
        alternative="greater",
        details={"trend_pvalue": trend_p},
    )
    return Evaluation(
        test=test,
        direction_ok=overall.ci[0] > 0,
        contradicted=overall.ci[1] < 0,
        summary=(
            f"Online minus offline α, mean per prompt: {overall.estimate:+.3f} "
            f"[{overall.ci[0]:+.3f}, {overall.ci[1]:+.3f}]"
            + (f"; its trend over τ_dec: Page p = {trend_p:.3g}." if trend_p is not None else ".")
        ),
        evidence=evidence,
    )


# --- claim 4: KD flattens the fall ---------------------------------------------------------------


def claim_kd_flattens(frame: pd.DataFrame) -> Evaluation:
    evidence, units = [], []
    for (family, dataset), part in series(frame, ["family", "dataset"]):
        base = part[part["method"] == "base"]
        kd = part[part["method"].isin(["offline", "online"]) & ~part["recipe"]]
        if base.empty or kd.empty:
            continue
        yb, taus_b, prompts_b = matrix(base, "decode_temperature", "alpha")
        if len(taus_b) < 3:
            continue
        slopes_kd = []
        for _, draft in series(kd, ["draft"]):
            yk, taus_k, prompts_k = matrix(draft, "decode_temperature", "alpha")
            if taus_k != taus_b or prompts_k != prompts_b:
                continue
            slopes_kd.append(stats.slopes(yk, np.array(taus_k)))
        if not slopes_kd:
            continue
        gap = np.mean(slopes_kd, axis=0) - stats.slopes(yb, np.array(taus_b))
        res = stats.one_sample_test(gap, alternative="greater")
        label = {"family": family, "dataset": dataset, "kd_drafts": len(slopes_kd)}
        evidence.append(evidence_row(label, res))
        units.append(gap)
    if not units:
        return empty("no dataset with the base draft and KD drafts on three or more τ_dec")
    res = stats.one_sample_test(np.concatenate(units), alternative="greater")
    return Evaluation(
        test=res,
        direction_ok=res.ci[0] > 0,
        contradicted=res.ci[1] < 0,
        summary=(
            f"Slope of α over τ_dec, KD drafts minus base draft, mean per prompt: "
            f"{res.estimate:+.3f} per unit τ [{res.ci[0]:+.3f}, {res.ci[1]:+.3f}]."
        ),
        evidence=evidence,
    )


# --- claim 5: U-curve of γ at out-of-range τ -----------------------------------------------------


def claim_u_curve(frame: pd.DataFrame) -> Evaluation:
    evidence, results = [], []
    for (family, dataset, draft), part in series(frame, ["family", "dataset", "draft"]):
        y, taus, _ = matrix(part, "decode_temperature", "speedup")
        if len(taus) < 5 or max(taus) <= 1.0 or len(y) < 2:
            continue
        res = stats.u_shape_test(y, np.array(taus))
        evidence.append(evidence_row({"family": family, "dataset": dataset, "draft": draft}, res))
        results.append(res)
    if not results:
        return empty("no series reaches τ_dec above 1 with five or more temperatures")
    p = stouffer([r.pvalue for r in results])
    u_count = sum(r.pvalue < ALPHA for r in results)
    mean_vertex = float(np.nanmean([r.estimate for r in results]))
    test = stats.TestResult(
        test="two-lines test per dataset × draft, combined by Stouffer",
        statistic=float(u_count),
        pvalue=p,
        estimate=mean_vertex,
        estimate_name="mean vertex τ_dec of the quadratic fits",
        ci=(
            float(np.nanmean([r.ci[0] for r in results])),
            float(np.nanmean([r.ci[1] for r in results])),
        ),
        n=int(sum(r.n for r in results)),
        alternative="greater",
        details={"series": len(results), "series_with_u": u_count},
    )
    return Evaluation(
        test=test,
        direction_ok=u_count > len(results) / 2,
        contradicted=u_count == 0 and all(r.details.get("p1", 1) < ALPHA for r in results),
        summary=(
            f"A significant U (two-lines test) in {u_count} of {len(results)} dataset × draft "
            f"series of γ over τ_dec up to {frame['decode_temperature'].max():g}."
        ),
        evidence=evidence,
    )


# --- claim 6: the data-centric recipe at high τ --------------------------------------------------


def claim_recipe(frame: pd.DataFrame) -> Evaluation:
    evidence, rec_units, single_units = [], [], []
    for (family, dataset, method), part in series(
        frame[frame["method"].isin(["offline", "online"])], ["family", "dataset", "method"]
    ):
        recipe = part[part["recipe"]]
        single = part[~part["recipe"]]
        if recipe.empty or single.empty:
            continue
        taus = sorted(set(recipe["decode_temperature"]) & set(single["decode_temperature"]))
        if not taus:
            continue
        r = recipe[recipe["decode_temperature"].isin(taus)]
        s = single[single["decode_temperature"].isin(taus)]
        # The best single-temperature draft, chosen on these very data: a conservative rival.
        best = s.groupby("draft")["speedup"].mean().idxmax()
        rv = r.groupby("prompt")["speedup"].mean()
        sv = s[s["draft"] == best].groupby("prompt")["speedup"].mean()
        both = rv.index.intersection(sv.index)
        if len(both) < 2:
            continue
        res = stats.paired_test(rv[both].to_numpy(), sv[both].to_numpy(), alternative="greater")
        label = {"family": family, "dataset": dataset, "method": method, "rival": best}
        label["decode_temperatures"] = taus
        evidence.append(evidence_row(label, res))
        rec_units.append(rv[both].to_numpy())
        single_units.append(sv[both].to_numpy())
    if not evidence:
        return empty("no recipe draft beside single-temperature drafts")
    res = stats.paired_test(
        np.concatenate(rec_units), np.concatenate(single_units), alternative="greater"
    )
    rel = res.details.get("relative", float("nan"))
    rel_ci = res.details.get("relative_ci", [float("nan"), float("nan")])
    return Evaluation(
        test=res,
        direction_ok=res.ci[0] > 0,
        contradicted=res.ci[1] < 0,
        summary=(
            f"γ of the recipe drafts against the best single-temperature draft at high τ_dec: "
            f"{rel:+.1%} [{rel_ci[0]:+.1%}, {rel_ci[1]:+.1%}] (the paper: +12% to +20%)."
        ),
        evidence=evidence,
        numbers={"relative_gain": rel, "relative_gain_ci": rel_ci},
    )


# --- claim 7: GSM8K is easier than Alpaca; token length tracks difficulty ------------------------


def claim_difficulty(frame: pd.DataFrame, records: list[dict] | None = None) -> Evaluation:
    base = frame[frame["method"] == "base"]
    base = base.assign(prompt=base["family"] + "/" + base["prompt"])  # one unit per family
    sets = set(base["dataset"]) if not base.empty else set()
    if not {"gsm8k", "alpaca"} <= sets:
        return empty("the base draft was not run on both GSM8K and Alpaca")
    g = base[base["dataset"] == "gsm8k"].groupby("prompt")["alpha"].mean().to_numpy()
    a = base[base["dataset"] == "alpaca"].groupby("prompt")["alpha"].mean().to_numpy()
    easier = stats.independent_test(g, a, alternative="greater")
    evidence = [evidence_row({"part": "α, GSM8K − Alpaca (base draft)"}, easier)]
    p = easier.pvalue
    numbers: dict = {}
    chars = base.dropna(subset=["token_chars"])
    if not chars.empty:
        gc = chars[chars["dataset"] == "gsm8k"].groupby("prompt")["token_chars"].mean()
        ac = chars[chars["dataset"] == "alpaca"].groupby("prompt")["token_chars"].mean()
        shorter = stats.independent_test(gc.to_numpy(), ac.to_numpy(), alternative="less")
        evidence.append(evidence_row({"part": "characters per token, GSM8K − Alpaca"}, shorter))
        p = max(p, shorter.pvalue)
    if records:
        numbers["acceptance_by_token_chars"] = _by_token_chars(records)
        buckets = numbers["acceptance_by_token_chars"]
        if len(buckets) >= 3:
            x = np.array([b["chars"] for b in buckets], dtype=float)
            y = np.array([b["beta"] for b in buckets])
            w = np.array([b["count"] for b in buckets], dtype=float)
            numbers["weighted_spearman_chars_beta"] = stats.weighted_spearman(x, y, w)
    return Evaluation(
        test=stats.TestResult(
            test="intersection-union: α higher on GSM8K and tokens shorter (Mann-Whitney)",
            statistic=easier.statistic,
            pvalue=p,
            estimate=easier.estimate,
            estimate_name="mean α(GSM8K) − mean α(Alpaca), base draft",
            ci=easier.ci,
            n=easier.n,
            alternative="greater",
        ),
        direction_ok=easier.ci[0] > 0,
        contradicted=easier.ci[1] < 0,
        summary=(
            f"Base draft α, GSM8K minus Alpaca: {easier.estimate:+.3f} "
            f"[{easier.ci[0]:+.3f}, {easier.ci[1]:+.3f}]"
            + (
                f"; weighted Spearman ρ(token length, β) = "
                f"{numbers['weighted_spearman_chars_beta']:+.2f}."
                if "weighted_spearman_chars_beta" in numbers
                else "."
            )
        ),
        evidence=evidence,
        numbers=numbers,
    )


def _by_token_chars(records: list[dict]) -> list[dict]:
    sums: dict[int, list[float]] = {}
    for rec in records:
        if rec["cell"]["engine"] != "analytic" or rec["cell"]["draft"] != "base":
            continue
        for chars, (beta_sum, count) in rec["result"].get("acceptance_by_token_chars", {}).items():
            s = sums.setdefault(int(chars), [0.0, 0])
            s[0] += beta_sum
            s[1] += count
    return [{"chars": c, "beta": s / n, "count": n} for c, (s, n) in sorted(sums.items()) if n]


# --- claim 8: online KD with high τ_kd at τ_dec = 0 ----------------------------------------------


def claim_online_greedy(frame: pd.DataFrame) -> Evaluation:
    diff = _online_minus_offline(frame)
    if diff.empty or 0.0 not in set(diff["decode_temperature"]):
        return empty("no online and offline drafts at τ_dec = 0")
    at0 = diff[diff["decode_temperature"] == 0.0]
    # Each family's highest τ_kd (they need not share a grid).
    high_by_family = at0.groupby("family")["kd_temperature"].max()
    high_by_family = high_by_family[high_by_family > 0.5]
    if high_by_family.empty:
        return empty("no online draft with τ_kd above 0.5")
    part = at0[at0["kd_temperature"] == at0["family"].map(high_by_family)]
    values = part.groupby("prompt")["alpha"].mean().to_numpy()
    res = stats.one_sample_test(values, alternative="less")
    # Each family alone is tested by the caller (suite.claims.evaluate), as for every claim.
    at = ", ".join(f"{tau:g} ({family})" for family, tau in high_by_family.items())
    return Evaluation(
        test=res,
        direction_ok=res.ci[1] < 0,
        contradicted=res.ci[0] > 0,
        summary=(
            f"At τ_dec = 0, online minus offline α at the highest τ_kd, {at}: "
            f"{res.estimate:+.3f} [{res.ci[0]:+.3f}, {res.ci[1]:+.3f}]."
        ),
        evidence=[evidence_row({"kd_temperature": at}, res)],
    )


# Each claim's check and its home study. A run's header says which studies test which claim
# (``study_claims``: each family has its own study files); the home study serves headers without.
CLAIMS: dict[int, tuple[str, Callable]] = {
    1: ("degradation", claim_degradation),
    2: ("alignment", claim_alignment),
    3: ("online_offline", claim_online_offline),
    4: ("degradation", claim_kd_flattens),
    5: ("out_of_domain", claim_u_curve),
    6: ("recipe", claim_recipe),
    7: ("difficulty", claim_difficulty),
    8: ("online_offline", claim_online_greedy),
}
