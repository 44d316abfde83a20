"""A tokenizer's regexes timed on long runs of characters before it tokenizes any prompt.

Oniguruma tries a pattern at every start position, so a pattern whose repeat can consume a run
and then fail (``(?: |\\t)+(?:x|y)``, `` +$`` before a letter) scans a run of ``n`` characters in
time ``n²``: 0.45 s on 8,192 spaces for one such pattern, against 2 ms for the bundled tokenizer.
The regex rules of :mod:`suite.tokenizer_files` refuse patterns that backtrack exponentially;
this measured check refuses the quadratic ones. A tokenizer that holds a ``{"Regex": ...}`` is
timed on runs of :data:`RUN` copies of each character its patterns name and of common classes
(space, tab, newline, letters, digits, punctuation, accented and CJK letters), alone and before
another character; one encode over :data:`MAX_SECONDS` is refused. It is a measurement, not a
proof: a pattern quadratic only on characters it does not name and none of the common classes
could pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from suite.errors import SpecError
from suite.jsonable import entries

RUN = 8192  # characters of one probe
MAX_SECONDS = 0.1  # one probe's encode; a linear tokenizer takes a few milliseconds
MAX_PROBE_CHARS = 64  # distinct characters probed
COMMON = " \t\n\ra Z0._'!-/é中▁"
PAIRS = (" a", "a.", "\n ", "0 ", "a\t")


def _named_chars(data: Any) -> str:
    """The characters the tokenizer's regexes name, common classes first, at most
    MAX_PROBE_CHARS of them."""
    chars = dict.fromkeys(COMMON)
    for _name, key, pattern in entries(data):
        if key == "Regex" and isinstance(pattern, str):
            chars.update(dict.fromkeys(c for c in pattern if c not in "\\()[]{}|*+?^$"))
    return "".join(list(chars)[:MAX_PROBE_CHARS])


def _probes(data: Any) -> Iterator[tuple[str, str]]:
    """(what, text): a run of each character, alone and before another, and runs of pairs."""
    for c in _named_chars(data):
        other = "z" if c != "z" else "!"
        yield f"{RUN:,} × {c!r}", c * RUN
        yield f"{RUN:,} × {c!r} then {other!r}", c * (RUN - 1) + other
    for pair in PAIRS:
        yield f"{RUN // 2:,} × {pair!r}", pair * (RUN // 2)


def has_regex(data: Any) -> bool:
    return any(key == "Regex" for _name, key, _value in entries(data))


def check_regex_time(backend, data: Any, where: str | Path) -> None:
    """Refuse a tokenizer (its Rust ``backend``, ``data`` its JSON) whose encode of one probe
    takes over MAX_SECONDS, naming ``where``; a tokenizer without regexes is not timed."""
    if not has_regex(data):
        return
    for what, text in _probes(data):
        start = time.perf_counter()
        try:
            backend.encode(text, add_special_tokens=False)
        except BaseException as err:  # a panic is the caller's to name; only time is judged here
            if type(err).__name__ != "PanicException" and not isinstance(err, Exception):
                raise
            continue
        seconds = time.perf_counter() - start
        if seconds > MAX_SECONDS:
            message = (
                f"its regexes take {seconds:.2f} s on a run of {what} (at most {MAX_SECONDS} s): "
                "they scan long runs in quadratic time"
            )
            patterns = [v for _n, key, v in entries(data) if key == "Regex"]
            raise SpecError(where, "Regex", patterns, message)
