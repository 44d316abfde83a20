"""The arguments of each ``python -m suite`` command: one ``add_<command>(sub)`` per command,
each adding its parser to the subparsers ``sub`` with its handler (:mod:`suite.cli.commands`)."""

from __future__ import annotations

import argparse

from suite.cli import commands
from suite.number_arguments import TEMPERATURE_VALUES, decode_temperature, integer
from suite.path_arguments import non_empty_folder, non_empty_path  # noqa: F401 (re-exported)
from suite.reader import MAX_THREADS, MAX_WORKERS
from suite.seeding import SEED_LIMIT


class HELP(argparse.ArgumentDefaultsHelpFormatter):
    """Help texts show each option's default, where it has one a user can read."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def whole_number(low: int, high: int | None = None, *, what: str = "a whole number"):
    """An argparse type: an integer from ``low`` to ``high`` (no ceiling when None); argparse
    refuses anything else naming the option and the value, with exit status 2."""
    expected = f"{what} from {low:,} to {high:,}" if high is not None else f"{what} >= {low:,}"

    def parse(text: str) -> int:
        value = integer(text, expected)  # ASCII digits: not 1_0 or another script's digits
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value}: expected {expected}")
        return value

    return parse


def draft_tokens(text: str) -> int:
    """K for --num-draft-tokens: 1 to the plans' ceiling (a draft's proposals per step)."""
    from suite.specs import MAX_DRAFT_TOKENS

    return whole_number(1, MAX_DRAFT_TOKENS)(text)


THREADS = whole_number(0, MAX_THREADS, what="a thread count (0: torch's default)")
WORKERS = whole_number(1, MAX_WORKERS, what="a worker count")
SEED = whole_number(0, SEED_LIMIT - 1, what="a seed")


def new_tokens(text: str) -> int:
    """--max-new-tokens: 1 to the ceiling every spec and profile has."""
    from suite.specs import MAX_NEW_TOKENS

    return whole_number(1, MAX_NEW_TOKENS)(text)


def prompt_count(text: str) -> int:
    """A number of prompts: 1 to the ceiling of any count a file states."""
    from suite.specs import MAX_SIZE

    return whole_number(1, MAX_SIZE)(text)


def _reference_dir():
    from suite.paths import bundle_dir

    return bundle_dir()


def non_empty_address(text: str) -> str:
    """A cluster's address: an empty one (an unset ``$RAY_HEAD``) would start a local Ray."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEAD:PORT (an empty one names none)")
    return text


def _executor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this machine's processes; ray: one Ray actor per worker",
    )
    p.add_argument(
        "--address",
        type=non_empty_address,
        help="with --executor ray: the cluster's HEAD:6379 (default: start a local Ray instance)",
    )


def add_tasks(sub) -> None:
    p = sub.add_parser("tasks", help="list the task specs, or show one task's examples")
    p.add_argument("name", nargs="?", help="a task name; without it, list all tasks")
    p.add_argument("--split", help="only this split")
    p.add_argument("--show", type=whole_number(0), default=2, help="examples to print per split")
    p.add_argument(
        "--tasks-dir", type=non_empty_path, help="folder of task specs (default: tasks/)"
    )
    p.set_defaults(func=commands.cmd_tasks)


def add_generate(sub) -> None:
    p = sub.add_parser(
        "generate", help="decode one instruction, speculatively when --draft is given"
    )
    p.add_argument("prompt", help="the instruction text")
    p.add_argument(
        "--target", type=non_empty_path, required=True, help="save_pretrained folder or Hub id"
    )
    p.add_argument(
        "--draft", type=non_empty_path, help="save_pretrained folder or Hub id of the draft"
    )
    p.add_argument(
        "--tokenizer", type=non_empty_path, help="tokenizer folder (default: the target's)"
    )
    p.add_argument(
        "--temperature", type=decode_temperature, default=0.0, help=f"τ_dec: {TEMPERATURE_VALUES}"
    )
    p.add_argument("--num-draft-tokens", type=draft_tokens, default=4, help="K: 1 to 128")
    p.add_argument("--max-new-tokens", type=new_tokens, default=64, help="1 to 8,192")
    p.add_argument("--seed", type=SEED, default=0, help=f"0 to {SEED_LIMIT - 1:,}")
    p.set_defaults(func=commands.cmd_generate)


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train the tokenizer, the target and the base draft")
    p.add_argument(
        "--recipe", type=non_empty_path, default="reference/recipes/llama.yaml", help="recipe YAML"
    )
    p.add_argument(
        "--out", type=non_empty_path, default="reference/llama", help="folder for the artifacts"
    )
    p.add_argument(
        "--only",
        nargs="+",
        default=None,
        choices=["tokenizer", "target", "draft"],
        help="which artifacts to build, in order (default: the tokenizer and every model the "
        "recipe makes)",
    )
    p.add_argument("--threads", type=THREADS, default=0, help="torch threads (0: torch's default)")
    p.set_defaults(func=commands.cmd_train)


