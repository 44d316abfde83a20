"""The report's files: tables written as CSV a spreadsheet cannot run, and every file written or
none.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by a
spreadsheet as a formula (a draft named ``=HYPERLINK(...)`` would run as one), so such a cell is
written with a single quote in front, as OWASP's advice on CSV injection says; numbers are left
as they are. The four files are rendered first, then written to temporary files beside their
targets, then renamed into place: a report that fails while rendering or writing leaves the
files that were there before.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pandas as pd

from suite.errors import SpecError
from suite.io import file_mode, make_folder, remove_made

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _guard(value):
    """A text cell a spreadsheet would read as a formula, quoted; anything else as it is."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def safe_csv(frame: pd.DataFrame) -> str:
    """The table as CSV text, with every formula-like text cell quoted (see the module's doc)."""
    return frame.map(_guard).to_csv(index=False)


def _check_target(path: Path) -> None:
    """A report file may replace a regular file, never a folder, a link or a device."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        message = "exists and is not a regular file (a folder, link or device); refused"
        raise SpecError(path, "--out", str(path.parent), message)


def write_all(files: dict[Path, str]) -> None:
    """Write every file or none: all are checked and written to temporary files, then renamed.
    Their folder is made if missing, and removed again if writing fails."""
    for path in files:
        _check_target(path)
    folder = next(iter(files)).parent if files else None
    made = make_folder(folder) if folder is not None else None
    try:
        _write_renamed(files)
    except BaseException:
        remove_made(folder, made)
        raise


def _write_renamed(files: dict[Path, str]) -> None:
    temps: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps[path] = Path(name)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(temps[path], file_mode(path))  # mkstemp's file is private (0600)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    folder = os.open(next(iter(files)).parent, os.O_RDONLY) if files else None
    if folder is not None:
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
