"""What ``suite submit`` writes about a submission (``submission.json``: the submission's own
text, its size and fingerprint), checked where it is written and where a report reads it: a
submission that passes ``check`` is one whose results a report can show."""

from __future__ import annotations

import math
import re
import reprlib
from pathlib import Path

from suite.drafts import (
    MAX_KD_TEMPERATURE,
    MAX_KD_TEMPERATURES,
    MIN_KD_TEMPERATURE,
    SUBMISSION_METHODS,
)
from suite.errors import SpecError, control_character
from suite.seeding import seed_problem


def check_submission_json(path: Path, data: dict) -> None:
    """Every field ``submit`` writes, typed and bounded as ``submissions check`` reads it (each
    may be null but ``name`` and ``draft``), and no other: a SpecError names ``path``, the
    field and the value."""
    _check_fields(path, data, _SUBMISSION_FIELDS, "")
    training = data.get("training")
    if training is not None:
        if not isinstance(training, dict):
            raise SpecError(path, "training", training, "expected a mapping")
        _check_fields(path, training, _TRAINING_FIELDS, "training.")
    for field in ("name", "draft"):  # what names the entry: submit always writes both
        if data.get(field) is None:
            raise SpecError(path, field, data.get(field), "missing required field")
    name, draft = data["name"], data["draft"]
    if draft != f"sub-{name}":  # as submit names it
        raise SpecError(path, "draft", draft, f"expected the submission's draft, 'sub-{name}'")
    _known(path, data, (*_SUBMISSION_FIELDS, "training"), "")
    if training is not None:
        _known(path, training, tuple(_TRAINING_FIELDS), "training.")


def _known(path: Path, data: dict, known: tuple[str, ...], prefix: str) -> None:
    for key in data:
        if key not in known:
            value = reprlib.repr(data[key])
            raise SpecError(
                path, f"{prefix}{key}"[:200], value, f"unknown field; known: {', '.join(known)}"
            )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return _is_int(value) or isinstance(value, float)


def _is_names(value) -> bool:
    return isinstance(value, list) and 1 <= len(value) <= 256 and all(map(_is_text, value))


def _is_str(value) -> bool:
    """Text as a submission states it: at most 64 KiB, no control or invisible character (tab
    and newline aside: a description may have lines)."""
    return isinstance(value, str) and len(value) <= 1 << 16 and control_character(value) is None


def _is_text(value) -> bool:
    """Text ``submissions check`` requires: not blank (an author, the training data)."""
    return _is_str(value) and bool(value.strip())


def _is_line(value) -> bool:
    """A name, a path or a fact: one line of at most 1,024 characters, no tab, not blank."""
    return (
        isinstance(value, str)
        and len(value) <= 1_024
        and bool(value.strip())
        and control_character(value, "") is None
    )


def _is_kd_temperature(value) -> bool:
    """0, or from 0.001 to 100: as a submission's facts state a τ_kd (suite.drafts)."""
    return (
        _is_number(value)
        and math.isfinite(value)
        and (value == 0 or MIN_KD_TEMPERATURE <= value <= MAX_KD_TEMPERATURE)
    )


def _is_sha256(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


# what `suite submit` writes (Submission.to_dict, its size and fingerprint): each may be null
_LINES = ("name", "draft", "target", "model", "license", "profile")
_TEXT_RULE = "expected text of at most 65,536 characters, no control or invisible character"
_LINE_RULE = (
    "expected one line of at most 1,024 characters, not blank, no control character (tab included)"
)
_SUBMISSION_FIELDS = {f: (_is_line, _LINE_RULE) for f in _LINES} | {
    "description": (_is_str, _TEXT_RULE),
    "sha256": (_is_sha256, "expected a sha256: 64 lower-case hex digits"),
    "authors": (
        _is_names,
        "expected a list of 1 to 256 texts, none blank (" + _TEXT_RULE[9:] + ")",
    ),
    "parameters": (lambda v: _is_int(v) and 1 <= v <= 2**53, "expected a count from 1 to 2^53"),
}
_TRAINING_FIELDS = {f: (_is_line, _LINE_RULE) for f in ("dataset", "divergence")} | {
    "method": (
        lambda v: v in SUBMISSION_METHODS,
        f"expected one of: {', '.join(SUBMISSION_METHODS)} (as `submissions check` reads it)",
    ),
    "data": (_is_text, _TEXT_RULE + ", not blank"),
    "kd_temperature": (
        _is_kd_temperature,
        f"expected a KD temperature: 0 or from {MIN_KD_TEMPERATURE:g} to {MAX_KD_TEMPERATURE:g}",
    ),
    "kd_temperatures": (
        lambda v: (
            isinstance(v, list)
            and len(v) <= MAX_KD_TEMPERATURES
            and all(map(_is_kd_temperature, v))
        ),
        f"expected a list of at most {MAX_KD_TEMPERATURES} KD temperatures",
    ),
    "recipe": (lambda v: isinstance(v, bool), "expected true or false"),
    "seed": (lambda v: seed_problem(v) is None, "expected a seed: an integer in [0, 2^32)"),
}


def _check_fields(path: Path, data: dict, fields: dict, prefix: str) -> None:
    for field, (check, expected) in fields.items():
        value = data.get(field)
        if value is not None and not check(value):
            raise SpecError(path, prefix + field, value, expected)
