"""Online KD (token-level): the draft samples responses, then matches the target's distribution.

Each step, the draft (current weights, no grad) samples responses at τ_kd to a batch of training
prompts; at every response position the loss is divergence(p_target at τ_kd, q_draft at τ_kd),
forward KL by default (see ``divergence`` for τ_kd = 0). The batch of step s and its sampling seeds
are functions of s only, so a resumed run repeats an uninterrupted one exactly. For an
encoder-decoder pair the prompts are encoder inputs and the positions are decoder positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from suite.acceptance import sample_continuations
from suite.decoding.sampling import check_temperature
from suite.distill.divergence import DIVERGENCES, per_position
from suite.distill.offline import collate, decoder_start, response_logits
from suite.distill.order import SeededOrder
from suite.distill.precision import model_device, to_device
from suite.seeding import prompt_seed


@dataclass(frozen=True)
class PromptBatch:
    """The prompts of one step, the τ_kd of each row, and the seed its sampling draws from."""

    prompts: tuple[tuple[int, ...], ...]
    temperatures: tuple[float, ...]
    seed: int


class PromptBatches:
    """Step s -> prompts at positions s·B … s·B+B−1 of a per-epoch seeded permutation of the pool.

    With several ``kd_temperatures`` (the data-centric recipe) each row's τ_kd is drawn uniformly
    from a generator seeded by (seed, step).
    """

    def __init__(
        self,
        prompts: Sequence[Sequence[int]],
        batch_size: int,
        seed: int,
        kd_temperatures: Sequence[float],
    ):
        if not prompts:
            raise ValueError("the prompt pool is empty")
        if not kd_temperatures:
            raise ValueError("kd_temperatures is empty")
        self.prompts = tuple(tuple(int(t) for t in p) for p in prompts)
        self.temperatures = tuple(check_temperature(t, "kd_temperature") for t in kd_temperatures)
        self.batch_size, self.seed = batch_size, seed
        self.order = SeededOrder(len(self.prompts), seed)

    def __call__(self, step: int) -> PromptBatch:
        rows = [self.prompts[k] for k in self.order(step, self.batch_size)]
        step_seed = prompt_seed(prompt_seed(self.seed, 1), step)  # a stream of its own
        rng = np.random.default_rng(step_seed)
        draws = rng.integers(0, len(self.temperatures), size=self.batch_size)
        temperatures = tuple(self.temperatures[int(k)] for k in draws)
        return PromptBatch(tuple(rows), temperatures, step_seed)


class OnlineKDLoss:
    """``loss_fn`` of the shared loop: the draft samples, both score, divergence at τ_kd."""

    def __init__(
        self,
        target,
        *,
        divergence: str = "forward_kl",
        max_new_tokens: int,
        eos_token_id: int | None,
        pad_token_id: int = 0,
    ):
        if divergence not in DIVERGENCES:
            raise ValueError(f"divergence must be one of {DIVERGENCES}, got {divergence!r}")
        self.target = target.eval()
        self.divergence = divergence
        self.max_new_tokens = max_new_tokens
        self.eos, self.pad = eos_token_id, pad_token_id

    def responses(self, draft, batch: PromptBatch) -> list[tuple[int, ...]]:
        """The draft's samples, one per row at the row's τ_kd (rows grouped by τ to batch them)."""
        was_training = draft.training
        draft.eval()
        out: list[tuple[int, ...]] = [()] * len(batch.prompts)
        for g, tau in enumerate(sorted(set(batch.temperatures))):
            rows = [i for i, t in enumerate(batch.temperatures) if t == tau]
            samples = sample_continuations(
                draft,
                [batch.prompts[i] for i in rows],
                temperature=tau,
                max_new_tokens=self.max_new_tokens,
                seed=prompt_seed(batch.seed, g),
                eos_token_id=self.eos,
                batch_size=len(rows),
            )
            for i, tokens in zip(rows, samples.tokens, strict=True):
                out[i] = tokens
        draft.train(was_training)
        return out

    def __call__(self, draft, batch: PromptBatch) -> torch.Tensor:
        responses = self.responses(draft, batch)
        rows = list(zip(batch.prompts, responses, strict=True))
        inputs = to_device(collate(rows, self.pad, decoder_start(self.target)), model_device(draft))
        mask = inputs["loss_mask"]
        with torch.no_grad():
            target_logits = response_logits(self.target, inputs)
        draft_logits = response_logits(draft, inputs)
        taus = torch.tensor(batch.temperatures, device=mask.device).unsqueeze(-1).expand_as(mask)
        total = draft_logits.new_zeros((), dtype=torch.float32)
        for tau in sorted(set(batch.temperatures)):
            keep = mask & (taus == tau)  # response positions of the rows sampled at this τ_kd
            values = per_position(self.divergence, target_logits[keep], draft_logits[keep], tau)
            total = total + values.sum()
        return total / mask.sum().clamp_min(1)
