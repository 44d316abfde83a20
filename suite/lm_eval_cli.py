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
import reprlib
import sys

import yaml

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


def run_lm_eval(argv: list[str]) -> int:
    """lm-eval's own ``run`` with ``specdec`` registered; returns its exit status."""
    from lm_eval.__main__ import cli_evaluate

    import suite.lm_eval_model  # noqa: F401  (registers specdec)
    from suite.lm_eval_model import _check_numbers_as_written

    for text in _model_args(argv):  # as written: lm-eval reads 1e-400 as 0.0, and '١' as 1
        _check_numbers_as_written(text)
    saved = sys.argv
    sys.argv = ["lm_eval", "run", *argv]
    try:
        cli_evaluate()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        sys.argv = saved
    return 0


def _model_args(argv: list[str]) -> list[str | dict]:
    """Every ``--model_args`` value as the user wrote it, however lm-eval's parser would take
    it: ``--model_args a=1,b=2``, ``--model_args=a=1``, the space-separated ``--model_args a=1
    b=2``, the alias ``-a`` (``-a x``, ``-ax``), an abbreviation (``--model_arg``) and a
    ``--config``/``-C`` file's ``model_args`` (a text or a mapping, each value as written)."""
    out, taking = [], None
    for arg in argv:
        name, joined, value = arg.partition("=")
        if arg.startswith("--") and len(name) > len("--model") and "--model_args".startswith(name):
            taking = None if joined else "args"
            if joined:
                out.append(value)
        elif arg == "-a":
            taking = "args"
        elif arg.startswith("--") and len(name) > len("--co") and "--config".startswith(name):
            taking = None if joined else "config"
            if joined:
                out += _config_model_args(value)
        elif arg == "-C":
            taking = "config"
        elif arg.startswith("-a") and not arg.startswith("--"):
            out.append(arg[2:].removeprefix("="))
            taking = None
        elif arg.startswith("-C") and not arg.startswith("--"):
            out += _config_model_args(arg[2:].removeprefix("="))
            taking = None
        elif taking == "args" and not arg.startswith("-"):
            out.append(arg)
        elif taking == "config" and not arg.startswith("-"):
            out += _config_model_args(arg)
            taking = None
        else:
            taking = None
    return out


MAX_CONFIG_BYTES = 1 << 20  # an lm-eval --config file: a page of settings


def _config_model_args(path: str) -> list[str | dict]:
    """A ``--config`` file's ``model_args`` as lm-eval reads it (``yaml.safe_load``: merge
    keys applied, the last of a repeated key kept), but with every number kept as the text
    written, before it is read; [] where the file or key is not there or not YAML (lm-eval
    names what it cannot read). A file too large to read whole is refused."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        return []
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(
            f"--config {reprlib.repr(path)}: larger than {MAX_CONFIG_BYTES:,} bytes, "
            "not a config file"
        )
    try:
        root = yaml.load(data.decode("utf-8"), Loader=_AsWrittenLoader)
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return []
    args = root.get("model_args") if isinstance(root, dict) else None
    return [args] if isinstance(args, str | dict) else []


class _AsWrittenLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s reading, with each int and float kept as the text written."""


for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
    _AsWrittenLoader.add_constructor(_tag, lambda loader, node: node.value)


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
