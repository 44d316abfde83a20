"""Wall time per emitted token: the target alone, our speculative decoder, transformers' assisted
generation, at batch size 1, for the base draft and the best KD draft over a sweep of K.

Three questions: does the measured speedup γ match the projection from α, K and c (DESIGN
section 5), which K pays best for each draft, and is our decoder at least as fast as the library
users would otherwise reach for?
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import torch
import transformers

from suite.acceptance import prompt_seed
from suite.bench_drafts import NoKDDraft
from suite.bench_pairs import Pair, choose_pair
from suite.bench_runs import (
    METHODS,
    PROMPT_LENGTHS,
    ForwardCounter,
    assistant_settings,
    assisted_kwargs,
    eos_of,
    make_prompts,
    time_temperature,
)
from suite.bench_summary import best_k, headline, sweep_rows
from suite.bench_table import format_table
from suite.decoding.plumbing import check_positive_int
from suite.decoding.sampling import check_temperature
from suite.specs import MAX_DRAFT_TOKENS
from suite.timing import TIMER, machine_info, model_info, write_json_atomic

__all__ = ["METHODS", "add_arguments", "machine_info", "main", "run", "write_json_atomic"]
PROMPT_TASKS = ("gsm8k", "alpaca")
DEFAULT_KS = (1, 2, 3, 4, 6, 8)
NOTES = [
    "ms_per_token is the outer wall time of each call divided by the tokens it emitted; "
    "speedup_measured (target/ours), speedup_assisted (target/assisted) and assisted_over_ours "
    "are quotients of the totals. Every row of one τ_dec shares the same target runs, stored "
    "once in target_runs; c per draft and τ_dec with its timer's details is in cost_ratios.",
    "Assisted generation's acceptance is derived from forward-hook counts: steps = target "
    "forwards, proposed = draft forwards, accepted = tokens - steps.",
    f"c is timed with {TIMER} at the mean decoding context (prompt + max_new_tokens/2), per "
    "draft after each temperature's warmup: in alternating target/draft rounds, the ratio of "
    "the two block medians per round; c is the median of those ratios (cost_ratio.timer). "
    "target_seconds and draft_seconds are the medians over all blocks.",
    "Per prompt, the target and every (draft, K) of ours and assisted generation run once, in a "
    "seeded shuffled order; one untimed warmup of the target and of each draft's two methods "
    "per temperature.",
    "best_num_draft_tokens: per draft and τ_dec, the K with the highest speedup_measured (ties to "
    "the smaller K); at_edge_of_sweep says the best may lie outside the K swept.",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--num-draft-tokens",
        type=int,
        nargs="+",
        default=list(DEFAULT_KS),
        metavar="K",
        help=f"K values to sweep (default {' '.join(map(str, DEFAULT_KS))})",
    )
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens per generation")
    parser.add_argument(
        "--prompts", type=int, default=8, help="test-split prompts (random ids for a random pair)"
    )
    parser.add_argument(
        "--temperatures", type=float, nargs="+", default=[0.0, 1.0], help="τ_dec values"
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        help="test prompts from these tasks, alternating (default: the best KD draft's KD "
        f"dataset for the bundled pair, else {' and '.join(PROMPT_TASKS)})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of prompts and samplers")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="output folder")
    _add_pair_arguments(parser)
    _add_timing_arguments(parser)


def _add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target", type=Path, help="save_pretrained folder of the target (with --draft)"
    )
    parser.add_argument(
        "--draft",
        type=Path,
        action="append",
        default=[],
        help="a draft folder to time instead of the bundle's base and best KD drafts; repeat "
        "for several (the target defaults to the bundle's)",
    )
    parser.add_argument(
        "--drafts", type=Path, nargs="+", default=[], help="several --draft folders at once"
    )
    parser.add_argument(
        "--random-pair",
        action="store_true",
        help="a random-weight 34M/2.5M pair with shared token geometry instead of the bundle",
    )


def _add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for every method (default 1: batch-1 decoding of small models gains "
        "little from more, and a busy 2-core machine makes more threads erratic); 0 keeps torch's",
    )
    parser.add_argument(
        "--cost-rounds",
        type=int,
        default=30,
        help="c: alternating target/draft rounds of blocked timing; c is the median ratio",
    )
    parser.add_argument(
        "--cost-run-time",
        type=float,
        default=0.02,
        help="c: seconds of blocked timing per model and round (default 0.02)",
    )
    parser.add_argument(
        "--executor-compare",
        action="store_true",
        help="instead: the quick profile's empirical cells in-process versus on local Ray with "
        "two workers (wall times, ratio, records equal); writes executors-latest.json",
    )
    parser.add_argument(
        "--limit-cells", type=int, default=0, help="with --executor-compare: the first N cells"
    )


def _check_args(args) -> None:
    args.draft = [*args.draft, *args.drafts]
    args.drafts = []
    args.num_draft_tokens = sorted(
        {
            check_positive_int(k, "--num-draft-tokens", maximum=MAX_DRAFT_TOKENS)
            for k in args.num_draft_tokens
        }
    )
    check_positive_int(args.max_new_tokens, "--max-new-tokens")
    check_positive_int(args.prompts, "--prompts")
    check_positive_int(args.seed, "--seed", minimum=0)
    check_positive_int(args.threads, "--threads", minimum=0)
    check_positive_int(args.limit_cells, "--limit-cells", minimum=0)
    check_positive_int(args.cost_rounds, "--cost-rounds")
    for tau in args.temperatures:
        check_temperature(tau, "--temperatures")
    if not args.cost_run_time > 0:
        raise ValueError(f"--cost-run-time must be positive, got {args.cost_run_time}")
    if args.target is not None and not args.draft:
        raise ValueError("--target and --draft go together: --target needs at least one --draft")
    if len(set(args.draft)) != len(args.draft):
        raise ValueError("a --draft folder is given twice")


def task_prompts(tokenizer, count: int, tasks=PROMPT_TASKS) -> list[list[int]]:
    """Test-split instructions in the suite's format, alternating between ``tasks``."""
    from suite.data import load_examples

    per_task = [load_examples(task, "test", limit=count) for task in tasks]
    examples = [ex for group in zip(*per_task, strict=True) for ex in group][:count]
    return [tokenizer(ex.prompt, add_special_tokens=False).input_ids for ex in examples]


