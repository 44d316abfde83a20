"""``python -m suite``: one command line for every entry point of the suite.

Each command's arguments are in :mod:`suite.cli.parsers`, its handler in
:mod:`suite.cli.commands`; the commands whose parsers live in their own modules are ``FORWARDED``.
"""

from __future__ import annotations

import argparse
import os
import sys

from suite.cli.parsers import COMMANDS, HELP  # noqa: F401  (HELP: the formatter, by its old name)
from suite.errors import Parser, SpecError, error_line


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m suite",
        description="Temperature, knowledge distillation and speculative decoding: the suite.",
    )
    parser.add_argument(
        "--bundle",
        metavar="DIR",
        help=BUNDLE_HELP + " (before or after the command)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    for command in sub.choices.values():  # shown in each command's --help; read by _take_bundle
        command.add_argument("--bundle", metavar="DIR", default=argparse.SUPPRESS, help=BUNDLE_HELP)
    _forwarding_commands(sub)
    return parser


BUNDLE_HELP = "the model bundle (default: $SUITE_BUNDLE, else the checkout's reference/)"


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


def _usage_error(message: str) -> None:
    print(f"python -m suite: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _take_bundle(argv: list[str]) -> list[str]:
    """``--bundle DIR`` (before the command or among its arguments, up to a ``--``) sets
    ``$SUITE_BUNDLE`` before any parser is built, since the commands' defaults read it."""
    rest: list[str] = []
    given: list[str] = []
    items = iter(argv)
    for item in items:
        if item == "--":
            rest += [item, *items]
            break
        if item.startswith("--bundle="):
            given.append(item.split("=", 1)[1])
        elif item == "--bundle":
            value = next(items, None)
            if value is None or value.startswith("-"):
                _usage_error("argument --bundle: expected one argument")
            given.append(value)
        elif len(option := item.split("=", 1)[0]) > 2 and "--bundle".startswith(option):
            # argparse would take --bund for --bundle and the value would go unread
            _usage_error(f"{option}: write --bundle in full")
        else:
            rest.append(item)
    if len(given) > 1:
        _usage_error(f"--bundle given {len(given)} times: {given!r}")
    options = rest[: rest.index("--")] if "--" in rest else rest
    # --r, --re, ... --reference: argparse reads any of them as --reference where no other
    # option of the command starts so; then one of the two folders would go unread
    named = [
        o for o in (i.split("=", 1)[0] for i in options)
        if len(o) > 2 and "--reference".startswith(o)
    ]  # fmt: skip
    if given and named:
        shown = "" if named[0] == "--reference" else " (short for --reference)"
        _usage_error(f"--bundle and {named[0]}{shown} both name the bundle folder: give one")
    if given and not given[0]:  # an empty path is the working folder to some readers
        _usage_error("argument --bundle: expected a folder, got an empty path")
    if given:
        os.environ["SUITE_BUNDLE"] = given[0]
    return rest


def _exit_on_terminate() -> None:
    """SIGTERM (``timeout``, ``kill``, a CI's cancel) ends the command as an exception does:
    ``finally`` blocks run, so a submit's private model copy and its lock go, and temporary
    files are removed. Only in the command's own process: a worker it forked dies as before."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    home = os.getpid()

    def terminated(signum, frame):
        if os.getpid() != home:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command's process (python -m suite, or the suite script)
        _exit_on_terminate()
    argv = sys.argv[1:] if argv is None else list(argv)
    # transformers' per-load "Loading weights" bars: noise on stderr before a result or an error
    # line, for models that load in milliseconds (set the variable to 0 to see them)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # and its warnings ("Token indices sequence length is longer ..." before the suite's own
    # refusal of the prompt): errors only, so stderr is one line
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # and huggingface_hub's retry warnings ("... thrown while requesting GET ..."): the suite's
    # own error line names the model it could not fetch
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")
    argv = _take_bundle(argv)
    try:
        if argv and argv[0] in FORWARDED:  # the module's own parser, --help included
            import importlib

            return int(importlib.import_module(FORWARDED[argv[0]][0]).main(argv[1:]) or 0)
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except SpecError as err:
        print(error_line(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the finally blocks ran; a run resumes where it stopped
        print("error: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:
        print(error_line(err), file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as err:  # torch's allocator raises a RuntimeError
        if isinstance(err, RuntimeError) and "allocate memory" not in str(err):
            raise
        # an input within every bound that still outgrew this machine's memory
        print("error: out of memory (the input is within the suite's bounds; use a machine "
              "with more memory, or a smaller input)", file=sys.stderr)  # fmt: skip
        return 2
