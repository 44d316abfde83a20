"""Records to tables: one row per (cell, prompt), seeds averaged within a prompt.

The prompt is the unit of every test; ``matrix`` lines up the same prompts across conditions so
comparisons are paired.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from suite.acceptance.records import mean_accepted_length
from suite.store import ResultsStore

_KD_NAME = re.compile(
    r"^kd-(?P<method>offline|online)-(?P<dataset>[\w.]+?)-(?:t(?P<tau>[\d.]+)|recipe)$"
)
SUBMISSION_PREFIX = "sub-"  # a submission runs as the draft ``sub-<name>`` (suite.submissions)
KEYS = ["engine", "family", "dataset", "draft", "decode_temperature", "num_draft_tokens"]


def draft_info(name: str) -> dict:
    """Method, τ_kd and training set of a bundled draft from its name: ``kd-online-gsm8k-t0.4``.

    Submitted drafts (``sub-<name>``) get the method "submission", which no claim selects; the
    claims also read only their own studies' cells, and no claim study holds a submission.
    """
    plain = "base" if name == "base" else "submission" if name.startswith(SUBMISSION_PREFIX) else ""
    if plain:
        return {"method": plain, "kd_temperature": np.nan, "kd_dataset": None, "recipe": False}
    m = _KD_NAME.match(name)
    if not m:
        return {"method": "other", "kd_temperature": np.nan, "kd_dataset": None, "recipe": False}
    tau = m.group("tau")
    return {
        "method": m.group("method"),
        "kd_temperature": float(tau) if tau else np.nan,
        "kd_dataset": m.group("dataset"),
        "recipe": tau is None,
    }


def read_records(folder: str | Path) -> list[dict]:
    """Finished records, as the store sees them: a torn last line is not a record."""
    return list(ResultsStore(folder).load().values())


def _projected(alpha: float, k: int, c: float) -> float:
    if not np.isfinite(alpha):
        return np.nan
    return mean_accepted_length(min(max(alpha, 0.0), 1.0), k) / (k * c + 1.0)


def prompt_rows(records: Iterable[dict]) -> pd.DataFrame:
    """Per-prompt α, mean accepted length and γ (measured, or projected with the measured c)."""
    rows = []
    for rec in records:
        cell, result, timing = rec["cell"], rec["result"], rec.get("timing", {})
        base = {key: cell[key] for key in KEYS} | {"seed": cell["seed"], "key": rec["key"]}
        base |= draft_info(cell["draft"])
        k = cell["num_draft_tokens"]
        if cell["engine"] == "analytic":
            c = timing.get("cost_ratio", np.nan)
            chars = result.get("prompt_token_chars") or [np.nan] * len(rec["prompt_ids"])
            for pid, alpha, tokens, ch in zip(
                rec["prompt_ids"], result["prompt_acceptance"], result["prompt_tokens"], chars,
                strict=True,
            ):  # fmt: skip
                alpha = np.nan if alpha is None else alpha
                rows.append(
                    base
                    | {
                        "prompt": pid,
                        "alpha": alpha,
                        "mean_accepted_length": mean_accepted_length(alpha, k)
                        if np.isfinite(alpha)
                        else np.nan,
                        "speedup": _projected(alpha, k, c),
                        "tokens": tokens,
                        "token_chars": np.nan if ch is None else ch,
                    }
                )
        else:
            per_time = timing.get("per_prompt") or [{}] * len(result["per_prompt"])
            for p, t in zip(result["per_prompt"], per_time, strict=True):
                # β estimates the judged rate: drafts after a rejection are never judged.
                alpha = p["judged_acceptance_rate"]
                rows.append(
                    base
                    | {
                        "prompt": p["id"],
                        "alpha": np.nan if alpha is None else alpha,
                        "mean_accepted_length": p["mean_accepted_length"],
                        "speedup": t.get("speedup", np.nan),
                        "tokens": p["speculative"]["tokens"],
                        "token_chars": np.nan,
                    }
                )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.astype({"alpha": float, "speedup": float, "mean_accepted_length": float})


def seed_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Average seeds within each prompt: seeds are nested in the unit, never extra units."""
    if frame.empty:
        return frame
    group = [*KEYS, "method", "kd_temperature", "kd_dataset", "recipe", "prompt"]
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
    wide = frame.pivot_table(index="prompt", columns=column, values=metric, aggfunc="mean")
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