def add_distill(sub) -> None:
    p = sub.add_parser("distill", help="distil the KD drafts of a recipe from the base draft")
    p.add_argument(
        "--recipe",
        type=non_empty_path,
        default="reference/recipes/kd-llama.yaml",
        help="KD recipe YAML",
    )
    p.add_argument(
        "--out",
        type=non_empty_path,
        default="reference/llama",
        help="folder of target, draft, tokenizer",
    )
    p.add_argument("--only", nargs="+", metavar="NAME", help="build only these drafts")
    p.add_argument("--full-grid", action="store_true", help="τ_kd in the paper's 0.1 steps")
    p.add_argument("--threads", type=THREADS, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--list", action="store_true", help="list the drafts and whether each is built")
    p.add_argument(
        "--device",
        default="cpu",
        type=_distill_device,
        help="where the target and the drafts run: cpu (the default), cuda or cuda:N",
    )
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="the target's dtype (default float32); drafts keep float32 weights and compute "
        "under autocast to it",
    )
    p.set_defaults(func=commands.cmd_distill)


def _distill_device(value: str) -> str:
    """``--device`` checked at parse time: a GPU torch cannot see is refused with exit status 2."""
    if value == "cpu":
        return value  # the default: no torch import for --help or --list
    from suite.distill.precision import check_device

    try:
        return check_device(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_manifest(sub) -> None:
    p = sub.add_parser("manifest", help="hash the bundle and write reference/MANIFEST.json")
    p.add_argument(
        "--reference", type=non_empty_path, default=str(_reference_dir()), help="bundle folder"
    )
    p.add_argument(
        "--prompts", type=prompt_count, default=48, help="test prompts for draft acceptance"
    )
    p.add_argument(
        "--cells",
        type=non_empty_path,
        default="results/manifest",
        help="the runner's results folder for the acceptance cells, the cache of rebuilds "
        "(default: %(default)s)",
    )
    p.set_defaults(func=commands.cmd_manifest)


def add_verify(sub) -> None:
    p = sub.add_parser("verify", help="check every bundled file's sha256 and load every model")
    p.add_argument(
        "--reference", type=non_empty_path, default=str(_reference_dir()), help="bundle folder"
    )
    p.add_argument("--hashes-only", action="store_true", help="skip loading the models")
    p.set_defaults(func=commands.cmd_verify)


def add_run(sub) -> None:
    p = sub.add_parser(
        "run", help="run studies (tasks/studies) under a profile, resumably", formatter_class=HELP
    )
    p.add_argument("studies", nargs="+", metavar="STUDY", help="study names, YAML paths, or all")
    p.add_argument("--profile", default="quick", help="smoke, quick, full, paper, or a YAML path")
    p.add_argument("--out", type=non_empty_path, help="results folder (default: results/<profile>)")
    p.add_argument("--workers", type=WORKERS, default=1, help="worker processes (Ray: actors)")
    _executor_arguments(p)
    p.add_argument(
        "--engine", nargs="+", choices=["analytic", "empirical"], help="only these engines"
    )
    p.add_argument(
        "--threads",
        type=THREADS,
        default=0,
        help="torch threads, per worker too (0: torch's default; workers share the CPUs out)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=commands.cmd_run)


def add_report(sub) -> None:
    p = sub.add_parser("report", help="render the HTML report of a results folder")
    p.add_argument(
        "dir", metavar="DIR", type=non_empty_path, help="results folder of `python -m suite run`"
    )
    p.add_argument("--out", type=non_empty_path, help="folder for the report files (default: DIR)")
    p.add_argument(
        "--profile",
        type=non_empty_path,
        help="the run's profile file, where it is not one of the suite's (default: by name)",
    )
    p.add_argument(
        "--studies",
        nargs="+",
        type=non_empty_path,
        help="the run's study files, where they are not the suite's (default: by name)",
    )
    p.set_defaults(func=commands.cmd_report)


def add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce", help="every study, the claims and the HTML report", formatter_class=HELP
    )
    p.add_argument("--profile", default="quick", help="smoke, quick, full, paper, or a YAML path")
    p.add_argument("--studies", nargs="+", default=["all"], help="study names (default: all)")
    p.add_argument("--out", type=non_empty_path, help="results folder (default: results/<profile>)")
    p.add_argument("--workers", type=WORKERS, default=2, help="worker processes (Ray: actors)")
    _executor_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=commands.cmd_reproduce)


def add_submit(sub) -> None:
    p = sub.add_parser(
        "submit",
        help="validate a submitted draft and score it beside the bundle",
        formatter_class=HELP,
    )
    p.add_argument(
        "folder",
        type=non_empty_path,
        metavar="FOLDER",
        help="submissions/<name> (holds submission.yaml)",
    )
    p.add_argument("--profile", default="quick", help="smoke, quick, full, paper, or a YAML path")
    p.add_argument(
        "--out",
        type=non_empty_path,
        help="results folder (default: results/submissions/<name>-<profile>)",
    )
    p.add_argument("--workers", type=WORKERS, default=1, help="worker processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=commands.cmd_submit)


def add_bench(sub) -> None:
    from suite.bench_args import add_arguments  # not suite.bench: that imports torch

    p = sub.add_parser("bench", help="time target alone, our decoder and assisted generation")
    add_arguments(p)
    p.set_defaults(func=commands.cmd_bench)


# Every command with its own parser here, in the order `suite --help` lists them.
COMMANDS = (
    add_tasks,
    add_generate,
    add_train,
    add_distill,
    add_manifest,
    add_verify,
    add_run,
    add_report,
    add_reproduce,
    add_submit,
    add_bench,
)
