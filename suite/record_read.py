"""Reading a record's stored JSON (:mod:`suite.record_json`) back into a typed record.

Every field is checked: a malformed record is refused with a :class:`RecordError` naming the
dotted field and the value. Records written before the draft's facts or the open token-length
bucket were stored still read: their facts come from the draft's name, their open bucket is 8.
"""

from __future__ import annotations

import itertools
import math
import re
from datetime import datetime
from typing import Any

from suite.drafts import facts_from_mapping
from suite.errors import control_character, control_message
from suite.reader import MAX_TEMPERATURE, MAX_THREADS
from suite.records import (
    ANALYTIC,
    EMPIRICAL,
    LEGACY_TOKEN_CHARS_OPEN,
    TOKEN_CHARS_OPEN,
    AnalyticResult,
    CellResult,
    EmpiricalPrompt,
    EmpiricalResult,
    Generation,
    ModelProvenance,
    PromptResult,
    PromptTiming,
    Provenance,
    ResultRecord,
    Timing,
    TokenCharBuckets,
    accepted_length,
    nan_if_none,
)
from suite.specs import MAX_NEW_TOKENS, MAX_SEEDS, MAX_SIZE, MIN_TEMPERATURE
from suite.stats.intervals import CONFIDENCE, MAX_BOOTSTRAP_DRAWS, restated_ratio_bootstrap
from suite.studies import MAX_DRAFT_TOKENS, Cell

MAX_COUNT = 2**53  # any other count a record holds: exact as a float, and far above any real run
MAX_TOKEN_CHARS = 9_999  # a token-length bucket's key: at most four digits
_BUCKET_KEY = re.compile(r"[0-9]{1,4}")


class RecordError(ValueError):
    """A record that cannot be read: which field, which value, why."""

    def __init__(self, field: str, value: Any, message: str):
        super().__init__(field, value, message)
        self.field, self.value, self.message = field, value, message


class _Reader:
    """Typed access to one JSON object, naming the dotted field of any bad value."""

    def __init__(self, data: Any, field: str = ""):
        if not isinstance(data, dict):
            raise RecordError(field or "record", data, "expected a JSON object")
        self.data, self.field = data, field

    def name(self, key: str) -> str:
        return f"{self.field}.{key}" if self.field else key

    def sub(self, key: str, *, optional: bool = False) -> _Reader | None:
        if optional and self.data.get(key) is None:
            return None
        return _Reader(self.require(key), self.name(key))

    def require(self, key: str) -> Any:
        if key not in self.data:
            raise RecordError(self.name(key), None, "missing required field")
        return self.data[key]

    def string(self, key: str, *, optional: bool = False, text: bool = False) -> str | None:
        """A string; one line of plain text unless ``text`` (a decoded output: any character
        the model emitted), as tables, the report and the terminal show it."""
        value = self.data.get(key) if optional else self.require(key)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise RecordError(self.name(key), value, "expected a string")
        c = None if text else control_character(value, allowed="")
        if c is not None:
            raise RecordError(self.name(key), value, control_message(c, allowed=""))
        return value

    def integer(self, key: str, *, optional: bool = True, maximum: int = MAX_COUNT) -> int | None:
        value = self.data.get(key) if optional else self.require(key)
        return _integer(value, self.name(key), maximum)

    def number(self, key: str, *, optional: bool = True) -> float | None:
        return _number(self.data.get(key) if optional else self.require(key), self.name(key))

    def rate(self, key: str, *, optional: bool = True) -> float:
        """A number where missing means undefined: NaN (strict JSON stores NaN as null)."""
        return nan_if_none(self.number(key, optional=optional))

    def alpha(self, key: str) -> float:
        """An acceptance rate in [0, 1], NaN where missing."""
        return _alpha(self.data.get(key), self.name(key))

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise RecordError(self.name(key), value, "expected true or false")
        return value

    def items(self, key: str, *, optional: bool = True, most: int = MAX_SIZE) -> list:
        """A list of at most ``most`` entries (a per-prompt list: the cell's prompts)."""
        value = self.data.get(key) if optional else self.require(key)
        if value is None and optional:
            return []
        if not isinstance(value, list):
            raise RecordError(self.name(key), value, "expected a list")
        if len(value) > most:
            raise RecordError(self.name(key), len(value), f"holds more than {most} entries")
        return value

    def numbers(self, key: str, convert=None, *, optional: bool = True, most: int = MAX_SIZE):
        convert = convert or _number
        values = self.items(key, optional=optional, most=most)
        return tuple(convert(v, f"{self.name(key)}[{i}]") for i, v in enumerate(values))

    def counts(self, *keys: str) -> dict[str, int | None]:
        """Optional counts by field name, in order: keyword arguments of a record."""
        return {key: self.integer(key) for key in keys}

    def reals(self, *keys: str) -> dict[str, float | None]:
        """Optional numbers by field name, in order: keyword arguments of a record."""
        return {key: self.number(key) for key in keys}

    def rates(self, positions: int) -> dict:
        """The rates both engines' results hold: α, mean accepted length, α per position."""
        return {
            "acceptance_rate": self.alpha("acceptance_rate"),
            "mean_accepted_length": self.rate("mean_accepted_length"),
            "position_acceptance": self.numbers("position_acceptance", _alpha, most=positions),
        }


def _number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(field, value, "expected a number")
    if not math.isfinite(value):
        raise RecordError(field, value, "expected a finite number")
    return float(value)


