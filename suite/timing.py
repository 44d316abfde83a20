"""Clocks and records shared by the benchmarks: machine facts, atomic JSON, and c timed robustly.

The benchmarks (``bench``, ``bench_executors``, ``quality``) import from here, never from each
other, so no benchmark module needs another one loaded.
"""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path

import torch
import transformers
from torch.utils.benchmark import Timer

from suite import io
from suite.decoding.plumbing import check_pair, check_positive_int, prefilled

TIMER = "torch.utils.benchmark.Timer.blocked_autorange"


def machine_info() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "dtype": "float32",
    }


def model_info(model) -> dict:
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": model.config.to_diff_dict(),
    }


def write_json_atomic(path: Path, payload: dict) -> None:
    """A benchmark's JSON, atomically (readers of ``latest.json`` never see half a file), keys in
    the order the benchmark builds them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    io.write_json_atomic(path, payload, sort_keys=False)


def _one_token_forward(model, context_tokens: int):
    """A callable feeding ``model`` one token over a cache of ``context_tokens`` and dropping it
    again, so every call sees the same context (as ``measure_cost_ratio`` sets it up)."""
    wrapper, sequence = prefilled(model, context_tokens)

    def forward() -> None:
        with torch.inference_mode():
            wrapper.extend(sequence, len(sequence), 1)
            wrapper.rollback(len(sequence) - 1)

    return forward


def blocked_cost_ratio(
    target, draft, *, context_tokens: int, min_run_time: float = 0.02, rounds: int = 30
) -> dict:
    """c = draft / target one-token forward latency, from blocked repeats in paired rounds.

    Each round runs ``Timer.blocked_autorange`` on the target, then on the draft, and takes the
    ratio of their block medians; c is the median of those ratios. Short alternating rounds put
    both models under the same load, so a busy machine moves the ratio far less than either
    latency (measured on this 2-core machine under load: a spread of 0.23-0.27 over five
    measurements, against 0.19-0.24 for the ratio of pooled medians).
    """
    check_pair(target, draft)
    check_positive_int(context_tokens, "context_tokens")
    check_positive_int(rounds, "rounds")
    if not min_run_time > 0:
        raise ValueError(f"min_run_time must be positive, got {min_run_time!r}")
    threads = torch.get_num_threads()
    timers = {
        name: Timer(
            stmt="forward()",
            globals={"forward": _one_token_forward(model, context_tokens)},
            num_threads=threads,
        )
        for name, model in (("target", target), ("draft", draft))
    }
    blocks: dict[str, list[float]] = {"target": [], "draft": []}
    repeats: dict[str, list[int]] = {"target": [], "draft": []}
    ratios = []
    for _ in range(rounds):
        medians = {}
        for name, timer in timers.items():
            measurement = timer.blocked_autorange(min_run_time=min_run_time)
            blocks[name] += measurement.times
            repeats[name].append(measurement.number_per_run)
            medians[name] = measurement.median
        ratios.append(medians["draft"] / medians["target"])
    return {
        "target_seconds": statistics.median(blocks["target"]),
        "draft_seconds": statistics.median(blocks["draft"]),
        "cost_ratio": statistics.median(ratios),
        "context_tokens": context_tokens,
        "timer": {
            "name": TIMER,
            "statement": "one single-token forward over a KV cache of context_tokens, then the "
            "cache rolled back",
            "min_run_time": min_run_time,
            "rounds": rounds,
            "threads": threads,
            "round_ratios": ratios,
            **{name: _spread(blocks[name], repeats[name]) for name in blocks},
        },
    }


def _spread(blocks: list[float], repeats: list[int]) -> dict:
    """Seconds per forward over all blocks of one model: median, interquartile range, counts."""
    q1, _, q3 = statistics.quantiles(blocks, n=4) if len(blocks) > 1 else (blocks[0],) * 3
    return {
        "blocks": len(blocks),
        "repeats_per_block_median": statistics.median(repeats),
        "median_seconds": statistics.median(blocks),
        "iqr_seconds": q3 - q1,
    }
