"""Path arguments of the command lines (the suite's own and the forwarded modules'): an empty
one is refused, never read as the working directory. No suite imports: any parser may use it."""

from __future__ import annotations

import argparse
from pathlib import Path


def non_empty_path(text: str) -> str:
    """A path argument that is not empty: ``""`` would be read as the working directory."""
    if not text:
        raise argparse.ArgumentTypeError("'': expected a path (an empty one names no file)")
    return text


def non_empty_folder(text: str) -> Path:
    """:func:`non_empty_path` as a Path (``Path("")`` is the working directory)."""
    return Path(non_empty_path(text))