def _integer(value: Any, field: str, maximum: int = MAX_COUNT) -> int | None:
    """A count in [0, maximum]: every count bounds work done with it (loops, lists, draws)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(field, value, "expected an integer")
    if value < 0:
        raise RecordError(field, value, "a count must be >= 0")
    if value > maximum:
        raise RecordError(field, value, f"must be at most {maximum}")
    return value


def _rate(value: Any, field: str) -> float:
    return nan_if_none(_number(value, field))


def _at_least_zero(r: _Reader, key: str) -> float | None:
    value = r.number(key)
    if value is not None and value < 0:
        raise RecordError(r.name(key), value, "expected a number >= 0")
    return value


def _level(r: _Reader) -> float | None:
    value = r.number("confidence_level")
    if value is not None and not 0.0 < value < 1.0:
        raise RecordError(r.name("confidence_level"), value, "expected a level in (0, 1)")
    if value is not None and value != CONFIDENCE:  # runs write it: the tables have no column
        raise RecordError(r.name("confidence_level"), value, f"runs write {CONFIDENCE}")
    return value


def _token_chars(value: Any, field: str) -> float:
    """Mean characters per token: in [0, MAX_TOKEN_CHARS], or not measured (null, read as NaN)."""
    chars = _rate(value, field)
    if not (math.isnan(chars) or 0.0 <= chars <= MAX_TOKEN_CHARS):
        raise RecordError(field, value, f"characters per token must be in [0, {MAX_TOKEN_CHARS}]")
    return chars


def _alpha(value: Any, field: str) -> float:
    """An acceptance rate: in [0, 1], or undefined (null, read as NaN)."""
    alpha = _rate(value, field)
    if not (math.isnan(alpha) or 0.0 <= alpha <= 1.0):
        raise RecordError(field, value, "an acceptance rate must be in [0, 1]")
    return alpha


_CELL_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


def _cell_name(r: _Reader, key: str) -> str:
    """A family, dataset, split or draft name as a run writes one (a spec's, a profile's or a
    submission's name): a part of the cell's key, shown in tables and the report."""
    value = r.string(key)
    if not _CELL_NAME.fullmatch(value):
        message = "expected a name: letters, digits, '.', '_' and '-', 128 at most"
        raise RecordError(r.name(key), value, message)
    return value


def _read_cell(r: _Reader) -> Cell:
    facts_raw = r.sub("draft_facts", optional=True)
    facts = None
    if facts_raw is not None:

        def fail(field: str, value: Any, message: str) -> RecordError:
            return RecordError(field, value, message)

        facts = facts_from_mapping(facts_raw.data, fail, f"{facts_raw.field}.")
    engine = r.string("engine")
    if engine not in (ANALYTIC, EMPIRICAL):
        raise RecordError(r.name("engine"), engine, f"expected {ANALYTIC} or {EMPIRICAL}")
    tau = r.number("decode_temperature", optional=False)
    if tau < 0 or 0 < tau < MIN_TEMPERATURE or tau > MAX_TEMPERATURE:
        message = (
            f"a temperature is 0 (greedy) or in [{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}], as "
            "runs make"
        )
        raise RecordError(r.name("decode_temperature"), tau, message)
    for key, least in (("num_draft_tokens", 1), ("prompts", 1), ("max_new_tokens", 1)):
        value = r.integer(key, optional=False, maximum=MAX_SIZE)
        if value < least:  # named here, not by the cell's own check as the whole line
            raise RecordError(r.name(key), value, f"expected an integer >= {least}")
    return Cell(
        engine=engine,
        family=_cell_name(r, "family"),
        dataset=_cell_name(r, "dataset"),
        split=_cell_name(r, "split"),
        draft=_cell_name(r, "draft"),
        decode_temperature=tau + 0.0,  # -0.0 is 0.0: one key for greedy decoding
        num_draft_tokens=r.integer("num_draft_tokens", optional=False, maximum=MAX_DRAFT_TOKENS),
        seed=r.integer("seed", optional=False, maximum=MAX_SEEDS - 1),
        prompts=r.integer("prompts", optional=False, maximum=MAX_SIZE),
        max_new_tokens=r.integer("max_new_tokens", optional=False, maximum=MAX_NEW_TOKENS),
        draft_facts=facts,
    )


def _read_buckets(r: _Reader, tokens: int, beta: float) -> TokenCharBuckets:
    """Σβ and count by token length: the counts add up to the cell's ``tokens`` and the Σβ to
    its total ``beta`` (α × tokens), and no key passes the open bucket (which holds the longer
    tokens). A record without the field (older ones) has no buckets."""
    present = "acceptance_by_token_chars" in r.data
    raw = r.data.get("acceptance_by_token_chars")
    raw = {} if raw is None else raw
    field = r.name("acceptance_by_token_chars")
    if not isinstance(raw, dict):
        raise RecordError(field, raw, "expected a mapping of token length to [Σβ, count]")
    open_from = r.integer("token_chars_open_bucket", maximum=MAX_TOKEN_CHARS)
    open_from = LEGACY_TOKEN_CHARS_OPEN if open_from is None else open_from
    if open_from not in (TOKEN_CHARS_OPEN, LEGACY_TOKEN_CHARS_OPEN):  # as runs write it
        message = f"runs write {TOKEN_CHARS_OPEN} (records before it, {LEGACY_TOKEN_CHARS_OPEN})"
        raise RecordError(r.name("token_chars_open_bucket"), open_from, message)
    buckets, seen = [], set()
    for chars, pair in raw.items():
        where = f"{field}.{chars if len(chars) <= 16 else chars[:16] + '...'}"
        if not _BUCKET_KEY.fullmatch(chars):
            raise RecordError(where, chars, "a token length is 1 to 4 ASCII digits")
        if not isinstance(pair, list) or len(pair) != 2:
            raise RecordError(where, pair, "expected a token length mapped to [Σβ, count]")
        if int(chars) in seen:  # "1" and "01" are one bucket
            raise RecordError(where, chars, "a token length listed twice")
        if int(chars) > open_from:  # the open bucket holds every longer token
            message = f"expected at most the open bucket, token_chars_open_bucket = {open_from}"
            raise RecordError(where, chars, message)
        seen.add(int(chars))
        total, count = _number(pair[0], where), _integer(pair[1], where)
        if total is None or count is None or not 0.0 <= total <= count:
            raise RecordError(where, pair, "expected [Σβ, count] with 0 <= Σβ <= count")
        buckets.append((int(chars), total, count))
    if present:  # the buckets split the cell's tokens, and their Σβ is the cell's
        counted = sum(c for _, _, c in buckets)
        if counted != tokens:
            raise RecordError(field, counted, f"counts add up to {counted}, not tokens = {tokens}")
        summed = math.fsum(b for _, b, _ in buckets)
        if not _same(summed, beta):
            message = f"Σβ adds up to {summed!r}, not α × tokens = {beta!r}"
            raise RecordError(field, summed, message)
    return TokenCharBuckets(open_from, tuple(sorted(buckets)))


def _positions(cell: Cell) -> int:
    """The most positions a per-position list holds: K drafted, or a continuation's tokens."""
    return max(cell.num_draft_tokens, cell.max_new_tokens)


def _analytic_result(r: _Reader, prompt_ids: list[str], cell: Cell) -> CellResult:
    n, k = len(prompt_ids), cell.num_draft_tokens
    alphas = r.numbers("prompt_acceptance", _alpha, optional=False, most=n)
    tokens = r.numbers("prompt_tokens", _integer, optional=False, most=n)
    chars = r.numbers("prompt_token_chars", _token_chars, most=n) or (math.nan,) * n
    for key, values in (("prompt_acceptance", alphas), ("prompt_tokens", tokens)):
        if len(values) != n:
            message = f"holds {len(values)} values for {n} prompt ids"
            raise RecordError(r.name(key), len(values), message)
    if len(chars) != n:
        raise RecordError(r.name("prompt_token_chars"), len(chars), f"expected {n} values")
    for i, (a, t) in enumerate(zip(alphas, tokens, strict=True)):
        if t > cell.max_new_tokens:  # a continuation is at most the cell's max_new_tokens
            message = f"expected at most the cell's max_new_tokens, {cell.max_new_tokens}"
            raise RecordError(f"{r.name('prompt_tokens')}[{i}]", t, message)
        if math.isnan(a) != (t == 0):  # α of a prompt is Σβ over its tokens: none when none
            message = "expected null exactly when the prompt's token count is 0"
            raise RecordError(f"{r.name('prompt_acceptance')}[{i}]", _json(a), message)
        if t == 0 and not math.isnan(chars[i]):  # no token has no length
            message = "expected null: the prompt's token count is 0"
            raise RecordError(f"{r.name('prompt_token_chars')}[{i}]", chars[i], message)
    prompts = tuple(
        PromptResult(pid, a, accepted_length(a, k), t, c)
        for pid, a, t, c in zip(prompt_ids, alphas, tokens, chars, strict=True)
    )
    rates = r.rates(_positions(cell))
    _check_analytic_rates(r, rates, alphas, tokens, k)
    total = r.integer("tokens")
    if total is not None and total != sum(tokens):
        raise RecordError(r.name("tokens"), total, f"expected the prompts' sum, {sum(tokens)}")
    temperature = r.number("temperature")
    if temperature is not None and temperature != cell.decode_temperature:
        message = f"expected the cell's decode_temperature, {cell.decode_temperature:g}"
        raise RecordError(r.name("temperature"), temperature, message)
    n_boot = r.integer("n_boot", maximum=MAX_SIZE)
    if n_boot == 0:
        raise RecordError(r.name("n_boot"), 0, "a bootstrap draws at least one resample")
    beta = math.fsum(a * t for a, t in zip(alphas, tokens, strict=True) if t)
    by_chars = _read_buckets(r, sum(tokens), beta)
    _analytic_positions(r, rates["position_acceptance"], tokens, beta)
    ci = r.numbers("confidence_interval", most=2)
    bounded = len(ci) == 2 and None not in ci and 0.0 <= ci[0] <= ci[1] <= 1.0
    unset = len(ci) == 2 and ci[0] is None and ci[1] is None  # α̂ undefined in every resample
    if ci and not (bounded or unset):  # of an acceptance rate
        message = "expected [low, high] with 0 <= low <= high <= 1"
        raise RecordError(r.name("confidence_interval"), list(ci), message)
    error, level = _at_least_zero(r, "standard_error"), _level(r)
    if n_boot is None:  # an interval whose resamples are not stated cannot be checked: not read
        ci, error = (), None
    elif ci or error is not None:
        _restated_interval(r, cell, alphas, tokens, n_boot, level)
    return CellResult(
        **rates,
        prompts=prompts,
        analytic=AnalyticResult(
            confidence_interval=tuple(map(nan_if_none, ci)) if ci else None,
            standard_error=error,
            tokens=total,
            temperature=temperature,
            n_boot=n_boot,
            confidence_level=level,
            by_token_chars=by_chars,
        ),
    )


def _analytic_positions(r: _Reader, rates: tuple[float, ...], tokens, beta: float) -> None:
    """An analytic cell's α at position j is the mean β at j over the prompts whose continuation
    reaches j: one rate per position of its longest continuation, and Σ_j rate_j × (prompts
    reaching j) is its total Σβ."""
    field = r.name("position_acceptance")
    longest = max(tokens, default=0)
    if len(rates) != longest:
        message = f"expected one rate per position of the longest continuation, {longest}"
        raise RecordError(field, len(rates), message)
    reaching = [0] * (longest + 1)
    for t in tokens:
        reaching[t] += 1
    weighted, left = [], len(tokens)
    for j, rate in enumerate(rates):
        left -= reaching[j]  # prompts with more than j tokens
        if math.isnan(rate):
            message = f"expected a rate: {left} prompts reach position {j}"
            raise RecordError(f"{field}[{j}]", None, message)
        weighted.append(rate * left)
    summed = math.fsum(weighted)
    if not _same(summed, beta):
        message = f"Σ rate × prompts reaching it is {summed!r}, not α × tokens = {beta!r}"
        raise RecordError(field, f"{len(rates)} rates", message)


def _restated_interval(r: _Reader, cell: Cell, alphas, tokens, n_boot: int, level) -> None:
    """An analytic interval and standard error are the percentile bootstrap of α̂ over the
    record's prompts on its seed's stream: recomputed here from its prompts' Σβ and tokens."""
    if n_boot * len(tokens) > MAX_BOOTSTRAP_DRAWS:
        message = f"expected at most {MAX_BOOTSTRAP_DRAWS:,} draws, n_boot × {len(tokens)} prompts"
        raise RecordError(r.name("n_boot"), n_boot, message)
    sums = [a * t if t else 0.0 for a, t in zip(alphas, tokens, strict=True)]
    level = CONFIDENCE if level is None else level
    interval, error = restated_ratio_bootstrap(
        sums, tokens, seed=cell.seed, n_boot=n_boot, level=level
    )
    stated = tuple(nan_if_none(v) for v in r.data.get("confidence_interval") or (None, None))
    if r.data.get("confidence_interval") is not None and not all(map(_same, stated, interval)):
        message = f"expected the bootstrap over the record's prompts, {list(map(_json, interval))}"
        raise RecordError(r.name("confidence_interval"), list(map(_json, stated)), message)
    stated_error = r.number("standard_error")
    if stated_error is not None and not _same(stated_error, error):
        message = f"expected the bootstrap's standard deviation, {_json(error)}"
        raise RecordError(r.name("standard_error"), stated_error, message)


def _json(value: float) -> float | None:
    """A value as its record holds it: NaN is null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _same(value: float, expected: float) -> bool:
    """A stored float is the value its run computed, up to float rounding; NaN is NaN."""
    if math.isnan(expected) or math.isnan(value):
        return math.isnan(expected) and math.isnan(value)
    if math.isinf(expected) or math.isinf(value):  # inf - x is inf, within any tolerance of inf
        return value == expected
    return abs(value - expected) <= 1e-9 * max(1.0, abs(expected))


def _check_analytic_rates(r: _Reader, rates: dict, alphas, tokens, k: int) -> None:
    """An analytic cell's α is the token-weighted mean of its prompts' α (Σβ over Σ tokens),
    and its mean accepted length is Σ_{i<=K} α^i of that α: both are what its run computed."""
    total = sum(tokens)
    weighted = sum(a * t for a, t in zip(alphas, tokens, strict=True) if t)
    alpha = weighted / total if total else math.nan
    if not _same(rates["acceptance_rate"], alpha):
        message = f"expected the prompts' token-weighted mean, {_json(alpha)}"
        raise RecordError(r.name("acceptance_rate"), _json(rates["acceptance_rate"]), message)
    length = accepted_length(rates["acceptance_rate"], k)
    if not _same(rates["mean_accepted_length"], length):  # null exactly when α is
        message = f"expected Σ α^i for i <= K = {k}: {_json(length)}"
        raise RecordError(
            r.name("mean_accepted_length"), _json(rates["mean_accepted_length"]), message
        )


FINISH_REASONS = ("length", "eos", "stop")  # what a decoder stops on


def _generation(r: _Reader | None, cell: Cell) -> Generation:
    """A decoded output: "length" when it reached the cell's max_new_tokens (its decoder never
    passes it), "eos" or "stop" when it ended on a token of its own, at least one."""
    if r is None:
        return Generation(0, None, None)
    text = r.string("text", optional=True, text=True)
    reason = r.string("finish_reason", optional=True)
    tokens = r.integer("tokens") or 0
    if reason is not None and reason not in FINISH_REASONS:
        message = f"expected one of {', '.join(FINISH_REASONS)}"
        raise RecordError(r.name("finish_reason"), reason, message)
    if reason == "length" and tokens != cell.max_new_tokens:
        message = f"an output ends on length at the cell's max_new_tokens, {cell.max_new_tokens}"
        raise RecordError(r.name("tokens"), tokens, message)
    if reason in ("eos", "stop") and tokens < 1:
        raise RecordError(r.name("tokens"), tokens, f"an output ending on {reason} holds it")
    return Generation(tokens, reason, text)


def _ratio(r: _Reader, key: str, value: float, num: int, den: int) -> None:
    """A stored rate that is a ratio of stored counts is that ratio (a run writes both): NaN
    (null) exactly when the denominator is 0."""
    if num > den:
        raise RecordError(r.name(key), value, f"counts of {num} out of {den}: more than all")
    if den == 0:
        if not math.isnan(value):
            raise RecordError(r.name(key), value, "expected null: its count is 0")
    elif math.isnan(value) or abs(value - num / den) > 1e-9:
        raise RecordError(r.name(key), value, f"expected {num}/{den} = {num / den:.6g}")


def _consistent_counts(
    r: _Reader, rate: float, judged_rate: float, counts: dict, per: tuple, k: int
):
    """An empirical prompt's or cell's rates are its counts' ratios, and its per-position counts
    (``per``: proposed, accepted) bound each other and add up to its totals."""
    for key in ("steps", "proposed", "accepted", "judged"):
        if counts[key] is None:  # a run writes every count
            raise RecordError(r.name(key), None, "missing: a run writes every count")
    proposed, accepted, judged = counts["proposed"], counts["accepted"], counts["judged"]
    _ratio(r, "acceptance_rate", rate, accepted, proposed)
    _ratio(r, "judged_acceptance_rate", judged_rate, accepted, judged)
    if proposed > k * counts["steps"]:  # a step proposes at most K draft tokens
        message = f"expected at most K x steps = {k} x {counts['steps']}"
        raise RecordError(r.name("proposed"), proposed, message)
    # each step judges its accepted tokens and at most one rejected one
    if not accepted <= judged <= min(proposed, accepted + counts["steps"]):
        message = f"expected {accepted} <= judged <= min(proposed, accepted + steps)"
        raise RecordError(r.name("judged"), judged, message)
    if per is None:
        return
    pp, ap = per
    if len(pp) != k or len(ap) != k:  # a run counts every draft position, 0 where none ran
        message = f"one count per draft position: K = {k}"
        raise RecordError(r.name("proposed_per_position"), [len(pp), len(ap)], message)
    if (
        any(n > counts["steps"] for n in pp)
        or any(a > p for a, p in zip(ap, pp, strict=True))
        or (sum(pp) != proposed or sum(ap) != accepted)
        # a step proposes positions 1..k and accepts 1..n of them: counts never rise with i
        or any(b > a for a, b in itertools.pairwise(pp))
        or any(b > a for a, b in itertools.pairwise(ap))
    ):
        message = (
            "per-position counts must bound each other, add up to proposed and accepted, and "
            "not rise with the position"
        )
        raise RecordError(r.name("accepted_per_position"), list(ap), message)
    first_proposed, first_accepted = pp[0], ap[0]  # K >= 1: every list holds position 1
    # a step that rejects its first draft judges it: at least accepted + those rejections
    if judged < accepted + first_proposed - first_accepted:
        message = (
            f"expected at least accepted + rejections at position 1 = "
            f"{accepted} + {first_proposed - first_accepted}"
        )
        raise RecordError(r.name("judged"), judged, message)
    # only the last step, one token short of max_new_tokens, drafts nothing
    if counts["steps"] - first_proposed > 1:
        message = f"expected at most one step more than position 1's proposals, {first_proposed}"
        raise RecordError(r.name("steps"), counts["steps"], message)
    # a step drafts K tokens but near max_new_tokens, where each step drafts fewer than the one
    # before: at most one step drafts exactly j < K, so proposals drop by at most 1 a position
    if any(a - b > 1 for a, b in itertools.pairwise(pp)):
        message = "proposals drop by at most one a position: one step drafts each j < K"
        raise RecordError(r.name("proposed_per_position"), list(pp), message)
    # judged = accepted + the steps that rejected a draft: the steps that proposed, less those
    # that kept all K, less at most each shorter step (pp[0] - pp[K-1] of them) that kept all
    low, high = accepted + pp[-1] - ap[-1], accepted + pp[0] - ap[-1]
    if not low <= judged <= high:
        message = f"expected accepted + the steps that rejected a draft, from {low} to {high}"
        raise RecordError(r.name("judged"), judged, message)


def _accepted_length(r: _Reader, value: float, counts: dict) -> None:
    """An empirical mean accepted length is 1 + accepted per step: null when no step ran."""
    steps = counts["steps"]
    expected = 1.0 + counts["accepted"] / steps if steps else math.nan
    if r.data.get("mean_accepted_length") is None and steps:  # a run writes it where steps ran
        message = f"expected 1 + accepted / steps = {_json(expected)}"
        raise RecordError(r.name("mean_accepted_length"), None, message)
    if r.data.get("mean_accepted_length") is not None and not _same(value, expected):
        message = f"expected 1 + accepted / steps = {_json(expected)}"
        raise RecordError(r.name("mean_accepted_length"), _json(value), message)


def _bounded_tokens(r: _Reader, key: str, generation: Generation, cell: Cell) -> None:
    if generation.tokens > cell.max_new_tokens:  # a decoder emits at most max_new_tokens
        message = f"expected at most the cell's max_new_tokens, {cell.max_new_tokens}"
        raise RecordError(f"{r.name(key)}.tokens", generation.tokens, message)


def _emitted_tokens(r: _Reader, spec: Generation, counts: dict, k: int) -> None:
    """A step keeps its accepted drafts and one token of the target's: the output holds them
    all when it ends on length, and loses at most its last step's K to an eos or a stop."""
    emitted = counts["accepted"] + counts["steps"]
    if spec.finish_reason == "length" and spec.tokens != emitted:
        message = f"an output ending on length holds accepted + steps = {emitted}"
    elif spec.finish_reason in ("eos", "stop") and spec.tokens < emitted - k:
        message = f"a stop cuts only its last step's tokens: at least {emitted} - K = {emitted - k}"
    elif spec.tokens > emitted:
        message = f"expected at most accepted + steps = {emitted}"
    else:
        return
    raise RecordError(f"{r.name('speculative')}.tokens", spec.tokens, message)


