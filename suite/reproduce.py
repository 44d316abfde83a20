"""``nox -s reproduce``: every study under a profile, then the claims and the HTML report.

A rerun resumes: finished cells are read back, not recomputed.
"""

from __future__ import annotations

import time
from pathlib import Path

from suite.profiles import load_profile
from suite.runner import check_plan, run_plan
from suite.studies import load_studies, plan_studies


def reproduce(
    *,
    profile: str = "quick",
    studies: tuple[str, ...] = ("all",),
    out: str | Path | None = None,
    workers: int = 2,
    progress: bool = True,
    executor: str = "local",
    address: str | None = None,
) -> Path:
    """Run, decide, render; print the claims table and the report's path; return that path.

    ``executor="ray"`` runs the cells on Ray actors (``address``: a running cluster).
    """
    start = time.perf_counter()
    chosen = load_profile(profile)
    chosen_studies = load_studies(list(studies))
    plan = plan_studies(chosen_studies, chosen)
    check_plan(chosen_studies, plan)
    folder = Path(out or f"results/{chosen.name}")
    report = run_plan(
        plan, folder, workers=workers, progress=progress, executor=executor, address=address
    )
    ran = time.perf_counter() - start
    from suite.claims import decide_folder
    from suite.report.render import claims_table, render_report

    decision = decide_folder(folder)
    path = render_report(folder, decision=decision, plan=plan)
    total = time.perf_counter() - start
    print(claims_table(decision))
    print(
        f"\n{report.cells} cells ({report.ran} run now, {report.already_done} resumed) in "
        f"{ran:.0f} s; statistics and report in {total - ran:.0f} s; total {total:.0f} s"
    )
    print(f"report: {path}")
    return path
