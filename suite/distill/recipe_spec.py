"""Reading a KD recipe (``reference/recipes/kd-*.yaml``): every field checked with the spec
:class:`~suite.reader.Reader`, so errors name the file, the field and the value."""

from __future__ import annotations

import math
import re
from pathlib import Path

from suite.distill.divergence import DIVERGENCES
from suite.distill.grid import kd_grid
from suite.distill.loop import train_config
from suite.distill.offline import format_temperature
from suite.distill.pretrain import SAFE_NAME, SAFE_NAME_RULE
from suite.drafts import RECIPE_MAX_KD_TEMPERATURE
from suite.errors import SpecError
from suite.seeding import seed_problem
from suite.specs import MAX_NEW_TOKENS, MAX_SEEDS, Reader, load_specs, read_yaml

METHODS = ("offline", "online")
_REQUIRED = (
    "name",
    "seed",
    "models",
    "datasets",
    "methods",
    "kd_temperatures",
    "full_grid_kd_temperatures",
    "recipe_temperatures",
    "divergence",
    "prompts",
    "offline",
    "train",
)


_OPTIONAL = {"seeds", "eval_examples", "eval_every"}


MAX_KD_TEMPERATURE = RECIPE_MAX_KD_TEMPERATURE


def _temperatures(r: Reader, value, key: str, *, positive: bool = False, empty: bool = False):
    """Distinct temperatures, each 0 or in [MIN_TEMPERATURE, ∞), spelled with at most 2 decimals
    (the names of drafts and KD data sets): two that share a spelling would share a draft."""
    if value == [] and empty:
        return ()
    taus = r.temperatures(value, key)
    spelled: dict[str, float] = {}
    for i, tau in enumerate(taus):
        text = format_temperature(tau)
        if positive and tau == 0:
            raise r.error(f"{key}[{i}]", value[i], "every temperature must be > 0")
        if float(text) != tau:  # YAML reads 0.4 as the double 0.4 itself
            raise r.error(f"{key}[{i}]", value[i], "at most 2 decimals (draft names spell 2)")
        if tau > MAX_KD_TEMPERATURE:
            message = f"at most {MAX_KD_TEMPERATURE:g} (the paper's grid is 0 to 1)"
            raise r.error(f"{key}[{i}]", value[i], message)
        if math.copysign(1.0, tau) < 0:
            raise r.error(f"{key}[{i}]", value[i], "-0.0 is refused: write 0.0")
        if text in spelled:
            raise r.error(f"{key}[{i}]", value[i], f"named t{text} like {spelled[text]!r}")
        spelled[text] = tau
    return taus


def _names(r: Reader, value, key: str, known) -> tuple[str, ...]:
    """A list of distinct names, each one of ``known``."""
    names = r.strings(value, key)
    for i, name in enumerate(names):
        if name not in known:
            raise r.error(f"{key}[{i}]", name, f"unknown; known: {sorted(known)}")
        if name in names[:i]:
            raise r.error(f"{key}[{i}]", name, "listed twice")
    return names


def _seeds(r: Reader, recipe: dict) -> None:
    _seed(r, recipe["seed"], "seed")
    seeds = recipe.get("seeds")
    if seeds is None:
        return
    if not isinstance(seeds, list) or not seeds or len(seeds) > MAX_SEEDS:
        raise r.error("seeds", seeds, "expected a list of distinct integers >= 0")
    for i, seed in enumerate(seeds):
        _seed(r, seed, f"seeds[{i}]", "seeds", seeds)
        if seed in seeds[:i]:
            raise r.error("seeds", seeds, "expected a list of distinct integers >= 0")


def _seed(r: Reader, value, field: str, name: str | None = None, whole=None) -> None:
    problem = seed_problem(value, MAX_SEEDS)  # a recipe's seed is part of its drafts' names
    if problem:
        raise r.error(name or field, value if whole is None else whole, problem)