def _empirical_prompt(r: _Reader, cell: Cell) -> PromptResult:
    positions = _positions(cell)
    spec = _generation(r.sub("speculative"), cell)
    target = _generation(r.sub("target"), cell)
    for key, output in (("speculative", spec), ("target", target)):
        if output.finish_reason is None:  # every decode ends on one, after a token at least
            message = f"expected one of {', '.join(FINISH_REASONS)}: a decode ends on one"
            raise RecordError(f"{r.name(key)}.finish_reason", None, message)
    _bounded_tokens(r, "speculative", spec, cell)
    _bounded_tokens(r, "target", target, cell)
    identical = r.boolean("identical")
    if identical and (spec.tokens, spec.text) != (target.tokens, target.text):
        message = "identical outputs have one token count and one text"
        raise RecordError(r.name("identical"), identical, message)
    counts = r.counts("steps", "proposed", "accepted", "judged")
    per = (
        r.numbers("proposed_per_position", _integer, most=positions),
        r.numbers("accepted_per_position", _integer, most=positions),
    )
    _consistent_counts(
        r,
        r.alpha("acceptance_rate"),
        r.alpha("judged_acceptance_rate"),
        counts,
        per,
        cell.num_draft_tokens,
    )
    _emitted_tokens(r, spec, counts, cell.num_draft_tokens)
    if counts["steps"] < 1:  # a decode of max_new_tokens >= 1 takes a step at least
        message = "a decode takes one step at least"
        raise RecordError(r.name("steps"), counts["steps"], message)
    if counts["steps"] > spec.tokens:  # and at least one token, which it keeps
        message = f"a step emits at least one token: at most the output's, {spec.tokens}"
        raise RecordError(r.name("steps"), counts["steps"], message)
    _accepted_length(r, r.rate("mean_accepted_length"), counts)
    return PromptResult(
        prompt=r.string("id"),
        alpha=r.alpha("judged_acceptance_rate"),
        mean_accepted_length=r.rate("mean_accepted_length"),
        tokens=spec.tokens,
        token_chars=math.nan,
        empirical=EmpiricalPrompt(
            seed=r.integer("seed", maximum=2**64 - 1),  # a prompt's seed: 64 bits of a hash
            acceptance_rate=r.alpha("acceptance_rate"),
            **counts,
            proposed_per_position=per[0],
            accepted_per_position=per[1],
            identical=bool(identical),
            speculative=spec,
            target=target,
        ),
    )


