"""``python -m suite bench --executor-compare``: the quick profile's empirical cells in this process
versus on a local Ray instance with two workers, as wall times and their ratio.

Scale-out is only worth its start-up if it pays on the suite's own work; both runs also have to
give the same records (timing aside), or the Ray executor would be fast and wrong.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from suite.errors import SpecError
from suite.profiles import load_profile
from suite.runner import run_plan
from suite.store import without_timing
from suite.studies import Plan, load_studies, plan_studies
from suite.timing import machine_info, write_json_atomic

RAY_WORKERS = 2
ENGINES = ("empirical",)


def plan_cells(profile: str = "quick", limit: int = 0) -> tuple[Plan, dict[str, str]]:
    """Every claim study's empirical cells; studies that cannot plan (drafts not built yet) are
    left out and returned with the reason. ``limit`` > 0 keeps the first cells of the plan."""
    chosen = load_profile(profile)
    studies = load_studies(["all"])
    skipped: dict[str, str] = {}
    try:
        plan = plan_studies(studies, chosen, ENGINES)
    except SpecError:
        planned = []
        for study in studies:
            try:
                plan_studies([study], chosen, ENGINES)
                planned.append(study)
            except SpecError as err:
                skipped[study.name] = str(err)
        if not planned:
            raise
        plan = plan_studies(planned, chosen, ENGINES)
    if limit:
        keep = {c.key for c in plan.cells[:limit]}
        plan = dataclasses.replace(
            plan,
            cells=plan.cells[:limit],
            study_cells={
                n: tuple(k for k in ks if k in keep) for n, ks in plan.study_cells.items()
            },
        )
    return plan, skipped


def _records(folder: Path) -> list[dict]:
    lines = (folder / "cells.jsonl").read_text(encoding="utf-8").splitlines()
    return [without_timing(json.loads(line)) for line in lines]


def _time_both(plan: Plan, ray, threads: int) -> dict:
    """Run the plan in this process, then on a fresh local Ray; wall times and both records."""
    from suite.ray_executor import start

    with tempfile.TemporaryDirectory(prefix="executor-compare-") as tmp:
        clock = time.perf_counter()
        run_plan(plan, Path(tmp) / "local", progress=False)
        local_seconds = time.perf_counter() - clock
        print(f"in-process: {local_seconds:.1f} s", flush=True)
        clock = time.perf_counter()
        ours = start(ray, None, RAY_WORKERS, threads)
        startup_seconds = time.perf_counter() - clock
        try:
            clock = time.perf_counter()
            run_plan(
                plan,
                Path(tmp) / "ray",
                workers=RAY_WORKERS,
                executor="ray",
                threads=threads,
                progress=False,
            )
            ray_seconds = time.perf_counter() - clock
        finally:
            if ours:
                ray.shutdown()
        local, remote = _records(Path(tmp) / "local"), _records(Path(tmp) / "ray")
    return {
        "local_seconds": local_seconds,
        "ray_startup_seconds": startup_seconds,
        "ray_seconds": ray_seconds,
        "ray_speedup": local_seconds / ray_seconds,
        "ray_speedup_with_startup": local_seconds / (ray_seconds + startup_seconds),
        "differing": [a["key"] for a, b in zip(local, remote, strict=True) if a != b],
    }


def compare(args) -> int:
    """Run both executors into temporary folders, check the records agree, write the JSON."""
    from suite.ray_executor import require_ray

    ray = require_ray()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)  # the same thread count in both runs: equal provenance
    plan, skipped = plan_cells(limit=args.limit_cells)
    studies = sorted(s.name for s in plan.studies)
    print(f"{len(plan.cells)} empirical cells of {', '.join(studies)} (quick profile)", flush=True)
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    timed = _time_both(plan, ray, threads)
    differing = timed.pop("differing")
    result = {
        "started_utc": started.isoformat(),
        "machine": machine_info()
        | {"load_average_before": load_before, "load_average_after": os.getloadavg()},
        "profile": plan.profile.name,
        "engines": list(ENGINES),
        "studies": studies,
        "studies_skipped": skipped,
        "cells": len(plan.cells),
        "limit_cells": args.limit_cells or None,
        "threads_per_worker": threads,
        "ray_workers": RAY_WORKERS,
        "ray_version": ray.__version__,
        **timed,
        "records_equal": not differing,
        "records_differing": differing,
        "notes": [
            "local: run_plan in this process (workers=1); ray: a fresh local Ray instance, "
            f"{RAY_WORKERS} actors, each loading its own models; both at {threads} torch "
            "thread(s) per worker, so records compare whole except 'timing'.",
            "ray_seconds counts actor start-up and model loading, not ray.init "
            "(ray_startup_seconds); ray_speedup = local_seconds / ray_seconds.",
        ],
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    write_json_atomic(args.out / f"executors-{stamp}.json", result)
    write_json_atomic(args.out / "executors-latest.json", result)
    _print_summary(result, skipped)
    print(f"wrote {args.out / f'executors-{stamp}.json'} and {args.out / 'executors-latest.json'}")
    return 0 if not differing else 1


def _print_summary(result: dict, skipped: dict) -> None:
    differing = result["records_differing"]
    print(
        f"{result['cells']} cells: in-process {result['local_seconds']:.1f} s, Ray ×{RAY_WORKERS} "
        f"{result['ray_seconds']:.1f} s (+{result['ray_startup_seconds']:.1f} s ray.init): ratio "
        f"{result['ray_speedup']:.2f} ({result['ray_speedup_with_startup']:.2f} with start-up); "
        f"records {'equal' if not differing else f'DIFFER in {len(differing)} cells'}"
    )
    if skipped:
        print(f"left out (cannot plan): {', '.join(sorted(skipped))}")
