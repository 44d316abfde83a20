"""Number arguments of the command lines, read as written: ASCII digits only (``int`` and
``float`` also take ``1_0``, Unicode digits and ``nan``), and a decode temperature that is
0 or in range, never one that underflows to 0 (greedy) on the way. No suite imports beyond
the bounds: any parser may use it."""

from __future__ import annotations

import argparse
import math
import re
import reprlib
from decimal import Decimal

from suite.reader import MAX_TEMPERATURE, MIN_TEMPERATURE
from suite.seeding import SEED_LIMIT
from suite.strict import underflows

_INTEGER = re.compile(r"[+-]?[0-9]{1,64}", re.ASCII)
_DECIMAL = re.compile(
    r"[+-]?(?P<digits>[0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?", re.ASCII
)


def integer(text: str, expected: str) -> int:
    """``text`` as an integer when it is one written in ASCII digits (a sign allowed)."""
    if not _INTEGER.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{reprlib.repr(text)}: expected {expected}")
    return int(text)


def ascii_integer(text: str) -> int:
    """An argparse type: :func:`integer`, its bounds checked where the option is used."""
    return integer(text, "an integer written in ASCII digits")


def seed(text: str) -> int:
    """An argparse type: a seed, 0 to 2^32 - 1, in ASCII digits."""
    value = integer(text, f"a seed from 0 to {SEED_LIMIT - 1:,}")
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"{value}: expected a seed from 0 to {SEED_LIMIT - 1:,}")
    return value


def ascii_decimal(text: str) -> float:
    """An argparse type: a decimal number written in ASCII (``0.02``, ``2e-2``), not ``nan``,
    ``inf`` or another script's digits; its bounds checked where the option is used."""
    value = float(text) if _DECIMAL.fullmatch(text) else math.nan
    if not math.isfinite(value) or underflows(text, value):  # 1e999, 1e-400
        message = "expected a decimal number a float holds (neither infinite nor below 1e-308)"
        raise argparse.ArgumentTypeError(f"{reprlib.repr(text)}: {message}")
    return value


TEMPERATURE_VALUES = (
    f"0 (greedy) or a decimal number from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}"
)
TEMPERATURE_RULE = f"a decode temperature: {TEMPERATURE_VALUES}"


def decode_temperature(text: str) -> float:
    """τ_dec as an option gives it: 0 (``-0`` too) or from MIN_TEMPERATURE to MAX_TEMPERATURE,
    as written in decimal: ``1e-400`` (0.0 to a float) is refused, not run greedy."""
    if _DECIMAL.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(f"{reprlib.repr(text)}: expected {TEMPERATURE_RULE}")
    exact = Decimal(text)  # the bounds as written: 0.0009999999999999999999 is a float 0.001
    low, high = Decimal(str(MIN_TEMPERATURE)), Decimal(str(MAX_TEMPERATURE))
    if exact < 0 or exact > high or (0 < exact < low):
        raise argparse.ArgumentTypeError(f"{reprlib.repr(text)}: expected {TEMPERATURE_RULE}")
    return float(text) + 0.0  # -0 is 0


def add_temperatures(parser: argparse.ArgumentParser, default: list[float]) -> None:
    """``--temperatures``: the τ_dec values a command sweeps, each a :func:`decode_temperature`."""
    parser.add_argument(
        "--temperatures",
        type=decode_temperature,
        nargs="+",
        default=default,
        help=f"τ_dec values: {TEMPERATURE_VALUES} (default {' '.join(map(str, default))})",
    )
