"""The regex rules for a tokenizer's own patterns (``{"Regex": ...}`` in its normalizers,
pre-tokenizers and decoders), which Oniguruma runs over every prompt. Each pattern must pass the
answer-regex rules of :func:`suite.sandbox.regex_problem`, read as follows:

* Oniguruma's Unicode classes (``\\p{L}``, ``\\P{N}``), which Python's ``re`` lacks, are read as
  ``\\w`` and ``\\W``: one character class for another, the pattern's shape (repeats,
  alternatives, groups) unchanged. Other syntax ``re`` cannot compile is refused, and so are
  Oniguruma's set operations inside a class (``&&``, a nested set), which ``re`` reads as
  literals, and POSIX brackets (``[[:alpha:]]``), which ``re`` reads as another class: the
  timing check would probe characters the class does not hold.
* The top-level alternatives of a pattern (a pre-tokenizer's ``'s|'t| ?\\p{L}+|\\s+``) are tried
  one after another at a position, so their costs add: each is checked on its own, under the
  pattern's leading flags (``(?x)``, in force throughout), and the whole pattern is at most
  :data:`suite.sandbox.MAX_REGEX_CHARS` characters.
* Last, Oniguruma itself must compile it (``tokenizers.Regex``): a pattern it refuses (``(?si)``,
  an unknown property) is named here, by its field, not by the library's load error.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from suite.panic_text import panic_text_held
from suite.sandbox import (
    _FLAG_GROUP,
    _REPEAT_COUNT,
    MAX_REGEX_CHARS,
    class_members,
    posix_bracket_problem,
    regex_problem,
    syntax_chars,
)

_PROPERTY = re.compile(r"\{\^?[A-Za-z0-9_ =&.-]{1,64}\}|[A-Za-z]")


def _python_syntax(pattern: str) -> str:
    """``pattern`` with each Oniguruma property class written as ``\\w`` (or ``\\W``)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            kind = pattern[i + 1]
            match = _PROPERTY.match(pattern, i + 2) if kind in "pP" else None
            if match:
                negated = (kind == "P") != match.group().startswith("{^")
                out.append("\\W" if negated else "\\w")
                i = match.end()
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out)


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of ``pattern`` (outside groups and character classes)."""
    parts, depth, start = [], 0, 0
    for i, c in syntax_chars(pattern):
        if c in "()":
            depth += 1 if c == "(" else -1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    return [*parts, pattern[start:]]


def _class_syntax_problem(pattern: str) -> str | None:
    """Oniguruma's set operations inside a character class, which Python reads as literals:
    an intersection (``[a-e&&[^ace]]`` is ``[bd]``), a nested set (``[a[^b]]``) or a POSIX
    bracket (Python reads ``[[:alpha:]]`` as the set ``[:alph`` then ``]``). A comment's
    brackets are not read (:func:`suite.sandbox.class_members`)."""
    problem = posix_bracket_problem(pattern)
    if problem:
        return problem
    for i, c in class_members(pattern):
        if c == "[":
            return "a nested character class (Oniguruma's set union) is refused"
        if pattern.startswith("&&", i):
            return "a class intersection (&&, which Python reads as literals) is refused"
    return None


def _repeat_count_suffix_problem(pattern: str) -> str | None:
    """A repeat count followed by ``+`` (or an exact one by ``?``): Python reads ``a{1,2}+`` as
    one possessive repeat and ``a{2}?`` as a lazy one; Oniguruma reads them as ``(?:a{1,2})+``,
    a repeat of a repeat the checks would not see, and ``(?:a{2})?``. What follows the count is
    its next character as the engines read it: verbose whitespace and comments between are
    skipped (``(?x)a{1,2} +`` is ``a{1,2}+`` to Oniguruma)."""
    chars = list(syntax_chars(pattern))
    for n, (i, c) in enumerate(chars):
        count = _REPEAT_COUNT.match(pattern, i) if c == "{" else None
        if count is None:
            continue
        after = next((d for j, d in chars[n + 1 :] if j >= count.end()), "")
        if after == "+" or (after == "?" and "," not in count.group()):
            return (
                f"a repeat count followed by {after!r} ({count.group()}{after}): Oniguruma applies "
                "it to the repeat again where Python reads one repeat; write (?:...) around it"
            )
    return None


def _checked_parts(pattern: str) -> list[str]:
    """The top-level alternatives of ``pattern`` (in Python's syntax), each as it is read in
    the whole: the pattern's global flags (``(?x)``, ``(?#c)(?i)(?x)``) written before each,
    since Oniguruma reads ``(?x)a|b c`` verbose throughout. Python compiles global flags only at
    the pattern's start (past comments); elsewhere (``a|(?x)b``, which Oniguruma applies to the
    end of the pattern) they are refused."""
    with warnings.catch_warnings():  # "Possible nested set": refused before this
        warnings.simplefilter("ignore", FutureWarning)
        re.compile(pattern)
    flags = (_FLAG_GROUP.match(pattern, i) for i, c in syntax_chars(pattern) if c == "(")
    prefix = "".join(m.group() for m in flags if m is not None and m.group(3) == ")")
    parts = _alternatives(pattern)
    return [parts[0], *(prefix + part for part in parts[1:])]


def tokenizer_regex_problem(pattern: Any) -> str | None:
    """Why a tokenizer's regex is refused, or None (the rules in the module's docstring)."""
    if not isinstance(pattern, str):
        return "a regex must be a string"
    if len(pattern) > MAX_REGEX_CHARS:
        return f"a pattern is at most {MAX_REGEX_CHARS} characters"
    problem = _class_syntax_problem(pattern) or _repeat_count_suffix_problem(pattern)
    if problem:
        return problem
    try:
        for part in _checked_parts(_python_syntax(pattern)):
            with warnings.catch_warnings():  # "Possible nested set": refused just above
                warnings.simplefilter("ignore", FutureWarning)
                problem = regex_problem(part)
            if problem:
                return problem
    except re.error as err:
        return f"not a pattern this suite can check ({err}); refused"
    return _oniguruma_problem(pattern)


def _oniguruma_problem(pattern: str) -> str | None:
    """Oniguruma's refusal of ``pattern`` (its first line), or None; a panic counts as one."""
    import tokenizers  # the library that compiles it at load

    try:
        with panic_text_held():  # its report: the refusal names the panic in one line
            tokenizers.Regex(pattern)
    except BaseException as err:  # its errors are plain Exceptions, a panic a BaseException
        if type(err).__name__ != "PanicException" and not isinstance(err, Exception):
            raise
        lines = str(err).strip().splitlines()
        return f"Oniguruma refuses it: {lines[0][:200] if lines else type(err).__name__}"
    return None
