"""The empirical engine on one cell: speculative decoding and the target alone on the same prompts
and seeds, interleaved, with every count and clock of each generation."""

from __future__ import annotations

import numpy as np

from suite.acceptance.engine import prompt_seed
from suite.cells.context import Context, Models, examples_of, now
from suite.decoding import generate
from suite.prompts import position_limit, prompts_ids
from suite.records import (
    CellResult,
    EmpiricalPrompt,
    EmpiricalResult,
    Generation,
    PromptResult,
    PromptTiming,
    ResultRecord,
    Timing,
)
from suite.specs import load_task
from suite.studies import Cell
from suite.tokenizer_decode import decode_text


def _decoded(out, tokenizer) -> Generation:
    text = decode_text(tokenizer, out.tokens, skip_special_tokens=True)
    return Generation(len(out.tokens), out.finish_reason, text)


def _decode_both(i: int, ids, target, draft, cell: Cell, seed: int, common: dict):
    """The speculative decoder's and the target's outputs on one prompt."""
    outs = {}
    # Alternate which decoder goes first, so drift in machine load hits both alike.
    for which in ("target", "speculative") if i % 2 == 0 else ("speculative", "target"):
        outs[which] = generate(
            target,
            draft if which == "speculative" else None,
            list(ids),
            num_draft_tokens=cell.num_draft_tokens,
            seed=seed,
            **common,
        )
    return outs["speculative"], outs["target"]


def _empirical_prompt(prompt: str, seed: int, s, t, tokenizer) -> PromptResult:
    st = s.stats
    generated = _decoded(s, tokenizer)
    return PromptResult(
        prompt=prompt,
        # β estimates the judged rate: drafts after a rejection are never judged.
        alpha=st.judged_acceptance_rate,
        mean_accepted_length=st.mean_accepted_length,
        tokens=generated.tokens,
        token_chars=float("nan"),
        empirical=EmpiricalPrompt(
            seed=seed,
            acceptance_rate=st.acceptance_rate,
            steps=st.steps,
            proposed=st.proposed,
            accepted=st.accepted,
            judged=st.judged,
            proposed_per_position=tuple(st.proposed_per_position),
            accepted_per_position=tuple(st.accepted_per_position),
            identical=s.tokens == t.tokens,
            speculative=generated,
            target=_decoded(t, tokenizer),
        ),
    )


def _prompt_timing(s, t) -> PromptTiming:
    st = s.stats
    s_rate = st.wall_seconds / max(len(s.tokens), 1)
    t_rate = t.stats.wall_seconds / max(len(t.tokens), 1)
    return PromptTiming(
        speculative_seconds=st.wall_seconds,
        draft_seconds=st.draft_seconds,
        target_seconds=st.target_seconds,
        baseline_seconds=t.stats.wall_seconds,
        speedup=t_rate / s_rate,
    )


def _empirical_result(per_prompt: list[PromptResult], totals, position) -> CellResult:
    proposed, accepted, judged, steps = (int(x) for x in totals)
    return CellResult(
        acceptance_rate=accepted / proposed if proposed else float("nan"),
        mean_accepted_length=1.0 + accepted / steps if steps else float("nan"),
        position_acceptance=tuple(
            a / n if n else float("nan") for n, a in zip(*position.tolist(), strict=True)
        ),
        prompts=tuple(per_prompt),
        empirical=EmpiricalResult(
            judged_acceptance_rate=accepted / judged if judged else float("nan"),
            proposed=proposed,
            accepted=accepted,
            judged=judged,
            steps=steps,
            tokens_speculative=sum(p.tokens for p in per_prompt),
            tokens_target=sum(p.empirical.target.tokens for p in per_prompt),
            identical_outputs=sum(p.empirical.identical for p in per_prompt),
        ),
    )


def _empirical_timing(result: CellResult, timing: list[PromptTiming]) -> Timing:
    spec_tokens = result.empirical.tokens_speculative
    base_tokens = result.empirical.tokens_target
    spec_seconds = sum(t.speculative_seconds for t in timing)
    base_seconds = sum(t.baseline_seconds for t in timing)
    return Timing(
        finished_at=now(),
        speedup=(base_seconds / max(base_tokens, 1)) / (spec_seconds / max(spec_tokens, 1)),
        speculative_seconds=spec_seconds,
        baseline_seconds=base_seconds,
        per_prompt=tuple(timing),
    )


def run_empirical(cell: Cell, ctx: Context) -> ResultRecord:
    """Speculative decoding and the target alone on the same prompts and seeds, interleaved."""
    models = Models(ctx, cell.family)
    tokenizer, target, draft = models.tokenizer(), models.target(), models.draft(cell.draft)
    spec = load_task(cell.dataset)
    examples = examples_of(cell.dataset, cell.split, cell.prompts)
    common = dict(
        temperature=cell.decode_temperature,
        max_new_tokens=cell.max_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        stop_strings=spec.stop,
        tokenizer=tokenizer,
    )
    per_prompt: list[PromptResult] = []
    timing: list[PromptTiming] = []
    totals = np.zeros(4, dtype=np.int64)  # proposed, accepted, judged, steps
    position = np.zeros((2, cell.num_draft_tokens), dtype=np.int64)
    for i, ids in enumerate(prompts_ids(tokenizer, examples, position_limit(target))):
        seed = prompt_seed(cell.seed, i)
        s, t = _decode_both(i, ids, target, draft, cell, seed, common)
        st = s.stats
        totals += (st.proposed, st.accepted, st.judged, st.steps)
        position += np.array([st.proposed_per_position, st.accepted_per_position])
        per_prompt.append(_empirical_prompt(examples[i].id, seed, s, t, tokenizer))
        timing.append(_prompt_timing(s, t))
    result = _empirical_result(per_prompt, totals, position)
    provenance = models.provenance(cell.draft, cell.dataset)
    return ResultRecord(
        cell=cell, result=result, provenance=provenance, timing=_empirical_timing(result, timing)
    )
