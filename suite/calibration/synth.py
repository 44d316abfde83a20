"""Simulated per-prompt tables with the structure of real runs, for the calibration benchmark.

A table is what a claim check reads (:func:`suite.tables.seed_means` of one engine and family):
one row per (draft, τ_dec, prompt). Per prompt, α is

    α = mean(draft, τ_dec) + prompt effect + checkpoint shift (per configuration and training
        seed) + residual,

rounded to 1/64 (an α over 64 tokens: ties, so the tests' p-values are discrete) and kept in
(0, 1). γ is projected from α with a cost ratio c drawn per draft (noisy c, as one process
measures it), so a check that decided on γ would inherit that noise. Each claim's scenario
gives ``mean`` under its null (the claim false, at the boundary) and under the paper's effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PROMPT_SD, SEED_SD, RESID_SD = 0.05, 0.01, 0.04
TOKENS = 64
K = 4


@dataclass(frozen=True)
class Sizes:
    prompts: int
    seeds: int  # training seeds per KD configuration
    kd_grid: tuple[float, ...]
    dec_grid: tuple[float, ...]
    ood_grid: tuple[float, ...]


PROFILES = {
    "quick": Sizes(32, 3, (0.0, 0.5, 1.0), (0.0, 0.5, 1.0), (0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0)),
    "full": Sizes(
        200, 3, (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Draft:
    method: str  # base, offline, online
    kd_temperature: float | None = None
    recipe: bool = False
    seed: int | None = None

    @property
    def config(self) -> str:
        if self.method == "base":
            return "base"
        kd = "recipe" if self.recipe else f"t{self.kd_temperature:.1f}"
        return f"kd-{self.method}-{kd}"

    @property
    def label(self) -> str:
        return self.config if self.seed is None else f"{self.config}-s{self.seed}"


def kd_drafts(sizes: Sizes, methods=("offline", "online"), base: bool = False) -> list[Draft]:
    out = [Draft("base")] if base else []
    for method in methods:
        for tau in sizes.kd_grid:
            out += [Draft(method, tau, seed=s) for s in range(sizes.seeds)]
    return out


def projected_speedup(alpha: np.ndarray, c: float, k: int = K) -> np.ndarray:
    """γ = (1 - α^(K+1)) / ((1 - α)(K c + 1)), the analytic engine's formula."""
    a = np.clip(alpha, 1e-6, 1 - 1e-6)
    return (1 - a ** (k + 1)) / ((1 - a) * (k * c + 1))


def table(
    rng: np.random.Generator,
    family: str,
    dataset: str,
    drafts: list[Draft],
    taus,
    mean,
    prompts: int,
    engine: str = "analytic",
    token_chars: float = 3.0,
) -> pd.DataFrame:
    """One dataset's rows: ``mean(draft, tau)`` is the expected α of a draft at τ_dec."""
    prompt_effect = rng.normal(0, PROMPT_SD, prompts)
    chars = token_chars + rng.normal(0, 0.3, prompts)
    cols: dict[str, list] = {key: [] for key in ("d", "tau", "alpha", "speedup")}
    for d in drafts:
        shift = rng.normal(0, SEED_SD) if d.seed is not None else 0.0  # the checkpoint's own
        c = 0.25 * float(np.exp(rng.normal(0, 0.3)))  # c measured per draft, with the clock's noise
        for tau in taus:
            a = mean(d, tau) + prompt_effect + shift + rng.normal(0, RESID_SD, prompts)
            a = np.clip(np.round(a * TOKENS) / TOKENS, 1 / TOKENS, 1 - 1 / TOKENS)
            cols["d"] += [d] * prompts
            cols["tau"].append(np.full(prompts, float(tau)))
            cols["alpha"].append(a)
            cols["speedup"].append(projected_speedup(a, c))
    n = len(cols["d"])
    alpha = np.concatenate(cols["alpha"])
    ds = cols["d"]
    return pd.DataFrame(
        {
            "engine": engine, "family": family, "dataset": dataset,
            "draft": [d.label for d in ds], "decode_temperature": np.concatenate(cols["tau"]),
            "num_draft_tokens": K, "method": [d.method for d in ds],
            "kd_temperature": [np.nan if d.kd_temperature is None else d.kd_temperature
                               for d in ds],
            "kd_dataset": dataset, "recipe": [d.recipe for d in ds],
            "training_seed": pd.array([d.seed for d in ds], dtype="Int64"),
            "draft_config": [d.config for d in ds], "divergence": "kl",
            "draft_origin": "simulated", "prompt": np.tile([f"p{i}" for i in range(prompts)],
                                                           n // prompts),
            "alpha": alpha, "mean_accepted_length": (1 - alpha ** (K + 1)) / (1 - alpha),
            "speedup": np.concatenate(cols["speedup"]), "tokens": TOKENS,
            "token_chars": np.tile(chars, n // prompts),
        }
    )  # fmt: skip
