"""The verdict rules: per family, across families (intersection-union), across engines.

Per engine, every (claim, family) test enters one Holm family twice: its p-value for the claim,
and its p-value in the opposite direction (``Evaluation.pvalue_against``), each Holm-adjusted
over all (claim, family) pairs of that engine. A family's verdict:

- ``reproduced``: Holm-adjusted p < 0.05 and the estimate's 95% interval on the paper's side;
- ``not reproduced``: the Holm-adjusted p of the test in the opposite direction < 0.05;
- ``inconclusive``: anything else.

A claim's verdict is ``reproduced`` only when every family that tested it reproduces it, and ``not
reproduced`` only when every such family contradicts it (a family whose study ran without the
data for the test, say without KD drafts, is named in a note but has no say). This is the
intersection-union rule: the claim is about the method, not one family's models; otherwise
``inconclusive``, naming the families' verdicts.

Engines: the claim's ``decide_on`` engine gives the verdict when it ran on at least
:data:`MIN_UNITS` units, the analytic engine otherwise. The other engine can only overturn a
decisive verdict (to ``inconclusive``) with a decisive opposite verdict on at least
:data:`MIN_UNITS` units.
"""

from __future__ import annotations

import numpy as np

from suite import stats
from suite.claims.model import (
    ALPHA,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    ClaimResult,
    Evaluation,
)

MIN_UNITS = 20
DECISIVE = {REPRODUCED, NOT_REPRODUCED}
RULE = (
    "per family: reproduced when the Holm-adjusted p < 0.05 and the 95% interval is on the "
    "paper's side; not reproduced when the Holm-adjusted p of the test in the opposite direction "
    "< 0.05; otherwise inconclusive. Across families (intersection-union): reproduced only when "
    "every family reproduces, not reproduced only when every family contradicts"
)


def family_verdict(ev: Evaluation | None, p_adj: float | None, against_adj: float | None) -> str:
    if ev is None:
        return NOT_RUN
    if ev.test is None:
        return INCONCLUSIVE
    if p_adj is not None and p_adj < ALPHA and ev.direction_ok:
        return REPRODUCED
    if against_adj is not None and against_adj < ALPHA:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def combine_families(verdicts: dict[str, str]) -> tuple[str, str]:
    """Intersection-union over the families that ran; the note says why."""
    ran = {f: v for f, v in verdicts.items() if v != NOT_RUN}
    if not ran:
        return NOT_RUN, ""
    values = set(ran.values())
    if len(values) == 1:
        return values.pop(), ""
    listing = ", ".join(f"{f}: {v}" for f, v in sorted(ran.items()))
    return INCONCLUSIVE, f"the families do not agree ({listing})"


def _nan_none(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def adjust_engine(evs: dict[int, dict[str, Evaluation] | None]) -> dict[tuple[int, str], tuple]:
    """(claim, family) -> (p_adj, against_adj): Holm over every (claim, family) of one engine."""
    keys = [(n, f) for n in sorted(evs) for f in sorted(evs[n] or {})]
    tests = [evs[n][f] for n, f in keys]
    raw = [e.test.pvalue if e.test is not None else np.nan for e in tests]
    against = [
        e.pvalue_against if e.test is not None and e.pvalue_against is not None else np.nan
        for e in tests
    ]
    adj = stats.adjust_pvalues(np.array(raw, dtype=float))
    adj_against = stats.adjust_pvalues(np.array(against, dtype=float))
    return {k: (_nan_none(a), _nan_none(b)) for k, a, b in zip(keys, adj, adj_against, strict=True)}


def family_entry(ev: Evaluation, verdict: str, p_adj, against_adj) -> dict:
    return {
        "verdict": verdict,
        "summary": ev.summary,
        "test": ev.test.to_dict() if ev.test is not None else None,
        "pvalue_adjusted": p_adj,
        "pvalue_against_adjusted": against_adj,
        "direction_ok": ev.direction_ok,
        "contradicted": verdict == NOT_REPRODUCED,
        "notes": list(ev.notes),
        "numbers": ev.numbers,
    }


def engine_result(number, info, engine, per_family, adjusted) -> ClaimResult:
    """One engine's answer to one claim, its families combined."""
    words = {
        "number": number,
        "title": info["title"],
        "statement": " ".join(info["statement"].split()),
        "source": info["source"],
        "paper_numbers": info.get("numbers", []),
        "engine": engine,
    }
    if not per_family:
        return ClaimResult(
            **words, verdict=NOT_RUN, rule=RULE, summary="the claim's study was not run",
            test=None, pvalue_adjusted=None, evidence=[], numbers={},
        )  # fmt: skip
    families = {}
    for family, ev in sorted(per_family.items()):
        p_adj, against_adj = adjusted[(number, family)]
        families[family] = family_entry(
            ev, family_verdict(ev, p_adj, against_adj), p_adj, against_adj
        )
    # A family whose study ran without the data for the test (say, no KD drafts) has no say.
    tested_verdicts = {f: e["verdict"] for f, e in families.items() if e["test"] is not None}
    verdict, why = combine_families(tested_verdicts) if tested_verdicts else (INCONCLUSIVE, "")
    untested = sorted(set(families) - set(tested_verdicts))
    if tested_verdicts and untested:
        why = "; ".join(x for x in (why, f"untested for {', '.join(untested)}") if x)
    # The binding family: the largest adjusted p (the intersection-union p-value).
    tested = [f for f, e in families.items() if e["test"] is not None]
    bind = max(tested, key=lambda f: families[f]["pvalue_adjusted"] or 1.0) if tested else None
    evs = per_family.values()
    notes = sorted({n for ev in evs for n in ev.notes} | ({why} if why else set()))
    against = [e["pvalue_against_adjusted"] for e in families.values()]
    return ClaimResult(
        **words,
        verdict=verdict,
        rule=RULE,
        summary=" ".join(f"{f}: {e['summary']}" for f, e in families.items()),
        test=families[bind]["test"] if bind else None,
        pvalue_adjusted=families[bind]["pvalue_adjusted"] if bind else None,
        evidence=[{"family": f, **row} for f, ev in per_family.items() for row in ev.evidence],
        numbers={f: ev.numbers for f, ev in per_family.items() if ev.numbers},
        families=families,
        pvalue_against_adjusted=max((a for a in against if a is not None), default=None),
        notes=notes,
        units=min((ev.units for ev in evs), default=0),
    )


def across_engines(results: dict[str, ClaimResult], decide_on: str) -> ClaimResult:
    """The primary engine's verdict; the other can only overturn it on enough units."""
    other_engine = "empirical" if decide_on == "analytic" else "analytic"
    first, second = results[decide_on], results[other_engine]
    if first.verdict == NOT_RUN or (decide_on != "analytic" and first.units < MIN_UNITS):
        first, second = second, first
    if first.verdict == NOT_RUN:
        first, second = second, first
    verdict, rule = first.verdict, RULE
    if (
        verdict in DECISIVE
        and second.verdict in DECISIVE
        and second.verdict != verdict
        and second.units >= MIN_UNITS
    ):
        verdict = INCONCLUSIVE
        rule = (
            f"{RULE}; the engines disagree ({first.engine}: {first.verdict}, "
            f"{second.engine}: {second.verdict} on {second.units} units)"
        )
    return ClaimResult(**{**first.to_dict(), "verdict": verdict, "rule": rule})
