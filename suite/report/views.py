"""What the template shows, as plain dicts of display strings: numbers are formatted here, once.

Nothing here marks text as safe HTML: the template escapes every string, since claim summaries,
prompt ids and generated text come from files a run wrote and are untrusted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from suite.claims import Decision
from suite.claims.model import INCONCLUSIVE, NOT_REPRODUCED, NOT_RUN, REPRODUCED
from suite.records import EMPIRICAL, ResultRecord

BADGES = {
    REPRODUCED: "ok",
    NOT_REPRODUCED: "bad",
    INCONCLUSIVE: "maybe",
    NOT_RUN: "none",
}
TEST_FIELDS = {
    "test", "statistic", "pvalue", "estimate", "estimate_name", "ci", "n", "alternative",
    "details",
}  # fmt: skip
MAX_TEXT = 1200  # characters of one generated text shown in the report
MAX_EXAMPLES = 6


def number(value: Any, digits: int = 3, *, signed: bool = False) -> str:
    """A number for a table; a dash for missing values (None, NaN)."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "—"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def pvalue(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def interval(ci: Any, *, signed: bool = False) -> str:
    if not ci or len(ci) != 2:
        return "—"
    return f"[{number(ci[0], signed=signed)}, {number(ci[1], signed=signed)}]"


def value_text(value: Any) -> str:
    """Any JSON value as short text: lists joined, dicts as key=value, numbers formatted."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={value_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, dict) for v in value):
            return f"{len(value)} rows (see the figure)"
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else "—"
    return "—" if value is None else str(value)


def badge(verdict: str) -> str:
    return BADGES.get(verdict, "none")


def _test_view(claim: dict) -> dict | None:
    test = claim.get("test")
    if not test:
        return None
    return {
        "name": test.get("test", ""),
        "statistic": number(test.get("statistic")),
        "p": pvalue(test.get("pvalue")),
        "p_adjusted": pvalue(claim.get("pvalue_adjusted")),
        "n": number(test.get("n")),
        "alternative": test.get("alternative", ""),
        "estimate_name": test.get("estimate_name", ""),
        "estimate": number(test.get("estimate"), signed=True),
        "ci": interval(test.get("ci"), signed=True),
    }


def evidence_table(evidence: list[dict]) -> dict:
    """Per-series tests as columns and rows; the label columns are whatever the series carry."""
    labels: list[str] = []
    for row in evidence:
        labels += [k for k in row if k not in TEST_FIELDS and k not in labels]
    columns = [*labels, "test", "estimate", "95% CI", "p", "n"]
    rows = [
        [value_text(row.get(k)) for k in labels]
        + [
            row.get("test", ""),
            number(row.get("estimate"), signed=True),
            interval(row.get("ci"), signed=True),
            pvalue(row.get("pvalue")),
            number(row.get("n")),
        ]
        for row in evidence
    ]
    return {"columns": columns, "rows": rows}


def claim_row(claim: dict) -> dict:
    """One line of the summary table."""
    test = claim.get("test") or {}
    return {
        "number": claim["number"],
        "anchor": f"claim-{claim['number']}",
        "title": claim["title"],
        "verdict": claim["verdict"],
        "badge": badge(claim["verdict"]),
        "estimate": number(test.get("estimate"), signed=True) if test else "—",
        "estimate_name": test.get("estimate_name", ""),
        "ci": interval(test.get("ci"), signed=True) if test else "—",
        "p_adjusted": pvalue(claim.get("pvalue_adjusted")),
        "engine": "—" if claim["verdict"] == NOT_RUN else claim["engine"],
    }


def _paper_numbers(items: list) -> list[dict]:
    out = []
    for item in items or []:
        if not isinstance(item, dict):
            out.append({"what": value_text(item), "fields": [], "source": ""})
            continue
        fields = [(k, value_text(v)) for k, v in item.items() if k not in ("what", "source")]
        out.append(
            {"what": item.get("what", ""), "fields": fields, "source": item.get("source", "")}
        )
    return out


def claim_section(claim: dict, per_engine: dict[str, dict], figures: list[dict]) -> dict:
    """Everything one claim's section shows, both engines side by side."""
    engines = []
    for engine, result in per_engine.items():
        engines.append(
            {
                "engine": engine,
                "verdict": result["verdict"],
                "badge": badge(result["verdict"]),
                "summary": result["summary"],
                "notes": result.get("notes") or [],
                "test": _test_view(result),
                "evidence": evidence_table(result.get("evidence") or []),
            }
        )
    return {
        **claim_row(claim),
        "statement": claim["statement"],
        "source": claim["source"],
        "paper_numbers": _paper_numbers(claim.get("paper_numbers")),
        "summary": claim["summary"],
        "test": _test_view(claim),
        "rule": claim["rule"],
        "numbers": [(k, value_text(v)) for k, v in (claim.get("numbers") or {}).items()],
        "engines": engines,
        "families": family_rows(per_engine),
        "figures": figures,
    }


