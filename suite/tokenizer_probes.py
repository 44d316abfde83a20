"""The texts a tokenizer's regexes are timed on (:mod:`suite.tokenizer_timing`), sampled from
each parsed pattern: the characters it names (literals, points of each range, a character of each
Unicode property, a character two of its classes share, case foldings under ``(?i)``) and a text
each unbounded repeat matches (its unit, checked against the repeat alone, in up to
:data:`UNIT_VARIANTS` variants). Pure: a pattern in, texts out.
"""

from __future__ import annotations

import functools
import itertools
import re
import warnings
from collections.abc import Iterator
from typing import Any

import regex

from suite.tokenizer_growth import sre_parse as _sre_parse  # None: probe written characters

COMMON = (  # classes, then one letter or mark of each major script and other categories
    " \t\n\r\x0b\x0c\u00a0\u3000\u2028a Z0._'!-/\"#$%&*+,:;<=>?@[]^`{|}~▁"
    "éßαдעعक\u0e01한あア中Ａ٣\u0301\u200b€∑😀ȸ"
)


_PROPERTY = re.compile(r"\\[pP](\{\^?[A-Za-z0-9_ =&.-]{1,64}\}|[A-Za-z])")


@functools.lru_cache(maxsize=1)
def _every_code_point() -> str:
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)


@functools.lru_cache(maxsize=256)
def _property_char(name: str, kind: str = "p") -> str:
    """A character of the Unicode property or script ``name`` (``L``, ``{Greek}``), or of its
    complement where ``kind`` is ``P``; '' where none is found."""
    try:
        found = regex.search(f"\\{kind}{name}", _every_code_point())
    except (regex.error, ValueError):
        return ""
    return found.group() if found else ""


def _literals(tree: Any, out: dict) -> None:
    """The characters a parsed pattern names: its literals, and points of each range
    (:func:`_range_points`)."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple) and len(item) == 2 and str(item[0]) in _LITERAL_OPS:
            codes = item[1] if isinstance(item[1], tuple) else (item[1],)
            if str(item[0]) == "RANGE":
                codes = _range_points(*codes)
            out.update(dict.fromkeys(chr(c) for c in codes if 0 <= c < 0x110000))
        elif isinstance(item, list | tuple) or hasattr(item, "data"):
            stack.extend(getattr(item, "data", item))


_LITERAL_OPS = {"LITERAL", "NOT_LITERAL", "RANGE"}


def _range_points(low: int, high: int) -> tuple[int, ...]:
    """A range's ends, its middle and the code points just inside its ends: a class before the
    repeat (``[^cdf][c-f]+z``) may exclude some, and the run of one it admits is the slow one."""
    inner = (min(low + 1, high), max(high - 1, low))
    return tuple(dict.fromkeys((low, high, (low + high) // 2, *inner)))


_CATEGORY_SAMPLE = {"DIGIT": "0", "SPACE": " ", "WORD": "a", "LINEBREAK": "\n"}
UNIT_VARIANTS = 4  # texts sampled for each repeat: a class's first members, a branch's first
MAX_UNIT = 1024  # a sampled text's characters (a pattern is at most 256; its repeats multiply)


def _sample(items: Any, depth: int = 0, pick: int = 0, extra: tuple = ()) -> str:
    """A short text that a parsed pattern (``re._parser`` items) matches once, as far as can be
    told: literals, a class's member (the ``pick``-th of its choices, :func:`_class_choices`), a
    group's body, a branch's alternative (the ``pick``-th), a repeat's body its least number of
    times (at least once); ``extra`` characters, where a class holds them, come second among its
    choices."""
    out = []
    for op, av in list(getattr(items, "data", items))[:MAX_UNIT] if depth < 8 else ():
        name = str(op)
        if name == "LITERAL":
            out.append(chr(av))
        elif name == "NOT_LITERAL":
            out.append("z" if chr(av) != "z" else "y")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            choices = _class_choices(av, extra)
            out.append(choices[pick % len(choices)])
        elif name == "SUBPATTERN":
            out.append(_sample(av[-1], depth + 1, pick, extra))
        elif name == "BRANCH":
            alternative = av[1][pick % len(av[1])] if av[1] else None
            out.append(_sample(alternative, depth + 1, pick, extra) if alternative else "")
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            out.append(_sample(av[2], depth + 1, pick, extra) * max(1, min(int(av[0]), 8)))
    return "".join(out)[:MAX_UNIT]


_CATEGORY_RE = {
    "DIGIT": r"\d", "NOT_DIGIT": r"\D", "SPACE": r"\s", "NOT_SPACE": r"\S",
    "WORD": r"\w", "NOT_WORD": r"\W", "LINEBREAK": r"\n", "NOT_LINEBREAK": r"[^\n]",
}  # fmt: skip
_CANDIDATES = "abcxyz019 _.,!-\t\néα中" + COMMON


def _member(item: tuple, c: str) -> bool:
    """Whether one parsed class member (``LITERAL``, ``RANGE``, ``CATEGORY``) holds ``c``."""
    op, av = str(item[0]), item[1]
    if op == "LITERAL":
        return ord(c) == av
    if op == "RANGE":
        return av[0] <= ord(c) <= av[1]
    if op == "CATEGORY":
        pattern = _CATEGORY_RE.get(str(av).removeprefix("CATEGORY_"))
        return pattern is not None and re.fullmatch(pattern, c) is not None
    return False


def _admitted(excluded: list) -> str:
    """A character no member of ``excluded`` holds: a common one, else the first code point
    just past a member's literal or range ("!" where the class admits none)."""
    edges = [0]
    for op, av in excluded:
        if str(op) == "LITERAL":
            edges += [av - 1, av + 1]
        elif str(op) == "RANGE":
            edges += [av[0] - 1, av[1] + 1]
    valid = (chr(c) for c in sorted(set(edges)) if 0 <= c < 0x110000 and not 0xD800 <= c < 0xE000)
    for c in itertools.chain(_CANDIDATES, valid):
        if not any(_member(m, c) for m in excluded):
            return c
    return "!"


