"""How long a text a ``tokenizer.json`` can make of a prompt or an answer, bounded before it
tokenizes anything.

The normalizer and pre-tokenizer run on every prompt, the decoder on every answer; the Rust
tokenizers library holds each intermediate text in memory (26 chained ``e`` → ``ee`` steps made
it abort, out of memory, on a 64 KiB prompt). Each step of a chain maps a text of ``n``
characters to at most ``f·n + a`` per segment (the pieces added tokens and earlier splits cut it
into, each at least one character), so at most ``(f + a)·n``; a chain's growth is the product of
its steps' ``f + a``:

* ``Replace``: ``f`` is its content's length over the shortest match of its pattern (a string's
  length; a regex's at most 1, see :func:`shortest_match`); a pattern that can match empty text
  inserts the content between characters: ``f = 1 + len``, ``a = len``. ``Prepend`` adds its
  text (``a``).
* Unicode forms, per code point (checked against :mod:`unicodedata` in the tests): NFC and NFD
  at most 4, NFKC and NFKD 18, ``Lowercase`` 3; ``BertNormalizer`` the product of the parts it
  enables (Chinese characters spaced 3, accents stripped through NFD 4, lowercase 3).
* ``Precompiled`` (a sentencepiece charsmap): the longest replacement text in its charsmap.
* ``ByteLevel`` maps each UTF-8 byte to a character (4), plus a prefix space where it adds one;
  ``Metaspace`` adds one character; splitting pre-tokenizers keep the text.
* Decoders: ``WordPiece`` adds a space per token, ``BPEDecoder`` with an empty suffix and
  ``CTC`` with an empty word delimiter space every character, the others keep or shrink the
  text.

A type this module does not list cannot be bounded and is refused; a chain has at most
:data:`MAX_STEPS` steps (each runs over every prompt, or over every token's text when an answer
is decoded token by token). The normalizer times the
pre-tokenizer is at most :data:`MAX_ENCODE_GROWTH` (BERT's uncased normalizer is 36, Llama-2's
chain 2, GPT-2's 5, NFKC before a byte-level pre-tokenizer 90; two NFKC steps with a
replacement between them, 324, are refused); the decoder at most :data:`MAX_DECODE_GROWTH`.
The prompt path also caps the text it hands a tokenizer times this growth
(:data:`suite.prompts.MAX_NORMALIZED_CHARS`).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Any

try:  # CPython's parser tells whether a pattern can match empty text; without it, assume so
    import re._parser as sre_parse
except ImportError:  # pragma: no cover - a Python without it bounds Regex patterns as empty
    sre_parse = None

MAX_ENCODE_GROWTH = 256.0  # normalizer × pre-tokenizer, characters out per character in
MAX_DECODE_GROWTH = 4.0  # decoder, characters out per character of the tokens' text
MAX_DEPTH = 16  # nested Sequences
MAX_STEPS = 64  # steps of one chain, Sequences flattened; real chains have at most 8
UNICODE_GROWTH = {"NFC": 4, "NFD": 4, "NFKC": 18, "NFKD": 18, "Lowercase": 3}
_KEEP_NORMALIZERS = frozenset({"Nmt", "Strip", "StripAccents"})
_SPLITTERS = frozenset({
    "BertPreTokenizer", "CharDelimiterSplit", "Digits", "FixedLength", "Punctuation", "Split",
    "UnicodeScripts", "Whitespace", "WhitespaceSplit",
})  # fmt: skip
_KEEP_DECODERS = frozenset({"ByteFallback", "ByteLevel", "Fuse", "Metaspace", "Strip"})
_LISTS = {"normalizer": "normalizers", "pre_tokenizer": "pretokenizers", "decoder": "decoders"}


class Unbounded(Exception):
    """A step whose growth cannot be bounded: (field, value, reason)."""

    def __init__(self, field: str, value: Any, reason: str):
        super().__init__(field, value, reason)
        self.found = (field, value, reason)


def shortest_match(pattern: Any, python_syntax) -> int:
    """The fewest characters ``pattern`` (``{"String": s}`` or ``{"Regex": r}``) matches: a
    string's length; for a regex 0 or 1, whether Python's parser finds it can match empty text.
    Oniguruma, which runs it, reads some syntax otherwise than Python: ``(?i)ffi`` matches the
    one-character ligature (so no regex counts more than 1), and a POSIX bracket such as
    ``[[:alpha:]]*`` matches empty text where Python reads a class and a repeated ``]`` (so a
    pattern holding ``[:`` counts 0), as does one Python cannot parse."""
    kind, text = next(iter(pattern.items()))
    if kind == "String":
        return len(text)
    if sre_parse is None or "[:" in text:
        return 0
    try:
        return min(1, max(0, int(sre_parse.parse(python_syntax(text)).getwidth()[0])))
    except (re.error, RecursionError, OverflowError, ValueError, TypeError, AttributeError):
        return 0


def _replace(step: dict, field: str, python_syntax) -> float:
    pattern, content = step.get("pattern"), step.get("content")
    valid = isinstance(pattern, dict) and len(pattern) == 1 and isinstance(content, str)
    if not valid or next(iter(pattern)) not in ("String", "Regex"):
        raise Unbounded(f"{field}.pattern", pattern, "not a pattern to bound")
    if not isinstance(next(iter(pattern.values())), str):
        raise Unbounded(f"{field}.pattern", pattern, "not a pattern to bound")
    shortest = shortest_match(pattern, python_syntax)
    if shortest == 0:
        return 1 + 2 * len(content)
    return max(1.0, len(content) / shortest)


def charsmap_growth(value: Any, field: str) -> float:
    """The longest replacement of a ``Precompiled`` charsmap (base64: a little-endian u32 trie
    size, the trie, then NUL-separated replacement texts): each replaces at least a character."""
    if value is None:
        return 1.0
    try:
        blob = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        (trie_bytes,) = struct.unpack_from("<I", blob)
    except (binascii.Error, struct.error, ValueError):
        raise Unbounded(field, value, "not a sentencepiece charsmap") from None
    if 4 + trie_bytes > len(blob):
        raise Unbounded(field, f"{len(blob):,} bytes", "its trie runs past its end")
    # The library reads trie_bytes // 4 whole units, so its texts start at the first byte after
    # them (up to 3 bytes before 4 + trie_bytes): the longest run without a NUL from there.
    texts = blob[4 + 4 * (trie_bytes // 4) :].split(b"\0")
    return float(max(1, *(len(t.decode("utf-8", "replace")) for t in texts)))


def _normalizer(step: dict, field: str, python_syntax) -> float:
    kind = step.get("type")
    if kind == "Replace":
        return _replace(step, field, python_syntax)
    if kind == "Prepend":
        text = step.get("prepend")
        return 1.0 + (len(text) if isinstance(text, str) else 0)
    if kind == "Precompiled":
        return charsmap_growth(step.get("precompiled_charsmap"), f"{field}.precompiled_charsmap")
    if kind == "BertNormalizer":
        lowercase = step.get("lowercase", True) is not False
        strip = step.get("strip_accents")
        chinese = 3 if step.get("handle_chinese_chars", True) is not False else 1
        return float(
            chinese * (4 if strip or (strip is None and lowercase) else 1) * (3 if lowercase else 1)
        )
    if kind == "ByteLevel":
        return 4.0
    if kind in UNICODE_GROWTH:
        return float(UNICODE_GROWTH[kind])
    if kind in _KEEP_NORMALIZERS:
        return 1.0
    raise Unbounded(f"{field}.type", kind, "a normalizer this suite cannot bound")


def _pre_tokenizer(step: dict, field: str, python_syntax) -> float:
    kind = step.get("type")
    if kind == "ByteLevel":
        return 4.0 + 1.0
    if kind == "Metaspace":
        return 2.0
    if kind == "FixedLength" and not (
        isinstance(step.get("length", 5), int) and 0 < step.get("length", 5) <= 1 << 20
    ):  # a length of 0 makes the library panic on the first prompt
        raise Unbounded(f"{field}.length", step.get("length"), "expected 1 to 1,048,576")
    if kind in _SPLITTERS:
        return 1.0
    raise Unbounded(f"{field}.type", kind, "a pre-tokenizer this suite cannot bound")


def _decoder(step: dict, field: str, python_syntax) -> float:
    kind = step.get("type")
    if kind == "Replace":
        return _replace(step, field, python_syntax)
    if kind == "WordPiece":
        return 2.0
    if kind == "BPEDecoder":  # replace(suffix, " "): an empty suffix spaces every character
        return 3.0 if step.get("suffix", "</w>") == "" else 1.0
    if kind == "CTC":  # replace(word_delimiter_token, " "), the same with an empty one
        return 3.0 if step.get("word_delimiter_token", "|") == "" else 1.0
    if kind in _KEEP_DECODERS:
        return 1.0
    raise Unbounded(f"{field}.type", kind, "a decoder this suite cannot bound")


_NAMED = {"Replace": "content", "Prepend": "prepend", "Precompiled": "precompiled_charsmap"}
_RULES = {"normalizer": _normalizer, "pre_tokenizer": _pre_tokenizer, "decoder": _decoder}


def _steps(value: Any, field: str, chain: str, depth: int = 0):
    """(field, step) for each step of a chain, its Sequences flattened in order."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise Unbounded(field, value, f"a {chain.replace('_', '-')} is a JSON object or null")
    if value.get("type") != "Sequence":
        yield field, value
        return
    if depth >= MAX_DEPTH:
        raise Unbounded(field, "Sequence", f"Sequences nest at most {MAX_DEPTH} deep")
    key = _LISTS[chain]
    items = value.get(key)
    if not isinstance(items, list):
        raise Unbounded(f"{field}.{key}", items, "a Sequence lists its steps")
    for i, sub in enumerate(items):
        yield from _steps(sub, f"{field}.{key}[{i}]", chain, depth + 1)


def chain_steps(data: dict, chain: str):
    """(field, step) of each step of ``chain`` (``normalizer``, ``pre_tokenizer``, ``decoder``),
    Sequences flattened; Unbounded where the chain is malformed."""
    return _steps(data.get(chain), chain, chain)


def _walk(data: dict, chain: str, python_syntax, start: float, most: float, what: str) -> float:
    """The growth of ``start`` times ``chain``'s steps; Unbounded at the step it passes ``most``."""
    growth = start
    for count, (field, step) in enumerate(_steps(data.get(chain), chain, chain), 1):
        if count > MAX_STEPS:  # each step runs on every prompt or every token's text
            raise Unbounded(field, f"step {count:,}", f"a chain has at most {MAX_STEPS} steps")
        if not isinstance(step.get("type"), str):
            raise Unbounded(f"{field}.type", step.get("type"), "expected a step's type name")
        growth *= _RULES[chain](step, field, python_syntax)
        if growth > most:
            named = _NAMED.get(step.get("type"), "type")
            reason = (
                f"the {what} can grow a text {growth:,.0f}-fold up to here; at most "
                f"{most:g}-fold (see suite.tokenizer_growth)"
            )
            raise Unbounded(f"{field}.{named}", step.get(named), reason)
    return growth


def encode_growth(data: Any, python_syntax) -> float:
    """The normalizer times the pre-tokenizer's growth; Unbounded where it passes the bound."""
    if not isinstance(data, dict):
        return 1.0
    pre = _walk(data, "pre_tokenizer", python_syntax, 1.0, MAX_ENCODE_GROWTH, "pre-tokenizer")
    what = "normalizer (times the pre-tokenizer)"
    return _walk(data, "normalizer", python_syntax, pre, MAX_ENCODE_GROWTH, what)


def growth_problem(data: Any, python_syntax) -> tuple[str, Any, str] | None:
    """(field, value, reason) where the encoding or decoding chain can grow text over the bounds
    in the module's docstring, or None."""
    try:
        encode_growth(data, python_syntax)
        if isinstance(data, dict):
            _walk(data, "decoder", python_syntax, 1.0, MAX_DECODE_GROWTH, "decoder")
    except Unbounded as err:
        return err.found
    return None
