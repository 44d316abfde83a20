"""c, the draft's cost per token relative to the target's, measured on this machine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from suite.decoding.plumbing import check_pair, check_positive_int, vocab_size


@dataclass(frozen=True)
class CostRatio:
    """c = draft / target per-token forward latency at batch 1, measured on this machine."""

    target_seconds: float
    draft_seconds: float
    cost_ratio: float
    context_tokens: int
    repeats: int


def measure_cost_ratio(
    target,
    draft,
    *,
    context_tokens: int = 32,
    repeats: int = 30,
    warmup: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> CostRatio:
    """Per-token forward latency at batch 1 with a KV cache over ``context_tokens``, and c.

    Target and draft forwards alternate, so a load change on the machine hits both alike; each
    latency is the median of ``repeats`` single-token forwards after ``warmup`` untimed ones.
    """
    check_pair(target, draft)
    check_positive_int(context_tokens, "context_tokens")
    check_positive_int(repeats, "repeats")
    check_positive_int(warmup, "warmup", minimum=0)
    vocab = vocab_size(target)
    context = torch.arange(context_tokens, dtype=torch.long)[None] % vocab
    step = torch.tensor([[context_tokens % vocab]], dtype=torch.long)
    models = (target, draft)
    times: tuple[list[float], list[float]] = ([], [])
    with torch.inference_mode():
        caches = []
        for model in models:
            cache = DynamicCache(config=model.config)
            model(input_ids=context.to(_device(model)), cache=cache, use_cache=True)
            caches.append(cache)
        for r in range(warmup + repeats):
            for model, cache, spent in zip(models, caches, times, strict=True):
                ids = step.to(_device(model))
                _synchronize(model)
                start = clock()
                model(input_ids=ids, cache=cache, use_cache=True)
                _synchronize(model)
                elapsed = clock() - start
                cache.crop(-1)  # negative: tokens to remove, so the context length stays put
                if r >= warmup:
                    spent.append(elapsed)
    target_seconds = statistics.median(times[0])
    draft_seconds = statistics.median(times[1])
    return CostRatio(
        target_seconds=target_seconds,
        draft_seconds=draft_seconds,
        cost_ratio=draft_seconds / target_seconds,
        context_tokens=context_tokens,
        repeats=repeats,
    )


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _synchronize(model) -> None:
    device = _device(model)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
