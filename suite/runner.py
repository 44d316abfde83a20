"""The runner: a plan's unfinished cells, run in this process, in worker processes or on Ray.

Only the parent process writes to the store, one record at a time, as cells finish, and skips a
key it already holds. Analytic cells that share the target's continuations run together as one
unit of work.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from suite.cells import Context, execute_unit
from suite.cells.context import Models, portable_location
from suite.data import load_examples
from suite.errors import SpecError
from suite.profiles import ModelRef, Profile
from suite.reader import MAX_WORKERS
from suite.records import ResultRecord
from suite.report.plan_check import planned_prompt_ids
from suite.specs import load_task
from suite.store import ResultsStore
from suite.studies import Cell, Plan


@dataclass(frozen=True)
class RunReport:
    folder: Path
    cells: int
    already_done: int
    ran: int
    seconds: float


def header_for(plan: Plan) -> dict:
    return {
        "studies": sorted(s.name for s in plan.studies),
        "profile": plan.profile.name,
        "study_cells": {name: list(keys) for name, keys in sorted(plan.study_cells.items())},
        "study_claims": {s.name: list(s.claims) for s in plan.studies},
        "study_titles": {s.name: s.title for s in plan.studies},
    }


def _plan_refs(plan: Plan) -> dict[str, ModelRef]:
    refs = {}
    for cell in plan.cells:
        fam = plan.profile.models[cell.family]
        for ref in (fam.tokenizer, fam.target, fam.drafts[cell.draft]):
            refs[ref.location] = ref
    return refs


def fingerprints(plan: Plan) -> dict[str, str]:
    """sha256 of every model the plan uses, once, in the parent."""
    return {loc: ref.fingerprint() for loc, ref in sorted(_plan_refs(plan).items())}


def recorded_prints(plan: Plan, prints: dict[str, str]) -> dict[str, str]:
    """The same fingerprints keyed as a record spells its models' locations (a bundle path
    relative to the repository, a Hub id with its revision), for :func:`stale` to compare."""
    return {portable_location(ref): prints[loc] for loc, ref in _plan_refs(plan).items()}


def units(cells: list[Cell]) -> list[tuple[str, list[Cell]]]:
    """Analytic cells grouped by shared continuations; each empirical cell alone; plan order."""
    groups: dict[tuple, list[Cell]] = {}
    out: list[tuple[str, list[Cell]]] = []
    for cell in cells:
        if cell.engine == "analytic":
            if cell.group not in groups:
                groups[cell.group] = []
                out.append(("analytic", groups[cell.group]))
            groups[cell.group].append(cell)
        else:
            out.append(("empirical", [cell]))
    return out


def _execute_all(unit, ctx) -> list[ResultRecord]:
    return list(execute_unit(unit, ctx))


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


EXECUTORS = ("local", "ray")


def _records(
    todo: list[tuple[str, list[Cell]]], ctx: Context, workers: int, executor: str, address, threads
) -> Iterator[ResultRecord]:
    """Records of ``todo`` as units finish: in this process, a spawn pool, or Ray actors."""
    if not todo:  # everything resumed: no pool, no actors
        return
    if executor == "ray":
        from suite.ray_executor import ray_records

        yield from ray_records(todo, ctx, workers=workers, address=address, threads=threads)
    elif workers == 1:
        for unit in todo:
            yield from execute_unit(unit, ctx)
    else:
        workers = min(workers, len(todo))  # a process per unit at most: none idle
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, spawn, _init_worker, (threads,)) as pool:
            futures = [pool.submit(_execute_all, unit, ctx) for unit in todo]
            for future in as_completed(futures):
                yield from future.result()


def _check_options(workers, executor: str, address: str | None) -> None:
    """Bad options fail before anything is written."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be an integer in [1, {MAX_WORKERS}], got {workers!r}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if address and executor != "ray":
        raise ValueError("--address names a Ray cluster: it needs --executor ray")
    if executor == "ray":
        from suite.ray_address import check_address
        from suite.ray_executor import require_ray

        require_ray()
        if address:
            check_address(address)


def run_plan(
    plan: Plan,
    out: str | Path,
    *,
    workers: int = 1,
    progress: bool = True,
    executor: str = "local",
    address: str | None = None,
    threads: int = 0,
    submitting: bool = False,
) -> RunReport:
    """Run every cell not yet in ``out``; a rerun of the same command resumes.

    ``executor="ray"`` runs units on ``workers`` Ray actors (a local instance, or the cluster at
    ``address``); ``threads`` (0: the machine's CPUs shared out) is torch's per worker.
    ``submitting``: submit's run, whose new folder already holds its ``submission.json``.
    """
    _check_options(workers, executor, address)
    check_device(plan.profile, executor)
    check_datasets(plan)
    check_models(plan)
    store = ResultsStore(out)
    header = header_for(plan)
    store.check(header, planned_screen(store, plan), submitting=submitting)
    prints = fingerprints(plan)
    check_prompting(plan, prints)
    created = first_missing(store.folder)
    new_files = store.absent_files()
    with store.lock():
        try:
            ctx = Context(plan.profile, prints)
            options = (workers, progress, executor, address, threads)
            return _run_locked(plan, store, header, ctx, *options)
        except BaseException:  # no record yet: what this run made goes, nothing half-written
            store.discard(created, new_files)
            raise


