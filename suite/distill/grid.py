"""The KD grid a recipe lists: every (seed, dataset, method, τ_kd) draft and each seed's
data-centric recipe drafts, by name. Read by the recipe check (no models folder may take a
draft's name) and by ``distill``; it imports neither."""

from __future__ import annotations

from dataclasses import dataclass

from suite.distill.offline import format_temperature


@dataclass(frozen=True)
class KDDraft:
    """One draft of the grid; a recipe draft has several τ_kd, a grid draft exactly one."""

    name: str
    method: str
    dataset: str
    kd_temperatures: tuple[float, ...]
    divergence: str
    is_recipe: bool = False
    seed: int = 0

    @property
    def kd_temperature(self) -> float | None:
        return None if self.is_recipe else self.kd_temperatures[0]


def draft_name(
    method: str, dataset: str, kd_temperature: float | None = None, seed: int | None = None
) -> str:
    """``kd-offline-gsm8k-t0.4-s1``; ``kd-offline-gsm8k-recipe-s1`` when ``kd_temperature`` is
    None; without a seed, no ``-s`` suffix."""
    suffix = "recipe" if kd_temperature is None else f"t{format_temperature(kd_temperature)}"
    name = f"kd-{method}-{dataset}-{suffix}"
    return name if seed is None else f"{name}-s{seed}"


def kd_grid(recipe: dict, *, full_grid: bool = False) -> list[KDDraft]:
    """Every (seed, dataset, method, τ_kd) draft plus each seed's data-centric recipe drafts.

    Ordered seed by seed, and within a seed τ_kd 0 and 1 (the pilot's ends of the grid) first,
    so a queue run in order builds the pilot before the rest.
    """
    key = "full_grid_kd_temperatures" if full_grid else "kd_temperatures"
    temperatures = [float(t) for t in recipe[key]]
    ends = [t for t in temperatures if t in (0.0, 1.0)]
    middle = [t for t in temperatures if t not in (0.0, 1.0)]
    mix = tuple(float(t) for t in recipe["recipe_temperatures"])
    seeds = recipe.get("seeds")
    drafts = []
    for seed in seeds if seeds is not None else [recipe["seed"]]:
        suffix = seed if seeds is not None else None
        for group in (ends, middle):
            for dataset in recipe["datasets"]:
                for method in recipe["methods"]:
                    for t in group:
                        name = draft_name(method, dataset, t, suffix)
                        drafts.append(
                            KDDraft(name, method, dataset, (t,), recipe["divergence"], seed=seed)
                        )
        for dataset in recipe["datasets"]:
            for method in recipe["methods"]:
                if mix:
                    name = draft_name(method, dataset, None, suffix)
                    drafts.append(
                        KDDraft(name, method, dataset, mix, recipe["divergence"], True, seed)
                    )
    return drafts
