"""Claims 3 and 8: online against offline KD, paired on the same prompts, τ_kd and training seed.

Both compare drafts, so the unit is the training seed: seed s of the online configuration
against seed s of the offline one at the same τ_kd, prompts crossed with seeds
(:func:`suite.stats.seed_contrast_test`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suite import stats
from suite.claims.model import (
    ClaimData,
    Evaluation,
    empty,
    evidence_row,
    seed_contrast,
    seed_note,
    stack_seeds,
)
from suite.claims.registry import claims_on

# --- claim 3: online beats offline, more at higher τ ---------------------------------------------


def _online_minus_offline(frame: pd.DataFrame) -> pd.DataFrame:
    """Online minus offline α per (dataset, prompt, τ_dec, τ_kd, training seed)."""
    grid = frame[frame["method"].isin(["offline", "online"]) & ~frame["recipe"]]
    if grid.empty:
        return grid
    seeded = grid.groupby("method")["training_seed"].apply(lambda s: s.notna().any())
    if seeded.all():  # seed s of one method against seed s of the other
        grid = grid.assign(seed=grid["training_seed"].astype(float).fillna(-1.0))
    else:  # one side has no training seed: its checkpoint against the other side's mean
        grid = grid.assign(seed=-1.0)
    wide = grid.pivot_table(
        index=["dataset", "prompt", "decode_temperature", "kd_temperature", "seed"],
        columns="method",
        values="alpha",
        aggfunc="mean",
    ).dropna()
    if "online" not in wide or "offline" not in wide:
        return pd.DataFrame()
    diff = (wide["online"] - wide["offline"]).rename("alpha").reset_index()
    diff["prompt"] = diff["dataset"] + "/" + diff["prompt"]  # one unit: a prompt of a dataset
    return diff


def _by_seed(diff: pd.DataFrame, value) -> np.ndarray:
    """Seeds x prompts of ``value(part)`` (a prompt-indexed Series) for each seed's part."""
    return stack_seeds([value(part) for _, part in diff.groupby("seed", sort=True)])


def _slope_over(column: str):
    def per_prompt(part: pd.DataFrame) -> pd.Series:
        wide = part.pivot_table(index="prompt", columns=column, values="alpha").dropna()
        if wide.shape[1] < 3:
            return pd.Series(dtype=float)
        return pd.Series(stats.slopes(wide.to_numpy(), np.array(wide.columns)), index=wide.index)

    return per_prompt


# Claims 3 and 8 read the same studies, decide on α and show the online − offline gap.
_online_claim = claims_on(
    ("online_offline", "online_offline_t5"), "acceptance_rate", "online_offline_gap"
)


def _mean_gap(part: pd.DataFrame) -> pd.Series:
    return part.groupby("prompt")["alpha"].mean()


@_online_claim(
    3,
    "Online minus offline α per prompt, averaged over the τ_kd both methods share, with 95% "
    "bootstrap intervals over prompts.",
)
def claim_online_offline(data: ClaimData) -> Evaluation:
    """Why this reading: "online distillation outperforms offline distillation, especially at
    higher temperatures" is two statements, both needed (intersection-union): online α above
    offline α, averaged over the shared τ_dec and τ_kd, and the gap growing with τ_dec (the
    slope of the per-prompt gap over τ_dec above 0). "Temperatures" may also mean τ_kd: the
    gap's slope over τ_kd is reported as evidence, not tested. Seeds are the unit; α decides."""
    diff = _online_minus_offline(data.frame)
    if diff.empty:
        return empty("no τ_kd with both an online and an offline draft")
    D = _by_seed(diff, _mean_gap)
    overall = stats.seed_contrast_test(D, alternative="greater", label="α(online) − α(offline)")
    against = stats.seed_contrast_test(D, alternative="less")
    evidence = [evidence_row({"part": "online − offline, all temperatures"}, overall)]
    p, trend_p = overall.pvalue, None
    T = _by_seed(diff, _slope_over("decode_temperature"))
    if T.size and T.shape[1] >= 2:
        trend = stats.seed_contrast_test(T, alternative="greater", label="slope of the gap")
        evidence.append(evidence_row({"part": "gap grows with τ_dec"}, trend))
        trend_p = trend.pvalue
        p = max(p, trend_p)
    K = _by_seed(diff, _slope_over("kd_temperature"))
    if K.size and K.shape[1] >= 2:
        by_kd = stats.seed_contrast_test(K, alternative="greater", label="slope over τ_kd")
        evidence.append(evidence_row({"part": "gap grows with τ_kd (evidence only)"}, by_kd))
    test = stats.TestResult(
        test="intersection-union: online > offline, and the gap grows with τ_dec (seed-level "
        "contrast tests)",
        statistic=overall.statistic, pvalue=p, estimate=overall.estimate,
        estimate_name="mean α(online) − α(offline), per seed and prompt", ci=overall.ci,
        n=overall.n, alternative="greater", details={**overall.details, "trend_pvalue": trend_p},
    )  # fmt: skip
    return Evaluation(
        test=test,
        direction_ok=overall.ci[0] > 0,
        pvalue_against=against.pvalue,
        summary=(
            f"Online minus offline α: {overall.estimate:+.3f} "
            f"[{overall.ci[0]:+.3f}, {overall.ci[1]:+.3f}] over {overall.details['n_seeds']} "
            f"seeds × {overall.n} prompts"
            + (f"; its growth with τ_dec: p = {trend_p:.3g}." if trend_p is not None else ".")
        ),
        evidence=evidence,
        notes=seed_note(overall),
    )


# --- claim 8: online KD with high τ_kd at τ_dec = 0 ----------------------------------------------


@_online_claim(
    8, "Online minus offline α by τ_dec; the claim concerns τ_dec = 0 at the highest τ_kd."
)
def claim_online_greedy(data: ClaimData) -> Evaluation:
    """Why this reading: "the performance of online distillation at decoding temperature 0 does
    not align with expectations, especially with higher KD temperatures" says online KD falls
    behind offline KD at τ_dec = 0, so the test is online − offline α < 0 at τ_dec = 0 and the
    family's highest τ_kd (above 0.5), seeds as the unit; the gap at every τ_kd is evidence."""
    diff = _online_minus_offline(data.frame)
    if diff.empty or 0.0 not in set(diff["decode_temperature"]):
        return empty("no online and offline drafts at τ_dec = 0")
    at0 = diff[diff["decode_temperature"] == 0.0]
    high = at0["kd_temperature"].max()
    if not high > 0.5:
        return empty("no online draft with τ_kd above 0.5")
    evidence = []
    for tau_kd, part in at0.groupby("kd_temperature"):
        D_k = _by_seed(part, _mean_gap)
        if D_k.size and D_k.shape[1] >= 2:
            res_k = stats.seed_contrast_test(D_k, alternative="less")
            evidence.append(evidence_row({"kd_temperature": float(tau_kd)}, res_k))
    return seed_contrast(
        _by_seed(at0[at0["kd_temperature"] == high], _mean_gap),
        lambda res: (
            f"At τ_dec = 0, online minus offline α at τ_kd {high:g}: {res.estimate:+.3f} "
            f"[{res.ci[0]:+.3f}, {res.ci[1]:+.3f}] over {res.details['n_seeds']} seeds × "
            f"{res.n} prompts."
        ),
        alternative="less",
        label="α(online) − α(offline)",
        evidence=evidence,
    )