def _position_rates(r: _Reader, rates: tuple[float, ...], prompts) -> None:
    """A cell's acceptance at each draft position is its prompts' accepted over proposed there
    (null where none was proposed)."""
    width = max((len(p.empirical.proposed_per_position) for p in prompts), default=0)
    proposed, accepted = [0] * width, [0] * width
    for p in prompts:
        for i, (n, a) in enumerate(
            zip(p.empirical.proposed_per_position, p.empirical.accepted_per_position, strict=True)
        ):
            proposed[i], accepted[i] = proposed[i] + n, accepted[i] + a
    expected = [a / n if n else math.nan for a, n in zip(accepted, proposed, strict=True)]
    if len(rates) != width or not all(map(_same, rates, expected)):
        message = (
            f"expected the prompts' accepted / proposed by position, {list(map(_json, expected))}"
        )
        raise RecordError(r.name("position_acceptance"), list(map(_json, rates)), message)


def _empirical_result(r: _Reader, prompt_ids: list[str], cell: Cell) -> CellResult:
    field = r.name("per_prompt")
    prompts = tuple(
        _empirical_prompt(_Reader(p, f"{field}[{i}]"), cell)
        for i, p in enumerate(r.items("per_prompt", optional=False, most=len(prompt_ids)))
    )
    ids = [p.prompt for p in prompts]
    if ids != list(prompt_ids):
        raise RecordError(field, ids, f"prompt ids differ from prompt_ids {list(prompt_ids)}")
    totals = ("proposed", "accepted", "judged", "steps", "tokens_speculative", "tokens_target")
    counts = r.counts(*totals, "identical_outputs")
    for key, value in counts.items():  # a run states every count of its decodes
        if value is None:
            raise RecordError(r.name(key), None, "an empirical record states every count")
    _consistent_counts(
        r,
        r.alpha("acceptance_rate"),
        r.alpha("judged_acceptance_rate"),
        counts,
        None,
        cell.num_draft_tokens,
    )
    for key in ("proposed", "accepted", "judged", "steps"):
        held = [getattr(p.empirical, key) for p in prompts]
        if counts[key] is not None and None not in held and counts[key] != sum(held):
            message = f"expected the prompts' sum, {sum(held)}"
            raise RecordError(r.name(key), counts[key], message)
    for key, held in (
        ("tokens_speculative", sum(p.empirical.speculative.tokens for p in prompts)),
        ("tokens_target", sum(p.empirical.target.tokens for p in prompts)),
    ):
        if counts[key] is not None and counts[key] != held:
            raise RecordError(r.name(key), counts[key], f"expected the prompts' sum, {held}")
    rates = r.rates(_positions(cell))
    _accepted_length(r, rates["mean_accepted_length"], counts)
    _position_rates(r, rates["position_acceptance"], prompts)
    same = sum(bool(p.empirical.identical) for p in prompts)
    if counts["identical_outputs"] is not None and counts["identical_outputs"] != same:
        message = f"expected the prompts whose outputs are identical, {same}"
        raise RecordError(r.name("identical_outputs"), counts["identical_outputs"], message)
    return CellResult(
        **rates,
        prompts=prompts,
        empirical=EmpiricalResult(
            judged_acceptance_rate=r.alpha("judged_acceptance_rate"),
            **counts,
        ),
    )


