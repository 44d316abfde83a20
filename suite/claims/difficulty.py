"""Claim 7: GSM8K's tokens are easier than Alpaca's, and a token's length tracks its difficulty.

The only claim that compares datasets rather than drafts or temperatures, and the only one that
reads the cell records: acceptance by token length is recorded per cell, not per prompt.
"""

from __future__ import annotations

import numpy as np

from suite import stats
from suite.claims.model import ClaimData, Evaluation, empty, evidence_row
from suite.claims.registry import Figure, register_claim

# --- claim 7: GSM8K is easier than Alpaca; token length tracks difficulty ------------------------


@register_claim(
    7,
    studies=("difficulty",),
    metric="acceptance_rate",
    reads_records=True,  # acceptance by token length is in the records, not the per-prompt table
    figures=[
        Figure(
            "dataset_difficulty",
            "Per-prompt α of the base draft by dataset and τ_dec: points are prompts, diamonds "
            "means with 95% intervals.",
        ),
        Figure(
            "token_length",
            "Mean β by token length in characters for the base draft (analytic); below, how many "
            "continuation tokens each bucket holds.",
            takes="records",
        ),
    ],
)
def claim_difficulty(data: ClaimData) -> Evaluation:
    """Why this reading: "GSM8K consists of easier tokens for the draft ... Alpaca's tokens are
    longer" is about datasets under one draft, so the base draft's per-prompt α and characters
    per token are compared between the two datasets' prompts (independent units, Mann-Whitney);
    both parts must hold (intersection-union). Against it: α significantly lower on GSM8K.
    The weighted rank correlation of token length with β is reported, not tested."""
    frame, records = data.frame, data.records
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
    harder = stats.independent_test(g, a, alternative="less")
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
        pvalue_against=harder.pvalue,
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
