"""A tokenizer's regexes timed on long runs of characters before it tokenizes any prompt.

Oniguruma tries a pattern at every start position, so a pattern whose repeat can consume a run
and then fail (``(?: |\\t)+(?:x|y)``, `` +$`` before a letter) scans a run of ``n`` characters in
time ``n²``: 1.4 s on 8,192 spaces for one such pattern, against at most 5 ms for GPT-2's.
The regex rules of :mod:`suite.tokenizer_files` refuse patterns that backtrack exponentially;
this measured check refuses the quadratic ones. Each step of a normalizer, pre-tokenizer or
decoder that holds a ``{"Regex": ...}`` is timed on its own (a tokenizer of that step alone, so
earlier steps cannot grow the probe) on runs of :data:`RUN` copies of each character its
patterns name and each unit their repeats match (:mod:`suite.tokenizer_probes`) and of common
classes (whitespace, ASCII, a letter or mark of each major script, symbols, an emoji), alone
and before another character; a decoder step decodes :data:`TOKENS` tokens of
:data:`TOKEN_CHARS` characters. One probe over its limit (:data:`MAX_SECONDS`,
:data:`MAX_DECODE_SECONDS`) is refused: linear steps take at most 5 ms, and the quadratic
patterns seen take 0.1 to 1.4 s. It is a measurement, not a proof (a step just under the limit
may still be quadratic), so :func:`regex_text_limit` caps the text such a tokenizer meets, below
:data:`suite.prompts.MAX_NORMALIZED_CHARS`.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from suite.deadline import (
    CHECKS_SECONDS,
    DeadlineExceeded,
    call_with_deadline,
    check_seconds_left,
    spend_check_seconds,
)
from suite.errors import SpecError
from suite.jsonable import entries
from suite.tokenizer_growth import Unbounded, chain_steps
from suite.tokenizer_probes import COMMON, UnsampledRepeat, pattern_chars

RUN = 8192  # characters of one probe
MAX_SECONDS = 0.05  # one probe through one step; a linear one takes at most a few ms
TOKENS, TOKEN_CHARS = 32, 1024  # a decoder's probe: tokens of the longest allowed text
MAX_DECODE_SECONDS = 0.05  # a linear decoder takes a few milliseconds on 32 tokens
# The whole check, every step and probe: real tokenizers' take about a second (GPT-4's pattern
# and a normalizer's, 0.9 s); steps each just under their limit on hundreds of probes would
# otherwise take minutes.
CHECK_SECONDS = 15.0
MAX_PROBE_CHARS = 256  # distinct characters and repeat units probed, the common ones included
PAIRS = (" a", "a.", "\n ", "0 ", "a\t")


def _named_chars(data: Any, where: str | Path) -> list[str]:
    """The characters the tokenizer's regexes name and the units their repeats match, common
    classes first; a tokenizer whose regexes name more than MAX_PROBE_CHARS in all is refused
    (a character left unprobed is one a quadratic repeat may run over)."""
    chars = dict.fromkeys(COMMON)
    for name, key, pattern in entries(data):
        if key == "Regex" and isinstance(pattern, str):
            try:
                chars.update(pattern_chars(pattern))
            except UnsampledRepeat as err:
                raise SpecError(where, name, pattern, str(err)) from None
            if len(chars) > MAX_PROBE_CHARS:
                message = (
                    f"the tokenizer's regexes name over {MAX_PROBE_CHARS - len(COMMON)} "
                    "characters and repeat units beside the common classes, more than its "
                    "timing check probes"
                )
                raise SpecError(where, name, pattern, message)
    return list(chars)


def _probes(data: Any, where: str | Path) -> Iterator[tuple[str, str]]:
    """(what, text): a run of each character, alone and before another, and runs of pairs."""
    for c in _named_chars(data, where):  # a character, or a repeat's unit of several
        other = "z" if c[-1] != "z" else "!"
        count = RUN // len(c)
        yield f"{count:,} × {c!r}", c * count
        yield f"{count:,} × {c!r} then {other!r}", c * (count - 1) + other
    for pair in PAIRS:
        yield f"{RUN // 2:,} × {pair!r}", pair * (RUN // 2)


def has_regex(data: Any) -> bool:
    return any(key == "Regex" for _name, key, _value in entries(data))


def _alone(chain: str, step: dict, vocab: dict | None = None):
    """A tokenizer holding only ``step`` as its ``chain`` (a word-level model of ``vocab``, by
    default one unknown token), so that a step is timed on the probe itself, not on what earlier
    steps grew it to."""
    from tokenizers import Tokenizer

    body = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": {**(vocab or {}), "[U]": len(vocab or {})},
                  "unk_token": "[U]"},
    }  # fmt: skip
    return Tokenizer.from_str(json.dumps({**body, chain: step}))


def _calls(data: dict) -> Iterator[tuple[str, Callable[[str], Any], float]]:
    """(field, call, seconds allowed) for each step of a chain that holds a regex: a normalizer
    or pre-tokenizer step encodes a probe, a decoder step decodes TOKENS tokens of TOKEN_CHARS
    of it. Both are the library's batch calls, which release the GIL, so a deadline holds."""
    for chain in ("normalizer", "pre_tokenizer", "decoder"):
        for field, step in chain_steps(data, chain):
            if not has_regex(step):
                continue
            if chain == "decoder":
                yield field, functools.partial(_decode, step), MAX_DECODE_SECONDS
            else:
                alone = _alone(chain, step)
                yield field, functools.partial(_encode, alone), MAX_SECONDS


