"""Path arguments of the command lines (the suite's own and the forwarded modules'): an empty
one is refused, never read as the working directory, and so is one holding a control or
invisible character. No suite imports: any parser may use it."""

from __future__ import annotations

import argparse
import unicodedata
from pathlib import Path

# As suite.errors.CONTROL_CATEGORIES: control, format, line and paragraph separators, surrogates.
_CONTROL = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def non_empty_path(text: str) -> str:
    """A path argument that is not empty (``""`` would be read as the working directory) and
    holds no control or invisible character (the suite prints the paths it writes: a newline
    would forge a line, an escape would drive the terminal)."""
    if not text:
        raise argparse.ArgumentTypeError("'': expected a path (an empty one names no file)")
    bad = next((c for c in text if unicodedata.category(c) in _CONTROL), None)
    if bad is not None:
        shown = text.encode("unicode_escape", "backslashreplace").decode("ascii")[:200]
        message = f"'{shown}': a path holds no control or invisible character (U+{ord(bad):04X})"
        raise argparse.ArgumentTypeError(message)
    return text


def non_empty_folder(text: str) -> Path:
    """:func:`non_empty_path` as a Path (``Path("")`` is the working directory)."""
    return Path(non_empty_path(text))