def _class_choices(members: Any, extra: tuple = ()) -> list[str]:
    """Characters a parsed class holds: each literal, each range's points, a character of each
    category, and the ``extra`` ones it holds second; for a negated class, one it admits."""
    members = list(members)
    if members and str(members[0][0]) == "NEGATE":  # a character the class admits
        out: dict = dict.fromkeys([_admitted(members[1:])])
    else:
        out = {}
        for op, av in members[:64]:
            name = str(op)
            if name == "LITERAL":
                out[chr(av)] = None
            elif name == "RANGE":
                out.update(dict.fromkeys(chr(c) for c in _range_points(*av)))
            elif name == "CATEGORY":
                kind = str(av).removeprefix("CATEGORY_")
                out[_CATEGORY_SAMPLE.get(kind, "!" if kind.startswith("NOT_") else "a")] = None
    first = list(out)[:1] or ["a"]
    held = [c for c in extra if _holds(members, c)]
    return list(dict.fromkeys([*first, *held, *out]))


def _holds(members: list, c: str) -> bool:
    """Whether a parsed class (its members, ``NEGATE`` first where negated) holds ``c``."""
    if members and str(members[0][0]) == "NEGATE":
        return not any(_member(m, c) for m in members[1:])
    return any(_member(m, c) for m in members)


MAX_SCAN = 512  # code points of a range tried for one that another class holds


def _classes(tree: Any) -> tuple[list, list]:
    """The parsed classes of a pattern (member lists, at most 64), and those inside an unbounded
    repeat's body."""
    every: list = []
    repeated: list = []
    stack = [(tree, False)]
    while stack and len(every) < 64:
        item, inside = stack.pop()
        if isinstance(item, tuple) and len(item) == 2 and str(item[0]) == "IN":
            every.append(list(item[1]))
            if inside:
                repeated.append(list(item[1]))
            continue
        if isinstance(item, tuple) and len(item) == 2 and str(item[0]).endswith("_REPEAT"):
            inside = inside or item[1][1] > 1
        if isinstance(item, list | tuple) or hasattr(item, "data"):
            stack.extend((sub, inside) for sub in getattr(item, "data", item))
    return every, repeated


def _crossing(tree: Any) -> dict:
    """For a class inside a repeat and each other class of the pattern, a character both hold:
    a class before the repeat (``[^abcmxyz][a-z]+7``) may exclude every sampled point of the
    repeat's class, and the run of a character both hold is the slow one (``d``)."""
    every, repeated = _classes(tree)
    out: dict = {}
    for inner in repeated[:16]:
        for other in every:
            if other is inner:
                continue
            c = _first_held(inner, other)
            if c:
                out[c] = None
    return out


def _first_held(inner: list, other: list) -> str:
    """The first character of ``inner`` (its literals, up to MAX_SCAN code points of each range,
    a common character of each category) that ``other`` holds; '' where none is found."""
    if inner and str(inner[0][0]) == "NEGATE":
        candidates = (c for c in _CANDIDATES if _holds(inner, c))
    else:
        candidates = _members_of(inner)
    return next((c for c in candidates if _holds(other, c)), "")


def _members_of(members: list) -> Iterator[str]:
    for op, av in members[:64]:
        name = str(op)
        if name == "LITERAL":
            yield chr(av)
        elif name == "RANGE":
            high = min(av[1], av[0] + MAX_SCAN - 1, 0x10FFFF)
            yield from (chr(c) for c in range(av[0], high + 1) if not 0xD800 <= c < 0xE000)
        elif name == "CATEGORY":
            yield from (c for c in _CANDIDATES if _member((op, av), c))


class UnsampledRepeat(Exception):
    """No text was found that an unbounded repeat of a pattern matches (a lookaround, anchor or
    back-reference in its body that the sampler does not honour)."""


