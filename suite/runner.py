"""The runner: a plan's unfinished cells, run in this process or in worker processes.

Only the parent process writes to the store, one record at a time, as cells finish. Analytic
cells that share the target's continuations run together as one unit of work.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from suite.cells import Context, run_analytic, run_empirical
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


def fingerprints(plan: Plan) -> dict[str, str]:
    """sha256 of every model the plan uses, once, in the parent."""
    refs = {}
    for cell in plan.cells:
        fam = plan.profile.models[cell.family]
        for ref in (fam.tokenizer, fam.target, fam.drafts[cell.draft]):
            refs[ref.location] = ref
    return {loc: ref.fingerprint() for loc, ref in sorted(refs.items())}


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


def execute(unit: tuple[str, list[Cell]], ctx: Context):
    engine, cells = unit
    if engine == "analytic":
        yield from run_analytic(cells, ctx)
    else:
        yield run_empirical(cells[0], ctx)


def _execute_all(unit, ctx) -> list[dict]:
    return list(execute(unit, ctx))


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_plan(plan: Plan, out: str | Path, *, workers: int = 1, progress: bool = True) -> RunReport:
    """Run every cell not yet in ``out``; a rerun of the same command resumes."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    store = ResultsStore(out)
    header = header_for(plan)
    store.check(header)
    ctx = Context(plan.profile, fingerprints(plan))
    done = store.open(header)
    pending = [c for c in plan.cells if c.key not in done]
    start = time.perf_counter()
    bar = tqdm(
        total=len(plan.cells),
        initial=len(plan.cells) - len(pending),
        disable=not progress,
        desc=f"{plan.profile.name}",
        unit="cell",
    )
    try:
        if workers == 1:
            for unit in units(pending):
                for record in execute(unit, ctx):
                    store.append(record)
                    bar.update()
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, spawn, _init_worker, (threads,)) as pool:
                futures = [pool.submit(_execute_all, unit, ctx) for unit in units(pending)]
                for future in as_completed(futures):
                    for record in future.result():
                        store.append(record)
                        bar.update()
    finally:
        bar.close()
    store.finalize([c.key for c in plan.cells])
    return RunReport(
        folder=Path(out),
        cells=len(plan.cells),
        already_done=len(plan.cells) - len(pending),
        ran=len(pending),
        seconds=time.perf_counter() - start,
    )