def _prompts(pair: Pair, args) -> tuple[list[list[int]], str]:
    if pair.tokenizer is not None:
        tasks = tuple(args.tasks or pair.info.get("prompt_tasks") or PROMPT_TASKS)
        note = f"test-split instructions of {', '.join(tasks)}" + (
            ", alternating" if len(tasks) > 1 else " (the best KD draft's KD dataset)"
        )
        if args.tasks:
            note = f"test-split instructions of {', '.join(tasks)} (--tasks)"
        return task_prompts(pair.tokenizer, args.prompts, tasks), note
    vocab = pair.target.get_output_embeddings().weight.shape[0]
    note = f"random token ids, {PROMPT_LENGTHS[0]}-{PROMPT_LENGTHS[1]} long"
    return make_prompts(args.prompts, vocab, args.seed), note


def measure(pair: Pair, prompts, args) -> dict:
    """Every τ_dec, draft and K timed: a row each, the target's runs and c once per τ_dec."""
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # per-call flag warnings would bury the table
    counter = ForwardCounter(pair.target, pair.drafts.values())
    measured = {"rows": [], "target_runs": {}, "cost_ratios": {label: {} for label in pair.drafts}}
    try:
        for tau in args.temperatures:
            runs, costs = time_temperature(pair, prompts, tau, args, counter)
            measured["rows"] += sweep_rows(runs, tau, costs, args.num_draft_tokens, pair.drafts)
            measured["target_runs"][str(tau)] = [asdict(r) for r in runs if r.method == "target"]
            for label, cost in costs.items():
                measured["cost_ratios"][label][str(tau)] = cost
    finally:
        counter.close()
        transformers.logging.set_verbosity(verbosity)
    return measured


def _pair_record(pair: Pair, prompt_note: str) -> dict:
    drafts = pair.info.get("drafts", {})
    return pair.info | {
        "prompts": prompt_note,
        "target": model_info(pair.target),
        "drafts": {
            label: drafts.get(label, {"role": "given"}) | {"model": model_info(draft)}
            for label, draft in pair.drafts.items()
        },
    }


def build_result(pair: Pair, prompts, prompt_note: str, measured: dict, args) -> dict:
    ks, n, rows = args.num_draft_tokens, args.max_new_tokens, measured["rows"]
    eos = eos_of(pair)
    best = best_k(rows, ks)
    for row in rows:
        chosen = best[row["draft"]][str(row["temperature"])]["num_draft_tokens"]
        row["best_k"] = row["num_draft_tokens"] == chosen
    result = {
        "pair": _pair_record(pair, prompt_note),
        "num_draft_tokens": ks,
        "max_new_tokens": n,
        "prompts": len(prompts),
        "prompt_lengths": [len(p) for p in prompts],
        "seed": args.seed,
        "prompt_seeds": [prompt_seed(args.seed, i) for i in range(len(prompts))],
        "temperatures": list(args.temperatures),
        "cost_timer": {
            "name": TIMER,
            "rounds": args.cost_rounds,
            "min_run_time": args.cost_run_time,
        },
        "assisted_generation": {
            "draft_generation_config": {str(k): assistant_settings(k) for k in ks},
            "generate_kwargs": {
                str(t): {str(k): assisted_kwargs(t, n, k, eos) for k in ks}
                for t in args.temperatures
            },
        },
        "notes": list(NOTES),
        "best_num_draft_tokens": best,
        "headline": headline(best),
        "cost_ratios": measured["cost_ratios"],
        "target_runs": measured["target_runs"],
        "rows": rows,
    }
    if eos is not None:
        result["notes"].append(
            f"Every method stops at EOS (token {eos}), as served answers do; ms per token is over "
            "the tokens each generation emitted."
        )
    elif pair.target.config.eos_token_id is not None:
        result["notes"].append(
            "The target has an EOS token: min_new_tokens masks it in assisted generation's "
            "target distribution, while our decoders are run without eos_token_id."
        )
    return result


def run(args, pair: Pair | None = None) -> int:
    """The ``bench`` subcommand; ``pair`` is given by tests."""
    _check_args(args)
    if args.executor_compare:
        from suite.bench_executors import compare

        return compare(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        pair = pair if pair is not None else choose_pair(args)
    except NoKDDraft as err:
        print(
            f"bench: measuring nothing: {err}. Time chosen folders with --draft (repeatable), "
            "or rebuild the manifest with `python -m suite manifest`.",
            file=sys.stderr,
        )
        return 1
    prompts, prompt_note = _prompts(pair, args)
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    measured = measure(pair, prompts, args)
    machine = machine_info() | {
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    result = {"started_utc": started.isoformat(), "machine": machine}
    result |= build_result(pair, prompts, prompt_note, measured, args)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    write_json_atomic(args.out / f"bench-{stamp}.json", result)
    write_json_atomic(args.out / "latest.json", result)
    print(format_table(result))
    print(f"wrote {args.out / f'bench-{stamp}.json'} and {args.out / 'latest.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="suite bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ValueError as err:
        parser.error(str(err))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
