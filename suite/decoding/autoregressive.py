"""Target-only sampling through the same sampling function and seed handling as the decoder."""

from __future__ import annotations

import time

import torch

from suite.decoding.plumbing import cached_model, check_positive_int, start_generation
from suite.decoding.sampling import check_temperature, probs_from_logits, sample
from suite.decoding.speculative import GenerationResult, GenerationStats


def autoregressive_generate(
    target,
    input_ids,
    *,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    eos_token_id: int | None = None,
    stop_strings: tuple[str, ...] | list[str] = (),
    tokenizer=None,
) -> GenerationResult:
    """The baseline γ is measured against: one target forward per token.

    Encoder-decoder targets as in ``speculative_generate``: the prompt is encoded once.
    """
    temperature = check_temperature(temperature)
    check_positive_int(max_new_tokens, "max_new_tokens")
    stop, prompt, seq, generator = start_generation(
        target, input_ids, seed, eos_token_id, stop_strings, tokenizer
    )
    n_prompt = len(seq)
    model = cached_model(target, prompt)
    stats = GenerationStats()
    start = time.perf_counter()
    with torch.inference_mode():
        while True:
            logits = model.extend(seq, len(seq), keep=1)[-1].cpu()
            p = probs_from_logits(logits, temperature, "target")
            seq.append(int(sample(p, generator)))
            stats.steps += 1
            finish = stop.finished(seq, n_prompt, len(seq) - n_prompt - 1, max_new_tokens)
            if finish is not None:
                break
    stats.wall_seconds = time.perf_counter() - start
    stats.target_seconds = model.seconds
    return GenerationResult.of(seq, n_prompt, stats, finish)
