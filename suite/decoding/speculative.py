"""The reference speculative decoder: lossless at every temperature, batch size 1."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from suite.decoding.plumbing import (
    cached_model,
    check_pair,
    check_positive_int,
    start_generation,
)
from suite.decoding.sampling import check_temperature, probs_from_logits, sample, verify_block
from suite.specs import MAX_DRAFT_TOKENS


@dataclass
class GenerationStats:
    """What one generation measured. Timing fields are the only non-deterministic ones."""

    steps: int = 0
    proposed: int = 0
    accepted: int = 0
    judged: int = 0
    proposed_per_position: list[int] = field(default_factory=list)
    accepted_per_position: list[int] = field(default_factory=list)
    tokens_emitted: int = 0
    draft_seconds: float = 0.0
    target_seconds: float = 0.0
    wall_seconds: float = 0.0

    TIMING_FIELDS = ("draft_seconds", "target_seconds", "wall_seconds")

    def add_block(self, proposed: int, accepted: int) -> None:
        """Count one verification step: ``proposed`` drafts, the first ``accepted`` kept."""
        self.steps += 1
        self.proposed += proposed
        self.accepted += accepted
        self.judged += min(proposed, accepted + 1)  # drafts after a rejection are never judged
        for i in range(proposed):
            self.proposed_per_position[i] += 1
            self.accepted_per_position[i] += int(i < accepted)

    @property
    def acceptance_rate(self) -> float:
        """α: accepted draft tokens / proposed draft tokens (NaN when nothing was proposed)."""
        return self.accepted / self.proposed if self.proposed else float("nan")

    @property
    def judged_acceptance_rate(self) -> float:
        """Accepted / judged: drafts after a rejection are never judged by the target.

        This is the per-token acceptance that β = Σ min(p, q) estimates and that the formula
        (1 − α^{K+1}) / (1 − α) assumes.
        """
        return self.accepted / self.judged if self.judged else float("nan")

    @property
    def mean_accepted_length(self) -> float:
        """Tokens per target forward: 1 + accepted per step."""
        return 1.0 + self.accepted / self.steps if self.steps else float("nan")

    @property
    def position_acceptance(self) -> list[float]:
        """Acceptance rate at each draft position (1-based position i at index i-1)."""
        return [
            a / n if n else float("nan")
            for a, n in zip(self.accepted_per_position, self.proposed_per_position, strict=True)
        ]

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(
            acceptance_rate=self.acceptance_rate,
            judged_acceptance_rate=self.judged_acceptance_rate,
            mean_accepted_length=self.mean_accepted_length,
            position_acceptance=self.position_acceptance,
        )
        return out


@dataclass
class GenerationResult:
    tokens: list[int]
    stats: GenerationStats
    finish_reason: str  # "length", "eos" or "stop"

    @classmethod
    def of(cls, seq: list[int], n_prompt: int, stats: GenerationStats, finish: str):
        """The tokens after the prompt, counted in ``stats``."""
        tokens = seq[n_prompt:]
        stats.tokens_emitted = len(tokens)
        return cls(tokens=tokens, stats=stats, finish_reason=finish)


def _draft(d_model, seq: list[int], k: int, temperature: float, generator) -> list:
    """Extend ``seq`` in place by ``k`` draft samples; their distributions q, one row each."""
    q_rows = []
    for _ in range(k):
        q = probs_from_logits(d_model.extend(seq, len(seq), keep=1)[-1].cpu(), temperature, "draft")
        q_rows.append(q)
        seq.append(int(sample(q, generator)))
    return q_rows


def speculative_generate(
    target,
    draft,
    input_ids,
    *,
    num_draft_tokens: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    eos_token_id: int | None = None,
    stop_strings: tuple[str, ...] | list[str] = (),
    tokenizer=None,
) -> GenerationResult:
    """Sample from ``target`` at ``temperature`` with ``draft`` proposing ``num_draft_tokens``.

    The output is distributed exactly as ``autoregressive_generate(target, ...)``; at
    temperature 0 it is token-identical to the target's greedy decoding. For an encoder-decoder
    pair ``input_ids`` is the encoder input and ``tokens`` are decoder tokens after the start one.
    """
    temperature = check_temperature(temperature)
    # K sizes the per-position statistics: at most the plans' ceiling
    k_max = check_positive_int(num_draft_tokens, "num_draft_tokens", maximum=MAX_DRAFT_TOKENS)
    check_positive_int(max_new_tokens, "max_new_tokens")
    check_pair(target, draft)
    stop, prompt, seq, generator = start_generation(
        target, input_ids, seed, eos_token_id, stop_strings, tokenizer
    )
    n_prompt = len(seq)
    stats = GenerationStats(proposed_per_position=[0] * k_max, accepted_per_position=[0] * k_max)
    t_model, d_model = cached_model(target, prompt), cached_model(draft, prompt)
    start = time.perf_counter()
    with torch.inference_mode():
        while True:
            base = len(seq)
            # Never draft past the budget: the last token of a block is the target's own.
            k = min(k_max, max_new_tokens - (base - n_prompt) - 1)
            q_rows = _draft(d_model, seq, k, temperature, generator)
            # Sampling and verification run on the CPU (its generator), whatever the device.
            logits = t_model.extend(seq, len(seq), keep=k + 1).cpu()
            p = probs_from_logits(logits, temperature, "target")
            q_block = torch.stack(q_rows) if q_rows else p.new_zeros(0, p.shape[-1])
            drafted = torch.tensor([seq[base:]], dtype=torch.long)
            n_acc, nxt = verify_block(p[None], q_block[None], drafted, generator)
            n_acc = int(n_acc)
            del seq[base + n_acc :]
            seq.append(int(nxt))
            t_model.rollback(len(seq) - 1)
            d_model.rollback(len(seq) - 1)
            stats.add_block(k, n_acc)
            finish = stop.finished(seq, n_prompt, base - n_prompt, max_new_tokens)
            if finish is not None:
                break
    stats.wall_seconds = time.perf_counter() - start
    stats.draft_seconds = d_model.seconds
    stats.target_seconds = t_model.seconds
    return GenerationResult.of(seq, n_prompt, stats, finish)
