"""The field reader every YAML file of the suite goes through (task specs, studies, profiles,
recipes, submissions): each value type-checked and bounded, every error a :class:`SpecError`
naming the file, the field and the value. The ceilings every file shares live here too."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from suite.errors import SpecError, control_character, control_message
from suite.keys import temperature_key
from suite.sandbox import JINJA, template_problem
from suite.strict import whole


@functools.lru_cache(maxsize=256)
def compile_template(source: str) -> jinja2.Template:
    """Compile once per source text: thousands of records render through the same template."""
    return JINJA.from_string(source)


MAX_SIZE = 100_000  # any count a file states (prompts, examples, batch sizes)
MAX_NEW_TOKENS = 8_192  # generation length, also bounded by each model's context at run time
MAX_DRAFT_TOKENS = 128  # K: a draft proposes at most this many tokens per step
MAX_SEEDS = 1_000
MAX_TEMPERATURE = 100.0  # a decode temperature: past it sampling is uniform to float32
MAX_LINE_CHARS = 4_096  # a title: one line
MAX_THREADS = 1_024  # torch threads: far above any machine's cores, far below a runaway pool
MAX_WORKERS = 256  # worker processes or Ray actors of one run, each holding its own models
MAX_N_BOOT = 100_000  # bootstrap resamples of one interval
SEED_CEILING = 2**32 - 1  # a stated seed: what numpy and torch generators take
MAX_SPEC_FILES = 1_000  # task specs in one folder: each is parsed before the first error
# A positive temperature below this divides float32 logits past their range: softmax(l / τ) is
# NaN, and a NaN row would be drawn from as if it were a distribution. τ is 0 (greedy) or above.
MIN_TEMPERATURE = 1e-3


# A name chosen by the user that becomes part of a cell key, a draft label or a folder: a model
# family, a profile's draft, a study's profile. Keys use '/' as a separator, tables and terminals
# show the names, so only these characters, starting with a letter or digit.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SAFE_NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, 128 at most"


class Reader:
    """Type-checks one YAML file, keeping the file path for every error."""

    def __init__(self, path: Path):
        self.path = path

    def error(self, field: str | None, value: Any, message: str) -> SpecError:
        return SpecError(self.path, field, value, message)

    def mapping(self, value: Any, field: str, required: set[str], optional: set[str]) -> dict:
        if not isinstance(value, dict):
            raise self.error(field or "(document)", value, "expected a mapping")
        prefix = f"{field}." if field else ""
        known = required | optional
        for key in value:
            if key not in known:
                names = ", ".join(sorted(known))
                raise self.error(f"{prefix}{key}", value[key], f"unknown field; known: {names}")
        for key in sorted(required):
            if key not in value:
                raise self.error(f"{prefix}{key}", None, "missing required field")
        return value

    def named(self, value: Any, field: str, *, safe: bool = False) -> dict:
        """A mapping whose keys are names chosen by the user (families, drafts, datasets), with no
        control or invisible character; ``safe``: each key a :data:`SAFE_NAME`."""
        if not isinstance(value, dict):
            raise self.error(field or "(document)", value, "expected a mapping")
        for key in value:
            if not isinstance(key, str) or not key.strip():
                raise self.error(field, key, "keys must be non-empty strings")
            c = control_character(key, allowed="")
            if c is not None:
                raise self.error(field, key, control_message(c, allowed=""))
            if safe and not SAFE_NAME.fullmatch(key):
                raise self.error(field, key, f"a name is {SAFE_NAME_RULE}")
        return value

    def string(self, value: Any, field: str, *, blank: bool = False) -> str:
        """A non-empty string; ``blank`` admits whitespace only (stop strings like '\\n\\n')."""
        if not isinstance(value, str):
            raise self.error(field, value, f"expected a string, got {type(value).__name__}")
        if not (value if blank else value.strip()):
            raise self.error(field, value, "must not be empty")
        c = control_character(value)
        if c is not None:
            raise self.error(field, value, control_message(c))
        return value

    def line(self, value: Any, field: str, most: int = MAX_LINE_CHARS) -> str:
        """One line of text (a title a results header and the report show): no tab or newline,
        at most ``most`` characters."""
        text = self.string(value, field)
        if "\n" in text or "\t" in text or len(text) > most:
            message = f"expected one line of at most {most:,} characters, no tab"
            raise self.error(field, text, message)
        return text

    def positive_int(self, value: Any, field: str, maximum: int = MAX_SIZE) -> int:
        """A positive integer no larger than ``maximum``: no size in a file is unbounded. A
        whole float (``2E6``, YAML 1.2's way to write two million) is that integer."""
        value = whole(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(field, value, f"expected an integer, got {type(value).__name__}")
        if value <= 0:
            raise self.error(field, value, "must be positive")
        if value > maximum:
            raise self.error(field, value, f"must be at most {maximum:,}")
        return value

    def strings(self, value: Any, field: str, *, blank: bool = False) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.error(field, value, "expected a non-empty list of strings")
        return tuple(self.string(v, f"{field}[{i}]", blank=blank) for i, v in enumerate(value))

    def relative_paths(self, value: Any, field: str) -> tuple[str, ...]:
        """Data paths stay under the data root: no absolute paths, no ``..``."""
        paths = self.strings(value, field)
        for i, p in enumerate(paths):
            posix = PurePosixPath(p.replace("\\", "/"))
            if posix.is_absolute() or re.match(r"^[A-Za-z]:", p) or ".." in posix.parts:
                raise self.error(
                    f"{field}[{i}]", p, "must be relative to the data root, without '..'"
                )
        return paths

    def template(self, value: Any, field: str) -> str:
        source = self.string(value, field)
        try:
            problem = template_problem(source)  # before compiling: jinja folds constants
            if problem is None:
                compile_template(source)
        except jinja2.TemplateSyntaxError as e:
            raise self.error(
                field, source, f"bad Jinja2 template: {e.message} (line {e.lineno})"
            ) from None
        except RecursionError:
            raise self.error(field, source, "nested too deeply to parse") from None
        except Exception as e:  # what jinja's compiler may raise while folding constants
            raise self.error(field, source, f"cannot compile: {type(e).__name__}: {e}") from None
        if problem:
            raise self.error(field, source, problem)
        return source

    def temperatures(self, value: Any, field: str) -> tuple[float, ...]:
        """A non-empty list of temperatures, each 0 or finite and >= MIN_TEMPERATURE, no two
        spelled alike in a cell key (1.0 and 1.0000001 would be one cell)."""
        if not isinstance(value, list) or not value:
            raise self.error(field, value, "expected a non-empty list of temperatures")
        out: list[float] = []
        keys: dict[str, int] = {}
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.error(f"{field}[{i}]", v, "expected a number")
            if not math.isfinite(v) or not 0 <= v <= MAX_TEMPERATURE:
                message = f"a temperature must be a number in [0, {MAX_TEMPERATURE:g}]"
                raise self.error(f"{field}[{i}]", v, message)
            if 0 < v < MIN_TEMPERATURE:
                message = f"a temperature must be 0 (greedy) or at least {MIN_TEMPERATURE:g}"
                raise self.error(f"{field}[{i}]", v, message)
            key = temperature_key(float(v))
            if key in keys:
                j, same = keys[key], f"{field}[{keys[key]}] = {value[keys[key]]!r}"
                message = f"spelled {key} in a cell key like {same}: the two would be one cell"
                if float(v) == out[j]:
                    message = f"listed twice: {same}"
                raise self.error(f"{field}[{i}]", v, message)
            keys[key] = i
            out.append(float(v))
        return tuple(out)

    def choice(self, value: Any, field: str, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.error(field, value, f"expected one of: {', '.join(options)}")
        return value