MAX_TIMED_SECONDS = 1e7  # a cell's or a prompt's seconds: about 115 days
MIN_TIMED_SECONDS = 1e-9  # the clock's resolution (time.perf_counter reads nanoseconds)
MAX_MEASURED_SPEEDUP = 1e3  # a measured γ: K + 1 at most in principle, timing noise aside
MAX_COST_RATIO = 100.0  # c, the draft's cost over the target's: as projected γ takes it


def _read_timing(r: _Reader | None, prompts: int, k: int) -> Timing:
    """A record's timing: seconds in [0, MAX_TIMED_SECONDS], a cost ratio >= 0, the projected
    γ in [0, K + 1] (what it is at α = 1 and no draft cost) and a measured one in
    [0, MAX_MEASURED_SPEEDUP]; a value outside is a RecordError naming it."""
    if r is None:
        return Timing(None)
    field = r.name("per_prompt")
    per_prompt = []
    seconds = ("speculative_seconds", "draft_seconds", "target_seconds", "baseline_seconds")
    for i, p in enumerate(r.items("per_prompt", most=prompts)):
        t = _Reader(p, f"{field}[{i}]")
        values = t.reals(*seconds, "speedup")
        _check_timing(t, values, k)
        whole = values["speculative_seconds"]
        for part in ("draft_seconds", "target_seconds"):  # timed within the decode's wall time
            if None not in (whole, values[part]) and values[part] > whole * (1 + 1e-6) + 1e-9:
                message = f"a part of the speculative decode: at most its {whole!r} seconds"
                raise RecordError(t.name(part), values[part], message)
        draft, target = values["draft_seconds"], values["target_seconds"]
        if None not in (whole, draft, target) and draft + target > whole * (1 + 1e-6) + 1e-9:
            message = f"the draft's and target's seconds run within the decode's {whole!r}"
            raise RecordError(t.name("target_seconds"), target, message)
        per_prompt.append(PromptTiming(**values))
    if per_prompt and len(per_prompt) != prompts:
        raise RecordError(field, len(per_prompt), f"expected one entry per prompt ({prompts})")
    values = {
        **r.reals("cost_ratio", "projected_speedup", "sample_seconds", "score_seconds"),
        **r.reals("speedup", "speculative_seconds", "baseline_seconds"),
    }
    _check_timing(r, values, k)
    return Timing(
        finished_at=_timestamp(r),
        **values,
        per_prompt=tuple(per_prompt),
    )