def _side(answer: dict) -> str:
    if answer.get("test") is None:
        return "no test"
    if answer.get("verdict"):
        return answer["verdict"]
    if answer.get("direction_ok"):
        return "on the paper's side"
    return "against the paper" if answer.get("contradicted") else "undecided"


def family_rows(per_engine: dict[str, dict]) -> list[dict]:
    """Each family tested alone, per engine: unadjusted, to compare the families."""
    rows = []
    for engine, result in per_engine.items():
        for family, answer in sorted((result.get("families") or {}).items()):
            test = answer.get("test") or {}
            rows.append(
                {
                    "engine": engine,
                    "family": family,
                    "summary": answer.get("summary", ""),
                    "estimate": number(test.get("estimate"), signed=True) if test else "—",
                    "ci": interval(test.get("ci"), signed=True) if test else "—",
                    "p": pvalue(test.get("pvalue")) if test else "—",
                    "p_adjusted": pvalue(answer.get("pvalue_adjusted")),
                    "p_against": pvalue(answer.get("pvalue_against_adjusted")),
                    "seed_sd": _seed_spread(test),
                    "side": _side(answer),
                    "notes": "; ".join(answer.get("notes") or []),
                }
            )
    return rows


def _seed_spread(test: dict) -> str:
    """The seed-level spread of a between-drafts test: SD of the seed means (and how many)."""
    details = (test or {}).get("details") or {}
    if "n_seeds" not in details:
        return "—"
    if details.get("seed_sd") is None:
        return "one checkpoint"
    return f"{details['seed_sd']:.3f} ({details['n_seeds']} seeds)"


def calibration_view(result: dict | None) -> dict | None:
    """The calibration benchmark's table (overall, per family in brackets)."""
    if not result:
        return None
    rows = []
    for claim, entry in result.get("claims", {}).items():
        for profile, r in entry.get("profiles", {claim: entry}).items():
            f = r["per_family"]
            rows.append(
                [claim, profile]
                + [
                    f"{r[k]:.2f} ({f[k]:.2f})"
                    for k in ("false_reproduced_rate", "false_not_reproduced_rate", "power")
                ]
                + [str(r["n_sim"])]
            )
    return {"rows": rows, "command": result.get("command", "python -m suite calibrate")}


def families_overview(claims: list[dict]) -> dict | None:
    """Claims × families for the verdict's engine: where the two families agree and differ."""
    families = sorted({f for c in claims for f in (c.get("families") or {})})
    if len(families) < 2:
        return None
    rows = []
    for claim in claims:
        answers = claim.get("families") or {}
        if not answers:
            continue
        cells = []
        for family in families:
            answer = answers.get(family)
            test = (answer or {}).get("test") or {}
            cells.append(
                "not run"
                if answer is None
                else f"{number(test.get('estimate'), signed=True)} "
                f"{interval(test.get('ci'), signed=True)}: {_side(answer)}"
                if test
                else _side(answer)
            )
        rows.append(
            {
                "number": claim["number"],
                "anchor": f"claim-{claim['number']}",
                "title": claim["title"],
                "engine": claim["engine"],
                "cells": cells,
            }
        )
    return {"families": families, "rows": rows} if rows else None


