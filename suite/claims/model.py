"""What a claim check reads and returns, the verdict words, the paper's words, and the helpers every
check shares."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from suite import stats
from suite.errors import SpecError
from suite.paths import PAPER_FILE

ALPHA = 0.05
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = (
    "reproduced",
    "not reproduced",
    "inconclusive",
    "not run",
)


@dataclass(frozen=True)
class ClaimData:
    """What a check reads: one engine's per-prompt table of the claim's studies, seeds averaged,
    and the studies' raw cell records when the claim declares ``reads_records``."""

    frame: pd.DataFrame
    records: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    """One engine's answer to one claim, before the adjustment across claims."""

    test: stats.TestResult | None
    direction_ok: bool  # the estimate's interval lies on the paper's side of the null
    pvalue_against: float | None  # a real test in the opposite direction (None: none possible)
    summary: str
    evidence: list[dict] = field(default_factory=list)
    numbers: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. "conditional on one checkpoint"
    families: dict = field(default_factory=dict)  # unused by checks; kept for old callers

    @property
    def units(self) -> int:
        return int(self.test.n) if self.test is not None else 0


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
    pvalue_against_adjusted: float | None = None
    notes: list = field(default_factory=list)
    units: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


WORDS = {"title", "statement", "source"}  # every claim's entry in the paper file has these
PAPER_NUMBERS = "numbers"  # and may list the numbers the paper reports


def load_paper(path: Path = PAPER_FILE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def check_words(paper: dict, numbers: list[int], path: Path = PAPER_FILE) -> None:
    """The paper file holds the words of exactly the registered claims, and nothing but words."""
    claims = paper.get("claims") or {}
    for number in numbers:
        if number not in claims:
            need = ", ".join(sorted(WORDS))
            message = f"claim {number} is registered but has no words here: add its {need}"
            raise SpecError(path, f"claims.{number}", None, message)
    for number, entry in claims.items():
        where = f"claims.{number}"
        if not isinstance(entry, dict):
            raise SpecError(path, where, entry, "expected a mapping with the claim's words")
        if number not in numbers:
            message = f"no claim {number} is registered: decorate its check with @register_claim"
            raise SpecError(path, where, entry.get("title"), message)
        missing = sorted(WORDS - set(entry))
        if missing:
            raise SpecError(path, where, entry, f"missing {', '.join(missing)}")
        for key in sorted(set(entry) - WORDS - {PAPER_NUMBERS}):
            message = "not the paper's words or numbers: declare it in the claim's registration"
            raise SpecError(path, f"{where}.{key}", entry[key], message)


def series(frame: pd.DataFrame, by: list[str]):
    if frame.empty:
        return
    for key, part in frame.groupby(by, sort=True, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), part


def combined(pvalues: list[float]) -> float:
    """Combined one-sided p of several series (mid-p values; scipy's Stouffer)."""
    return stats.combine_pvalues(pvalues, method="stouffer")


def evidence_row(label: dict, result: stats.TestResult) -> dict:
    return {**label, **result.to_dict()}


def empty(summary: str) -> Evaluation:
    return Evaluation(None, False, None, summary)


def seed_groups(frame: pd.DataFrame) -> list[tuple[object, pd.DataFrame]]:
    """The frame's drafts by training seed, in seed order; drafts without a seed (the base draft,
    a submission) form one group."""
    seeds = frame["training_seed"]
    if seeds.isna().all():
        return [(None, frame)]
    return [(s, frame[seeds == s]) for s in sorted(seeds.dropna().unique())]


def seed_note(res: stats.TestResult) -> list[str]:
    if res.details.get("one_checkpoint"):
        return ["conditional on one checkpoint: a single training seed per configuration"]
    return []


def stack_seeds(per_seed: list[pd.Series]) -> np.ndarray:
    """Seeds x prompts from one prompt-indexed Series per seed (prompts present in all)."""
    if not per_seed:
        return np.empty((0, 0))
    wide = pd.concat(per_seed, axis=1).dropna()
    return wide.to_numpy(dtype=float).T


def stack_per_seed(per_seed: dict, combine=pd.concat) -> np.ndarray:
    """Seeds x prompts from {seed: [prompt-indexed Series, ...]}, each seed's parts combined."""
    return stack_seeds([combine(parts) for _, parts in sorted(per_seed.items(), key=str)])


def seed_contrast(
    D: np.ndarray,
    summary,
    *,
    alternative: str = "greater",
    null: float = 0.0,
    label: str = "contrast",
    evidence: list[dict] | None = None,
    evidence_label: dict | None = None,
    numbers: dict | None = None,
) -> Evaluation:
    """A claim decided by one seed-level contrast test (:func:`suite.stats.seed_contrast_test`)
    in the paper's direction, against ``null``; the test against it is the opposite direction
    against 0. ``summary(test)`` words the result; with ``evidence_label`` the test also joins
    the evidence."""
    res = stats.seed_contrast_test(D, alternative=alternative, null=null, label=label)
    opposite = "less" if alternative == "greater" else "greater"
    against = stats.seed_contrast_test(D, alternative=opposite)
    evidence = [] if evidence is None else evidence
    if evidence_label is not None:
        evidence.append(evidence_row(evidence_label, res))
    return Evaluation(
        test=res,
        direction_ok=res.ci[0] > 0 if alternative == "greater" else res.ci[1] < 0,
        pvalue_against=against.pvalue,
        summary=summary(res),
        evidence=evidence,
        numbers=numbers or {},
        notes=seed_note(res),
    )


def prefixed(values: pd.Series, prefix: str) -> pd.Series:
    """A prompt-indexed Series with ``prefix/`` before each prompt (one unit per dataset)."""
    return values.set_axis([f"{prefix}/{p}" for p in values.index])