def _timestamp(r: _Reader) -> str | None:
    """``finished_at`` as a run writes it: an ISO 8601 timestamp."""
    value = r.string("finished_at", optional=True)
    if value is None:
        return None
    try:
        ok = len(value) <= 64 and datetime.fromisoformat(value) is not None
    except ValueError:
        ok = False
    if not ok:
        raise RecordError(r.name("finished_at"), value, "expected an ISO 8601 timestamp")
    return value


def _check_timing(r: _Reader, values: dict[str, float | None], k: int) -> None:
    for key, value in values.items():
        if value is None:
            continue
        if key == "projected_speedup":
            high, why = k + 1.0, f"a projected speedup is in [0, K + 1 = {k + 1}]"
        elif key == "speedup":
            high, why = MAX_MEASURED_SPEEDUP, f"a speedup is in [0, {MAX_MEASURED_SPEEDUP:g}]"
        elif key == "cost_ratio":
            high, why = MAX_TIMED_SECONDS, "a cost ratio is a number >= 0"
        else:
            high = MAX_TIMED_SECONDS
            why = f"seconds are 0 or in [{MIN_TIMED_SECONDS:g}, {MAX_TIMED_SECONDS:g}]"
            if 0.0 < value < MIN_TIMED_SECONDS:  # no clock reads less: a forged time
                raise RecordError(r.name(key), value, f"{why} (a clock reads nanoseconds)")
        if not 0.0 <= value <= high * (1 + 1e-9):
            raise RecordError(r.name(key), value, why)