def _sections(r: Reader, recipe: dict) -> None:
    models = r.mapping(recipe["models"], "models", {"target", "base_draft", "tokenizer"}, set())
    for key, folder in models.items():
        if not re.fullmatch(SAFE_NAME, r.string(folder, f"models.{key}")):
            raise r.error(f"models.{key}", folder, "a folder name under --out: " + SAFE_NAME_RULE)
    if models.get("base_draft") == models.get("target"):
        message = "the same folder as models.target: a draft is distilled from another model"
        raise r.error("models.base_draft", models.get("base_draft"), message)
    keys = {"per_dataset", "max_prompt_tokens", "max_new_tokens"}
    prompts = r.mapping(recipe["prompts"], "prompts", keys, set())
    r.positive_int(prompts["per_dataset"], "prompts.per_dataset")
    # as every max_new_tokens a file states; run_distill also fits both to the target's positions
    for key in ("max_prompt_tokens", "max_new_tokens"):
        r.positive_int(prompts[key], f"prompts.{key}", MAX_NEW_TOKENS)
    keys = {"samples_per_prompt", "batch_size", "chunk_size"}
    offline = r.mapping(recipe["offline"], "offline", {"samples_per_prompt"}, keys)
    r.positive_int(offline["samples_per_prompt"], "offline.samples_per_prompt", 64)
    for key in sorted(keys & set(offline)):
        r.positive_int(offline[key], f"offline.{key}")
    if "eval_examples" in recipe:
        r.positive_int(recipe["eval_examples"], "eval_examples")
    every = recipe.get("eval_every", 1)
    if isinstance(every, bool) or every != 0:  # 0 (an integer): no held-out loss in training
        r.positive_int(every, "eval_every")


MAX_GRID_DRAFTS = 10_000  # seeds × methods × datasets × temperatures (the bundled: 102)


def load_kd_recipe(path: str | Path) -> dict:
    """Read and check a KD recipe; errors name the file, the field and the value."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(path, "recipe", str(path), "recipe file not found")
    r = Reader(path)
    recipe = r.mapping(read_yaml(path, "recipe"), "", set(_REQUIRED), _OPTIONAL)
    if not re.fullmatch(SAFE_NAME, r.string(recipe["name"], "name")):
        message = SAFE_NAME_RULE
        raise r.error("name", recipe["name"], message)
    _seeds(r, recipe)
    _names(r, recipe["methods"], "methods", METHODS)
    _names(r, recipe["datasets"], "datasets", set(load_specs()))
    r.choice(recipe["divergence"], "divergence", tuple(DIVERGENCES))
    _sections(r, recipe)
    for key in ("kd_temperatures", "full_grid_kd_temperatures"):
        _temperatures(r, recipe[key], key)
    _temperatures(
        r, recipe["recipe_temperatures"], "recipe_temperatures", positive=True, empty=True
    )
    train_config(recipe["train"], str(path))
    seeds = recipe.get("seeds") or [recipe["seed"]]
    taus = max(len(recipe["kd_temperatures"]), len(recipe["full_grid_kd_temperatures"]))
    mixes = 1 if recipe["recipe_temperatures"] else 0  # one recipe draft, however many τ
    drafts = len(seeds) * len(recipe["methods"]) * len(recipe["datasets"]) * (taus + mixes)
    if drafts > MAX_GRID_DRAFTS:  # the grid is listed, planned and checkpointed draft by draft
        message = (
            f"its grid holds about {drafts:,} drafts; a recipe makes at most {MAX_GRID_DRAFTS:,}"
        )
        raise r.error("seeds", len(seeds), message)
    _models_apart(r, recipe)
    recipe["_path"] = str(path)
    return recipe


def _models_apart(r: Reader, recipe: dict) -> None:
    """No ``models`` folder is named like a draft the recipe builds (with or without
    ``--full-grid``): ``distill`` saves each draft into ``--out/<name>``, over that model."""
    names = {d.name for full in (False, True) for d in kd_grid(recipe, full_grid=full)}
    for key, folder in recipe["models"].items():
        if folder in names:
            message = "the name of a draft this recipe builds: distill would save that draft there"
            raise r.error(f"models.{key}", folder, message)
