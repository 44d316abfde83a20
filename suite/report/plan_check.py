"""A results folder held against the plan its run made.

``run.json`` names the run's studies and profile; the plan is rebuilt from them, as a resume
rebuilds it (a submit folder's draft added as ``submit`` adds it), and the folder must be what
that plan writes: each study's ``study_cells`` among the cells the study plans (a run of some
engines plans fewer), its ``study_claims`` and ``study_titles`` the study file's, and each
record's cell the planned cell of its key, draft facts and temperature included. A header and
records forged consistently with each other, but not with any study, are refused: a resume of
the same folder would recompute or refuse them too.
"""

from __future__ import annotations

import reprlib
from dataclasses import replace
from pathlib import Path

from suite.drafts import SUBMISSION
from suite.errors import SpecError
from suite.profiles import ModelRef, Profile, load_profile
from suite.store import ResultsStore
from suite.studies import LEADERBOARD, Cell, Plan, load_studies, plan_studies, with_submission

SUBMISSION_FILE = "submission.json"
FILES_NOTE = "pass --profile FILE / --studies FILE ... for files outside the suite"


def rebuilt_plan(
    store: ResultsStore,
    header: dict,
    cells: dict[str, Cell],
    profile: str | Path | None = None,
    studies: list[str] | None = None,
) -> Plan:
    """The plan of ``run.json``'s studies under its profile: the suite's own by name, or the
    files given (their names must be run.json's)."""
    run = store.run_path
    try:
        chosen = load_profile(str(profile) if profile is not None else header["profile"])
    except SpecError as err:
        message = f"the report rebuilds the run's plan from its profile ({err}); {FILES_NOTE}"
        raise SpecError(run, "profile", header["profile"], message) from None
    if chosen.name != header["profile"]:
        message = f"--profile names profile {chosen.name!r}: not the run's"
        raise SpecError(run, "profile", header["profile"], message)
    try:
        specs = load_studies(list(studies) if studies else list(header["studies"]))
    except SpecError as err:
        message = f"the report rebuilds the run's plan from its studies ({err}); {FILES_NOTE}"
        raise SpecError(run, "studies", header["studies"], message) from None
    if sorted(s.name for s in specs) != sorted(header["studies"]):
        message = f"--studies names {sorted(s.name for s in specs)}: not the run's studies"
        raise SpecError(run, "studies", header["studies"], message)
    submitted = _submitted(store.folder, header, chosen, cells)
    if submitted is not None:
        family, draft, facts = submitted
        models = chosen.models[family]
        drafts = {**models.drafts, draft: ModelRef(draft, facts=facts)}
        chosen = replace(chosen, models={**chosen.models, family: replace(models, drafts=drafts)})
        specs = [with_submission(s, family, draft) for s in specs]
    return plan_studies(specs, chosen)


def _submitted(folder: Path, header: dict, profile: Profile, cells: dict) -> tuple | None:
    """A submit folder's draft (family, name, facts): the one draft its records score that the
    profile does not hold, where the folder is one `submit` writes (a submission.json, and the
    leaderboard study alone)."""
    if not (folder / SUBMISSION_FILE).is_file() or header["studies"] != [LEADERBOARD.stem]:
        return None
    found = {}
    for cell in cells.values():
        models = profile.models.get(cell.family)
        if models is not None and cell.draft not in models.drafts:
            found.setdefault((cell.family, cell.draft), cell.draft_facts)
    if len(found) != 1:  # none, or two: refused below as cells no plan holds
        return None
    (((family, draft), facts),) = found.items()
    if facts is None or (facts.origin, facts.source) != (SUBMISSION, "submission.yaml"):
        return None  # not facts `submit` states: the draft's cells are then refused as unplanned
    return family, draft, facts


def planned_prompt_ids(plan: Plan) -> dict[tuple[str, str, int], list[str]]:
    """The example ids each (dataset, split, prompts) of the plan scores, in order: a stored
    record of other prompts is not this cell's result (a resume recomputes it)."""
    from suite.data import load_examples

    out = {}
    for c in plan.cells:
        key = (c.dataset, c.split, c.prompts)
        if key not in out:
            out[key] = [e.id for e in load_examples(c.dataset, c.split, limit=c.prompts)]
    return out


def check_against_plan(store: ResultsStore, header: dict, cells: dict, plan: Plan) -> None:
    """The header and the records' cells (by key) as ``plan``'s run writes them; a SpecError
    names the first field that is not."""
    run = store.run_path
    names = sorted(s.name for s in plan.studies)
    if sorted(header["studies"]) != names:
        raise SpecError(run, "studies", header["studies"], f"the plan's studies are {names}")
    if header["profile"] != plan.profile.name:
        message = f"the plan's profile is {plan.profile.name!r}"
        raise SpecError(run, "profile", header["profile"], message)
    by_name = {s.name: s for s in plan.studies}
    for field in ("study_cells", "study_claims", "study_titles"):  # a run states each study's
        stated = header.get(field)
        if stated is None or sorted(stated) != names:
            shown = None if stated is None else sorted(stated)
            message = f"a run states this for each of its studies {names}: resume the run"
            raise SpecError(run, field, shown, message)
    for name, keys in header["study_cells"].items():
        planned = set(plan.study_cells.get(name, ()))
        for key in keys:
            if key not in planned:
                message = f"a cell study {name!r} does not plan under profile {header['profile']!r}"
                raise SpecError(run, f"study_cells.{name}", key, message)
    for name, claims in header["study_claims"].items():
        if list(claims) != list(by_name[name].claims):
            message = f"study {name!r} decides claims {list(by_name[name].claims)}"
            raise SpecError(run, f"study_claims.{name}", claims, message)
    for name, title in header["study_titles"].items():
        if title != by_name[name].title:
            message = f"study {name!r} is titled {by_name[name].title!r}"
            raise SpecError(run, f"study_titles.{name}", title, message)
    by_key = {c.key: c for c in plan.cells}
    for key, cell in cells.items():
        planned = by_key.get(key)
        if planned is None:
            message = f"a cell no study of {run.name} plans under profile {header['profile']!r}"
            raise SpecError(store.cells_path, "key", key, message)
        if cell != planned:
            field, value, expected = _first_difference(cell, planned)
            message = f"the planned cell of this key has {expected!r}; a resume recomputes it"
            raise SpecError(store.cells_path, f"{key}: cell.{field}", value, message)


def check_prompts_against_plan(store: ResultsStore, records: dict, plan: Plan) -> None:
    """Each record scores the prompts its planned cell's task gives, in order."""
    ids = planned_prompt_ids(plan) if records else {}
    for key, record in records.items():
        cell = record.cell
        held = [p.prompt for p in record.result.prompts]
        if held != ids[cell.dataset, cell.split, cell.prompts]:
            expected = ids[cell.dataset, cell.split, cell.prompts]
            message = f"the planned prompts are {reprlib.repr(expected)}; a resume recomputes it"
            raise SpecError(store.cells_path, f"{key}: prompt_ids", reprlib.repr(held), message)


def _first_difference(cell: Cell, planned: Cell) -> tuple[str, object, object]:
    mine, theirs = cell.to_dict(), planned.to_dict()
    for field in sorted(set(mine) | set(theirs)):
        if mine.get(field) != theirs.get(field):
            return field, mine.get(field), theirs.get(field)
    return "(cell)", mine, theirs