ROLES = ("tokenizer", "target", "draft")  # the models a record names
MAX_TEXT_CHARS = 1_024  # a record's text field (an id, a location, a package's version)
MAX_ENTRIES = 256  # a provenance mapping's entries (packages, hardware)


def _check_scalars(r: _Reader | None) -> None:
    """A provenance mapping (packages, hardware): at most MAX_ENTRIES names, each mapped to a
    number, a boolean, null or one line of plain text, as a run writes them."""
    if r is None:
        return
    if len(r.data) > MAX_ENTRIES:
        raise RecordError(r.field, len(r.data), f"holds more than {MAX_ENTRIES} entries")
    for key, value in r.data.items():
        where = r.name(key if len(key) <= 64 else key[:64] + "...")
        for text in (key, value) if isinstance(value, str) else (key,):
            c = control_character(text, allowed="")
            if c is not None or len(text) > MAX_TEXT_CHARS:
                reason = (
                    control_message(c, allowed="") if c else f"at most {MAX_TEXT_CHARS} characters"
                )
                raise RecordError(where, text, reason)
        if not (value is None or isinstance(value, str | int | float | bool)):
            raise RecordError(where, value, "expected a number, true/false, null or text")


# The counts a run writes into its hardware (suite.provenance.hardware), each a whole number
# from 1 to its bound: a record stating 10^99 threads or -2 CPUs was reported.
HARDWARE_COUNTS = {"cpu_count": 1 << 20, "torch_threads": MAX_THREADS}


def _check_counts(r: _Reader | None) -> None:
    for key, bound in HARDWARE_COUNTS.items():
        value = r.data.get(key) if r is not None else None
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bound:
            shown = value if not isinstance(value, int) or value < 10**12 else f"{value:.3e}"
            raise RecordError(r.name(key), shown, f"expected a whole number from 1 to {bound:,}")


def _read_provenance(r: _Reader | None) -> Provenance | None:
    if r is None:
        return None
    models = {}
    raw = r.sub("models", optional=True)
    for role in raw.data if raw is not None else {}:
        if role not in ROLES:
            raise RecordError(raw.name(role[:64]), role, f"expected a role: {', '.join(ROLES)}")
        m = raw.sub(role)
        location = m.string("location", optional=True)
        if location is not None and len(location) > MAX_TEXT_CHARS:
            message = f"at most {MAX_TEXT_CHARS} characters"
            raise RecordError(m.name("location"), location, message)
        models[role] = ModelProvenance(location, _sha256(m, "sha256"))
    packages, hardware = r.sub("packages", optional=True), r.sub("hardware", optional=True)
    for part in (packages, hardware):
        _check_scalars(part)
    _check_counts(hardware)
    return Provenance(
        git_commit=_commit(r),
        git_dirty=r.boolean("git_dirty"),
        packages=dict(packages.data) if packages else {},
        hardware=dict(hardware.data) if hardware else {},
        profile=r.string("profile", optional=True),
        models=models,
        prompt_format=_prompt_format(r),
        task=_sha256(r, "task"),
    )


_HEX64 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # `git rev-parse HEAD`: SHA-1 or SHA-256


def _commit(r: _Reader) -> str | None:
    """The code's commit as a run writes it: null (not a git checkout) or a commit id."""
    value = r.string("git_commit", optional=True)
    if value is not None and not _COMMIT.fullmatch(value):
        message = "expected a git commit (40 or 64 lower-case hex digits) or null"
        raise RecordError(r.name("git_commit"), value[:80], message)
    return value


PROMPT_FORMATS = ("instruction", "chat_template")  # how a run renders prompts (suite.prompts)


def _prompt_format(r: _Reader) -> str | None:
    value = r.string("prompt_format", optional=True)
    if value is not None and value not in PROMPT_FORMATS:
        message = f"expected one of {', '.join(PROMPT_FORMATS)}"
        raise RecordError(r.name("prompt_format"), value, message)
    return value


def _sha256(r: _Reader, field: str) -> str | None:
    """An optional sha256 as a run writes it: 64 lowercase hex digits."""
    value = r.string(field, optional=True)
    if value is not None and not _HEX64.fullmatch(value):
        raise RecordError(r.name(field), value, "expected a sha256 (64 hex digits)")
    return value


