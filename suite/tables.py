"""Records to tables: one row per (cell, prompt), seeds averaged within a prompt.

The prompt is the unit of every test; ``matrix`` lines up the same prompts across conditions so
comparisons are paired. A draft's columns come from its facts (:class:`suite.drafts.DraftFacts`),
never from its name: ``method``, ``kd_temperature``, ``kd_dataset``, ``recipe``, and
``training_seed``, ``draft_config`` (the configuration without the seed, to group seeds),
``divergence`` and ``draft_origin``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from suite.drafts import BASE, SUBMISSION, DraftFacts
from suite.records import ANALYTIC, ResultRecord
from suite.store import ResultsStore

KEYS = ["engine", "family", "dataset", "draft", "decode_temperature", "num_draft_tokens"]
DRAFT_COLUMNS = [
    "method", "kd_temperature", "kd_dataset", "recipe", "training_seed", "draft_config",
    "divergence", "draft_origin",
]  # fmt: skip


def draft_columns(label: str, facts: DraftFacts) -> dict:
    """A draft's table columns. ``method`` is "submission" for a submitted draft, which no claim
    selects; its own method stays in its facts."""
    return {
        "method": SUBMISSION if facts.origin == SUBMISSION else facts.method,
        "kd_temperature": np.nan if facts.kd_temperature is None else facts.kd_temperature,
        "kd_dataset": facts.dataset,
        "recipe": facts.recipe,
        "training_seed": facts.seed,
        "draft_config": facts.configuration(label),
        "divergence": facts.divergence,
        "draft_origin": facts.origin,
    }


def read_records(folder: str | Path) -> list[ResultRecord]:
    """Finished records, as the store sees them: a torn last line is not a record."""
    return list(ResultsStore(folder).load().values())


def prompt_rows(records: Iterable[ResultRecord]) -> pd.DataFrame:
    """Per-prompt α, mean accepted length and γ (measured, or projected with the measured c)."""
    rows = []
    for rec in records:
        cell = rec.cell
        base = {key: getattr(cell, key) for key in KEYS} | {"seed": cell.seed, "key": rec.key}
        base |= draft_columns(cell.draft, rec.facts)
        for p, speedup in zip(rec.result.prompts, rec.prompt_speedups(), strict=True):
            rows.append(
                base
                | {
                    "prompt": p.prompt,
                    "alpha": p.alpha,
                    "mean_accepted_length": p.mean_accepted_length,
                    "speedup": speedup,
                    "tokens": p.tokens,
                    "token_chars": p.token_chars,
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.astype(
        {
            "alpha": float,
            "speedup": float,
            "mean_accepted_length": float,
            "training_seed": "Int64",
        }
    )


def token_char_buckets(records: Iterable[ResultRecord]) -> pd.DataFrame:
    """Mean β by token length in characters, per dataset, for the base draft (analytic cells).

    The last bucket holds that length and up, labelled "12+"; records of older runs, whose open
    bucket was lower, lower it for all, so a label never claims more than the data hold.
    """
    chosen = [
        r for r in records if r.engine == ANALYTIC and r.facts.method == BASE and r.result.analytic
    ]
    if not chosen:
        return pd.DataFrame(columns=["dataset", "chars", "label", "beta", "count"])
    open_from = min(r.result.analytic.by_token_chars.open_from for r in chosen)
    sums: dict[tuple[str, int], list[float]] = {}
    for rec in chosen:
        for chars, beta_sum, count in rec.result.analytic.by_token_chars.buckets:
            s = sums.setdefault((rec.cell.dataset, min(chars, open_from)), [0.0, 0])
            s[0] += beta_sum
            s[1] += count
    rows = [
        {
            "dataset": dataset,
            "chars": chars,
            "label": f"{chars}+" if chars == open_from else str(chars),
            "beta": total / count,
            "count": count,
        }
        for (dataset, chars), (total, count) in sorted(sums.items())
        if count
    ]
    return pd.DataFrame(rows)


def seed_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Average seeds within each prompt: seeds are nested in the unit, never extra units."""
    if frame.empty:
        return frame
    group = [*KEYS, *DRAFT_COLUMNS, "prompt"]
    values = ["alpha", "mean_accepted_length", "speedup", "tokens", "token_chars"]
    out = frame.groupby(group, dropna=False, sort=True)[values].mean().reset_index()
    return out


def select(frame: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for key, value in where.items():
        if isinstance(value, (list, tuple, set)):
            mask &= frame[key].isin(list(value)).to_numpy()
        elif isinstance(value, float) and np.isnan(value):
            mask &= frame[key].isna().to_numpy()
        else:
            mask &= (frame[key] == value).to_numpy()
    return frame[mask]


def matrix(frame: pd.DataFrame, column: str, metric: str) -> tuple[np.ndarray, list, list]:
    """Units × conditions: rows are prompts present under every condition (paired)."""
    if frame.empty:
        return np.empty((0, 0)), [], []
    # groupby + unstack: pivot_table's mean, sorted alike, at a fraction of the cost
    wide = frame.groupby(["prompt", column], sort=True)[metric].mean().unstack(column)
    wide = wide.dropna(axis=0, how="any")
    return wide.to_numpy(dtype=float), list(wide.columns), list(wide.index)


def cube(frame: pd.DataFrame, rows: str, cols: str, metric: str) -> tuple[np.ndarray, list, list]:
    """Units × row conditions × column conditions, prompts present in every cell."""
    if frame.empty:
        return np.empty((0, 0, 0)), [], []
    wide = frame.pivot_table(index="prompt", columns=[rows, cols], values=metric, aggfunc="mean")
    wide = wide.dropna(axis=0, how="any")
    row_values = sorted({r for r, _ in wide.columns})
    col_values = sorted({c for _, c in wide.columns})
    full = pd.MultiIndex.from_product([row_values, col_values])
    if len(full) != len(wide.columns):
        return np.empty((0, 0, 0)), row_values, col_values
    data = wide[full].to_numpy(dtype=float)
    return data.reshape(len(wide), len(row_values), len(col_values)), row_values, col_values
