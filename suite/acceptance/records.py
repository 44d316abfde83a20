"""Records of the analytic engine and the statistics that fill them: α̂, its interval, and γ.

No models: the unit is the prompt, so the interval of α̂ resamples prompts
(:func:`suite.stats.intervals.ratio_bootstrap`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from suite.decoding.plumbing import check_positive_int
from suite.decoding.sampling import check_temperature
from suite.stats.intervals import CONFIDENCE, ConfidenceInterval, analytic_stream, ratio_bootstrap

CONFIDENCE_LEVEL = CONFIDENCE


@dataclass(frozen=True)
class Continuations:
    """Target samples at ``temperature``, one per prompt, kept so every draft is scored on them."""

    prompts: tuple[tuple[int, ...], ...]
    tokens: tuple[tuple[int, ...], ...]
    temperature: float
    seed: int
    max_new_tokens: int
    eos_token_id: int | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> tuple[int, ...]:
        return self.tokens[index]

    def __iter__(self):
        return iter(self.tokens)


@dataclass(frozen=True)
class AcceptanceResult:
    """α̂ for one draft at one τ_dec, with the per-prompt numbers that paired tests need.

    ``acceptance_rate`` is the token-weighted mean of β; the interval is a percentile bootstrap
    over prompts (the unit of the study), with the same resamples for every draft of a call.
    """

    acceptance_rate: float
    confidence_interval: ConfidenceInterval
    standard_error: float
    prompt_acceptance: tuple[float, ...] = field(repr=False)
    prompt_tokens: tuple[int, ...] = field(repr=False)
    position_acceptance: tuple[float, ...] = field(repr=False)
    tokens: int
    temperature: float
    n_boot: int
    confidence_level: float = CONFIDENCE_LEVEL
    continuations: Continuations | None = field(default=None, repr=False, compare=False)
    # β at every position of every prompt's continuation, for analyses by token.
    prompt_betas: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)

    def mean_accepted_length(self, k: int) -> float:
        return mean_accepted_length(self.acceptance_rate, k)

    def projected_speedup(self, k: int, cost_ratio: float) -> float:
        return projected_speedup(self.acceptance_rate, k, cost_ratio)

    def to_dict(self) -> dict:
        """A JSON-ready record for the results store; the continuations stay out of it."""
        out = asdict(self)
        out.pop("continuations")
        out.pop("prompt_betas")
        out["confidence_interval"] = list(self.confidence_interval)
        out["prompt_acceptance"] = list(self.prompt_acceptance)
        out["prompt_tokens"] = list(self.prompt_tokens)
        out["position_acceptance"] = list(self.position_acceptance)
        return out


def mean_accepted_length(alpha: float, k: int) -> float:
    """(1 − α^{K+1}) / (1 − α) tokens per target forward, summed as Σ_{i≤K} α^i: exact at α = 1."""
    alpha = _check_rate(alpha)
    k = check_positive_int(k, "k")
    return float(sum(alpha**i for i in range(k + 1)))


def projected_speedup(alpha: float, k: int, cost_ratio: float) -> float:
    """γ ≈ mean accepted length / (K·c + 1): one target and K draft forwards per step."""
    cost_ratio = check_temperature(cost_ratio, "cost_ratio")
    return mean_accepted_length(alpha, k) / (k * cost_ratio + 1.0)


def summarize(
    betas: list[np.ndarray], continuations: Continuations, n_boot: int
) -> AcceptanceResult:
    """α̂ as the ratio of sums over prompts (β summed over a prompt's tokens, over its token
    count), and its percentile bootstrap with prompts as the unit, on the stream of the
    continuations' seed."""
    sums = np.array([b.sum() for b in betas])
    counts = np.array([len(b) for b in betas], dtype=np.int64)
    alpha = float(sums.sum() / counts.sum())
    interval, standard_error = ratio_bootstrap(
        sums, counts, n_boot=n_boot, rng=analytic_stream(continuations.seed), level=CONFIDENCE_LEVEL
    )
    grid = np.full((len(betas), int(counts.max())), np.nan)
    for row, b in enumerate(betas):
        grid[row, : len(b)] = b
    filled = np.isfinite(grid).sum(axis=0)  # a column of no finite β has no mean: NaN, said once
    means = np.where(filled > 0, np.nansum(grid, axis=0) / np.maximum(filled, 1), np.nan)
    return AcceptanceResult(
        acceptance_rate=alpha,
        confidence_interval=interval,
        standard_error=standard_error,
        prompt_acceptance=tuple(float(s / c) for s, c in zip(sums, counts, strict=True)),
        prompt_tokens=tuple(int(c) for c in counts),
        position_acceptance=tuple(float(x) for x in means),
        tokens=int(counts.sum()),
        temperature=continuations.temperature,
        n_boot=n_boot,
        continuations=continuations,
        prompt_betas=tuple(betas),
    )


def _check_rate(alpha) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    return value
