"""Deciding the paper's claims from a results folder: per engine, per family, adjusted.

Each claim is tested on the cells of the studies it reads, once per engine and model family.
The verdict rules (Holm across the (claim, family) tests of one engine, a real test in the
opposite direction for "not reproduced", intersection-union across families, the engine that
decides) are in :mod:`suite.claims.verdicts`.

The claims are those of a :class:`~suite.claims.registry.ClaimRegistry`, by default
:data:`~suite.claims.registry.REGISTRY`, which the modules imported here fill with
``@register_claim``; their words come from ``reference/paper.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from suite import stats
from suite.claims import (  # noqa: F401  (they register the claims)
    checks,
    difficulty,
    high_temperature,
    online,
    verdicts,
)
from suite.claims.model import (
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


@dataclass(frozen=True)
class Decision:
    claims: list[ClaimResult]
    per_engine: dict[str, list[ClaimResult]]
    agreement: dict


def check_family(claim: Claim, frame: pd.DataFrame, records: list[dict]) -> Evaluation:
    """One family's evaluation; too little data for the test is an untested evaluation."""
    data = ClaimData(frame, records if claim.reads_records else [])
    try:
        return claim.check(data)
    except ValueError as err:  # too few prompts or conditions for the test
        return Evaluation(None, False, None, f"not enough data: {err}")


def evaluate(
    rows: pd.DataFrame, header: dict, records: list[dict], registry: ClaimRegistry = REGISTRY
) -> dict:
    """{engine: {claim: {family: Evaluation} or None}} on the cells of the claim's studies."""
    out: dict[str, dict[int, dict | None]] = {e: {} for e in ENGINES}
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
            out[engine][number] = {
                family: check_family(
                    claim,
                    frame[frame["family"] == family],
                    [r for r in claim_records if r["cell"]["family"] == family],
                )
                for family in sorted(frame["family"].unique())
            }
    return out


def decide(evaluations: dict, paper: dict, registry: ClaimRegistry = REGISTRY) -> Decision:
    per_engine: dict[str, list[ClaimResult]] = {}
    for engine in ENGINES:
        evs = evaluations[engine]
        adjusted = verdicts.adjust_engine(evs)
        per_engine[engine] = [
            verdicts.engine_result(n, paper["claims"][n], engine, evs[n] or {}, adjusted)
            for n in sorted(evs)
        ]
    claims = []
    for results in zip(*(per_engine[e] for e in ENGINES), strict=True):
        by_engine = dict(zip(ENGINES, results, strict=True))
        number = results[0].number
        decide_on = registry[number].decide_on if number in registry else "analytic"
        claims.append(verdicts.across_engines(by_engine, decide_on))
    return Decision(claims=claims, per_engine=per_engine, agreement={})


def engine_agreement(rows: pd.DataFrame) -> dict:
    """Analytic α̂ against the empirical judged acceptance rate, cell by cell, on shared prompts."""
    keys = ["family", "dataset", "draft", "decode_temperature", "num_draft_tokens"]
    if rows.empty or set(rows["engine"]) != set(ENGINES):
        return {"cells": 0}
    # An engine whose every α is undefined (null: no token judged) drops out of the pivot; its
    # column comes back empty, so no prompt is shared and there is nothing to compare.
    per_prompt = (
        rows.pivot_table(index=[*keys, "prompt"], columns="engine", values="alpha", aggfunc="mean")
        .reindex(columns=list(ENGINES))
        .dropna()
    )
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
        # r is undefined (None) when either engine's α is the same in every cell
        varies = np.ptp(a) > 0 and np.ptp(e) > 0
        out["pearson_r"] = float(np.corrcoef(a, e)[0, 1]) if varies else None
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
    decision = decide(evaluate(rows, header, records, registry), paper, registry)
    return Decision(decision.claims, decision.per_engine, engine_agreement(seed_means(rows)))
