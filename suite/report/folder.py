"""Is this a results folder? Checked before the heavy imports, so a typo fails fast and clearly."""

from __future__ import annotations

import json
from pathlib import Path

from suite.errors import SpecError
from suite.report.plan_check import check_against_plan, check_prompts_against_plan, rebuilt_plan
from suite.store import CELLS_FILE, RUN_FILE, ResultsStore
from suite.studies import Plan


def unfinished_line(folder: Path) -> bool:
    """Whether the folder's cells.jsonl ends in a line without its newline (a torn append,
    which readers skip)."""
    try:
        with (Path(folder) / CELLS_FILE).open("rb") as fh:
            fh.seek(0, 2)
            if fh.tell() == 0:
                return False
            fh.seek(-1, 2)
            return fh.read(1) != b"\n"
    except OSError:
        return False


ROLES = ("tokenizer", "target", "draft")  # the models a cell loads, each named in its record


def check_folder(
    folder: str | Path,
    plan: Plan | None = None,
    *,
    profile: str | Path | None = None,
    studies: list[str] | None = None,
) -> Path:
    """The folder as a Path, or a SpecError that names it (the CLI prints it and exits 2).
    The folder must be what its run's plan writes: ``plan`` where the caller made it (reproduce,
    submit), else rebuilt from run.json's studies and profile (the suite's own by name, or the
    files ``profile`` and ``studies``): :mod:`suite.report.plan_check`."""
    path = Path(folder)
    if not path.is_dir():
        raise SpecError(path, None, None, "no such results folder")
    for name in (RUN_FILE, CELLS_FILE):
        item = path / name
        if item.is_symlink() or (item.exists() and not item.is_file()):
            message = "not a regular file: a results folder holds plain files only"
            raise SpecError(item, None, None, message)
        if not item.is_file():
            message = f"no {name} in this folder: not the results of `python -m suite run`"
            raise SpecError(path, None, None, message)
    store = ResultsStore(path)
    try:
        header = store.header()
    except json.JSONDecodeError as err:
        raise SpecError(store.run_path, None, None, f"unreadable run header: {err}") from None
    planned = header.get("study_cells")
    if planned is None:  # a header written before it was stored: the run rewrites it
        message = "a header without study_cells (written before they were stored): resume the run"
        raise SpecError(store.run_path, "study_cells", None, message)
    planned = {key for keys in planned.values() for key in keys}

    # each record's cell first, held to the plan before a record is read whole (its interval
    # restated): heavy records of cells no plan holds are refused in the time a parse takes
    def screen(cell) -> None:  # a run writes only what it plans: refused at the first other
        if cell.key not in planned:
            message = f"a record of a cell no study in {RUN_FILE} plans; refused"
            raise SpecError(store.cells_path, "key", cell.key, message)

    cells = store.cells(screen)  # a corrupt line raises a SpecError naming the file and line
    if not cells:
        raise SpecError(store.cells_path, None, None, "no finished cell yet: nothing to report")
    if plan is None:
        plan = rebuilt_plan(store, header, cells, profile, studies)
    check_against_plan(store, header, cells, plan)
    records = store.load()
    run_profile = header.get("profile")
    hashes: dict[tuple[str, str | None], str | None] = {}
    dtypes: dict[str, tuple[str, object]] = {}
    models: dict[tuple, tuple] = {}  # (family, role, draft name): (first key, location, sha256)
    for key, record in records.items():
        if record.provenance is None:  # older records: a resume recomputes them, not a report
            message = "a record without provenance (made before it was stored): resume the run"
            raise SpecError(store.cells_path, f"{key}: provenance", None, message)
        for role in ROLES:  # a record naming none would hide which model made it
            model = record.provenance.models.get(role)
            if model is None or not model.location:  # a run writes where each came from
                message = f"a record naming no {role} model (a run names each it loads)"
                where = f"{key}: provenance.models.{role}" + ("" if model is None else ".location")
                shown = None if model is None else model.location
                raise SpecError(store.cells_path, where, shown, message)
        for role, model in record.provenance.models.items():  # one model at each location
            held = hashes.setdefault((role, model.location), model.sha256)
            if held != model.sha256:
                message = (
                    f"another {role} at {model.location} than other records' ({held}): a resume "
                    "recomputes records of an older model"
                )
                raise SpecError(store.cells_path, f"{key}: provenance.models.{role}.sha256",
                                model.sha256, message)  # fmt: skip
        for role, model in record.provenance.models.items():  # one model in each role
            named = (record.cell.family, role, record.cell.draft if role == "draft" else None)
            seen = models.setdefault(named, (key, model.location, model.sha256))
            if seen[1:] != (model.location, model.sha256):
                message = (
                    f"another {role} than {seen[0]} scored with ({seen[1]}, {seen[2]}): a resume "
                    "recomputes records of another model"
                )
                raise SpecError(store.cells_path, f"{key}: provenance.models.{role}",
                                model.location, message)  # fmt: skip
        dtype = record.provenance.hardware.get("dtype", "float32")  # none stated: float32
        first = dtypes.setdefault("dtype", (key, dtype))
        if dtype != first[1]:  # one profile, one dtype: a folder of both mixes two runs
            message = f"ran in another dtype than {first[0]} ({first[1]!r}): two runs mixed"
            raise SpecError(store.cells_path, f"{key}: provenance.hardware.dtype", dtype, message)
        made = record.provenance.profile
        if made != run_profile:  # a resume recomputes another profile's (or one of none)
            message = f"made under profile {made!r}, but {RUN_FILE} names profile {run_profile!r}"
            raise SpecError(store.cells_path, f"{key}: provenance.profile", made, message)
    check_prompts_against_plan(store, records, plan)
    return path
