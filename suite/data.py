"""Loading a task's examples: data root, file formats, split selection, templates, answers.

Data comes from ``$SUITE_DATA_DIR``, else ``../shared/data`` beside the repository, else the
suite's data cache, where each file a task needs is fetched on first use from the pinned,
sha256-checked sources of ``reference/data_sources.yaml`` (the same files, so the same records,
as the local mirror). Loaded splits are cached in-process: the suite asks for the same ones often.
A split's records are selected whole (ids, hash range) but rendered only as far as a caller reads
them, each rendered field at most MAX_FIELD_CHARS characters.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.data_files import (  # noqa: F401 (the caps: re-exported)
    MAX_ID_FILE_BYTES,
    MAX_SPLIT_BYTES,
    read_ids,
    read_local,
    read_xml_records,
)
from suite.errors import SpecError, control_character, control_message, cut
from suite.paths import DEFAULT_DATA_DIR, data_cache_dir
from suite.sandbox import compile_regex
from suite.specs import Split, TaskSpec, compile_template, format_prompt, load_task
from suite.template_arguments import render_budget


@dataclass(frozen=True)
class Example:
    """One prompt of a task: what the models see, and what a good answer looks like."""

    id: str
    instruction: str
    prompt: str
    reference: str | None
    answer: str | None


def data_root() -> Path:
    """``$SUITE_DATA_DIR``, else ``../shared/data`` if it exists, else the data cache."""
    env = os.environ.get("SUITE_DATA_DIR")
    if env:
        return Path(env)
    return DEFAULT_DATA_DIR if DEFAULT_DATA_DIR.is_dir() else data_cache_dir()


def normalize_number(text: str) -> str:
    """Make '1,000', '$18', '51.0' and '18.' compare equal to '1000', '18', '51' and '18'."""
    value = text.strip().replace(",", "").replace("$", "").rstrip(".")
    if re.fullmatch(r"-?\d+\.\d+", value):
        value = value.rstrip("0").rstrip(".")
    if value == "-0":
        value = "0"
    return value if re.search(r"\d", value) else ""


# An answer pattern runs on text the models wrote. The reader refuses the shapes known to
# backtrack without bound (nested quantifiers, repeated alternations, back-references), but
# adjacent repeats over overlapping characters (`[a-z]*[a-z]*x`) still backtrack polynomially:
# every search is also cut off by the clock, which turns a hang into an error naming the pattern.
# Reading a split shares one budget across all its searches, so a pattern just under the clock
# on every record cannot add up to hours; so do all other searches with one spec's patterns in a
# process (scoring a run's generations: quality, lm-eval, alignment rewards, the bundle check).
REGEX_SECONDS = 2.0
SPLIT_REGEX_SECONDS = 30.0
RUN_REGEX_SECONDS = SPLIT_REGEX_SECONDS


class RegexBudget:
    """Seconds of answer-pattern searching left to one pass over a split (or to one run): each
    search is charged the time it took."""

    def __init__(self, seconds: float, scope: str = "on one split"):
        self.seconds = seconds
        self.scope = scope
        self.spent = 0.0

    def left(self) -> float:
        return self.seconds - self.spent

    def charge(self, seconds: float) -> None:
        self.spent += seconds


_RUN_BUDGETS: dict[tuple[str, str], RegexBudget] = {}


def run_budget(spec: TaskSpec) -> RegexBudget:
    """The budget that every search with ``spec``'s patterns outside split loading shares in
    this process: :data:`RUN_REGEX_SECONDS` in all."""
    key = (str(spec.path), spec.name)
    if key not in _RUN_BUDGETS:
        _RUN_BUDGETS[key] = RegexBudget(RUN_REGEX_SECONDS, "in this run")
    return _RUN_BUDGETS[key]


@functools.lru_cache(maxsize=256)
def _regex(pattern: str):
    return compile_regex(pattern)


def _spent(budget: RegexBudget) -> str:
    return (
        f"answer patterns took over {budget.seconds:g} s in all {budget.scope}; an answer "
        "pattern must be cheap on every text"
    )


def _matches(spec: TaskSpec, index: int, pattern: str, text: str, budget: RegexBudget) -> list:
    """Every match, under the per-search clock and what is left of ``budget``."""
    field = f"answer.patterns[{index}].regex"
    if budget.left() <= 0:
        raise SpecError(spec.path, field, pattern, _spent(budget))
    limit = max(min(REGEX_SECONDS, budget.left()), 1e-6)
    start = time.monotonic()
    try:
        return list(_regex(pattern).finditer(text, timeout=limit))
    except TimeoutError:  # the budget's rest was the clock: the budget is what ran out
        if limit < REGEX_SECONDS or budget.left() - (time.monotonic() - start) <= 0:
            message = _spent(budget)
        else:
            message = (
                f"took over {REGEX_SECONDS:g} s on a {len(text):,}-character text; an answer "
                "pattern must not backtrack (adjacent repeats over the same characters do)"
            )
        raise SpecError(spec.path, field, pattern, message) from None
    finally:
        budget.charge(time.monotonic() - start)


def extract_answer(
    spec: TaskSpec, text: str | None, budget: RegexBudget | None = None
) -> str | None:
    """The spec's answer from any text (a reference or a generation); None if there is none.
    The searches stop when ``budget``'s time is spent; without one, at the run's budget for this
    spec (:func:`run_budget`), which every caller outside split loading shares."""
    if spec.answer is None or text is None:
        return None
    budget = budget if budget is not None else run_budget(spec)
    for index, pattern in enumerate(spec.answer.patterns):
        matches = _matches(spec, index, pattern.regex, text, budget)
        if not matches:
            continue
        match = matches[0] if pattern.select == "first" else matches[-1]
        value = match.group(1) if _regex(pattern.regex).groups else match.group(0)
        if value is None:
            continue
        value = normalize_number(value) if spec.answer.normalize == "number" else value.strip()
        if value:
            return value
    return None


def record_hash(record: dict[str, Any]) -> float:
    """Stable position in [0, 1) from sha256 of the record's canonical JSON (nulls dropped).

    Splitting by content, not by position, keeps a record in its split when the file is reordered.
    """
    kept = {k: v for k, v in record.items() if v is not None}
    canonical = json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return int(digest[:16], 16) / 2**64


MAX_FIELD_CHARS = 64 << 10  # one rendered field; the bundled datasets' longest is 3,103


def _render(spec: TaskSpec, field: str, source: str, record: dict, index: int, split: str) -> str:
    """One field of one record, at most MAX_FIELD_CHARS characters: the output is counted piece by
    piece as jinja yields it, so an over-long field is refused before it is joined."""
    where = f"record {index} of split '{split}'"
    pieces, size = [], 0
    try:
        with render_budget():  # the joins and strings of this render share one budget
            chunks = compile_template(source).generate(record)
            for piece in chunks:
                size += len(piece)
                if size > MAX_FIELD_CHARS:
                    chunks.close()
                    break
                pieces.append(piece)
    except Exception as e:  # any error a field's value can cause: ZeroDivisionError, RecursionError
        message = f"cannot render {where}: {type(e).__name__}: {cut(str(e), 300)}"
        raise SpecError(spec.path, field, source, message) from None
    if size > MAX_FIELD_CHARS:
        message = (
            f"renders {where} to over {MAX_FIELD_CHARS:,} characters; a rendered field is at "
            f"most {MAX_FIELD_CHARS:,}"
        )
        raise SpecError(spec.path, field, source, message)
    text = "".join(pieces)
    _check_rendered(spec, field, text, where, source)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_ID_CHARS = 256  # an example id is copied into every record of every cell that uses it


def _check_rendered(spec: TaskSpec, field: str, text: str, where: str, source: str) -> None:
    """A rendered field holds characters, not halves of one (a surrogate, from a template's
    ``"\\ud800"`` escape, cannot be written as UTF-8); an id is also short and plain text (no
    control or invisible character), as records, tables and the report show it."""
    if field == "id":
        if not text:  # records, tables and the report key a prompt by its id
            raise SpecError(spec.path, field, source, f"renders {where} to an empty id")
        if len(text) > MAX_ID_CHARS:
            message = (
                f"renders {where} to {len(text):,} characters; an id is at most {MAX_ID_CHARS}"
            )
            raise SpecError(spec.path, field, text, message)
        c = control_character(text, allowed="")
    elif field == "instruction" and not text.strip():  # a prompt asks something
        raise SpecError(spec.path, field, source, f"renders {where} to an empty instruction")
    else:
        surrogate = None if text.isprintable() else _SURROGATE.search(text)
        c = surrogate.group() if surrogate else None
    if c is not None:
        what = control_message(c)
        if field == "id":
            what = f"U+{ord(c):04X}: an id holds no control or invisible character, tab included"
        raise SpecError(spec.path, field, text, f"renders {where} to text with {what}")


def _select(spec: TaskSpec, split: Split, rows: list[dict], root: Path):
    """(position in the source, record) pairs the split keeps, in file order."""
    keep_ids = read_ids(spec, split, root) if split.id_files else None
    for index, record in enumerate(rows):
        if keep_ids is not None and str(record.get(split.id_field)) not in keep_ids:
            continue
        if split.hash_range is not None:
            low, high = split.hash_range
            if not low <= record_hash(record) < high:
                continue
        yield index, record


def _stamps(split: Split, root: Path) -> tuple:
    """File sizes and times in the cache key, so an edited data file is read again."""
    stamps = []
    for name in split.files + split.id_files:
        with contextlib.suppress(OSError):
            st = (root / name).stat()
            stamps.append((name, st.st_mtime_ns, st.st_size))
    return tuple(stamps)


def _example(spec: TaskSpec, split: str, index: int, record: dict, budget) -> Example:
    def render(field: str, source: str) -> str:
        return _render(spec, field, source, record, index, split)

    instruction = render("instruction", spec.instruction_template)
    reference = render("reference", spec.reference_template) if spec.reference_template else ""
    answer = None
    if spec.answer is not None:
        answer = extract_answer(spec, render("answer.template", spec.answer.template), budget)
    return Example(
        id=render("id", spec.id_template) if spec.id_template else f"{split}/{index}",
        instruction=instruction,
        prompt=format_prompt(instruction),
        reference=reference or None,  # an empty reference means: none
        answer=answer,
    )


class _Split:
    """A split's selected records (every one, in file order), rendered into examples only as far
    as a caller asks and kept: ``--show 1`` or a profile's 10 prompts render 1 or 10 records."""

    def __init__(self, spec: TaskSpec, split_name: str, root: Path):
        split = spec.split(split_name)
        self.spec, self.name = spec, split_name
        self.selected = list(_select(spec, split, read_local(spec, split, root), root))
        if not self.selected:
            files = list(split.files)
            raise SpecError(
                spec.path, f"splits.{split_name}", files, "split is empty after selection"
            )
        self.examples: list[Example] = []
        self.ids: set[str] = set()
        self.budget = RegexBudget(SPLIT_REGEX_SECONDS)  # shared by every record of the split
        self.lock = threading.Lock()

    def first(self, count: int) -> list[Example]:
        """The first ``count`` examples (all when there are fewer), rendering the missing ones."""
        with self.lock:
            while len(self.examples) < min(count, len(self.selected)):
                index, record = self.selected[len(self.examples)]
                example = _example(self.spec, self.name, index, record, self.budget)
                if example.id in self.ids:
                    message = f"duplicate example id in split '{self.name}'"
                    raise SpecError(self.spec.path, "id", example.id, message)
                self.ids.add(example.id)
                self.examples.append(example)
            return self.examples[:count]


