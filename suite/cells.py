"""Running cells: the analytic engine on a group of cells, the decoders on one empirical cell.

Everything random is seeded from the cell, so a cell's record (:class:`suite.records.ResultRecord`)
is the same on every run except its ``timing`` (clocks, and what is computed from them: c, γ).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import torch
import transformers

from suite.acceptance.engine import prompt_seed, sample_continuations, score_continuations
from suite.acceptance.records import mean_accepted_length
from suite.data import load_examples
from suite.decoding import autoregressive_generate, speculative_generate
from suite.models import load_model, load_tokenizer
from suite.paths import portable_path
from suite.profiles import ModelRef, Profile
from suite.prompts import ensure_pad, prompt_format, prompts_ids
from suite.provenance import code_version, hardware, packages
from suite.records import (
    TOKEN_CHARS_OPEN,
    AnalyticResult,
    CellResult,
    EmpiricalPrompt,
    EmpiricalResult,
    Generation,
    ModelProvenance,
    PromptResult,
    PromptTiming,
    Provenance,
    ResultRecord,
    Timing,
    TokenCharBuckets,
    accepted_length,
)
from suite.specs import load_task
from suite.studies import Cell

N_BOOT = 1000
transformers.utils.logging.disable_progress_bar()
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Context:
    """What a worker needs besides the cells: the profile (models, sizes) and model hashes."""

    profile: Profile
    fingerprints: dict[str, str]  # model location -> sha256 (or Hub id@revision)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@functools.lru_cache(maxsize=64)
def _model(location: str, revision: str | None, dtype: str, device: str):
    model = load_model(location, dtype=_DTYPES[dtype], revision=revision)
    return model.to(device)


@functools.lru_cache(maxsize=8)
def _tokenizer(location: str, revision: str | None):
    return ensure_pad(load_tokenizer(location, revision=revision))


# c per (target, draft architecture), measured once per process: drafts of one architecture cost
# the same per token, and timing each checkpoint apart turned clock noise into differences
# between drafts (0.065, 0.097 and 0.18 for one architecture in one smoke run).
_COST_RATIOS: dict[tuple, dict] = {}
COST_ROUNDS = 10


def architecture(model) -> str:
    """The draft's architecture: its config without names, paths and versions."""
    config = model.config.to_diff_dict()
    for key in ("_name_or_path", "name_or_path", "transformers_version", "torch_dtype", "dtype"):
        config.pop(key, None)
    return json.dumps(config, sort_keys=True, default=str)


def _cost_ratio(target: ModelRef, draft: ModelRef, dtype: str, device: str) -> float:
    """c of the draft's architecture against the target: the median over paired rounds of
    blocked repeats (``torch.utils.benchmark``, :func:`suite.timing.blocked_cost_ratio`)."""
    from suite.timing import blocked_cost_ratio

    target_model = _model(target.location, target.revision, dtype, device)
    draft_model = _model(draft.location, draft.revision, dtype, device)
    key = (target, architecture(draft_model), dtype, device)
    if key not in _COST_RATIOS:
        _COST_RATIOS[key] = blocked_cost_ratio(
            target_model, draft_model, context_tokens=32, rounds=COST_ROUNDS
        )
    return _COST_RATIOS[key]["cost_ratio"]


@functools.lru_cache(maxsize=8)
def _token_chars(location: str, revision: str | None) -> np.ndarray:
    """Characters of each vocabulary entry's decoded text, surrounding whitespace stripped."""
    tokenizer = _tokenizer(location, revision)
    return np.array([len(tokenizer.decode([i]).strip()) for i in range(len(tokenizer))])


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


@functools.lru_cache(maxsize=32)
def _examples(dataset: str, split: str, prompts: int):
    return load_examples(dataset, split, limit=prompts)


class Models:
    """Loads models of one family once per process, on the profile's device and dtype."""

    def __init__(self, ctx: Context, family: str):
        self.ctx = ctx
        self.family = ctx.profile.models[family]
        self.device = resolve_device(ctx.profile.device)
        self.dtype = ctx.profile.dtype

    def load(self, ref: ModelRef):
        return _model(ref.location, ref.revision, self.dtype, self.device)

    def target(self):
        return self.load(self.family.target)

    def draft(self, name: str):
        return self.load(self.family.drafts[name])

    def tokenizer(self):
        ref = self.family.tokenizer
        return _tokenizer(ref.location, ref.revision)

    def token_chars(self) -> np.ndarray:
        ref = self.family.tokenizer
        return _token_chars(ref.location, ref.revision)

    def cost_ratio(self, name: str) -> float:
        draft = self.family.drafts[name]
        return _cost_ratio(self.family.target, draft, self.dtype, self.device)

    def provenance(self, draft: str) -> Provenance:
        fp = self.ctx.fingerprints
        refs = {
            "tokenizer": self.family.tokenizer,
            "target": self.family.target,
            "draft": self.family.drafts[draft],
        }
        code = code_version()
        return Provenance(
            git_commit=code["git_commit"],
            git_dirty=code["git_dirty"],
            packages=packages(),
            hardware=hardware(self.device),
            profile=self.ctx.profile.name,
            prompt_format=prompt_format(self.tokenizer()),
            models={
                role: ModelProvenance(_portable(ref), fp.get(ref.location))
                for role, ref in refs.items()
            },
        )


