"""The results record: one finished cell, typed.

A record holds the cell (with its draft's facts), the result with one per-prompt shape for both
engines (each engine's extras in a sub-record), provenance, and the clocks under ``timing``, apart
so the rest of a record is reproducible byte for byte. The store writes and reads records; their
JSON layout lives in :mod:`suite.record_json`, and nothing past the store parses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from suite.drafts import DraftFacts, facts_from_name
from suite.studies import Cell

ANALYTIC, EMPIRICAL = "analytic", "empirical"
# Token lengths (characters) from here on share one bucket, shown as "12+".
TOKEN_CHARS_OPEN = 12
# The open bucket of records that do not say theirs: the suite wrote 8 before it recorded it.
LEGACY_TOKEN_CHARS_OPEN = 8


@dataclass(frozen=True)
class Generation:
    """One decoder's output for one prompt."""

    tokens: int
    finish_reason: str | None
    text: str | None


@dataclass(frozen=True)
class EmpiricalPrompt:
    """What speculative decoding did on one prompt, beside the target decoding alone."""

    seed: int | None
    acceptance_rate: float  # accepted / proposed
    steps: int | None
    proposed: int | None
    accepted: int | None
    judged: int | None
    proposed_per_position: tuple[int, ...]
    accepted_per_position: tuple[int, ...]
    identical: bool
    speculative: Generation
    target: Generation


@dataclass(frozen=True)
class PromptResult:
    """One prompt of one cell, the same for both engines; ``empirical`` holds the decoders' extras.

    ``alpha`` is the per-prompt α the statistics use: mean β over the target's continuation
    (analytic) or accepted / judged drafts (empirical), so the two engines compare like for like.
    """

    prompt: str
    alpha: float  # NaN when undefined
    mean_accepted_length: float
    tokens: int  # continuation tokens scored (analytic), tokens emitted (empirical)
    token_chars: float  # mean characters per continuation token; NaN when not measured
    empirical: EmpiricalPrompt | None = None


@dataclass(frozen=True)
class TokenCharBuckets:
    """Σβ and token count by token length in characters; ``open_from`` holds that length and up."""

    open_from: int
    buckets: tuple[tuple[int, float, int], ...]  # (characters, Σβ, tokens), by characters


@dataclass(frozen=True)
class AnalyticResult:
    """The analytic engine's extras: α̂'s bootstrap over prompts and β by token length."""

    confidence_interval: tuple[float, float] | None
    standard_error: float | None
    tokens: int | None
    temperature: float | None
    n_boot: int | None
    confidence_level: float | None
    by_token_chars: TokenCharBuckets


@dataclass(frozen=True)
class EmpiricalResult:
    """The empirical engine's extras: counts over the cell's prompts."""

    judged_acceptance_rate: float
    proposed: int | None
    accepted: int | None
    judged: int | None
    steps: int | None
    tokens_speculative: int | None
    tokens_target: int | None
    identical_outputs: int | None


@dataclass(frozen=True)
class CellResult:
    """α of the whole cell, mean accepted length, acceptance per draft position, and per prompt."""

    acceptance_rate: float
    mean_accepted_length: float
    position_acceptance: tuple[float, ...]
    prompts: tuple[PromptResult, ...]
    analytic: AnalyticResult | None = None
    empirical: EmpiricalResult | None = None


@dataclass(frozen=True)
class ModelProvenance:
    location: str | None
    sha256: str | None


@dataclass(frozen=True)
class Provenance:
    """Where a record came from: code, packages, machine, profile and the models' hashes."""

    git_commit: str | None
    git_dirty: bool | None
    packages: Mapping[str, str | None]
    hardware: Mapping[str, Any]
    profile: str | None
    models: Mapping[str, ModelProvenance]  # role (tokenizer, target, draft) -> model
    # instruction or chat_template (suite.prompts); None in records made before it was recorded,
    # which all used the instruction format
    prompt_format: str | None = None
    # the sha256 of the task spec file its prompts were rendered with (None in older records,
    # which a resume recomputes)
    task: str | None = None


@dataclass(frozen=True)
class PromptTiming:
    speculative_seconds: float | None
    draft_seconds: float | None
    target_seconds: float | None
    baseline_seconds: float | None
    speedup: float | None  # measured γ on this prompt, per emitted token


@dataclass(frozen=True)
class Timing:
    """Clock readings and what is computed from them (c, γ): they differ from run to run."""

    finished_at: str | None
    cost_ratio: float | None = None  # analytic: c, measured on this machine
    projected_speedup: float | None = None
    sample_seconds: float | None = None
    score_seconds: float | None = None
    speedup: float | None = None  # empirical: measured γ over the cell
    speculative_seconds: float | None = None
    baseline_seconds: float | None = None
    per_prompt: tuple[PromptTiming, ...] = ()

    def seconds(self, engine: str) -> float:
        """Time spent computing the cell: sampling and scoring, or both decoders."""
        parts = (
            (self.sample_seconds, self.score_seconds)
            if engine == ANALYTIC
            else (self.speculative_seconds, self.baseline_seconds)
        )
        return float(sum(p or 0.0 for p in parts))


@dataclass(frozen=True)
class ResultRecord:
    """One finished cell."""

    cell: Cell
    result: CellResult
    provenance: Provenance | None
    timing: Timing

    @property
    def key(self) -> str:
        return self.cell.key

    @property
    def engine(self) -> str:
        return self.cell.engine

    @property
    def facts(self) -> DraftFacts:
        """The draft's facts; a record without them (an old one) has them read from the name."""
        return self.cell.draft_facts or facts_from_name(self.cell.draft)

    @property
    def prompt_ids(self) -> tuple[str, ...]:
        return tuple(p.prompt for p in self.result.prompts)

    def prompt_speedups(self) -> tuple[float, ...]:
        """γ per prompt: measured by the clock (empirical), or projected from α and c (analytic)."""
        if self.engine == EMPIRICAL:
            times = self.timing.per_prompt or (None,) * len(self.result.prompts)
            return tuple(nan_if_none(t.speedup) if t else math.nan for t in times)
        k, c = self.cell.num_draft_tokens, nan_if_none(self.timing.cost_ratio)
        return tuple(_projected(p.alpha, k, c) for p in self.result.prompts)


def nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


# The formulas live with the analytic engine, whose package imports torch: imported when used,
# so that reading a results folder's header stays light.


def _projected(alpha: float, k: int, c: float) -> float:
    from suite.acceptance.records import projected_speedup

    if not (math.isfinite(alpha) and math.isfinite(c)):
        return math.nan
    return projected_speedup(min(max(alpha, 0.0), 1.0), k, c)


def accepted_length(alpha: float, k: int) -> float:
    """Mean accepted length for a per-prompt α; NaN when α is undefined."""
    from suite.acceptance.records import mean_accepted_length

    return mean_accepted_length(alpha, k) if math.isfinite(alpha) else math.nan