@functools.lru_cache(maxsize=64)
def _split(spec: TaskSpec, split_name: str, root: Path, stamps: tuple) -> _Split:
    """Cached by spec, data root and file stamps: a changed input is never served stale."""
    return _Split(spec, split_name, root)


def _loaded(task: str | TaskSpec, split: str, tasks_dir: str | Path | None) -> _Split:
    spec = task if isinstance(task, TaskSpec) else load_task(task, tasks_dir)
    root = data_root()
    stamps = _stamps(spec.split(split), root)  # an unknown split names the known ones
    return _split(spec, split, root, stamps)


def count_examples(task: str | TaskSpec, split: str, *, tasks_dir: str | Path | None = None) -> int:
    """How many examples the split holds, without rendering any."""
    return len(_loaded(task, split, tasks_dir).selected)


def load_examples(
    task: str | TaskSpec,
    split: str,
    *,
    limit: int | None = None,
    tasks_dir: str | Path | None = None,
) -> list[Example]:
    """The examples of one split, in file order; ``limit`` keeps the first ones, and only they
    are rendered (an error in a later record is not seen)."""
    spec = task if isinstance(task, TaskSpec) else load_task(task, tasks_dir)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise SpecError(spec.path, "limit", limit, "expected a non-negative integer")
    loaded = _loaded(spec, split, tasks_dir)
    return loaded.first(len(loaded.selected) if limit is None else limit)