def agreement_view(agreement: dict) -> list[tuple[str, str]]:
    if not agreement.get("cells"):
        return [("cells with both engines", "0")]
    return [
        ("cells with both engines", number(agreement.get("cells"))),
        ("prompts shared", number(agreement.get("prompts"))),
        (
            "mean difference, empirical − analytic",
            f"{number(agreement.get('mean_difference'), signed=True)} "
            f"{interval(agreement.get('difference_ci'), signed=True)}",
        ),
        ("mean absolute difference", number(agreement.get("mean_absolute_difference"))),
        ("Pearson r over cells", number(agreement.get("pearson_r"))),
    ]


def _clip(text: Any) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " […]"


def examples(records: list[ResultRecord], limit: int = MAX_EXAMPLES) -> list[dict]:
    """A few generations, spread over (dataset, τ_dec) groups, in a fixed order."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: r.key):
        cell = rec.cell
        if cell.engine != EMPIRICAL:
            continue
        for p in rec.result.prompts:
            e = p.empirical
            spec, target = e.speculative, e.target
            groups[(cell.dataset, cell.decode_temperature)].append(
                {
                    "dataset": cell.dataset,
                    "prompt": p.prompt,
                    "draft": cell.draft,
                    "decode_temperature": value_text(float(cell.decode_temperature)),
                    "num_draft_tokens": cell.num_draft_tokens,
                    "seed": value_text(e.seed),
                    "acceptance": number(p.alpha),
                    "identical": e.identical,
                    "speculative": _clip(spec.text),
                    "speculative_finish": f"{spec.tokens} tokens, {spec.finish_reason or '?'}",
                    "target": _clip(target.text),
                    "target_finish": f"{target.tokens} tokens, {target.finish_reason or '?'}",
                }
            )
    out: list[dict] = []
    queues = [groups[k] for k in sorted(groups)]
    while len(out) < limit and any(queues):
        for queue in queues:
            if queue and len(out) < limit:
                out.append(queue.pop(0))
    return out


def provenance(records: list[ResultRecord], header: dict) -> dict:
    """Where the numbers came from: code, packages, machine, models, seeds and time spent."""
    commits, dirty, hardware, models, formats = set(), False, [], {}, set()
    packages: dict[str, set] = defaultdict(set)
    seconds = {"analytic": 0.0, "empirical": 0.0}
    finished = []
    engines = defaultdict(int)
    for rec in records:
        engine = rec.engine
        engines[engine] += 1
        prov = rec.provenance
        if prov is not None:
            if prov.git_commit:
                commits.add(prov.git_commit)
            dirty = dirty or bool(prov.git_dirty)
            formats.add(prov.prompt_format or "instruction")
            for name, version in prov.packages.items():
                packages[name].add(str(version))
            if prov.hardware and dict(prov.hardware) not in hardware:
                hardware.append(dict(prov.hardware))
            for role, ref in prov.models.items():
                models[(role, ref.location or "")] = ref.sha256
        seconds[engine] = seconds.get(engine, 0.0) + rec.timing.seconds(engine)
        if rec.timing.finished_at:
            finished.append(rec.timing.finished_at)
    return {
        "profile": header.get("profile"),
        "studies": header.get("studies", []),
        "git_commits": sorted(commits),
        "prompt_formats": sorted(formats),
        "git_dirty": dirty,
        "packages": {k: ", ".join(sorted(v)) for k, v in sorted(packages.items())},
        "hardware": hardware,
        "seeds": sorted({rec.cell.seed for rec in records}),
        "models": [
            {"role": role, "location": loc, "sha256": sha}
            for (role, loc), sha in sorted(models.items())
        ],
        "cells": len(records),
        "cells_by_engine": dict(sorted(engines.items())),
        "seconds": {k: round(v, 3) for k, v in seconds.items()}
        | {"total": round(sum(seconds.values()), 3)},
        "first_finished": min(finished) if finished else None,
        "last_finished": max(finished) if finished else None,
    }


def decision_dict(decision: Decision) -> dict:
    return {
        "claims": [c.to_dict() for c in decision.claims],
        "per_engine": {e: [c.to_dict() for c in cs] for e, cs in decision.per_engine.items()},
        "agreement": decision.agreement,
    }
