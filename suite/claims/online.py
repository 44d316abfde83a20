"""Claims 3 and 8: online against offline KD, paired on the same prompts at the same τ_kd."""

from __future__ import annotations

import numpy as np
import pandas as pd

from suite import stats
from suite.claims.model import ClaimData, Evaluation, empty, evidence_row, series, stouffer
from suite.claims.registry import Figure, register_claim
from suite.tables import matrix

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


@register_claim(
    3,
    studies=("online_offline", "online_offline_t5"),
    metric="acceptance_rate",
    figures=[
        Figure(
            "online_offline_gap",
            "Online minus offline α per prompt, averaged over the τ_kd both methods share, with "
            "95% bootstrap intervals over prompts.",
        )
    ],
)
def claim_online_offline(data: ClaimData) -> Evaluation:
    diff = _online_minus_offline(data.frame)
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


# --- claim 8: online KD with high τ_kd at τ_dec = 0 ----------------------------------------------


@register_claim(
    8,
    studies=("online_offline", "online_offline_t5"),
    metric="acceptance_rate",
    figures=[
        Figure(
            "online_offline_gap",
            "Online minus offline α by τ_dec; the claim concerns τ_dec = 0 at the highest τ_kd.",
        )
    ],
)
def claim_online_greedy(data: ClaimData) -> Evaluation:
    diff = _online_minus_offline(data.frame)
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
