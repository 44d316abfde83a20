"""Deciding the paper's claims from a results folder: per engine, adjusted, with a verdict.

Each claim is tested on the cells of the studies it reads, once per engine. The p-values of one
engine's claims are Holm-adjusted as a family. The verdict rule, per engine:

- ``reproduced``: adjusted p < 0.05 and the estimate's 95% interval on the paper's side;
- ``not reproduced``: the data significantly contradict the claim (interval on the other side,
  or a significant trend against it);
- ``inconclusive``: anything else; a flat grid lands here, never in ``reproduced``.

The analytic engine (many prompts) gives the verdict; when the empirical engine contradicts it
decisively, the verdict becomes ``inconclusive`` and says why.

The claims are those of a :class:`~suite.claims.registry.ClaimRegistry`, by default
:data:`~suite.claims.registry.REGISTRY`, which the modules imported here fill with
``@register_claim``; their words come from ``reference/paper.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from suite import stats
from suite.claims import checks, difficulty, online  # noqa: F401  (they register the claims)
from suite.claims.model import (
    ALPHA,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    PAPER_FILE,
    REPRODUCED,
    ClaimData,
    ClaimResult,
    Evaluation,
    check_words,
    load_paper,
)
from suite.claims.registry import REGISTRY, Claim, ClaimRegistry, Figure, register_claim
from suite.store import ResultsStore
from suite.tables import prompt_rows, read_records, seed_means

__all__ = [
    "ENGINES",
    "INCONCLUSIVE",
    "NOT_REPRODUCED",
    "NOT_RUN",
    "REGISTRY",
    "REPRODUCED",
    "Claim",
    "ClaimData",
    "ClaimRegistry",
    "ClaimResult",
    "Decision",
    "Evaluation",
    "Figure",
    "decide",
    "decide_folder",
    "evaluate",
    "register_claim",
]

ENGINES = ("analytic", "empirical")
RULE = (
    "reproduced: Holm-adjusted p < 0.05 across the claims and the 95% interval on the paper's "
    "side; not reproduced: significant evidence against; otherwise inconclusive"
)


@dataclass(frozen=True)
class Decision:
    claims: list[ClaimResult]
    per_engine: dict[str, list[ClaimResult]]
    agreement: dict


def _verdict(ev: Evaluation | None, p_adj: float | None) -> str:
    if ev is None:
        return NOT_RUN
    if ev.test is None:  # the study ran, but too little of it for the test
        return INCONCLUSIVE
    if p_adj is not None and p_adj < ALPHA and ev.direction_ok:
        return REPRODUCED
    if ev.contradicted:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def _result(number, paper, engine, ev, p_adj, verdict, rule=RULE) -> ClaimResult:
    info = paper["claims"][number]
    return ClaimResult(
        number=number,
        title=info["title"],
        statement=" ".join(info["statement"].split()),
        source=info["source"],
        paper_numbers=info.get("numbers", []),
        engine=engine,
        verdict=verdict,
        rule=rule,
        summary=ev.summary if ev is not None else "the claim's study was not run",
        test=ev.test.to_dict() if ev is not None and ev.test is not None else None,
        pvalue_adjusted=p_adj,
        evidence=ev.evidence if ev is not None else [],
        numbers=ev.numbers if ev is not None else {},
        families=ev.families if ev is not None else {},
    )


def _check(claim: Claim, frame: pd.DataFrame, records: list[dict]) -> Evaluation:
    data = ClaimData(frame, records if claim.reads_records else [])
    try:
        return claim.check(data)
    except ValueError as err:  # too few prompts or conditions for the test
        return Evaluation(None, False, False, f"not enough data: {err}")


def _family_view(ev: Evaluation) -> dict:
    """One family's answer, unadjusted: for comparing the families, not for the verdict."""
    return {
        "summary": ev.summary,
        "test": ev.test.to_dict() if ev.test is not None else None,
        "direction_ok": ev.direction_ok,
        "contradicted": ev.contradicted,
    }


