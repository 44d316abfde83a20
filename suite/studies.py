"""Study specs (``tasks/studies/*.yaml``) and their expansion into cells.

A study names the grid of one claim group: datasets, drafts, decoding temperatures, K and the
engines. The profile gives the sizes (prompts, seeds, tokens) and the models. A cell is one point
of the grid for one seed and one engine; identical cells of different studies are run once.

A study selects drafts by their facts, not by their names (:class:`suite.drafts.DraftSelector`):
``{method: online, dataset: "{kd_dataset}", kd_temperature: any}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from suite.drafts import DraftFacts, DraftSelector, read_selectors
from suite.errors import SpecError
from suite.keys import temperature_key
from suite.paths import STUDIES_DIR, spec_file, spec_names
from suite.profiles import ENGINES, ModelRef, Profile, profile_names
from suite.specs import MAX_DRAFT_TOKENS, MIN_TEMPERATURE, Reader, load_task, read_named

_GRID_FIELDS = {"datasets", "drafts", "decode_temperatures", "num_draft_tokens"}
MISSING = ("error", "skip")


@dataclass(frozen=True)
class Grid:
    """``datasets`` pairs each evaluation set with the dataset its drafts were distilled on."""

    datasets: tuple[tuple[str, str], ...]
    drafts: tuple[DraftSelector, ...]
    decode_temperatures: tuple[float, ...]
    num_draft_tokens: tuple[int, ...]


@dataclass(frozen=True)
class StudySpec:
    name: str
    title: str
    description: str
    claims: tuple[int, ...]
    family: str
    engines: tuple[str, ...]
    grid: Grid
    empirical: dict  # overrides of grid fields for the (slower) empirical engine
    profiles: dict  # profile name -> {"grid": overrides, "empirical": overrides}
    split: str
    path: Path
    # "skip": draft patterns that match nothing are left out (the leaderboard scores a submission
    # against whatever the bundle holds); "error": they are a mistake in the study.
    missing_drafts: str = "error"

    def grid_for(self, profile: str, engine: str) -> Grid:
        """Grid, then the profile's grid overrides; for the empirical engine its own on top."""
        over = self.profiles.get(profile, {})
        grid = replace(self.grid, **over.get("grid", {}))
        if engine == "empirical":
            grid = replace(grid, **{**self.empirical, **over.get("empirical", {})})
        return grid


@dataclass(frozen=True)
class Cell:
    """One point of a study grid, for one seed: the unit of work and of the results store."""

    engine: str
    family: str
    dataset: str
    split: str
    draft: str  # the draft's label
    decode_temperature: float
    num_draft_tokens: int
    seed: int
    prompts: int
    max_new_tokens: int
    draft_facts: DraftFacts | None = None  # what the draft is; not part of the key

    @property
    def key(self) -> str:
        return (
            f"{self.engine}/{self.family}/{self.dataset}:{self.split}/{self.draft}"
            f"/{temperature_key(self.decode_temperature)}/K{self.num_draft_tokens}/s{self.seed}"
            f"/n{self.prompts}/m{self.max_new_tokens}"
        )

    @property
    def group(self) -> tuple:
        """Analytic cells in one group share the target's continuations: sampled once."""
        return (
            self.family,
            self.dataset,
            self.split,
            self.decode_temperature,
            self.seed,
            self.prompts,
            self.max_new_tokens,
        )

    def to_dict(self) -> dict:
        """The cell as a record stores it; the facts only when the cell has them."""
        out = {
            "engine": self.engine,
            "family": self.family,
            "dataset": self.dataset,
            "split": self.split,
            "draft": self.draft,
            "decode_temperature": self.decode_temperature,
            "num_draft_tokens": self.num_draft_tokens,
            "seed": self.seed,
            "prompts": self.prompts,
            "max_new_tokens": self.max_new_tokens,
        }
        if self.draft_facts is not None:
            out["draft_facts"] = self.draft_facts.to_json()
        return out


@dataclass(frozen=True)
class Plan:
    profile: Profile
    studies: tuple[StudySpec, ...]
    cells: tuple[Cell, ...]
    study_cells: dict[str, tuple[str, ...]]


