"""Wall time per emitted token: the target alone, our speculative decoder, transformers' assisted
generation, at batch size 1, for the base draft and the best KD draft over a sweep of K.

Three questions: does the measured speedup γ match the projection from α, K and c (DESIGN
section 5), which K pays best for each draft, and is our decoder at least as fast as the library
users would otherwise reach for?
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import torch
import transformers

from suite.acceptance import prompt_seed
from suite.bench_args import PROMPT_TASKS, add_arguments
from suite.bench_drafts import NoKDDraft
from suite.bench_pairs import Pair, choose_pair, random_ids_reason
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
from suite.errors import Parser, SpecError
from suite.io import check_out_folder, check_targets
from suite.reader import MAX_THREADS, SEED_CEILING
from suite.specs import MAX_DRAFT_TOKENS, MAX_NEW_TOKENS, MAX_SIZE
from suite.timing import TIMER, machine_info, model_info, write_json_atomic

MAX_COST_ROUNDS = 10_000  # c's alternating timing rounds (default 30)
MAX_COST_RUN_TIME = 60.0  # seconds of blocked timing per model and round (default 0.02)
__all__ = ["METHODS", "add_arguments", "machine_info", "main", "run", "write_json_atomic"]
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


def _check_args(args) -> None:
    check_out_folder(Path(args.out))  # before anything is measured, not when it is written
    check_targets([Path(args.out) / "latest.json"])
    args.draft = [*args.draft, *args.drafts]
    args.drafts = []
    args.num_draft_tokens = sorted(
        {
            check_positive_int(k, "--num-draft-tokens", maximum=MAX_DRAFT_TOKENS)
            for k in args.num_draft_tokens
        }
    )
    # with one token nothing is drafted: α is 0/0
    check_positive_int(args.max_new_tokens, "--max-new-tokens", minimum=2, maximum=MAX_NEW_TOKENS)
    check_positive_int(args.prompts, "--prompts", maximum=MAX_SIZE)
    check_positive_int(args.seed, "--seed", minimum=0, maximum=SEED_CEILING)
    check_positive_int(args.threads, "--threads", minimum=0, maximum=MAX_THREADS)
    check_positive_int(args.limit_cells, "--limit-cells", minimum=0, maximum=MAX_SIZE)
    check_positive_int(args.cost_rounds, "--cost-rounds", maximum=MAX_COST_ROUNDS)
    # each τ_dec once, in the order given; -0.0 is 0.0 (rows are keyed by the number's text)
    args.temperatures = list(
        dict.fromkeys(check_temperature(tau, "--temperatures") + 0.0 for tau in args.temperatures)
    )
    if not 0 < args.cost_run_time <= MAX_COST_RUN_TIME:  # NaN and inf fail too
        message = f"--cost-run-time must be in (0, {MAX_COST_RUN_TIME:g}] seconds"
        raise ValueError(f"{message}, got {args.cost_run_time}")
    if args.target is not None and not args.draft:
        raise ValueError("--target and --draft go together: --target needs at least one --draft")
    _check_drafts(args.draft)
    _check_ignored(args)


def _folder_key(folder: Path):
    """One folder under any spelling (relative, absolute, through ``..`` or a link): its device
    and inode, or its resolved path where it cannot be read (the load names it later)."""
    try:
        st = os.stat(folder)
    except (OSError, ValueError):
        try:
            return str(Path(folder).resolve())
        except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (3.11)
            return str(folder)
    return (st.st_dev, st.st_ino)


def _check_drafts(folders) -> None:
    """Each draft folder is timed once: a later --draft (or --drafts) naming the folder of an
    earlier one, however spelled, is refused."""
    seen: dict[object, Path] = {}
    for folder in folders:
        key = _folder_key(folder)
        if key in seen:
            earlier = seen[key]
            message = f"the folder of an earlier --draft ({earlier}); each folder is timed once"
            raise SpecError(folder, "--draft", str(folder), message)
        seen[key] = folder


EXECUTOR_OPTIONS = ("executor_compare", "threads", "limit_cells", "out", "help")


def _executor_compare_ignores(args) -> list[str]:
    """The options given besides those --executor-compare takes: it times the runner's
    executors on the studies' cells, with no pair, K, τ or prompt of its own."""
    defaults = Parser(add_help=False)
    add_arguments(defaults)
    return [
        action.option_strings[0]
        for action in defaults._actions
        if action.option_strings
        and action.dest not in EXECUTOR_OPTIONS
        and getattr(args, action.dest, action.default) != action.default
    ]


def _check_ignored(args) -> None:
    """An option that cannot apply to the run asked for is refused, not silently ignored."""
    if args.executor_compare and (ignored := _executor_compare_ignores(args)):
        raise ValueError(
            f"{', '.join(ignored)}: not with --executor-compare, which takes only --threads, "
            "--limit-cells and --out; it would be ignored"
        )
    if args.limit_cells and not args.executor_compare:
        raise ValueError(
            f"--limit-cells {args.limit_cells}: for --executor-compare's cells only; "
            "without --executor-compare it would be ignored"
        )
    if args.random_pair and args.draft:
        raise ValueError(
            "--random-pair and --draft: --draft times the given folders, so --random-pair "
            "would be ignored; give one of them"
        )
    if args.tasks:
        _check_tasks(args.tasks, random_ids_reason(args))


def _check_tasks(tasks, random_ids: str | None) -> None:
    for i, task in enumerate(tasks):
        if task in tasks[:i]:
            message = "listed twice (tasks alternate: each prompt would be timed twice)"
            raise ValueError(f"--tasks {task!r}: {message}")
    if random_ids is not None:
        raise ValueError(
            f"--tasks {' '.join(map(repr, tasks))}: needs the target's tokenizer; {random_ids}"
        )


def task_prompts(tokenizer, count: int, tasks, target) -> list[list[int]]:
    """Test-split instructions in the suite's format, alternating between ``tasks``, capped and
    checked against ``target`` as a run's prompts are."""
    from suite.data import load_examples
    from suite.prompts import model_prompt_ids

    per_task = [load_examples(task, "test", limit=count) for task in tasks]
    rounds = itertools.zip_longest(*per_task)  # a shorter split gives out, the others go on
    examples = [ex for group in rounds for ex in group if ex is not None][:count]
    return [model_prompt_ids(tokenizer, ex.prompt, target, special=False) for ex in examples]


def _prompts(pair: Pair, args) -> tuple[list[list[int]], str]:
    if pair.tokenizer is not None:
        tasks = tuple(args.tasks or pair.info.get("prompt_tasks") or PROMPT_TASKS)
        note = f"test-split instructions of {', '.join(tasks)}" + (
            ", alternating" if len(tasks) > 1 else " (the best KD draft's KD dataset)"
        )
        if args.tasks:
            note = f"test-split instructions of {', '.join(tasks)} (--tasks)"
        return task_prompts(pair.tokenizer, args.prompts, tasks, pair.target), note
    if args.tasks:  # a pair given without a tokenizer: nothing to turn the tasks into ids
        _check_tasks(args.tasks, "the pair has no tokenizer: it times random token ids")
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
    from suite.prompts import check_positions  # every position a timed decode reads

    longest = max(map(len, prompts), default=0)
    check_positions(longest, args.max_new_tokens, {"target": pair.target, **pair.drafts})
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
    parser = Parser(prog="suite bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ValueError as err:
        parser.error(str(err))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
