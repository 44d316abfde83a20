"""The one error for bad input: it names the file, the field and the value, so a user can fix it.

The CLI prints it and exits with status 2; every module raises it for input that a user wrote.
"""

from __future__ import annotations

import argparse
import reprlib
import unicodedata
import weakref
from pathlib import Path
from typing import Any

_MAX_VALUE_CHARS = 200
# Control characters, invisible formatting (zero-width spaces and joiners, bidirectional marks and
# overrides, the byte order mark), line or paragraph separators and lone surrogates: text that
# shows other than it reads, that drives a terminal, or that cannot be written as UTF-8 (a
# surrogate, from a "\ud800" escape, is half of a UTF-16 pair, not a character). Private-use (Co)
# and unassigned (Cn) code points stay: they are characters, and a newer Unicode may assign the
# latter.
CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def control_character(text: str, allowed: str = "\t\n") -> str | None:
    """The first character of ``text`` in :data:`CONTROL_CATEGORIES` other than ``allowed``
    (tab and newline: multi-line text), or None."""
    if text.isprintable():  # every such character is non-printable: the common case is fast
        return None
    for c in text:
        if c not in allowed and unicodedata.category(c) in CONTROL_CATEGORIES:
            return c
    return None


def control_message(c: str, allowed: str = "\t\n") -> str:
    """Why a text holding :func:`control_character`'s character is refused; ``allowed`` as
    the check was given it, so the message says what the field takes."""
    if unicodedata.category(c) == "Cs":
        return f"a lone surrogate (U+{ord(c):04X}) is not a character: refused"
    aside = {"\t\n": " (tab and newline aside)", "\t": " (tab aside)", "\n": " (newline aside)"}
    return f"control and invisible characters (U+{ord(c):04X}) are refused{aside.get(allowed, '')}"


def printable(text: str, keep: str = "\n") -> str:
    """``text`` with every control or invisible character but ``keep`` written as its Python
    escape (``\\x1b``, ``\\u202e``): a file name or message never drives the terminal."""
    if text.isprintable():
        return text
    return "".join(
        c if c in keep or unicodedata.category(c) not in CONTROL_CATEGORIES else repr(c)[1:-1]
        for c in text
    )


def error_line(err: BaseException) -> str:
    """What the command line prints for bad input: ``error: <message>``, one line, escaped (a
    newline in a hostile key or value is written ``\\n``, so it cannot forge a second line)."""
    return f"error: {printable(str(err), keep='')}"


def _show_path(path: str | Path | None) -> str:
    """Relative to the working directory when inside it: shorter and what the user typed."""
    if path is None:
        return "<input>"
    p = Path(path)
    try:
        shown = str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symbolic link loop (3.11)
        shown = str(p)
    return printable(shown, keep="")


_REPR = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 160, 160
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 6


def _show_value(value: Any) -> str:
    """A bounded repr: a huge or deeply nested value is cut while it is written, not after."""
    text = _REPR.repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


class Parser(argparse.ArgumentParser):
    """The suite's command lines: a bad argument is one ``error:`` line naming the command (not
    argparse's usage block before it), status 2; ``--help`` still shows the usage."""

    def add_subparsers(self, **kwargs):
        kwargs.setdefault("parser_class", Parser)
        return super().add_subparsers(**kwargs)

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {printable(message, keep='')}\n")

    def add_argument(self, *args, **kwargs):
        """An option that takes a value (``--out DIR``, ``--engine a b``) is given once: argparse
        would keep only the last of two (``--engine a --engine b``, ``--sources bad --sources
        good``), dropping the first without a word (a flag given twice says the same twice)."""
        optional = bool(args) and str(args[0]).startswith("-")
        if optional and kwargs.get("action") in (None, "store") and kwargs.get("nargs") != 0:
            kwargs["action"] = _GivenOnce
        return super().add_argument(*args, **kwargs)


class _GivenOnce(argparse.Action):
    """argparse's store, refusing a second occurrence of the option in one command line, and a
    value listed twice (it would run twice, or be dropped without a word)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._seen: list[weakref.ref] = []  # the namespaces it stored into (unhashable: by id)

    def __call__(self, parser, namespace, values, option_string=None):
        self._seen = [ref for ref in self._seen if ref() is not None]
        if any(ref() is namespace for ref in self._seen):
            message = f"{option_string} given twice: list all its values after one {option_string}"
            parser.error(message)
        self._seen.append(weakref.ref(namespace))
        listed = values if isinstance(values, list) else [values]
        for i, value in enumerate(listed):
            if value in listed[:i]:  # as read: 0.0 and -0 are one temperature
                parser.error(f"{option_string} {value!r}: listed twice")
        setattr(namespace, self.dest, values)


MAX_MESSAGE_CHARS = 500


def cut(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` of at most ``limit`` characters: an exception's text (a template's error, a
    library's) can hold a whole input, megabytes of it, and is put in a message cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        field = cut(str(self.field), _MAX_VALUE_CHARS)  # a field may be a key the input chose
        message = cut(self.message, 4 * MAX_MESSAGE_CHARS)
        return f"{where}: field '{field}' = {_show_value(self.value)}: {message}"