def _portable(ref: ModelRef) -> str:
    """Bundle paths relative to the repository, so records do not depend on the checkout path."""
    if ref.path is None:
        return f"{ref.hub}@{ref.revision or 'main'}"
    return portable_path(ref.path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _prompt_ids(tokenizer, examples) -> list[list[int]]:
    return prompts_ids(tokenizer, examples)


def _sample(first: Cell, ctx: Context, models: Models, examples):
    """The target's continuations of the group's prompts, and the seconds they took."""
    tokenizer = models.tokenizer()
    start = time.perf_counter()
    continuations = sample_continuations(
        models.target(),
        _prompt_ids(tokenizer, examples),
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
        provenance=models.provenance(cell.draft),
        timing=Timing(
            finished_at=_now(),
            cost_ratio=c,
            projected_speedup=result.projected_speedup(k, c),
            sample_seconds=seconds[0],
            score_seconds=seconds[1],
        ),
    )


def run_analytic(cells: list[Cell], ctx: Context) -> Iterator[ResultRecord]:
    """One group: the target's continuations sampled once, each draft scored on them."""
    first = cells[0]
    models = Models(ctx, first.family)
    examples = _examples(first.dataset, first.split, first.prompts)
    continuations, sample_seconds = _sample(first, ctx, models, examples)
    names = list(dict.fromkeys(c.draft for c in cells))
    start = time.perf_counter()
    # One call for all drafts: the target's logits are computed once for the whole group.
    results = score_continuations(
        models.target(), {name: models.draft(name) for name in names}, continuations, n_boot=N_BOOT
    )
    seconds = (sample_seconds, time.perf_counter() - start)
    chars = models.token_chars()
    prompt_chars = [
        float(lookup_chars(chars, toks).mean()) if toks else float("nan")
        for toks in continuations.tokens
    ]
    for name in names:
        result = results[name]
        analytic = _analytic_result(result, continuations, chars)
        c = models.cost_ratio(name)
        for cell in (c_ for c_ in cells if c_.draft == name):
            yield _analytic_record(
                cell, result, analytic, examples, prompt_chars, c, models, seconds
            )


def _decoded(out, tokenizer) -> Generation:
    text = tokenizer.decode(out.tokens, skip_special_tokens=True)
    return Generation(len(out.tokens), out.finish_reason, text)


def _decode_both(i: int, ids, target, draft, cell: Cell, seed: int, common: dict):
    """The speculative decoder's and the target's outputs on one prompt."""
    outs = {}
    # Alternate which decoder goes first, so drift in machine load hits both alike.
    for which in ("target", "speculative") if i % 2 == 0 else ("speculative", "target"):
        if which == "target":
            outs[which] = autoregressive_generate(target, list(ids), seed=seed, **common)
        else:
            outs[which] = speculative_generate(
                target,
                draft,
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
        finished_at=_now(),
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
    examples = _examples(cell.dataset, cell.split, cell.prompts)
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
    for i, ids in enumerate(_prompt_ids(tokenizer, examples)):
        seed = prompt_seed(cell.seed, i)
        s, t = _decode_both(i, ids, target, draft, cell, seed, common)
        st = s.stats
        totals += (st.proposed, st.accepted, st.judged, st.steps)
        position += np.array([st.proposed_per_position, st.accepted_per_position])
        per_prompt.append(_empirical_prompt(examples[i].id, seed, s, t, tokenizer))
        timing.append(_prompt_timing(s, t))
    result = _empirical_result(per_prompt, totals, position)
    provenance = models.provenance(cell.draft)
    return ResultRecord(
        cell=cell, result=result, provenance=provenance, timing=_empirical_timing(result, timing)
    )


def execute_unit(unit: tuple[str, list], ctx: Context):
    """Records of one unit of work: an analytic group (one call) or one empirical cell."""
    engine, cells = unit
    if engine == "analytic":
        yield from run_analytic(cells, ctx)
    else:
        yield run_empirical(cells[0], ctx)