def evaluate(
    rows: pd.DataFrame, header: dict, records: list[dict], registry: ClaimRegistry = REGISTRY
) -> dict:
    """Evaluation per engine per claim, on the cells of every study the claim reads.

    The claim is tested on all its families together (each series within one family); when
    more than one family ran, each is also tested alone, for the families' comparison.
    """
    out: dict[str, dict[int, Evaluation | None]] = {e: {} for e in ENGINES}
    cells = header.get("study_cells", {})
    for number, claim in registry.items():
        keys = {k for study in claim.studies for k in cells.get(study, [])}
        claim_records = [r for r in records if r["key"] in keys] if claim.reads_records else []
        for engine in ENGINES:
            part = rows[rows["key"].isin(keys) & (rows["engine"] == engine)] if keys else rows[:0]
            if part.empty:
                out[engine][number] = None
                continue
            frame = seed_means(part)
            ev = _check(claim, frame, claim_records)
            families = sorted(frame["family"].unique())
            if len(families) > 1:
                per_family = {
                    family: _family_view(
                        _check(
                            claim,
                            frame[frame["family"] == family],
                            [r for r in claim_records if r["cell"]["family"] == family],
                        )
                    )
                    for family in families
                }
                ev = replace(ev, families=per_family)
            out[engine][number] = ev
    return out


def decide(evaluations: dict, paper: dict) -> Decision:
    per_engine: dict[str, list[ClaimResult]] = {}
    for engine in ENGINES:
        evs = evaluations[engine]
        numbers = sorted(evs)
        raw = [evs[n].test.pvalue if evs[n] and evs[n].test else np.nan for n in numbers]
        adjusted = stats.adjust_pvalues(np.array(raw, dtype=float), method="holm")
        per_engine[engine] = [
            _result(
                n,
                paper,
                engine,
                evs[n],
                None if np.isnan(p) else float(p),
                _verdict(evs[n], None if np.isnan(p) else float(p)),
            )
            for n, p in zip(numbers, adjusted, strict=True)
        ]
    claims = []
    for a, e in zip(per_engine["analytic"], per_engine["empirical"], strict=True):
        primary, other = (a, e) if a.verdict != NOT_RUN else (e, a)
        verdict, rule = primary.verdict, RULE
        decisive = {REPRODUCED, NOT_REPRODUCED}
        if verdict in decisive and other.verdict in decisive and other.verdict != verdict:
            verdict = INCONCLUSIVE
            rule = (
                f"{RULE}; the engines disagree ({a.engine}: {a.verdict}, {e.engine}: {e.verdict})"
            )
        claims.append(ClaimResult(**{**primary.to_dict(), "verdict": verdict, "rule": rule}))
    return Decision(claims=claims, per_engine=per_engine, agreement={})


def engine_agreement(rows: pd.DataFrame) -> dict:
    """Analytic α̂ against the empirical judged acceptance rate, cell by cell, on shared prompts."""
    keys = ["family", "dataset", "draft", "decode_temperature", "num_draft_tokens"]
    if rows.empty or set(rows["engine"]) != set(ENGINES):
        return {"cells": 0}
    per_prompt = rows.pivot_table(
        index=[*keys, "prompt"], columns="engine", values="alpha", aggfunc="mean"
    ).dropna()
    if per_prompt.empty:
        return {"cells": 0}
    cells = per_prompt.groupby(level=keys).mean()
    a, e = cells["analytic"].to_numpy(), cells["empirical"].to_numpy()
    pairs = [
        {**dict(zip(keys, idx, strict=True)), "analytic": float(x), "empirical": float(y)}
        for idx, x, y in zip(cells.index, a, e, strict=True)
    ]
    out = {
        "cells": len(pairs),
        "prompts": int(per_prompt.index.get_level_values("prompt").nunique()),
        "mean_difference": float(np.mean(e - a)),
        "mean_absolute_difference": float(np.mean(np.abs(e - a))),
        "pairs": pairs,
    }
    if len(pairs) >= 3:
        out["pearson_r"] = float(np.corrcoef(a, e)[0, 1])
        out["difference_ci"] = [float(x) for x in stats.bootstrap_ci(e - a)]
    return out


def decide_folder(
    folder: str | Path, paper_path: Path | None = None, registry: ClaimRegistry = REGISTRY
) -> Decision:
    """Decide the registry's claims on a results folder, with their words from ``paper_path``."""
    store = ResultsStore(folder)
    header = store.header()
    records = read_records(folder)
    rows = prompt_rows(records)
    paper_path = PAPER_FILE if paper_path is None else Path(paper_path)
    paper = load_paper(paper_path)
    check_words(paper, list(registry), paper_path)
    decision = decide(evaluate(rows, header, records, registry), paper)
    return Decision(decision.claims, decision.per_engine, engine_agreement(seed_means(rows)))
