"""The analytic engine on a group of cells: the target's continuations sampled once, every draft
of the group scored on them (β per position), one record per cell."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np

from suite.acceptance.engine import sample_continuations, score_continuations
from suite.acceptance.records import mean_accepted_length
from suite.cells.context import Context, Models, examples_of, now
from suite.errors import SpecError
from suite.profiles import DEFAULT_N_BOOT
from suite.prompts import position_limit, prompts_ids
from suite.records import (
    TOKEN_CHARS_OPEN,
    AnalyticResult,
    CellResult,
    PromptResult,
    ResultRecord,
    Timing,
    TokenCharBuckets,
    accepted_length,
)
from suite.studies import Cell

N_BOOT = DEFAULT_N_BOOT  # a profile may set its own (``sizes.analytic.n_boot``)


def lookup_chars(chars: np.ndarray, tokens) -> np.ndarray:
    """Characters of each token; 0 for ids past the tokenizer (a model's vocabulary may be padded
    beyond it: T5's 32,128 rows for 32,100 tokens, or a random model sampling anywhere)."""
    ids = np.asarray(tokens, dtype=np.int64)
    inside = ids < len(chars)
    return np.where(inside, chars[np.where(inside, ids, 0)], 0)


def by_token_chars(
    betas, tokens, chars: np.ndarray, longest: int = TOKEN_CHARS_OPEN
) -> TokenCharBuckets:
    """Σβ and count by token length in characters (the last bucket holds ``longest`` and up)."""
    sums, counts = np.zeros(longest + 1), np.zeros(longest + 1, dtype=np.int64)
    for beta, toks in zip(betas, tokens, strict=True):
        length = np.minimum(lookup_chars(chars, toks[: len(beta)]), longest)
        np.add.at(sums, length, beta)
        np.add.at(counts, length, 1)
    buckets = tuple((n, float(sums[n]), int(counts[n])) for n in range(longest + 1) if counts[n])
    return TokenCharBuckets(longest, buckets)


def _sample(first: Cell, ctx: Context, models: Models, examples):
    """The target's continuations of the group's prompts, and the seconds they took."""
    tokenizer = models.tokenizer()
    target = models.target()
    start = time.perf_counter()
    continuations = sample_continuations(
        target,
        prompts_ids(tokenizer, examples, position_limit(target)),
        temperature=first.decode_temperature,
        max_new_tokens=first.max_new_tokens,
        seed=first.seed,
        eos_token_id=tokenizer.eos_token_id,
        batch_size=ctx.profile.sizes["analytic"].batch_size,
    )
    return continuations, time.perf_counter() - start


def _analytic_result(result, continuations, chars: np.ndarray) -> AnalyticResult:
    return AnalyticResult(
        confidence_interval=tuple(result.confidence_interval),
        standard_error=result.standard_error,
        tokens=result.tokens,
        temperature=result.temperature,
        n_boot=result.n_boot,
        confidence_level=result.confidence_level,
        by_token_chars=by_token_chars(result.prompt_betas, continuations.tokens, chars),
    )


def _analytic_record(
    cell: Cell, result, analytic: AnalyticResult, examples, prompt_chars, c: float, models, seconds
) -> ResultRecord:
    """One cell's record from its draft's scores; ``seconds`` are (sampling, scoring)."""
    k = cell.num_draft_tokens
    prompts = tuple(
        PromptResult(ex.id, alpha, accepted_length(alpha, k), tokens, ch)
        for ex, alpha, tokens, ch in zip(
            examples, result.prompt_acceptance, result.prompt_tokens, prompt_chars, strict=True
        )
    )
    return ResultRecord(
        cell=cell,
        result=CellResult(
            acceptance_rate=result.acceptance_rate,
            mean_accepted_length=mean_accepted_length(result.acceptance_rate, k),
            position_acceptance=tuple(result.position_acceptance),
            prompts=prompts,
            analytic=analytic,
        ),
        provenance=models.provenance(cell.draft, cell.dataset),
        timing=Timing(
            finished_at=now(),
            cost_ratio=c,
            projected_speedup=result.projected_speedup(k, c),
            sample_seconds=seconds[0],
            score_seconds=seconds[1],
        ),
    )


def _finite(result, draft):
    """A draft's scores, or an error naming its model where β is NaN: the target's or the
    draft's probabilities were NaN on these continuations (the record check would only say
    that α is not a number)."""
    if not math.isfinite(result.acceptance_rate):
        message = (
            f"α is {result.acceptance_rate}: the draft's or the target's probabilities are NaN on "
            "these prompts; check the model's weights and config.json's numbers"
        )
        raise SpecError(draft.location, "draft", draft.name, message)
    return result


def run_analytic(cells: list[Cell], ctx: Context) -> Iterator[ResultRecord]:
    """One group: the target's continuations sampled once, each draft scored on them."""
    first = cells[0]
    models = Models(ctx, first.family)
    examples = examples_of(first.dataset, first.split, first.prompts)
    continuations, sample_seconds = _sample(first, ctx, models, examples)
    names = list(dict.fromkeys(c.draft for c in cells))
    start = time.perf_counter()
    # One call for all drafts: the target's logits are computed once for the whole group.
    drafts = {name: models.draft(name) for name in names}
    n_boot = ctx.profile.sizes["analytic"].n_boot
    results = score_continuations(models.target(), drafts, continuations, n_boot=n_boot)
    seconds = (sample_seconds, time.perf_counter() - start)
    chars = models.token_chars()
    prompt_chars = [
        float(lookup_chars(chars, toks).mean()) if toks else float("nan")
        for toks in continuations.tokens
    ]
    for name in names:
        result = _finite(results[name], models.family.drafts[name])
        analytic = _analytic_result(result, continuations, chars)
        c = models.cost_ratio(name)
        for cell in (c_ for c_ in cells if c_.draft == name):
            yield _analytic_record(
                cell, result, analytic, examples, prompt_chars, c, models, seconds
            )