def first_missing(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its parents that does not exist yet (what a run creates)."""
    missing = None
    for path in (folder, *folder.parents):
        if path.exists() or path.is_symlink():
            break
        missing = path
    return missing


def check_device(profile: Profile, executor: str = "local") -> None:
    """A profile asking for ``cuda`` runs here only where torch sees a CUDA device (a Ray
    cluster's GPUs are checked by :mod:`suite.ray_executor`): refused before anything is written,
    not a torch error at the first model."""
    if executor != "local" or profile.device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        message = "no CUDA device on this machine: use cpu or auto"
        raise SpecError(profile.path, "device", profile.device, message)


def check_plan(studies, plan: Plan, engines=None) -> None:
    """What a plan must be before anything runs: each study's claims are claims the suite
    decides, and the plan holds cells (drafts skipped or engines filtered out may leave none)."""
    from suite.claims import REGISTRY

    for study in studies:
        for i, number in enumerate(study.claims):
            if number not in REGISTRY:
                known = ", ".join(str(n) for n in sorted(REGISTRY))
                message = f"no such claim; the suite decides claims {known}"
                raise SpecError(study.path, f"claims[{i}]", number, message)
    if not plan.cells:
        names = ", ".join(s.name for s in studies)
        message = f"plans no cells under profile '{plan.profile.name}' (engines {engines or 'all'})"
        raise SpecError(studies[0].path, "grid", names, message)


def planned_screen(store: ResultsStore, plan: Plan):
    """A screen for :meth:`ResultsStore.check`: a folder resumed holds records of the plan's
    cells only; one of another --engine, profile sizes or set of drafts is refused at its first
    cell, before the lock and before any record is read whole, and kept (not dropped as
    stale)."""
    planned = {c.key for c in plan.cells}

    def screen(cell) -> None:
        if cell.key not in planned:
            message = (
                "a record of a cell this run does not plan (another --engine, profile sizes or "
                "set of drafts?); choose another --out"
            )
            raise SpecError(store.cells_path, "key", cell.key, message)

    return screen


def check_datasets(plan: Plan) -> None:
    """Load every dataset split the plan reads before the first cell, as far as its cells read
    it: a missing or unreadable file, or a record a cell would use that does not render, fails
    the run now, with an error naming the fix, and nothing is written."""
    prompts: dict[tuple[str, str], int] = {}
    for c in plan.cells:
        prompts[c.dataset, c.split] = max(prompts.get((c.dataset, c.split), 0), c.prompts)
    for (dataset, split), count in sorted(prompts.items()):
        load_examples(dataset, split, limit=count)


def check_prompting(plan: Plan, prints: dict[str, str]) -> None:
    """Load each family's tokenizer the plan uses (as its cells will: its regex timing, special
    tokens) and render and tokenize every prompt its cells will, through its chat template where
    it has one and within its target's positions, before the first cell: a tokenizer, template
    or prompt a cell would refuse fails the run now, naming the task's record, with nothing
    written (one that failed in a later study's cell left the records of the studies before)."""
    from suite.prompts import check_prompt_rendering, prompt_ids

    context = Context(plan.profile, prints)
    counts: dict[tuple[str, str, str], int] = {}
    for c in plan.cells:
        key = (c.family, c.dataset, c.split)
        counts[key] = max(counts.get(key, 0), c.prompts)
    for family in sorted({c.family for c in plan.cells}):
        tokenizer = Models(context, family).tokenizer()
        check_prompt_rendering(tokenizer)
        limit = _positions(plan.profile.models[family].target)
        for (owner, dataset, split), count in sorted(counts.items()):
            if owner != family:
                continue
            for example in load_examples(dataset, split, limit=count):
                try:
                    prompt_ids(tokenizer, example, limit)
                except SpecError as err:
                    raise _prompt_error(err, dataset, split, example.id) from None


def _positions(target: ModelRef) -> int:
    """A local target's ``max_position_embeddings`` (0: none stated, or a Hub model's, which
    its cells read when they load it)."""
    from suite.strict import read_config

    if target.path is None:
        return 0
    value = read_config(target.path / "config.json").get("max_position_embeddings")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _prompt_error(err: SpecError, dataset: str, split: str, example: str) -> SpecError:
    """A prompt refused before the run, naming its task record: one that is too long is the
    task's (its template or data), named by its spec file; a template or tokenizer that fails on
    it stays named as it was, with the record added."""
    where = f"the prompt of record '{example}' of {dataset}/{split}"
    if err.field == "tokenizer" and ("over" in err.message and "prompt" in err.message):
        spec = load_task(dataset)
        return SpecError(
            spec.path, "instruction", spec.instruction_template, f"{where}: {err.message}"
        )
    return SpecError(err.path, err.field, err.value, f"{err.message} ({where})")


def check_models(plan: Plan) -> None:
    """Check every model the plan's cells load before the first cell: a local folder's files, a
    Hub model's config.json (:func:`suite.models.check_model_files`). A model a run would refuse
    fails now, and nothing is written."""
    from suite.models import check_model_files

    refs = {}
    for family, draft in sorted({(c.family, c.draft) for c in plan.cells}):
        models = plan.profile.models[family]
        for ref in (models.target, models.drafts.get(draft)):
            if ref is not None:
                refs[(ref.location, ref.revision)] = ref
    for location, revision in sorted(refs, key=str):
        check_model_files(location, revision)


def stale(
    record: ResultRecord,
    prints: dict[str, str],
    profile: str,
    n_boot: int | None = None,
    where: dict[str, str] | None = None,
    task: str | None = None,
    dtype: str | None = None,
) -> bool:
    """A record made by another profile, at another resample count of its interval, from a
    model whose files have changed since (``prints`` keyed by recorded location:
    :func:`recorded_prints`), or from a model at another location than the profile now names
    for its role, or naming no model for it (``where``: role to location, :func:`roles_for`; a
    tokenizer or target moved to another folder is another model), or from another task spec
    (``task``: the sha256 of the spec file the plan now renders the cell's prompts with), or in
    another dtype than the profile's (``dtype``; a record stating none ran in float32, the only
    dtype before records stated it)."""
    if record.provenance is None or record.provenance.profile != profile:
        return True  # a run always records its provenance and profile: one without is stale
    if dtype is not None and record.provenance.hardware.get("dtype", "float32") != dtype:
        return True  # a profile file of the same name in another dtype: other numbers
    if task is not None and record.provenance.task != task:
        return True  # another template, data selection or id: other prompts
    analytic = record.result.analytic
    if n_boot is not None and analytic is not None and analytic.n_boot != n_boot:
        return True  # another resample count, or none stated (a run always states it)
    models = record.provenance.models
    if where and any(models.get(role) is None or models[role].location != at
                     for role, at in where.items()):  # fmt: skip
        return True  # a role the plan needs, missing or at another location
    return any(m.location in prints and m.sha256 != prints[m.location] for m in models.values())


def roles_for(plan: Plan, cell: Cell) -> dict[str, str]:
    """The location, as a record spells it, of each model the profile names for ``cell``."""
    family = plan.profile.models.get(cell.family)
    if family is None:
        return {}
    refs = {"tokenizer": family.tokenizer, "target": family.target}
    if cell.draft in family.drafts:
        refs["draft"] = family.drafts[cell.draft]
    return {role: portable_location(ref) for role, ref in refs.items()}


def _run_locked(
    plan, store, header, ctx, workers, progress, executor, address, threads
) -> RunReport:
    done = store.open(header)
    n_boot = plan.profile.sizes["analytic"].n_boot
    prints = recorded_prints(plan, ctx.fingerprints)
    planned = {c.key: c for c in plan.cells}
    tasks = {d: load_task(d).sha256 for d in sorted({c.dataset for c in plan.cells})}
    ids = planned_prompt_ids(plan)
    old = {
        k
        for k, r in done.items()
        if r.cell != planned[k]  # the same key, other facts (a draft's method, its τ_kd)
        or [p.prompt for p in r.result.prompts] != ids[r.cell.dataset, r.cell.split, r.cell.prompts]
        or stale(
            r,
            prints,
            plan.profile.name,
            n_boot,
            roles_for(plan, r.cell),
            tasks[r.cell.dataset],
            plan.profile.dtype,
        )
    }
    if old:  # recomputed, never mixed with records of other models, prompts or plans
        store.drop(old)
        done = {k: r for k, r in done.items() if k not in old}
    pending = [c for c in plan.cells if c.key not in done]
    start = time.perf_counter()
    bar = tqdm(
        total=len(plan.cells),
        initial=len(plan.cells) - len(pending),
        disable=not progress,
        desc=f"{plan.profile.name}",
        unit="cell",
    )
    written = set(done)
    try:
        for record in _records(units(pending), ctx, workers, executor, address, threads):
            if record.key in written:  # a retried unit may bring a finished cell again
                continue
            store.append(record)
            written.add(record.key)
            bar.update()
    finally:
        bar.close()
    store.finalize([c.key for c in plan.cells])
    return RunReport(
        folder=store.folder,
        cells=len(plan.cells),
        already_done=len(plan.cells) - len(pending),
        ran=len(pending),
        seconds=time.perf_counter() - start,
    )
