"""``python -m suite``: one command line for every entry point of the suite."""

from __future__ import annotations

import argparse
import json
import os
import sys

from suite.errors import SpecError


class HELP(argparse.ArgumentDefaultsHelpFormatter):
    """Help texts show each option's default, where it has one a user can read."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


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
    from suite.models import load_model, load_tokenizer
    from suite.specs import DEFAULT_STOP, format_prompt

    tokenizer = load_tokenizer(args.tokenizer or args.target)
    target = load_model(args.target)
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
            load_model(args.draft),
            ids,
            num_draft_tokens=args.num_draft_tokens,
            **common,
        )
    else:
        out = autoregressive_generate(target, ids, **common)
    print(tokenizer.decode(out.tokens, skip_special_tokens=True))
    print(json.dumps(out.stats.to_dict() | {"finish_reason": out.finish_reason}), file=sys.stderr)
    return 0


def _cmd_train(args) -> int:
    from pathlib import Path

    import torch

    from suite.distill.pretrain import load_recipe, run_model, run_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = load_recipe(args.recipe)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for part in args.only:
        if part == "tokenizer":
            run_tokenizer(recipe, out)
        else:
            info = run_model(recipe, part, out)
            print(json.dumps({k: info[k] for k in ("artifact", "train_loss", "heldout_loss")}))
    return 0


def _cmd_manifest(args) -> int:
    from pathlib import Path

    from suite.bundle import build_manifest

    manifest = build_manifest(Path(args.reference), prompts=args.prompts)
    for name, entry in sorted(manifest["artifacts"].items()):
        print(f"{name:40s} {entry['kind']:9s} {entry.get('parameters', '')}")
    return 0


def _cmd_verify(args) -> int:
    from pathlib import Path

    from suite.bundle import load_manifest, verify

    root = Path(args.reference)
    problems = verify(root, load=not args.hashes_only)
    count = len(load_manifest(root)["artifacts"])
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    print(f"{count} artifacts, {len(problems)} problems")
    return 1 if problems else 0


def _cmd_distill(args) -> int:
    from pathlib import Path

    import torch

    from suite.distill.recipes import is_done, kd_grid, load_kd_recipe, run_distill, select_drafts

    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = load_kd_recipe(args.recipe)
    out = Path(args.out)
    drafts = select_drafts(kd_grid(recipe, full_grid=args.full_grid), args.only)
    if args.list:
        for draft in drafts:
            print(f"{draft.name:28s} {'done' if is_done(out, draft) else 'todo'}")
        return 0
    for info in run_distill(recipe, out, drafts):
        print(json.dumps({k: info[k] for k in ("artifact", "train_loss", "heldout_loss")}))
    return 0


def _cmd_run(args) -> int:
    from suite.profiles import load_profile
    from suite.runner import run_plan
    from suite.studies import load_studies, plan_studies

    profile = load_profile(args.profile)
    studies = load_studies(args.studies)
    engines = tuple(args.engine) if args.engine else None
    plan = plan_studies(studies, profile, engines)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = args.out or f"results/{profile.name}"
    report = run_plan(
        plan,
        out,
        workers=args.workers,
        progress=not args.quiet,
        executor=args.executor,
        address=args.address,
        threads=args.threads,
    )
    print(
        f"{report.cells} cells in {report.folder}: {report.already_done} already done, "
        f"{report.ran} run in {report.seconds:.1f} s"
    )
    return 0


def _cmd_bench(args) -> int:
    from suite import bench

    return bench.run(args)


def _cmd_report(args) -> int:
    from suite.report.folder import check_folder

    folder = check_folder(args.dir)  # before the heavy imports: a wrong path fails at once
    from suite.claims import decide_folder
    from suite.report.render import claims_table, render_report

    decision = decide_folder(folder)
    path = render_report(folder, args.out, decision=decision)
    print(claims_table(decision))
    print(f"report: {path}")
    return 0


def _cmd_reproduce(args) -> int:
    from suite.reproduce import reproduce

    reproduce(
        profile=args.profile,
        studies=tuple(args.studies),
        out=args.out,
        workers=args.workers,
        progress=not args.quiet,
        executor=args.executor,
        address=args.address,
    )
    return 0


def _cmd_submit(args) -> int:
    from suite.submit import submit

    result = submit(
        args.folder,
        profile=args.profile,
        out=args.out,
        workers=args.workers,
        progress=not args.quiet,
    )
    from suite.report.leaderboard import terminal_table
    from suite.report.render import SUMMARY

    summary = json.loads((result.folder / SUMMARY).read_text(encoding="utf-8"))
    print(terminal_table(summary.get("leaderboard")))
    print(
        f"\n{result.cells} cells in {result.folder} ({result.ran} run now) in "
        f"{result.seconds:.0f} s\nreport: {result.report}"
    )
    return 0


def _reference_dir():
    from suite.paths import bundle_dir

    return bundle_dir()


def _executor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this machine's processes; ray: one Ray actor per worker",
    )
    p.add_argument(
        "--address",
        help="with --executor ray: the cluster's HEAD:6379 (default: start a local Ray instance)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m suite",
        description="Temperature, knowledge distillation and speculative decoding: the suite.",
    )
    parser.add_argument(
        "--bundle",
        metavar="DIR",
        help="the model bundle, before the command (default: $SUITE_BUNDLE, else the "
        "checkout's reference/)",
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

    p = sub.add_parser("train", help="train the tokenizer, the target and the base draft")
    p.add_argument("--recipe", default="reference/recipes/llama.yaml", help="recipe YAML")
    p.add_argument("--out", default="reference/llama", help="folder for the artifacts")
    p.add_argument(
        "--only",
        nargs="+",
        default=["tokenizer", "target", "draft"],
        choices=["tokenizer", "target", "draft"],
        help="which artifacts to build, in order",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("distill", help="distil the KD drafts of a recipe from the base draft")
    p.add_argument("--recipe", default="reference/recipes/kd-llama.yaml", help="KD recipe YAML")
    p.add_argument("--out", default="reference/llama", help="folder of target, draft, tokenizer")
    p.add_argument("--only", nargs="+", metavar="NAME", help="build only these drafts")
    p.add_argument("--full-grid", action="store_true", help="τ_kd in the paper's 0.1 steps")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--list", action="store_true", help="list the drafts and whether each is built")
    p.set_defaults(func=_cmd_distill)

    p = sub.add_parser("manifest", help="hash the bundle and write reference/MANIFEST.json")
    p.add_argument("--reference", default=str(_reference_dir()), help="bundle folder")
    p.add_argument("--prompts", type=int, default=48, help="test prompts for draft acceptance")
    p.set_defaults(func=_cmd_manifest)

    p = sub.add_parser("verify", help="check every bundled file's sha256 and load every model")
    p.add_argument("--reference", default=str(_reference_dir()), help="bundle folder")
    p.add_argument("--hashes-only", action="store_true", help="skip loading the models")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser(
        "run", help="run studies (tasks/studies) under a profile, resumably", formatter_class=HELP
    )
    p.add_argument("studies", nargs="+", metavar="STUDY", help="study names, YAML paths, or all")
    p.add_argument("--profile", default="quick", help="smoke, quick, full, paper, or a YAML path")
    p.add_argument("--out", help="results folder (default: results/<profile>)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (Ray: actors)")
    _executor_arguments(p)
    p.add_argument(
        "--engine", nargs="+", choices=["analytic", "empirical"], help="only these engines"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads, per worker too (0: torch's default; workers share the CPUs out)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="render the HTML report of a results folder")
    p.add_argument("dir", metavar="DIR", help="results folder of `python -m suite run`")
    p.add_argument("--out", help="folder for the report files (default: DIR)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "reproduce", help="every study, the claims and the HTML report", formatter_class=HELP
    )
    p.add_argument("--profile", default="quick", help="smoke, quick, full, paper, or a YAML path")
    p.add_argument("--studies", nargs="+", default=["all"], help="study names (default: all)")
    p.add_argument("--out", help="results folder (default: results/<profile>)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (Ray: actors)")
    _executor_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser(
        "submit",
        help="validate a submitted draft and score it beside the bundle",
        formatter_class=HELP,
    )
    p.add_argument("folder", metavar="FOLDER", help="submissions/<name> (holds submission.yaml)")
    p.add_argument("--profile", default="quick", help="smoke, quick, full, paper, or a YAML path")
    p.add_argument("--out", help="results folder (default: results/submissions/<name>-<profile>)")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_submit)

    from suite import bench

    p = sub.add_parser("bench", help="time target alone, our decoder and assisted generation")
    bench.add_arguments(p)
    p.set_defaults(func=_cmd_bench)
    _forwarding_commands(sub)
    return parser


# Commands whose own parsers live in their modules; `suite --help` lists them with the rest.
FORWARDED = {
    "submissions": ("suite.submit", "build the example submission or check one (no scoring)"),
    "quality": ("suite.quality", "GSM8K quality through lm-eval, target alone vs speculative"),
    "fetch": ("suite.fetch", "download the pinned datasets, sha256-checked, into a folder"),
    "bundle-tables": ("suite.bundle_tables", "Markdown tables of the bundle from its manifest"),
    "calibrate": ("suite.calibration.cli", "error rates and power of every claim test, simulated"),
    "lm-eval": (
        "suite.lm_eval_cli",
        "export our tasks as lm-eval YAML; lm-eval's run with specdec",
    ),
}


def _forwarding_commands(sub) -> None:
    for name, (_, help_text) in FORWARDED.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=None)


def _take_bundle(argv: list[str]) -> list[str]:
    """``--bundle DIR`` before the command sets ``$SUITE_BUNDLE`` for every subcommand."""
    if argv and argv[0].startswith("--bundle="):
        os.environ["SUITE_BUNDLE"] = argv[0].split("=", 1)[1]
        return argv[1:]
    if len(argv) >= 2 and argv[0] == "--bundle":
        os.environ["SUITE_BUNDLE"] = argv[1]
        return argv[2:]
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    argv = _take_bundle(argv)
    if argv and argv[0] in FORWARDED:  # the module's own parser, --help included
        import importlib

        return int(importlib.import_module(FORWARDED[argv[0]][0]).main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