def _encode(alone, text: str) -> Any:
    return alone.encode_batch([text], add_special_tokens=False)


def _decode(step: dict, text: str) -> Any:
    alone = _alone("decoder", step, {text[:TOKEN_CHARS]: 0})
    return alone.decode_batch([[0] * TOKENS], skip_special_tokens=False)


def check_regex_time(data: Any, where: str | Path) -> float:
    """Refuse a tokenizer (``data``, the JSON of its Rust backend) one of whose regex steps takes
    over its limit on one probe, or fails on one (Oniguruma gives up past its retry limit, on a
    run its pattern backtracks over without bound), naming ``where`` and the step; a step without
    a regex is not timed. Returns the sum over its regex steps of each one's slowest probe (0
    without one), from which :func:`regex_text_limit` extrapolates."""
    if not isinstance(data, dict) or not has_regex(data):
        return 0.0
    probes = list(_probes(data, where))
    try:
        calls = list(_calls(data))
    except Unbounded:  # refused with its reason by the shape check, which runs first
        return 0.0
    total = 0.0
    start = time.monotonic()
    allowed = min(CHECK_SECONDS, check_seconds_left())
    try:
        for field, call, limit in calls:
            total += _time_step(data, where, field, call, limit, probes, start + allowed)
    finally:
        spend_check_seconds(time.monotonic() - start)
    return total


def _time_step(data, where, field: str, call, limit: float, probes: list, stop: float) -> float:
    """One step's slowest probe; a SpecError where it is over ``limit`` on one, fails on one,
    or the check runs past ``stop``."""
    slowest = 0.0
    for what, text in probes:
        left = stop - time.monotonic()
        if left <= 0:
            message = (
                f"the timing check of its regex steps takes over {CHECK_SECONDS:g} s in all, or "
                f"over what is left of {CHECKS_SECONDS:g} s for every tokenizer's check in this "
                f"process ({len(probes)} probes a step): slow on long runs"
            )
            raise SpecError(where, field, _regex_of(data, field), message)
        seconds, failure = _timed(call, text, limit, left)
        if failure is not None:
            message = (
                f"this step fails on a run of {what} ({failure}): its regex backtracks "
                "over long runs without bound"
            )
            raise SpecError(where, field, _regex_of(data, field), message)
        if seconds > limit:
            message = (
                f"this step takes {seconds:.3f} s on a run of {what} (at most {limit} s): "
                "its regex scans long runs in quadratic time"
            )
            raise SpecError(where, field, _regex_of(data, field), message)
        slowest = max(slowest, seconds)
    return slowest


PROBE_DEADLINE_FACTOR = 20  # a probe is stopped waiting for at 20 times its limit


def _timed(
    call: Callable[[str], Any], text: str, limit: float, left: float = math.inf
) -> tuple[float, str | None]:
    """Seconds ``call(text)`` takes, the lesser of two tries (a busy machine inflates one), and
    why it failed (a panic, an error), or None. A call is waited for at most
    PROBE_DEADLINE_FACTOR times ``limit`` (and ``left``, what remains of the check's time); past
    that it counts as that long."""
    best = float("inf")
    for _ in range(2):
        wait = max(min(limit * PROBE_DEADLINE_FACTOR, left), limit * 1.5)
        try:
            _result, seconds = call_with_deadline(lambda: call(text), wait)
        except DeadlineExceeded as err:
            return err.seconds, None
        except BaseException as err:
            if type(err).__name__ != "PanicException" and not isinstance(err, Exception):
                raise
            lines = str(err).strip().splitlines()
            return 0.0, (lines[0][:200] if lines else type(err).__name__)
        best = min(best, seconds)
        if best < limit / 10:
            break
    return best, None


# One prompt's regex steps, extrapolated from the probes as if quadratic: half the deadline a
# prompt's tokenization has (suite.prompts.ENCODE_SECONDS), so a prompt the cap admits ends
# within it and a longer one is refused at once, naming the cap.
PROMPT_SECONDS = 5.0


def regex_text_limit(seconds: float) -> int:
    """The most characters a tokenizer whose regex steps took ``seconds`` in all on their slowest
    probes of RUN characters may meet, were they quadratic: ``RUN · √(PROMPT_SECONDS / seconds)``
    (GPT-2's pattern, 4 ms in all, allows 289,000; eight ``(?:bc)+d`` steps, 0.23 s in all,
    allow 38,000)."""
    if seconds <= 0:
        return 1 << 62
    return int(RUN * math.sqrt(PROMPT_SECONDS / seconds))


def _regex_of(data: dict, field: str) -> Any:
    return next(
        (v for name, key, v in entries(data) if key == "Regex" and name.startswith(field)), None
    )
