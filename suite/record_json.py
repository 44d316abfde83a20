"""The stored layout of a record: one JSON object per line of ``cells.jsonl``.

The layout is the one the store has always written (``key``, ``cell``, ``prompt_ids``,
``result``, ``provenance``, ``timing``), with the draft's facts in the cell and where the
token-length buckets open in an analytic result. Records written before either still read: their
facts come from the draft's name, their open bucket is 8. A malformed record is refused with a
:class:`RecordError` naming the field and the value; the store adds the file and the line.
The checking reader is :mod:`suite.record_read`; the records read here are
:class:`StoredRecord`: records that also read as their JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from suite.record_read import RecordError, read_record
from suite.records import (
    ANALYTIC,
    CellResult,
    Generation,
    PromptResult,
    Provenance,
    ResultRecord,
    Timing,
)

__all__ = ["RecordError", "StoredRecord", "as_record", "record_from_json", "record_to_json"]


class StoredRecord(ResultRecord, Mapping):
    """A record as the store hands it out: it also reads as the JSON it is stored as.

    ``record["cell"]["draft"]`` is a read-only view for code that still reads records by JSON key
    (``suite/claims``, ``suite/report/render.py``) until it moves to the attributes.
    """

    @functools.cached_property
    def _json(self) -> dict:
        return record_to_json(self)

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)


def record_to_json(record: ResultRecord) -> dict:
    out = {
        "key": record.key,
        "cell": record.cell.to_dict(),
        "prompt_ids": list(record.prompt_ids),
        "result": _result_json(record.result),
        "timing": _timing_json(record.timing, record.engine),
    }
    if record.provenance is not None:
        out["provenance"] = _provenance_json(record.provenance)
    return out


def as_record(value: ResultRecord | Mapping) -> ResultRecord:
    """A record as is; a JSON mapping read (and checked) into one."""
    return value if isinstance(value, ResultRecord) else record_from_json(value)


# --- writing -----------------------------------------------------------------------------------


def _result_json(result: CellResult) -> dict:
    out: dict[str, Any] = {
        "acceptance_rate": result.acceptance_rate,
        "mean_accepted_length": result.mean_accepted_length,
        "position_acceptance": list(result.position_acceptance),
    }
    if result.analytic is not None:
        a = result.analytic
        ci = a.confidence_interval
        buckets = a.by_token_chars
        out |= {
            "confidence_interval": None if ci is None else list(ci),
            "standard_error": a.standard_error,
            "prompt_acceptance": [p.alpha for p in result.prompts],
            "prompt_tokens": [p.tokens for p in result.prompts],
            "prompt_token_chars": [p.token_chars for p in result.prompts],
            "tokens": a.tokens,
            "temperature": a.temperature,
            "n_boot": a.n_boot,
            "confidence_level": a.confidence_level,
            "acceptance_by_token_chars": {str(n): [s, c] for n, s, c in buckets.buckets},
            "token_chars_open_bucket": buckets.open_from,
        }
    else:
        e = result.empirical
        out |= {
            "judged_acceptance_rate": e.judged_acceptance_rate,
            "proposed": e.proposed,
            "accepted": e.accepted,
            "judged": e.judged,
            "steps": e.steps,
            "tokens_speculative": e.tokens_speculative,
            "tokens_target": e.tokens_target,
            "identical_outputs": e.identical_outputs,
            "per_prompt": [_empirical_prompt_json(p) for p in result.prompts],
        }
    return out


def _generation_json(g: Generation) -> dict:
    return {"tokens": g.tokens, "finish_reason": g.finish_reason, "text": g.text}


def _empirical_prompt_json(p: PromptResult) -> dict:
    e = p.empirical
    return {
        "id": p.prompt,
        "seed": e.seed,
        "acceptance_rate": e.acceptance_rate,
        "judged_acceptance_rate": p.alpha,
        "mean_accepted_length": p.mean_accepted_length,
        "steps": e.steps,
        "proposed": e.proposed,
        "accepted": e.accepted,
        "judged": e.judged,
        "proposed_per_position": list(e.proposed_per_position),
        "accepted_per_position": list(e.accepted_per_position),
        "identical": e.identical,
        "speculative": _generation_json(e.speculative),
        "target": _generation_json(e.target),
    }


def _timing_json(t: Timing, engine: str) -> dict:
    if engine == ANALYTIC:
        return {
            "cost_ratio": t.cost_ratio,
            "projected_speedup": t.projected_speedup,
            "sample_seconds": t.sample_seconds,
            "score_seconds": t.score_seconds,
            "finished_at": t.finished_at,
        }
    return {
        "speedup": t.speedup,
        "speculative_seconds": t.speculative_seconds,
        "baseline_seconds": t.baseline_seconds,
        "per_prompt": [
            {
                "speculative_seconds": p.speculative_seconds,
                "draft_seconds": p.draft_seconds,
                "target_seconds": p.target_seconds,
                "baseline_seconds": p.baseline_seconds,
                "speedup": p.speedup,
            }
            for p in t.per_prompt
        ],
        "finished_at": t.finished_at,
    }


def _provenance_json(p: Provenance) -> dict:
    out = {
        "git_commit": p.git_commit,
        "git_dirty": p.git_dirty,
        "packages": dict(p.packages),
        "hardware": dict(p.hardware),
        "profile": p.profile,
        "models": {
            role: {"location": m.location, "sha256": m.sha256} for role, m in p.models.items()
        },
    }
    if p.prompt_format is not None:  # an older record writes back as it was read
        out["prompt_format"] = p.prompt_format
    if p.task is not None:
        out["task"] = p.task
    return out


def record_from_json(data: Any) -> StoredRecord:
    """A stored record from its JSON (read and checked by :func:`suite.record_read.read_record`),
    holding no field its record does not write back: a run writes no other, and an unread field
    would hide megabytes in copies of one record that :meth:`ResultsStore.load` reads as one."""
    record = read_record(data)
    stored = StoredRecord(
        cell=record.cell, result=record.result, provenance=record.provenance, timing=record.timing
    )
    found = _unwritten_field(data, stored._json)  # built once: the view reads it too
    if found is not None:
        raise RecordError(found[0], found[1], "a field no run writes; refused")
    return stored


# Fields a record may hold as null that its record then leaves out (older records' layout).
_NULL_FIELDS = frozenset({"provenance", "provenance.prompt_format", "provenance.task"})


def _unwritten_field(line: Any, written: Any, field: str = "") -> tuple[str, Any] | None:
    """The first field (at any depth) of a stored line that its record does not write back."""
    if isinstance(line, dict) and isinstance(written, dict):
        for key, value in line.items():
            name = f"{field}.{key}" if field else key
            if key not in written:
                if value is None and name in _NULL_FIELDS:
                    continue
                return name, value
            found = _unwritten_field(value, written[key], name)
            if found is not None:
                return found
    elif isinstance(line, list) and isinstance(written, list):
        for i, (item, back) in enumerate(zip(line, written, strict=False)):
            found = _unwritten_field(item, back, f"{field}[{i}]")
            if found is not None:
                return found
    return None