def _distinct(r: Reader, values: tuple, field: str) -> tuple:
    """``values`` with no item listed twice: a repeat would run or count the same thing twice."""
    for i, v in enumerate(values):
        if v in values[:i]:
            raise r.error(f"{field}[{i}]", v, "listed twice")
    return values


def _datasets(r: Reader, value: Any, field: str) -> tuple[tuple[str, str], ...]:
    """A list of names, or a mapping evaluation set -> the dataset the drafts were distilled on."""
    if isinstance(value, list):
        return tuple((name, name) for name in _distinct(r, r.strings(value, field), field))
    d = r.named(value, field)
    if not d:
        raise r.error(field, value, "name at least one dataset")
    out = []
    for name, kd in d.items():
        text = r.string(kd, f"{field}.{name}")
        if not _DATASET_NAME.fullmatch(text):  # matched against drafts' facts, shown in tables
            message = "a dataset name: ASCII letters, digits, '.', '_' and '-' (as gsm8k)"
            raise r.error(f"{field}.{name}", text, message)
        out.append((name, text))
    return tuple(out)


_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)


MAX_CELLS = 100_000  # a plan's cells, counted before any is built


def _ints(
    r: Reader, value: Any, field: str, maximum: int, *, empty: bool = False
) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not values and not empty:  # every grid list is non-empty: a study plans cells
        raise r.error(field, value, "expected an integer or a non-empty list of integers")
    return _distinct(r, tuple(r.positive_int(v, field, maximum) for v in values), field)


def _selector_temperatures(r: Reader, raw: list, field: str) -> None:
    """A selector's τ_kd is 0 or at least MIN_TEMPERATURE, as every temperature the suite reads."""
    for i, item in enumerate(raw):
        wanted = item.get("kd_temperature") if isinstance(item, dict) else None
        listed = wanted if isinstance(wanted, list) else [wanted]
        for j, v in enumerate(listed):
            where = f"{field}[{i}].kd_temperature" + (f"[{j}]" if listed is wanted else "")
            if isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < MIN_TEMPERATURE:
                message = f"a temperature must be 0 (greedy) or at least {MIN_TEMPERATURE:g}"
                raise r.error(where, v, message)
            if any(_same_value(v, earlier) for earlier in listed[:j]):
                raise r.error(where, v, "listed twice")  # as every list of a study


def _same_value(a: Any, b: Any) -> bool:
    """Two list entries that select alike: numbers within 1e-6 (0 and -0.0 too, as a draft's
    kd_temperatures count one τ_kd), never a bool; anything else equal and of one type."""
    number = (int, float)
    if isinstance(a, number) and isinstance(b, number):
        return not isinstance(a, bool) and not isinstance(b, bool) and abs(a - b) <= 1e-6
    return type(a) is type(b) and a == b


def _grid_fields(r: Reader, raw: Any, field: str, required: set[str]) -> dict:
    d = r.mapping(raw, field, required, _GRID_FIELDS - required)
    out: dict[str, Any] = {}
    prefix = f"{field}." if field else ""
    if "datasets" in d:
        out["datasets"] = _datasets(r, d["datasets"], f"{prefix}datasets")
    if "drafts" in d:
        out["drafts"] = read_selectors(r, d["drafts"], f"{prefix}drafts")
        _selector_temperatures(r, d["drafts"], f"{prefix}drafts")
    if "decode_temperatures" in d:
        out["decode_temperatures"] = r.temperatures(
            d["decode_temperatures"], f"{prefix}decode_temperatures"
        )
    if "num_draft_tokens" in d:
        out["num_draft_tokens"] = _ints(
            r, d["num_draft_tokens"], f"{prefix}num_draft_tokens", MAX_DRAFT_TOKENS
        )
    return out