def _repeat_units(tree: Any, extra: tuple = ()) -> dict:
    """A text each repeat of a parsed pattern matches once (its unit): ``(?:bc)+d``
    runs in quadratic time over ``bcbc…``, which no run of one character probes. The unit is
    checked: the repeat alone must match it repeated, else each of its characters is tried in
    turn with another (``(?:(?!a)[a-z]0)+`` is sampled ``a0``, then ``b0``); a repeat for which
    none is found raises :class:`UnsampledRepeat` (its runs could not be probed)."""
    units: dict = {}
    stack = [tree]
    while stack:  # every repeat: too many units in all are refused by MAX_PROBE_CHARS
        item = stack.pop()
        if isinstance(item, tuple) and len(item) == 2 and str(item[0]).endswith("_REPEAT"):
            low, high, body = item[1]
            if high > 1:  # bounded ones too: three adjacent {1,64} split a run 64³ ways
                units[_checked_unit(tree, item, _sample(body, extra=extra), low)] = None
                for pick in range(1, UNIT_VARIANTS):  # other members' runs, where it matches them
                    unit = _sample(body, pick=pick, extra=extra)
                    if _matches(tree, item, unit, low):
                        units[unit] = None
        if isinstance(item, list | tuple) or hasattr(item, "data"):
            stack.extend(getattr(item, "data", item))
    return units


def _repeat_alone(tree: Any, repeat: tuple):
    """``repeat`` (a parsed item of ``tree``) compiled on its own."""
    from re import _compiler

    try:
        return _compiler.compile(_sre_parse.SubPattern(tree.state, [repeat]), tree.state.flags)
    except Exception as err:  # compiled as part of the whole pattern, but not alone
        raise UnsampledRepeat(f"its repeat does not compile alone ({err})") from None


def _matches(tree: Any, repeat: tuple, unit: str, low: int) -> bool:
    times = max(min(int(low), 4096), min(3, int(repeat[1][1])))
    return bool(unit) and _repeat_alone(tree, repeat).fullmatch(unit * times) is not None


def _checked_unit(tree: Any, repeat: tuple, unit: str, low: int) -> str:
    """``unit``, or the first text one character away from it, that ``repeat`` (a parsed item
    of ``tree``) matches repeated; else UnsampledRepeat."""
    alone = _repeat_alone(tree, repeat)
    times = max(min(int(low), 4096), min(3, int(repeat[1][1])))
    if unit and alone.fullmatch(unit * times):
        return unit
    for i in range(len(unit)):
        for c in _CANDIDATES:
            other = unit[:i] + c + unit[i + 1 :]
            if alone.fullmatch(other * times):
                return other
    raise UnsampledRepeat(
        f"no text was found that a repeat matches ({unit!r} and each text one character away "
        "do not): a lookaround, anchor or back-reference inside a repeat is refused, its runs "
        "cannot be probed"
    )


def _property_literal(match: re.Match) -> str:
    """A property class written as one character of it, so that a repeat's unit holding it
    (``(?:\\p{Greek}c)+``) is sampled with a character the class holds."""
    c = _property_char(match.group(1), match.group(0)[1]) or "a"
    return f"\\U{ord(c):08x}"


# An inline option group that turns on ignore-case wherever the i stands: (?i) (?mi) (?x-m:i...)
_IGNORE_CASE = re.compile(r"\(\?[A-Za-z^-]*i")


def _ignores_case(tree: Any) -> bool:
    """Whether a parsed pattern ignores case anywhere: its global flags or a scoped group's."""
    if tree.state.flags & re.IGNORECASE:
        return True
    stack = [tree]
    while stack:
        item = stack.pop()
        subpattern = isinstance(item, tuple) and len(item) == 2 and str(item[0]) == "SUBPATTERN"
        if subpattern and item[1][1] & re.IGNORECASE:
            return True
        if isinstance(item, list | tuple) or hasattr(item, "data"):
            stack.extend(getattr(item, "data", item))
    return False


def pattern_chars(pattern: str) -> dict:
    """The characters ``pattern`` names (escapes resolved), their other case where it ignores
    case, and a character of each Unicode property it names."""
    chars: dict = {}
    folds = _IGNORE_CASE.search(pattern) is not None
    for match in _PROPERTY.finditer(pattern):
        chars.update(dict.fromkeys(_property_char(match.group(1), match.group(0)[1])))
    try:
        with warnings.catch_warnings():  # "Possible nested set": refused by the class rules
            warnings.simplefilter("ignore", FutureWarning)
            tree = _sre_parse.parse(_PROPERTY.sub(_property_literal, pattern))
        _literals(tree, chars)
        crossing = _crossing(tree)
        chars.update(crossing)
        chars.update(_repeat_units(tree, tuple(crossing)))
        folds = folds or _ignores_case(tree)
    except (re.error, RecursionError, OverflowError, ValueError, TypeError, AttributeError):
        chars.update(dict.fromkeys(c for c in pattern if c not in "\\()[]{}|*+?^$"))
    if folds:  # the other case, and a character's full case folding (ß: ss, s)
        for c in list(chars):
            for other in (c.swapcase(), c.casefold()):
                if other != c:
                    chars.update(dict.fromkeys([other, *other]))
    chars.pop("", None)
    return chars
