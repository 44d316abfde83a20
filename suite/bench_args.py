"""The benchmark's command-line arguments, apart from the benchmark: building ``suite``'s parser
(``--help``, every command) must not import torch and transformers."""

from __future__ import annotations

import argparse
from pathlib import Path

from suite.number_arguments import add_temperatures, ascii_decimal, ascii_integer
from suite.path_arguments import non_empty_folder

PROMPT_TASKS = ("gsm8k", "alpaca")
DEFAULT_KS = (1, 2, 3, 4, 6, 8)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--num-draft-tokens",
        type=ascii_integer,
        nargs="+",
        default=list(DEFAULT_KS),
        metavar="K",
        help=f"K values to sweep (default {' '.join(map(str, DEFAULT_KS))})",
    )
    parser.add_argument(
        "--max-new-tokens", type=ascii_integer, default=64, help="tokens per generation"
    )
    parser.add_argument(
        "--prompts",
        type=ascii_integer,
        default=8,
        help="test-split prompts (random ids for a random pair)",
    )
    add_temperatures(parser, [0.0, 1.0])
    parser.add_argument(
        "--tasks",
        nargs="+",
        help="test prompts from these tasks, alternating, each task once (default: the best KD "
        f"draft's KD dataset for the bundled pair, else {' and '.join(PROMPT_TASKS)}); needs the "
        "target's tokenizer: not with --random-pair or a --target without tokenizer.json",
    )
    parser.add_argument(
        "--seed", type=ascii_integer, default=0, help="seed of prompts and samplers"
    )
    parser.add_argument(
        "--out", type=non_empty_folder, default=Path("results/bench"), help="output folder"
    )
    _add_pair_arguments(parser)
    _add_timing_arguments(parser)


def _add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        type=non_empty_folder,
        help="save_pretrained folder of the target (with --draft)",
    )
    parser.add_argument(
        "--draft",
        type=non_empty_folder,
        action="append",
        default=[],
        help="a draft folder to time instead of the bundle's base and best KD drafts; repeat "
        "for several (the target defaults to the bundle's)",
    )
    parser.add_argument(
        "--drafts",
        type=non_empty_folder,
        nargs="+",
        default=[],
        help="several --draft folders at once",
    )
    parser.add_argument(
        "--random-pair",
        action="store_true",
        help="a random-weight 34M/2.5M pair with shared token geometry instead of the bundle "
        "(not with --draft); its prompts are random token ids",
    )


def _add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=ascii_integer,
        default=1,
        help="torch threads for every method (default 1: batch-1 decoding of small models gains "
        "little from more, and a busy 2-core machine makes more threads erratic); 0 keeps torch's",
    )
    parser.add_argument(
        "--cost-rounds",
        type=ascii_integer,
        default=30,
        help="c: alternating target/draft rounds of blocked timing; c is the median ratio",
    )
    parser.add_argument(
        "--cost-run-time",
        type=ascii_decimal,
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
        "--limit-cells",
        type=ascii_integer,
        default=0,
        help="with --executor-compare: the first N cells",
    )