def load_study(path: str | Path) -> StudySpec:
    path = Path(path)
    r, d, name = read_named(
        path,
        "study",
        {"name", "title", "description", "claims", "family", "engines", "grid"},
        {"empirical", "profiles", "split", "missing_drafts"},
    )
    claims = _ints(r, d["claims"], "claims", 100, empty=True)  # none: the leaderboard
    engines = _distinct(r, r.strings(d["engines"], "engines"), "engines")
    for i, engine in enumerate(engines):
        r.choice(engine, f"engines[{i}]", ENGINES)
    grid = Grid(**_grid_fields(r, d["grid"], "grid", set(_GRID_FIELDS)))
    empirical = _grid_fields(r, d.get("empirical", {}), "empirical", set())
    if "empirical" in d and "empirical" not in engines:
        message = f"an empirical grid for a study whose engines are {list(engines)}"
        raise r.error("empirical", "(section)", message)
    profiles = {}
    known = profile_names()
    for prof, over in r.named(d.get("profiles", {}), "profiles", safe=True).items():
        if prof not in known:  # an override no run would ever apply
            message = f"unknown profile; a study overrides the suite's own: {', '.join(known)}"
            raise r.error(f"profiles.{prof}", prof, message)
        o = r.mapping(over, f"profiles.{prof}", set(), {"grid", "empirical"})
        if "empirical" in o and "empirical" not in engines:
            message = f"an empirical grid for a study whose engines are {list(engines)}"
            raise r.error(f"profiles.{prof}.empirical", "(section)", message)
        profiles[prof] = {
            part: _grid_fields(r, o[part], f"profiles.{prof}.{part}", set()) for part in o
        }
    return StudySpec(
        name=name,
        title=r.line(d["title"], "title"),
        description=r.string(d["description"], "description"),
        claims=claims,
        family=r.string(d["family"], "family"),
        engines=engines,
        grid=grid,
        empirical=empirical,
        profiles=profiles,
        split=r.string(d.get("split", "test"), "split"),
        path=path,
        missing_drafts=r.choice(d.get("missing_drafts", "error"), "missing_drafts", MISSING),
    )


def study_names(folder: Path = STUDIES_DIR) -> list[str]:
    return spec_names(folder)


def load_studies(names: list[str] | tuple[str, ...], folder: Path = STUDIES_DIR) -> list[StudySpec]:
    """Studies by name (``all``: every study that tests a claim) or by path to a YAML file.

    Studies without claims (the submissions' leaderboard) stay out of ``all``, so ``reproduce``
    and its results folders are the same with or without them.
    """
    if list(names) == ["all"]:
        every = [load_study(folder / f"{name}.yaml") for name in study_names(folder)]
        names, studies = [], [s for s in every if s.claims]
    else:
        studies = []
    studies.extend(load_study(spec_file(name, folder, "study")) for name in names)
    if not studies:
        raise SpecError(folder, "study", list(names) or "all", "no study to run")
    seen: dict[str, StudySpec] = {}
    for study in studies:  # a run's header and report key studies by name
        if study.name in seen:
            message = f"named twice in this run (also {seen[study.name].path})"
            raise SpecError(study.path, "name", study.name, message)
        seen[study.name] = study
    return studies


def _resolve_drafts(
    study: StudySpec, grid: Grid, kd_dataset: str, available: dict[str, ModelRef], profile: str
) -> list[str]:
    """The drafts each selector picks by their facts, in the study's order, by label within one."""
    chosen: list[str] = []
    for i, selector in enumerate(grid.drafts):
        matches = sorted(
            name for name, ref in available.items() if selector.matches(name, ref.facts, kd_dataset)
        )
        if not matches and study.missing_drafts == "skip":
            continue
        if not matches:
            known = ", ".join(sorted(available)) or "(none)"
            raise SpecError(
                study.path,
                f"grid.drafts[{i}]",
                selector.spec,
                f"matches no draft of family '{study.family}' for {kd_dataset} in profile "
                f"'{profile}'; known: {known}",
            )
        chosen.extend(m for m in matches if m not in chosen)
    if not chosen and study.missing_drafts == "skip":
        return []  # the bundle holds none of them: this dataset of the study has no cells
    if not chosen:
        message = f"matches no draft for {kd_dataset} in profile '{profile}'"
        raise SpecError(study.path, "grid.drafts", [d.spec for d in grid.drafts], message)
    return chosen


