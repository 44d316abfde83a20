"""``python -m suite lm-eval``: our tasks as lm-eval YAML, and lm-eval's own command line.

``export`` writes ``suite_gsm8k.yaml``, ``suite_svamp.yaml`` and ``suite_asdiv.yaml`` (with their
JSONL documents) into a folder. ``run`` is lm-eval's command line (``lm_eval run ...``, every
argument as lm-eval takes it) with ``specdec`` registered first. Stock ``lm_eval`` takes the
tasks by name too (``--include_path DIR --tasks suite_gsm8k``) where the suite is installed, whose
``.pth`` registers ``specdec`` (:mod:`suite_lm_eval_plugin`); ``run`` works without it. See
docs/lm-eval.md.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from pathlib import Path

from suite.errors import Parser
from suite.lm_eval_tasks import NUMERIC_TASKS
from suite.path_arguments import non_empty_path


def _export(args) -> int:
    from suite.errors import SpecError, error_line
    from suite.lm_eval_tasks import export_tasks

    try:
        paths = export_tasks(
            args.out, args.tasks, split=args.split, limit=args.limit, max_gen_toks=args.max_gen_toks
        )
    except (SpecError, ValueError, OSError) as e:
        print(error_line(e), file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


MAX_COUNT = 100_000


def _count(text: str) -> int:
    """A whole number from 1 to MAX_COUNT, for --limit and --max-gen-toks."""
    from suite.number_arguments import integer

    value = integer(text, "a whole number in ASCII digits")
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{value}: expected 1 to {MAX_COUNT:,}")
    return value


def parse_run(argv: list[str]):
    """lm-eval's parse of ``run ARGV`` with ``specdec`` registered, each text checked as written
    as its parser hands it over, then what the parse holds (:mod:`suite.lm_eval_args`), before
    any model loads: (lm-eval's command line, the parsed arguments)."""
    from lm_eval._cli.harness import HarnessCLI

    import suite.lm_eval_model  # noqa: F401  (registers specdec)
    from suite.lm_eval_args import check_parsed, reading_as_written

    saved = sys.argv
    sys.argv = ["lm_eval", "run", *argv]
    try:
        cli = HarnessCLI()
        with reading_as_written(), _one_line_errors():
            args = cli.parse_args()
        check_parsed(args)
    finally:
        sys.argv = saved
    return cli, args


@contextlib.contextmanager
def _one_line_errors():
    """lm-eval's parser's errors as the suite's: one line (a Refused), not the usage block; a
    type function's repr (``invalid functools.partial(<function ... at 0x7f...>) value``) is
    left out of it."""
    from suite.lm_eval_args import Refused

    def error(parser, message):
        message = re.sub(r"invalid .*? value: ", "invalid value: ", message)
        raise Refused(f"{parser.prog}: {message}")

    original = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = error
    try:
        yield
    finally:
        argparse.ArgumentParser.error = original


def run_lm_eval(argv: list[str]) -> int:
    """lm-eval's own ``run`` with ``specdec`` registered (:func:`parse_run`); returns its exit
    status."""
    from lm_eval.utils import setup_logging

    from suite.lm_eval_args import settings_named

    saved = sys.argv
    sys.argv = ["lm_eval", "run", *argv]
    try:
        cli, args = parse_run(argv)
        setup_logging()
        _log_to_stderr()
        with settings_named(), results_kept():
            cli.execute(args)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        sys.argv = saved
    return 0


@contextlib.contextmanager
def results_kept():
    """lm-eval's saves, held to have written their files: lm-eval logs a failed save (a file
    where its model's sub-folder goes, a name too long for the file system) and ends 0 with
    nothing kept; here the run ends with an error naming the file it did not write. That holds
    for the aggregated results and, with ``--log_samples``, for each task's samples."""
    from lm_eval.loggers.evaluation_tracker import EvaluationTracker

    originals = (EvaluationTracker.save_results_aggregated, EvaluationTracker.save_results_samples)

    def save(self, *args, **kwargs):
        originals[0](self, *args, **kwargs)
        if self.output_path:
            _held_written(self, "results", ".json")

    def save_samples(self, task_name, samples):
        originals[1](self, task_name, samples)
        if self.output_path:
            _held_written(self, f"samples_{task_name}", ".jsonl")

    EvaluationTracker.save_results_aggregated = save
    EvaluationTracker.save_results_samples = save_samples
    try:
        yield
    finally:
        EvaluationTracker.save_results_aggregated = originals[0]
        EvaluationTracker.save_results_samples = originals[1]


def _held_written(tracker, kind: str, suffix: str) -> None:
    """The file lm-eval's ``tracker`` has just saved (``kind`` ``results`` or
    ``samples_<task>``) is there, a regular file; else the run ends with an error naming it."""
    from suite.lm_eval_args import Refused

    path, date = Path(str(tracker.output_path)), getattr(tracker, "date_id", None)
    if path.suffix == ".json":
        name = f"{path.stem}_{date}.json" if kind == "results" else f"{kind}_{date}{suffix}"
        written = path.with_name(name)
    else:
        written = path / str(tracker.general_config_tracker.model_name_sanitized)
        written = written / f"{kind}_{date}{suffix}"
    try:
        kept = date is not None and written.is_file() and not written.is_symlink()
    except OSError:  # a name too long for the file system, a path through a file
        kept = False
    if not kept:
        what = "results" if kind == "results" else "samples"
        shown = str(written) if len(str(written)) <= 200 else f"{str(written)[:120]}...{suffix}"
        message = f"lm-eval could not save its {what} as {shown} (see its log above)"
        raise Refused(f"--output_path {tracker.output_path!r}: {message}")


def _log_to_stderr() -> None:
    """lm-eval's log handler writes to the ``sys.stderr`` of this call: lm-eval binds it once,
    to the stderr of its first run, which a caller in the same process (a notebook, a test)
    may have closed since."""
    import logging

    for handler in logging.getLogger("lm_eval").handlers:
        if type(handler) is logging.StreamHandler:
            with handler.lock or contextlib.nullcontext():  # not setStream: it flushes the
                handler.stream = sys.stderr  # old stream, which may be closed (ValueError)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m suite lm-eval",
        description="The suite's tasks and decoder through lm-eval's own command line.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "export",
        help="write our tasks as lm-eval YAML (suite_<task>.yaml) with their documents",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--out", required=True, type=non_empty_path, help="folder for the YAML and JSONL files"
    )
    p.add_argument("--tasks", nargs="+", default=list(NUMERIC_TASKS), choices=NUMERIC_TASKS)
    p.add_argument("--split", default="test", help="the task spec's split")
    p.add_argument("--limit", type=_count, help="only the first N examples (default: all)")
    p.add_argument("--max-gen-toks", type=_count, help="token budget (default: the task spec's)")
    sub.add_parser(
        "run",
        help="lm-eval's `run` with specdec registered (every lm-eval argument, see run --help)",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "run":
        return run_lm_eval(argv[1:])
    args = build_parser().parse_args(argv)
    return _export(args)


if __name__ == "__main__":
    sys.exit(main())