def _prompt_ids(r: _Reader, most: int) -> list[str]:
    """At most the cell's prompts, each a string, none twice."""
    prompt_ids = r.items("prompt_ids", optional=False, most=most)
    if len(prompt_ids) != most:  # a run scores every prompt of its cell, keyed by their count
        message = f"holds {len(prompt_ids)} ids for a cell of {most} prompts"
        raise RecordError("prompt_ids", len(prompt_ids), message)
    seen: set[str] = set()
    for i, pid in enumerate(prompt_ids):
        if not isinstance(pid, str):
            raise RecordError(f"prompt_ids[{i}]", pid, "expected a string")
        c = control_character(pid, allowed="")
        if c is not None or not pid or len(pid) > MAX_TEXT_CHARS:
            reason = (
                control_message(c, allowed="")
                if c
                else f"an id is 1 to {MAX_TEXT_CHARS} characters"
            )
            raise RecordError(f"prompt_ids[{i}]", pid, reason)
        if pid in seen:
            raise RecordError(f"prompt_ids[{i}]", pid, "listed twice")
        seen.add(pid)
    return prompt_ids


def read_cell(data: Any) -> Cell:
    """A record's cell alone, checked as :func:`read_record` checks it (its key the cell's): what
    a plan is held to before the whole record is read and its interval restated."""
    r = _Reader(data)
    cell = _read_cell(r.sub("cell"))
    key = r.string("key")
    if key != cell.key:
        raise RecordError("key", key, f"does not match its cell ({cell.key})")
    return cell


def read_record(data: Any) -> ResultRecord:
    """A record from its stored JSON, every field checked; :class:`RecordError` names a bad one."""
    r = _Reader(data)
    cell = read_cell(data)
    prompt_ids = _prompt_ids(r, cell.prompts)
    result = r.sub("result")
    if cell.engine == ANALYTIC:
        cell_result = _analytic_result(result, prompt_ids, cell)
    else:
        cell_result = _empirical_result(result, prompt_ids, cell)
    timing_reader = r.sub("timing", optional=True)
    timing = _read_timing(timing_reader, len(cell_result.prompts), cell.num_draft_tokens)
    if timing_reader is not None:
        _timing_agrees(timing_reader, timing, cell_result, cell)
    return ResultRecord(
        cell=cell,
        result=cell_result,
        provenance=_read_provenance(r.sub("provenance", optional=True)),
        timing=timing,
    )


def _per_token_speedup(baseline: float | None, speculative: float | None, base_tokens, tokens):
    """γ as a run measures it: the target's seconds per token over speculation's; None where a
    time is missing or speculation took none."""
    if baseline is None or speculative is None or not speculative:
        return None
    return (baseline / max(base_tokens, 1)) / (speculative / max(tokens, 1))


def _timing_agrees(r: _Reader, timing: Timing, result: CellResult, cell: Cell) -> None:
    """What a record computes from its clock readings is what they give: an analytic cell's
    projected γ is Σ α^i / (K·c + 1) of its α and cost ratio; an empirical cell's and prompt's
    γ the target's seconds per token over speculation's, its seconds its prompts' sums."""
    c = timing.cost_ratio
    if c is not None and not (c == 0 or MIN_TEMPERATURE <= c <= MAX_COST_RATIO):
        message = f"a cost ratio is 0 or in [{MIN_TEMPERATURE:g}, {MAX_COST_RATIO:g}], as runs make"
        raise RecordError(r.name("cost_ratio"), c, message)
    alpha, k = result.acceptance_rate, cell.num_draft_tokens
    if result.analytic is not None:
        stated = timing.projected_speedup
        if stated is not None and c is None:  # a run states both: γ is computed from c
            message = "a projected speedup states the cost ratio it is computed from"
            raise RecordError(r.name("cost_ratio"), None, message)
        if stated is not None and not math.isnan(alpha):
            expected = accepted_length(alpha, k) / (k * c + 1.0)
            if not _same(stated, expected):
                message = f"expected Σ α^i / (K·c + 1) = {expected!r}"
                raise RecordError(r.name("projected_speedup"), stated, message)
        return
    for i, (t, prompt) in enumerate(zip(timing.per_prompt, result.prompts, strict=False)):
        e = prompt.empirical
        expected = _per_token_speedup(
            t.baseline_seconds, t.speculative_seconds, e.target.tokens, e.speculative.tokens
        )
        if t.speedup is not None and expected is None:  # a run times every decode it makes
            message = "a speedup states the seconds it is measured from, speculation's above 0"
            raise RecordError(f"{r.name('per_prompt')}[{i}].speculative_seconds",
                              t.speculative_seconds, message)  # fmt: skip
        if t.speedup is not None and not _same(t.speedup, expected):
            message = f"expected the target's seconds per token over speculation's, {expected!r}"
            raise RecordError(f"{r.name('per_prompt')}[{i}].speedup", t.speedup, message)
    if timing.per_prompt:
        for key in ("speculative_seconds", "baseline_seconds"):
            stated = getattr(timing, key)
            values = [getattr(t, key) for t in timing.per_prompt]
            if stated is not None and None not in values and not _same(stated, math.fsum(values)):
                message = f"expected its prompts' sum, {math.fsum(values)!r}"
                raise RecordError(r.name(key), stated, message)
    e = result.empirical
    expected = _per_token_speedup(
        timing.baseline_seconds, timing.speculative_seconds, e.tokens_target, e.tokens_speculative
    )
    if timing.speedup is not None and expected is None:
        message = "a speedup states the seconds it is measured from, speculation's above 0"
        raise RecordError(r.name("speculative_seconds"), timing.speculative_seconds, message)
    known = None not in (timing.speedup, expected, e.tokens_target, e.tokens_speculative)
    if known and not _same(timing.speedup, expected):
        message = f"expected the target's seconds per token over speculation's, {expected!r}"
        raise RecordError(r.name("speedup"), timing.speedup, message)