def _grid_cells(study, engine, dataset, grid, drafts, models, sizes):
    """The cells of one dataset of one study's grid for one engine, in the plan's order."""
    for tau in grid.decode_temperatures:
        for draft in drafts:
            for k in grid.num_draft_tokens:
                for seed in range(sizes.seeds):
                    yield Cell(
                        engine=engine,
                        family=study.family,
                        dataset=dataset,
                        split=study.split,
                        draft=draft,
                        decode_temperature=tau,
                        num_draft_tokens=k,
                        seed=seed,
                        prompts=sizes.prompts,
                        max_new_tokens=sizes.max_new_tokens,
                        draft_facts=models.drafts[draft].facts,
                    )


def _keep(cells: dict[str, Cell], cell: Cell, study: StudySpec) -> Cell:
    """The plan's cell of ``cell``'s key: identical cells of two studies run once, but a key that
    two different temperatures share (each study's own list is checked when read) is refused."""
    kept = cells.setdefault(cell.key, cell)
    if kept.decode_temperature != cell.decode_temperature:
        message = (
            f"names the same cell as τ {kept.decode_temperature!r} of another study "
            f"({temperature_key(cell.decode_temperature)} in a cell key: {cell.key})"
        )
        raise SpecError(study.path, "decode_temperatures", cell.decode_temperature, message)
    return kept


def _split_size(dataset: str, split: str, where: Path) -> int:
    """How many examples a split holds (read, not rendered): a cell of more prompts than that
    runs the split's and is keyed by what it runs. A split that cannot be read is named."""
    from suite.data import count_examples

    try:
        return count_examples(dataset, split)
    except SpecError as err:
        raise SpecError(where, "grid.datasets", dataset, str(err)) from None


def plan_studies(
    studies: list[StudySpec], profile: Profile, engines: tuple[str, ...] | None = None
) -> Plan:
    """Every cell of every study under ``profile``, validated, deduplicated, in a stable order."""
    cells: dict[str, Cell] = {}
    study_cells: dict[str, tuple[str, ...]] = {}
    checked_tasks: set[str] = set()
    planned = 0
    for study in studies:
        models = profile.family(study.family, study.path, "family")
        keys: list[str] = []
        for engine in study.engines:
            if engines is not None and engine not in engines:
                continue
            grid = study.grid_for(profile.name, engine)
            sizes = profile.sizes[engine]
            for dataset, kd_dataset in grid.datasets:
                if dataset not in checked_tasks:
                    try:
                        spec = load_task(dataset)
                    except SpecError as err:
                        raise SpecError(study.path, "grid.datasets", dataset, str(err)) from None
                    if study.split not in spec.split_names:  # the study's field, not the task's
                        message = f"task '{dataset}' has no such split; known: " + ", ".join(
                            spec.split_names
                        )
                        raise SpecError(study.path, "split", study.split, message)
                    checked_tasks.add(dataset)
                drafts = _resolve_drafts(study, grid, kd_dataset, models.drafts, profile.name)
                planned += (
                    len(grid.decode_temperatures)
                    * len(drafts)
                    * sizes.seeds
                    * len(grid.num_draft_tokens)
                )
                if planned > MAX_CELLS:
                    message = f"the plan would hold over {MAX_CELLS:,} cells; refused"
                    raise SpecError(study.path, "grid", planned, message)
                held = _split_size(dataset, study.split, study.path)  # fewer: the cell says so
                sized = replace(sizes, prompts=min(sizes.prompts, held)) if held else sizes
                for cell in _grid_cells(study, engine, dataset, grid, drafts, models, sized):
                    keys.append(_keep(cells, cell, study).key)
        study_cells[study.name] = tuple(dict.fromkeys(keys))
    return Plan(profile, tuple(studies), tuple(cells.values()), study_cells)


LEADERBOARD = STUDIES_DIR / "leaderboard.yaml"  # the study `submit` runs a submission in


def with_submission(study: StudySpec, family: str, draft: str) -> StudySpec:
    """The study for ``family`` with ``draft`` added to its grid and to every drafts override."""
    chosen = DraftSelector.by_name(draft)

    def add(over: dict) -> dict:
        return {**over, "drafts": (*over["drafts"], chosen)} if "drafts" in over else over

    profiles = {name: {part: add(o) for part, o in p.items()} for name, p in study.profiles.items()}
    return replace(
        study,
        family=family,
        grid=replace(study.grid, drafts=(*study.grid.drafts, chosen)),
        empirical=add(study.empirical),
        profiles=profiles,
    )
