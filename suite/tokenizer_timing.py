"""A tokenizer's regexes timed on long runs of characters before it tokenizes any prompt.

Oniguruma tries a pattern at every start position, so a pattern whose repeat can consume a run
and then fail (``(?: |\\t)+(?:x|y)``, `` +$`` before a letter) scans a run of ``n`` characters in
time ``n²``: 1.4 s on 8,192 spaces for one such pattern, against at most 15 ms for GPT-2's.
The regex rules of :mod:`suite.tokenizer_files` refuse patterns that backtrack exponentially;
this measured check refuses the quadratic ones. A tokenizer that holds a ``{"Regex": ...}`` is
timed, chain by chain (normalizer, pre-tokenizer, decoder), on runs of :data:`RUN` copies of
each character its patterns name and of common classes (whitespace, ASCII letters, digits and
punctuation, a letter or mark of each major script, symbols, an emoji), alone and before another
character; one probe over :data:`MAX_SECONDS` (a decoder: :data:`TOKENS` tokens of
:data:`TOKEN_CHARS` characters over :data:`MAX_DECODE_SECONDS`) is refused. It is a
measurement, not a proof: a pattern quadratic only on characters it does not name and none of the
common classes could pass. A tokenizer with GPT-2's or Llama-3's pattern takes 1 to 2 s to time.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import regex

from suite.errors import SpecError
from suite.jsonable import entries

try:  # CPython's parser resolves a pattern's escapes and ranges to the characters they name
    import re._parser as _sre_parse
except ImportError:  # pragma: no cover - then the characters written in it are probed
    _sre_parse = None

RUN = 8192  # characters of one probe
MAX_SECONDS = 0.1  # one probe through a chain; a linear one takes at most 15 ms
TOKENS, TOKEN_CHARS = 8, 1024  # a decoder's probe: tokens of the longest allowed text
MAX_DECODE_SECONDS = 0.05  # a linear decoder takes about a millisecond
MAX_PROBE_CHARS = 160  # distinct characters probed
COMMON = (  # classes, then one letter or mark of each major script and other categories
    " \t\n\r\x0b\x0c\u00a0\u3000\u2028a Z0._'!-/\"#$%&*+,:;<=>?@[]^`{|}~▁"
    "éßαдעعक\u0e01한あア中Ａ٣\u0301\u200b€∑😀ȸ"
)
PAIRS = (" a", "a.", "\n ", "0 ", "a\t")


_PROPERTY = re.compile(r"\\[pP](\{\^?[A-Za-z0-9_ =&.-]{1,64}\}|[A-Za-z])")


@functools.lru_cache(maxsize=1)
def _every_code_point() -> str:
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)


@functools.lru_cache(maxsize=256)
def _property_char(name: str) -> str:
    """A character of the Unicode property or script ``name`` (``L``, ``{Greek}``), or ''."""
    try:
        found = regex.search(f"\\p{name}", _every_code_point())
    except (regex.error, ValueError):
        return ""
    return found.group() if found else ""


def _literals(tree: Any, out: dict) -> None:
    """The characters a parsed pattern names: its literals, and each range's ends and middle."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple) and len(item) == 2 and str(item[0]) in _LITERAL_OPS:
            codes = item[1] if isinstance(item[1], tuple) else (item[1],)
            if str(item[0]) == "RANGE":
                codes = (codes[0], (codes[0] + codes[1]) // 2, codes[1])
            out.update(dict.fromkeys(chr(c) for c in codes if 0 <= c < 0x110000))
        elif isinstance(item, list | tuple) or hasattr(item, "data"):
            stack.extend(getattr(item, "data", item))


_LITERAL_OPS = {"LITERAL", "NOT_LITERAL", "RANGE"}


def _pattern_chars(pattern: str) -> dict:
    """The characters ``pattern`` names (escapes resolved), their other case where it ignores
    case, and a character of each Unicode property it names."""
    chars: dict = {}
    for match in _PROPERTY.finditer(pattern):
        chars.update(dict.fromkeys(_property_char(match.group(1))))
    try:
        _literals(_sre_parse.parse(_PROPERTY.sub("a", pattern)), chars)
    except (re.error, RecursionError, OverflowError, ValueError, TypeError, AttributeError):
        chars.update(dict.fromkeys(c for c in pattern if c not in "\\()[]{}|*+?^$"))
    if "(?i" in pattern:
        chars.update(dict.fromkeys(c.swapcase() for c in list(chars) if len(c.swapcase()) == 1))
    chars.pop("", None)
    return chars


def _named_chars(data: Any) -> str:
    """The characters the tokenizer's regexes name, common classes first, at most
    MAX_PROBE_CHARS of them."""
    chars = dict.fromkeys(COMMON)
    for _name, key, pattern in entries(data):
        if key == "Regex" and isinstance(pattern, str):
            chars.update(_pattern_chars(pattern))
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


def _steps(backend, data: dict) -> list[tuple[str, Callable[[str], Any], float]]:
    """(chain, call, seconds allowed) for each chain of ``backend`` that holds a regex: the
    normalizer and pre-tokenizer on a probe, the decoder on TOKENS tokens of TOKEN_CHARS."""
    steps = []
    if has_regex(data.get("normalizer")) and backend.normalizer is not None:
        steps.append(("normalizer", backend.normalizer.normalize_str, MAX_SECONDS))
    if has_regex(data.get("pre_tokenizer")) and backend.pre_tokenizer is not None:

        def encode(text: str) -> Any:  # the pipeline: pre_tokenize_str builds a list per piece
            return backend.encode(text, add_special_tokens=False)

        steps.append(("pre-tokenizer", encode, MAX_SECONDS))
    if has_regex(data.get("decoder")) and backend.decoder is not None:

        def decode(text: str, decoder=backend.decoder) -> Any:
            return decoder.decode([text[:TOKEN_CHARS]] * TOKENS)

        steps.append(("decoder", decode, MAX_DECODE_SECONDS))
    return steps


def check_regex_time(backend, data: Any, where: str | Path) -> None:
    """Refuse a tokenizer (its Rust ``backend``, ``data`` its JSON) whose normalizer,
    pre-tokenizer or decoder takes over its limit on one probe, naming ``where`` and the chain;
    chains without regexes are not timed."""
    if not isinstance(data, dict):
        return
    for chain, call, limit in _steps(backend, data):
        for what, text in _probes(data):
            start = time.perf_counter()
            try:
                call(text)
            except BaseException as err:  # a panic is named when a prompt meets it
                if type(err).__name__ != "PanicException" and not isinstance(err, Exception):
                    raise
                continue
            seconds = time.perf_counter() - start
            if seconds > limit:
                patterns = [v for _n, key, v in entries(data.get(_KEYS[chain])) if key == "Regex"]
                message = (
                    f"its {chain} takes {seconds:.2f} s on a run of {what} (at most {limit} s): "
                    "its regexes scan long runs in quadratic time"
                )
                raise SpecError(where, f"{_KEYS[chain]} Regex", patterns, message)


_KEYS = {"normalizer": "normalizer", "pre-tokenizer": "pre_tokenizer", "decoder": "decoder"}
