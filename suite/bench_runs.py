"""Timed generations for the benchmark: the target alone, our decoder and transformers' assisted
generation, per prompt, for every draft and K, under one outer clock.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from suite.acceptance import prompt_seed
from suite.decoding import generate
from suite.timing import blocked_cost_ratio

METHODS = ("target", "speculative", "assisted")
PROMPT_LENGTHS = (16, 32)
_ORDER_STREAM = 0x4F524452


@dataclass(frozen=True)
class Run:
    """One timed generation; forward counts come from hooks, the same for every method."""

    method: str
    prompt_index: int
    seed: int
    tokens: int
    seconds: float
    target_forwards: int
    draft_forwards: int
    steps: int
    proposed: int
    accepted: int
    judged: int | None = None
    target_seconds: float | None = None
    draft_seconds: float | None = None
    tokens_match_target: bool | None = None
    tokens_match_speculative: bool | None = None
    draft: str | None = None
    num_draft_tokens: int | None = None

    @property
    def ms_per_token(self) -> float:
        return 1000.0 * self.seconds / self.tokens


@dataclass(frozen=True)
class Job:
    """What one timed call runs: a method, and for the two speculative ones a draft and K."""

    method: str
    draft: str | None = None
    num_draft_tokens: int | None = None


class ForwardCounter:
    """Forward calls of the target and of any draft: our only window into assisted generation."""

    def __init__(self, target, drafts):
        self.target = self.draft = 0
        self._handles = [target.register_forward_pre_hook(lambda *_: self._bump("target"))]
        self._handles += [
            draft.register_forward_pre_hook(lambda *_: self._bump("draft")) for draft in drafts
        ]

    def _bump(self, name: str) -> None:
        setattr(self, name, getattr(self, name) + 1)

    def read(self) -> tuple[int, int]:
        return self.target, self.draft

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def make_prompts(count: int, vocab_size: int, seed: int, lengths=PROMPT_LENGTHS) -> list[list[int]]:
    """Random token prompts: random models have no text, and the decoders see only ids."""
    rng = np.random.default_rng(np.random.SeedSequence((seed, 0x50524F4D)))
    return [
        rng.integers(0, vocab_size, size=int(rng.integers(lengths[0], lengths[1] + 1))).tolist()
        for _ in range(count)
    ]


def assistant_settings(num_draft_tokens: int) -> dict:
    """K for assisted generation where transformers reads it: the draft's generation_config.

    ``AssistedCandidateGenerator`` copies ``num_assistant_tokens``, its schedule and the
    confidence threshold from the assistant's config; a threshold of 0 (falsy) adds no
    ``ConfidenceCriteria`` and skips the threshold's adaptation, so drafting never stops early.
    """
    return {
        "num_assistant_tokens": num_draft_tokens,
        "num_assistant_tokens_schedule": "constant",
        "assistant_confidence_threshold": 0.0,
    }


def assisted_kwargs(
    temperature: float, max_new_tokens: int, num_draft_tokens: int, eos_token_id: int | None = None
) -> dict:
    """generate() arguments of assisted generation; it stops at ``eos_token_id`` as ours do."""
    kwargs = {
        "do_sample": temperature > 0,
        "top_k": 0,
        "top_p": 1.0,
        "max_new_tokens": max_new_tokens,
        "eos_token_id": eos_token_id,
        "pad_token_id": eos_token_id if eos_token_id is not None else 0,
        **assistant_settings(num_draft_tokens),
    }
    if eos_token_id is None:  # a model that has an EOS in its config must not stop on it
        kwargs["min_new_tokens"] = max_new_tokens
    if temperature > 0:
        kwargs["temperature"] = temperature
    return kwargs


def eos_of(pair) -> int | None:
    """The EOS every method stops at: the tokenizer's (a bundled pair), else none (random ids)."""
    return getattr(pair.tokenizer, "eos_token_id", None) if pair.tokenizer is not None else None


def _generate(job: Job, pair, prompt, *, seed: int, temperature: float, max_new_tokens: int):
    """Run one job under the outer clock: (tokens, seconds, our stats or None).

    Every method stops at the pair's EOS, as a served model does: tokens a finished answer would
    never contain are not timed (greedy outputs, and so their lengths, are equal across methods).
    """
    eos = eos_of(pair)
    draft = None if job.method == "target" else pair.drafts[job.draft]
    if job.method in ("target", "speculative"):
        start = time.perf_counter()
        out = generate(
            pair.target,
            draft,
            prompt,
            num_draft_tokens=job.num_draft_tokens,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            seed=seed,
            eos_token_id=eos,
        )
        return out.tokens, time.perf_counter() - start, out.stats
    kwargs = assisted_kwargs(temperature, max_new_tokens, job.num_draft_tokens, eos)
    for key, value in assistant_settings(job.num_draft_tokens).items():
        setattr(draft.generation_config, key, value)
    ids = torch.tensor([prompt], dtype=torch.long)
    torch.manual_seed(seed)  # transformers samples from the global generator
    start = time.perf_counter()
    seq = pair.target.generate(
        ids, attention_mask=torch.ones_like(ids), assistant_model=draft, **kwargs
    )
    return seq[0, len(prompt) :].tolist(), time.perf_counter() - start, None


