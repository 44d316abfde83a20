"""A pretraining recipe read and checked before anything is written: its name, seed and
architecture (:func:`load_recipe`), its sizes (:mod:`suite.distill.recipe_sizes`), and the parts
``train --only`` asks for (:func:`check_parts`)."""

from __future__ import annotations

import re
from pathlib import Path

from suite.distill.recipe_sizes import _integer, check_models, check_tokenizer
from suite.errors import SpecError
from suite.io import check_write_folder
from suite.seeding import seed_problem
from suite.specs import read_yaml
from suite.strict import whole

ARCHITECTURES = ("llama", "t5")
SAFE_NAME = r"[a-z0-9][a-z0-9_-]{0,63}"  # a recipe's name (and a stage's) is a checkpoint folder
SAFE_NAME_RULE = (
    "1 to 64 lower-case letters, digits, '-' and '_', starting with a letter or digit (a "
    "checkpoint folder)"
)
REQUIRED_FIELDS = ("name", "seed", "datasets", "tokenizer", "models")
RECIPE_FIELDS = frozenset({*REQUIRED_FIELDS, "architecture", "eval_examples"})


def load_recipe(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SpecError(path, "recipe", str(path), "recipe file not found")
    recipe = read_yaml(path, "recipe")
    if not isinstance(recipe, dict):
        raise SpecError(path, "(document)", recipe, "a recipe is a mapping")
    for key in recipe:  # a misspelt field is refused, never read as absent (its default)
        if key not in RECIPE_FIELDS:
            message = f"unknown field; known: {', '.join(sorted(RECIPE_FIELDS))}"
            raise SpecError(path, str(key), recipe[key], message)
    for key in REQUIRED_FIELDS:
        if key not in recipe:
            raise SpecError(path, key, None, "missing required field")
    name = recipe["name"]
    if not isinstance(name, str) or not re.fullmatch(SAFE_NAME, name):
        message = SAFE_NAME_RULE
        raise SpecError(path, "name", name, message)
    recipe["seed"] = whole(recipe["seed"])  # each integer stored as read (2e0 is 2)
    problem = seed_problem(recipe["seed"])
    if problem:
        raise SpecError(path, "seed", recipe["seed"], problem)
    architecture = recipe.setdefault("architecture", "llama")
    if architecture not in ARCHITECTURES:
        raise SpecError(path, "architecture", architecture, f"known: {list(ARCHITECTURES)}")
    check_datasets(path, recipe["datasets"])
    vocab = check_tokenizer(path, recipe["tokenizer"])
    check_models(path, recipe["models"], architecture, vocab)
    check_training(path, recipe["models"])
    if "eval_examples" in recipe:  # held-out test prompts per dataset (default 200)
        count = _integer(path, "eval_examples", recipe["eval_examples"], 1, MAX_EVAL_EXAMPLES)
        recipe["eval_examples"] = count
    recipe["_path"] = str(path)
    return recipe


MAX_EVAL_EXAMPLES = 100_000  # as a KD recipe's: the test splits hold a few thousand
MODEL_FIELDS = ("config", "train", "eval_every", "align")


def check_datasets(path: Path, datasets) -> None:
    """``datasets``: a non-empty list of distinct task names (its texts train the tokenizer and
    the models; a string would be read letter by letter)."""
    from suite.specs import load_specs

    known = load_specs()
    if not isinstance(datasets, list) or not datasets:
        raise SpecError(path, "datasets", datasets, "expected a non-empty list of task names")
    for i, name in enumerate(datasets):
        if not isinstance(name, str) or name not in known:
            message = f"unknown task; known: {', '.join(sorted(known))}"
            raise SpecError(path, f"datasets[{i}]", name, message)
        if name in datasets[:i]:
            raise SpecError(path, f"datasets[{i}]", name, "listed twice")


# A training block of a model whose config states no positions (T5's are relative, and
# LlamaConfig's default is 2,048 when none is given): attention grows with its square.
MAX_UNPOSITIONED_BLOCK = 2_048


def _block_fits(path: Path, spec: dict, field: str, cfg) -> None:
    """A training block within the model's positions (a longer one trains positions the saved
    config does not have, or runs for hours on one step)."""
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
    positions = config.get("max_position_embeddings", MAX_UNPOSITIONED_BLOCK)
    if (
        isinstance(positions, int)
        and not isinstance(positions, bool)
        and cfg.block_size > positions
    ):
        message = (
            f"longer than the model's positions, {positions:,} (config.max_position_embeddings"
            f", else {MAX_UNPOSITIONED_BLOCK:,} for a model of relative positions)"
        )
        raise SpecError(path, f"{field}.block_size", cfg.block_size, message)


def check_training(path: Path, models: dict) -> None:
    """Each model's ``train`` section and ``align`` step, read when the recipe is, so that no
    part (a copied tokenizer, say) is written before a later one is refused."""
    from suite.distill.align import check_align_spec
    from suite.distill.loop import train_config

    stages: dict[str, str] = {}
    for role, spec in models.items():
        for key in spec:
            if key not in MODEL_FIELDS:
                message = f"unknown field; known: {', '.join(MODEL_FIELDS)}"
                raise SpecError(path, f"models.{role}.{key}", spec[key], message)
        every = whole(spec.get("eval_every", 500))  # held-out loss every so many steps; 0: none
        if "eval_every" in spec:
            spec["eval_every"] = every
        if isinstance(every, bool) or not isinstance(every, int) or not 0 <= every <= 10**7:
            message = "expected 0 (none) or an integer from 1 to 10,000,000 (steps)"
            raise SpecError(path, f"models.{role}.eval_every", every, message)
        if "train" not in spec:
            raise SpecError(path, f"models.{role}.train", None, "missing required field")
        if not isinstance(spec["train"], dict):
            raise SpecError(path, f"models.{role}.train", spec["train"], "expected a mapping")
        field = f"models.{role}.train"
        _block_fits(path, spec, field, train_config(spec["train"], str(path), field))
        if "align" in spec:
            check_align_spec(spec["align"], str(path), f"models.{role}.align")
            # its batches are whole responses: no block to fit
            train_config(spec["align"]["train"], str(path), f"models.{role}.align.train")
            stage = spec["align"].get("from")
            if not isinstance(stage, str) or not re.fullmatch(SAFE_NAME, stage):
                message = SAFE_NAME_RULE
                raise SpecError(path, f"models.{role}.align.from", stage, message)
            if stage in stages:  # a stage is one role's pretrained model: another would resume it
                message = f"models.{stages[stage]}.align.from names it too: one stage per model"
                raise SpecError(path, f"models.{role}.align.from", stage, message)
            stages[stage] = role


def check_parts(only: list[str], out: Path, recipe: dict | None = None) -> None:
    """Each part is one the recipe makes; a model needs the tokenizer: built in ``out``
    already, or by an earlier ``--only`` part. Where the tokenizer the models will train with
    is there already (in ``out``, or the folder a copied one comes from), what the recipe asks
    of the training data is checked with it too (:func:`suite.distill.data_fit.check_data`).
    Each part's folder in ``out`` is absent or a folder with no link in it
    (:func:`suite.io.check_write_folder`)."""
    for part in only:  # where this command will save: no link or file in the way
        check_write_folder(out / part)
    if recipe is not None:
        _check_copy(only, out, recipe)
        _check_data_now(only, out, recipe)
    for part in only if recipe is not None else ():
        if part != "tokenizer" and part not in recipe["models"]:
            message = f"the recipe has no models.{part}; it makes: tokenizer, " + ", ".join(
                recipe["models"]
            )
            raise SpecError(recipe["_path"], "--only", part, message)
    for part in only:
        if part == "tokenizer":
            return
        if not (out / "tokenizer" / "tokenizer.json").is_file():
            message = f"--only {part} needs the tokenizer built first (--only tokenizer)"
            raise SpecError(out / "tokenizer", "--out", str(out), message)


def copy_source(recipe: dict) -> Path:
    """The folder ``tokenizer.copy_from`` names (relative to the recipe file)."""
    from suite.paths import resolve

    return resolve(Path(recipe["_path"]).parent / recipe["tokenizer"]["copy_from"], "copy_from")


def _check_copy(only: list[str], out: Path, recipe: dict) -> None:
    if "tokenizer" in only and "copy_from" in recipe["tokenizer"]:
        check_not_itself(recipe, copy_source(recipe), out / "tokenizer")


def check_not_itself(recipe: dict, source: Path, folder: Path) -> None:
    """A tokenizer is not copied onto itself (``copy_from`` naming ``--out``'s own)."""
    try:
        same = source.resolve() == folder.resolve()
    except (OSError, RuntimeError):
        same = False
    if same:
        message = (
            "is --out's own tokenizer folder: a tokenizer is not copied onto itself (leave "
            "tokenizer out of --only to keep it)"
        )
        raise SpecError(recipe["_path"], "tokenizer.copy_from", recipe["tokenizer"]["copy_from"],
                        message)  # fmt: skip


def _check_data_now(only: list[str], out: Path, recipe: dict) -> None:
    """The data check, before ``--out`` is made, where the models' tokenizer is already there."""
    from suite.distill.data_fit import check_data
    from suite.models import load_tokenizer

    if not any(part in recipe["models"] for part in only):
        return
    if "tokenizer" not in only:
        folder = out / "tokenizer"
    elif "copy_from" in recipe["tokenizer"]:
        folder = copy_source(recipe)
    else:
        return  # trained by this command: checked once it is, before any model trains
    if (folder / "tokenizer.json").is_file():
        check_data(recipe, load_tokenizer(folder))
