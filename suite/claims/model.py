"""What a claim check returns, the verdict words, and the helpers every check shares."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats as sps

from suite import stats
from suite.profiles import REPO_ROOT

PAPER_FILE = REPO_ROOT / "reference" / "paper.yaml"
ALPHA = 0.05
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = (
    "reproduced",
    "not reproduced",
    "inconclusive",
    "not run",
)


@dataclass(frozen=True)
class Evaluation:
    """One engine's answer to one claim, before the adjustment across claims."""

    test: stats.TestResult | None
    direction_ok: bool  # the estimate's interval lies on the paper's side of the null
    contradicted: bool  # a test in the opposite direction is significant
    summary: str
    evidence: list[dict] = field(default_factory=list)
    numbers: dict = field(default_factory=dict)
    families: dict = field(default_factory=dict)  # family -> its own answer, when several ran


@dataclass(frozen=True)
class ClaimResult:
    number: int
    title: str
    statement: str
    source: str
    paper_numbers: list
    engine: str
    verdict: str
    rule: str
    summary: str
    test: dict | None
    pvalue_adjusted: float | None
    evidence: list[dict]
    numbers: dict
    families: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def load_paper(path: Path = PAPER_FILE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def series(frame: pd.DataFrame, by: list[str]):
    if frame.empty:
        return
    for key, part in frame.groupby(by, sort=True, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), part


def stouffer(pvalues: list[float]) -> float:
    """Combined one-sided p of several series (the claim holds 'typically', not 'always')."""
    p = np.clip(np.array([x for x in pvalues if np.isfinite(x)]), 1e-300, 1 - 1e-16)
    if p.size == 0:
        return float("nan")
    z = sps.norm.isf(p).sum() / math.sqrt(p.size)
    return float(sps.norm.sf(z))


def evidence_row(label: dict, result: stats.TestResult) -> dict:
    return {**label, **result.to_dict()}


def empty(summary: str) -> Evaluation:
    return Evaluation(None, False, False, summary)