def run_one(job: Job, pair, prompt, *, index, seed, temperature, max_new_tokens, counter):
    """Time one generation with the same outer clock for every method; (Run, tokens)."""
    before = counter.read()
    tokens, seconds, stats = _generate(
        job, pair, prompt, seed=seed, temperature=temperature, max_new_tokens=max_new_tokens
    )
    t_fw, d_fw = (a - b for a, b in zip(counter.read(), before, strict=True))
    judged = None
    if job.method == "speculative":
        steps, proposed, accepted, judged = (
            stats.steps,
            stats.proposed,
            stats.accepted,
            stats.judged,
        )
    elif job.method == "assisted":
        # One target forward per step, one draft forward per drafted token; each step emits its
        # accepted tokens plus one of the target's.
        steps, proposed, accepted = t_fw, d_fw, len(tokens) - t_fw
    else:
        steps, proposed, accepted = t_fw, 0, 0
    run = Run(
        method=job.method,
        prompt_index=index,
        seed=seed,
        tokens=len(tokens),
        seconds=seconds,
        target_forwards=t_fw,
        draft_forwards=d_fw,
        steps=steps,
        proposed=proposed,
        accepted=accepted,
        judged=judged,
        target_seconds=stats.target_seconds if stats else None,
        draft_seconds=stats.draft_seconds if stats else None,
        draft=job.draft,
        num_draft_tokens=job.num_draft_tokens,
    )
    return run, tokens


def sweep_jobs(drafts, ks) -> list[Job]:
    """The target once, then ours and assisted generation for every draft and K."""
    return [Job("target")] + [
        Job(method, draft, k) for draft in drafts for k in ks for method in METHODS[1:]
    ]


def job_order(jobs: list[Job], seed: int, index: int) -> list[Job]:
    """A seeded shuffle per prompt: drift in the machine's load spreads over every job."""
    rng = np.random.default_rng(np.random.SeedSequence((seed, index, _ORDER_STREAM)))
    return [jobs[i] for i in rng.permutation(len(jobs))]


def with_matches(runs: list[Run], outputs: dict[Job, list[int]], temperature: float) -> list[Run]:
    """Greedy outputs must equal the target's; sampled ones only where the random streams agree.

    Seeded alike, transformers' global generator and ours draw the same numbers in the same order
    (draft samples, acceptance uniforms, residual sample; observed with transformers 5.24), so
    assisted generation's tokens equal ours at every τ; a mismatch there is worth a look.
    """
    target = outputs[Job("target")]
    marked = []
    for run in runs:
        job = Job(run.method, run.draft, run.num_draft_tokens)
        ours = outputs.get(Job("speculative", run.draft, run.num_draft_tokens))
        marked.append(
            replace(
                run,
                tokens_match_target=outputs[job] == target if temperature == 0 else None,
                tokens_match_speculative=outputs[job] == ours if run.method == "assisted" else None,
            )
        )
    return marked


def time_temperature(pair, prompts, temperature, args, counter) -> tuple[list[Run], dict]:
    """Warm up, measure c per draft, then run every job per prompt in a seeded order.

    Returns the runs and c per draft label.
    """
    seeds = [prompt_seed(args.seed, i) for i in range(len(prompts))]
    jobs = sweep_jobs(pair.drafts, args.num_draft_tokens)
    common = {"temperature": temperature, "max_new_tokens": args.max_new_tokens}
    common["counter"] = counter
    warmups = [Job("target")] + [
        Job(m, d, args.num_draft_tokens[0]) for d in pair.drafts for m in METHODS[1:]
    ]
    for job in warmups:
        run_one(job, pair, prompts[0], index=-1, seed=seeds[0], **common)
    context = round(statistics.fmean(len(p) for p in prompts)) + args.max_new_tokens // 2
    costs = {
        label: blocked_cost_ratio(
            pair.target,
            draft,
            context_tokens=context,
            min_run_time=args.cost_run_time,
            rounds=args.cost_rounds,
        )
        for label, draft in pair.drafts.items()
    }
    runs: list[Run] = []
    for i, (prompt, seed) in enumerate(zip(prompts, seeds, strict=True)):
        outputs, mine = {}, []
        for job in job_order(jobs, args.seed, i):
            run, outputs[job] = run_one(job, pair, prompt, index=i, seed=seed, **common)
            mine.append(run)
        runs += with_matches(mine, outputs, temperature)
    print(f"τ_dec {temperature}: {len(prompts)} prompts × {len(jobs)} jobs timed", flush=True)
    return runs, costs
