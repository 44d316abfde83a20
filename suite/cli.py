"""``python -m suite``: one command line for every entry point of the suite."""

from __future__ import annotations

import argparse
import json
import sys

from suite.errors import SpecError


def _cmd_tasks(args) -> int:
    from suite.data import load_examples
    from suite.specs import load_specs

    specs = load_specs(args.tasks_dir)
    if not args.name:
        for name, spec in sorted(specs.items()):
            splits = ", ".join(spec.split_names)
            print(f"{name:14s} {spec.license:14s} splits: {splits:12s} {spec.description[:60]}")
        return 0
    from suite.specs import load_task

    spec = load_task(args.name, args.tasks_dir)
    for split in spec.split_names if args.split is None else [args.split]:
        examples = load_examples(spec, split, tasks_dir=args.tasks_dir)
        print(f"{spec.name}/{split}: {len(examples)} examples")
        for ex in examples[: args.show]:
            print(json.dumps(ex.__dict__, ensure_ascii=False, indent=2))
    return 0


def _cmd_generate(args) -> int:
    from suite.decoding import autoregressive_generate, speculative_generate
    from suite.models import load_causal_lm, load_tokenizer
    from suite.specs import DEFAULT_STOP, format_prompt

    tokenizer = load_tokenizer(args.tokenizer or args.target)
    target = load_causal_lm(args.target)
    ids = tokenizer(format_prompt(args.prompt), return_tensors="pt").input_ids
    common = dict(
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        eos_token_id=tokenizer.eos_token_id,
        stop_strings=DEFAULT_STOP,
        tokenizer=tokenizer,
    )
    if args.draft:
        out = speculative_generate(
            target,
            load_causal_lm(args.draft),
            ids,
            num_draft_tokens=args.num_draft_tokens,
            **common,
        )
    else:
        out = autoregressive_generate(target, ids, **common)
    print(tokenizer.decode(out.tokens, skip_special_tokens=True))
    print(json.dumps(out.stats.to_dict() | {"finish_reason": out.finish_reason}), file=sys.stderr)
    return 0


def _cmd_bench(args) -> int:
    from suite import bench

    return bench.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m suite",
        description="Temperature, knowledge distillation and speculative decoding: the suite.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tasks", help="list the task specs, or show one task's examples")
    p.add_argument("name", nargs="?", help="a task name; without it, list all tasks")
    p.add_argument("--split", help="only this split")
    p.add_argument("--show", type=int, default=2, help="examples to print per split")
    p.add_argument("--tasks-dir", help="folder of task specs (default: tasks/)")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser(
        "generate", help="decode one instruction, speculatively when --draft is given"
    )
    p.add_argument("prompt", help="the instruction text")
    p.add_argument("--target", required=True, help="save_pretrained folder or Hub id")
    p.add_argument("--draft", help="save_pretrained folder or Hub id of the draft")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the target's)")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--num-draft-tokens", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_generate)

    try:
        from suite import bench
    except ImportError:  # pragma: no cover - bench is part of the package
        bench = None
    if bench is not None:
        p = sub.add_parser("bench", help="time target alone, our decoder and assisted generation")
        bench.add_arguments(p)
        p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
