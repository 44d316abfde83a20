"""The one error for bad input: it names the file, the field and the value, so a user can fix it.

The CLI prints it and exits with status 2; every module raises it for input that a user wrote.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

_MAX_VALUE_CHARS = 200


def _show_path(path: str | Path | None) -> str:
    """Relative to the working directory when inside it: shorter and what the user typed."""
    if path is None:
        return "<input>"
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


_REPR = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 160, 160
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 6


def _show_value(value: Any) -> str:
    """A bounded repr: a huge or deeply nested value is cut while it is written, not after."""
    text = _REPR.repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


class SpecError(ValueError):
    """Bad input: ``<path>: field '<field>' = <value>: <message>``."""

    def __init__(self, path: str | Path | None, field: str | None, value: Any, message: str):
        super().__init__(path, field, value, message)
        self.path = path
        self.field = field
        self.value = value
        self.message = message

    def __str__(self) -> str:
        where = _show_path(self.path)
        if self.field is None:
            return f"{where}: {self.message}"
        return f"{where}: field '{self.field}' = {_show_value(self.value)}: {self.message}"
