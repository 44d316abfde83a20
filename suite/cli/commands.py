"""The handlers of ``python -m suite``'s commands: each takes the parsed arguments, returns the
exit status. Heavy imports stay inside each, so ``--help`` and a wrong path answer at once."""

from __future__ import annotations

import json
import sys

from suite.errors import printable


def cmd_tasks(args) -> int:
    from suite.data import count_examples, load_examples
    from suite.specs import load_specs

    specs = load_specs(args.tasks_dir)
    if not args.name:
        for name, spec in sorted(specs.items()):
            splits = ", ".join(spec.split_names)
            about = printable(spec.description[:60], keep="")
            print(f"{name:14s} {printable(spec.license, keep=''):14s} splits: {splits:12s} {about}")
        return 0
    from suite.specs import load_task

    spec = load_task(args.name, args.tasks_dir)
    for split in spec.split_names if args.split is None else [args.split]:
        count = count_examples(spec, split, tasks_dir=args.tasks_dir)
        print(f"{spec.name}/{split}: {count} examples")
        for ex in load_examples(spec, split, limit=args.show, tasks_dir=args.tasks_dir):
            # control and bidirectional characters escaped (JSON escapes C0 only)
            print(printable(json.dumps(ex.__dict__, ensure_ascii=False, indent=2)))
    return 0


def cmd_generate(args) -> int:
    import torch

    from suite.decoding import generate_named
    from suite.errors import SpecError
    from suite.jsonable import finite_or_null
    from suite.models import load_model, load_tokenizer
    from suite.prompts import check_positions, model_prompt_ids
    from suite.specs import DEFAULT_STOP, format_prompt
    from suite.tokenizer_decode import decode_text

    if any("\ud800" <= ch <= "\udfff" for ch in args.prompt):  # a byte that is not UTF-8
        message = "not valid UTF-8 (the command line held a byte no character decodes from)"
        raise SpecError(None, "prompt", args.prompt, message)
    if not args.prompt.strip():  # as a task spec's instruction: a prompt asks something
        raise SpecError(None, "prompt", args.prompt, "an empty or blank prompt asks nothing")
    tokenizer = load_tokenizer(args.tokenizer or args.target)
    target = load_model(args.target)
    ids = torch.tensor([model_prompt_ids(tokenizer, format_prompt(args.prompt), target)])
    common = dict(
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        eos_token_id=tokenizer.eos_token_id,
        stop_strings=DEFAULT_STOP,
        tokenizer=tokenizer,
    )
    draft = load_model(args.draft) if args.draft else None
    check_positions(ids.shape[1], args.max_new_tokens, {"target": target, "draft": draft})
    out = generate_named(
        args.target,
        args.draft,
        target,
        draft,
        ids,
        num_draft_tokens=args.num_draft_tokens,
        **common,
    )
    text = decode_text(tokenizer, out.tokens, skip_special_tokens=True)
    print(text)
    stats = finite_or_null(out.stats.to_dict() | {"finish_reason": out.finish_reason})
    print(json.dumps(stats, allow_nan=False), file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from pathlib import Path

    import torch

    from suite.distill.pretrain import check_parts, load_recipe, run_model, run_tokenizer
    from suite.errors import SpecError
    from suite.runner import first_missing

    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = load_recipe(args.recipe)
    if args.only is None:  # what the recipe makes, in build order
        args.only = ["tokenizer", *(m for m in ("target", "draft") if m in recipe["models"])]
    out = Path(args.out)
    from suite.io import check_out_folder

    check_out_folder(out)
    check_parts(args.only, out, recipe)
    created = first_missing(out)
    tokenizer_made = not (out / "tokenizer").exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        for part in args.only:
            if part == "tokenizer":
                run_tokenizer(recipe, out)
            else:
                info = run_model(recipe, part, out)
                print(json.dumps({k: info[k] for k in ("artifact", "train_loss", "heldout_loss")}))
    except SpecError as err:
        if tokenizer_made:
            _discard_refused_tokenizer(err, out, created)
        from suite.store import remove_empty

        remove_empty(out, created)  # the folders it made, where a refusal left them empty
        raise
    return 0


def _discard_refused_tokenizer(err, out, created) -> None:
    """A tokenizer this command wrote into ``out`` (copied from a recipe's ``copy_from``) and then
    refused while encoding the training data does not stay there looking accepted: it goes, and
    the folders the command made with it where they are left empty."""
    import shutil
    from pathlib import Path

    from suite.store import remove_empty

    folder = out / "tokenizer"
    try:
        refused = Path(str(err.path)).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError, RuntimeError):
        return
    if not refused or not folder.is_dir() or folder.is_symlink():
        return
    shutil.rmtree(folder)
    remove_empty(out, created)


def cmd_manifest(args) -> int:
    from pathlib import Path

    from suite.manifest import build_manifest

    manifest = build_manifest(
        Path(args.reference), prompts=args.prompts, cells=Path(args.cells), progress=True
    )
    for name, entry in sorted(manifest["artifacts"].items()):
        print(f"{name:40s} {entry['kind']:9s} {entry.get('parameters', '')}")
    return 0


def cmd_verify(args) -> int:
    from pathlib import Path

    from suite.bundle import MANIFEST, check_bundle, load_manifest
    from suite.bundle_tables import check_table_fields

    root = Path(args.reference)  # what tables, cards and bench read of the manifest, typed
    check_table_fields(load_manifest(root), root / MANIFEST)
    verdict = check_bundle(root, load=not args.hashes_only)
    for problem in verdict.problems:
        print(f"FAIL {printable(problem, keep='')}", file=sys.stderr)
    if verdict.count > len(verdict.problems):  # the first ones shown, the rest counted
        more = verdict.count - len(verdict.problems)
        print(f"FAIL ... and {more:,} more problems", file=sys.stderr)
    print(f"{verdict.artifacts} artifacts, {verdict.count} problems")
    return 1 if verdict.count else 0


def cmd_distill(args) -> int:
    from pathlib import Path

    import torch

    from suite.distill.precision import Precision
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
    precision = Precision(args.device, args.dtype)
    for info in run_distill(recipe, out, drafts, precision=precision):
        print(json.dumps({k: info[k] for k in ("artifact", "train_loss", "heldout_loss")}))
    return 0


def cmd_run(args) -> int:
    from suite.profiles import load_profile
    from suite.runner import check_plan, run_plan
    from suite.studies import load_studies, plan_studies

    profile = load_profile(args.profile)
    studies = load_studies(args.studies)
    engines = tuple(args.engine) if args.engine else None
    plan = plan_studies(studies, profile, engines)
    check_plan(studies, plan, engines)
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


def cmd_bench(args) -> int:
    from suite import bench

    return bench.run(args)


def cmd_report(args) -> int:
    from suite.report.folder import check_folder, unfinished_line

    given = {"profile": args.profile, "studies": args.studies}  # the run's files, if not ours
    folder = check_folder(args.dir, **given)  # before the heavy imports: a bad folder fails now
    if args.out is not None:
        from suite.io import check_out_folder

        check_out_folder(args.out)
    from suite.claims import decide_folder
    from suite.report.render import claims_table, render_report

    decision = decide_folder(folder)
    path = render_report(folder, args.out, decision=decision, **given)
    print(claims_table(decision))
    print(f"report: {path}")
    if unfinished_line(folder):
        print(
            "note: cells.jsonl ends in a line without its newline (a run stopped while writing "
            "it): that record is not reported; resuming the run recomputes it",
            file=sys.stderr,
        )
    return 0


def cmd_reproduce(args) -> int:
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


def cmd_submit(args) -> int:
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
