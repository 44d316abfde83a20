"""The calibration benchmark: every claim test run on simulated results with known truth.

For each claim, ``n_sim`` results tables are simulated under the null (the claim false at its
boundary) and under the paper's effect (:mod:`suite.calibration.scenarios`), for each profile's
sizes, and decided by the real code: the claim's registered check on each family, the Holm step
over the families, the per-family rule and the intersection-union across families
(:mod:`suite.claims.verdicts`). Reported per claim: the rate of "reproduced" and of "not
reproduced" under the null (both must stay at or below 5% within Monte-Carlo error), and the
power (the rate of "reproduced" under the effect); per family as well as overall, since the
intersection-union makes the overall error rates far smaller than one family's.
"""

from __future__ import annotations

import math
from pathlib import Path

from suite.calibration.scenarios import simulate
from suite.calibration.synth import PROFILES
from suite.claims import REGISTRY, check_family
from suite.claims.model import NOT_REPRODUCED, REPRODUCED
from suite.claims.verdicts import adjust_engine, combine_families, family_verdict
from suite.io import write_json_atomic, write_text_atomic

NOMINAL = 0.05


def verdicts_of(number: int, frames: dict, registry=REGISTRY) -> tuple[str, dict[str, str]]:
    """The overall and per-family verdicts of claim ``number`` on simulated family tables."""
    claim = registry[number]
    evs = {family: check_family(claim, frame, []) for family, frame in frames.items()}
    adjusted = adjust_engine({number: evs})
    per_family = {f: family_verdict(ev, *adjusted[(number, f)]) for f, ev in evs.items()}
    return combine_families(per_family)[0], per_family


def _rates(verdicts: list[tuple[str, dict]], target: str) -> tuple[float, float]:
    overall = sum(v == target for v, _ in verdicts) / len(verdicts)
    fams = [fv == target for _, per in verdicts for fv in per.values()]
    return overall, sum(fams) / len(fams)


def calibrate_claim(
    number: int, profile: str, n_sim: int, registry=REGISTRY, n_power: int | None = None
) -> dict:
    """Rates over ``n_sim`` null simulations, power over ``n_power`` (default ``n_sim``)."""
    sizes = PROFILES[profile]
    n_power = n_sim if n_power is None else n_power
    null = [verdicts_of(number, simulate(number, sizes, False, i), registry) for i in range(n_sim)]
    alt = [
        verdicts_of(number, simulate(number, sizes, True, i), registry) for i in range(n_power)
    ] or [("", {"-": ""})]
    fr, fr_family = _rates(null, REPRODUCED)
    fn, fn_family = _rates(null, NOT_REPRODUCED)
    power, power_family = _rates(alt, REPRODUCED)
    return {
        "profile": profile,
        "n_sim": n_sim,
        "n_power": n_power,
        "false_reproduced_rate": fr,
        "false_not_reproduced_rate": fn,
        "power": power,
        "per_family": {
            "false_reproduced_rate": fr_family,
            "false_not_reproduced_rate": fn_family,
            "power": power_family,
        },
        "mc_limit": mc_limit(n_sim),
    }


def mc_limit(n: int, rate: float = NOMINAL) -> float:
    """The largest rate consistent with ``rate`` at n simulations (one-sided, 2 standard errors)."""
    return rate + 2 * math.sqrt(rate * (1 - rate) / n)


def calibrate(profiles=("quick",), n_sim: int = 100, claims=None) -> dict:
    out: dict = {"claims": {}, "profiles": list(profiles), "nominal": NOMINAL}
    for number in claims or list(REGISTRY):
        per_profile = {p: calibrate_claim(number, p, n_sim) for p in profiles}
        first = per_profile[profiles[0]]
        out["claims"][str(number)] = {**first, "profiles": per_profile}
    return out


def table_text(result: dict) -> str:
    """A Markdown table: claim, profile, the two false rates and power, overall (per family)."""
    lines = [
        "| claim | profile | false reproduced | false not reproduced | power | n_sim |",
        "|---|---|---|---|---|---|",
    ]
    for number, entry in result["claims"].items():
        for profile, r in entry["profiles"].items():
            f = r["per_family"]
            lines.append(
                f"| {number} | {profile} | {r['false_reproduced_rate']:.2f} "
                f"({f['false_reproduced_rate']:.2f}) | {r['false_not_reproduced_rate']:.2f} "
                f"({f['false_not_reproduced_rate']:.2f}) | {r['power']:.2f} "
                f"({f['power']:.2f}) | {r['n_sim']} |"
            )
    return "\n".join(lines)


def write(result: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "calibration.json"
    write_json_atomic(path, result)
    write_text_atomic(out / "calibration.md", table_text(result) + "\n")
    return path
