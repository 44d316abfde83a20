"""Render a results folder: report.html, summary.json, prompts.csv and cells.csv, atomically.

The HTML is one self-contained file (images as data URIs, inline CSS, no script, no network), so
it can be mailed or archived as is. Jinja escapes every string: the text comes from result files.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from suite.claims import ENGINES, REGISTRY, ClaimRegistry, Decision, Figure, decide_folder
from suite.claims.model import NOT_RUN, PAPER_FILE, load_paper
from suite.drafts import SUBMISSION as SUBMITTED
from suite.errors import SpecError
from suite.io import check_out_folder
from suite.jsonable import jsonable
from suite.paths import TEMPLATE_DIR, resolve
from suite.profiles import _HUB_ID
from suite.report import figures, leaderboard, output, views
from suite.report.folder import check_folder
from suite.store import CELLS_FILE, RUN_FILE, ResultsStore, clean
from suite.strict import read_json
from suite.studies import Plan
from suite.submission_json import check_submission_json
from suite.tables import draft_columns, prompt_rows, read_records, seed_means

TEMPLATE = "report.html.j2"
REPORT, SUMMARY, PROMPTS, CELLS = "report.html", "summary.json", "prompts.csv", "cells.csv"
SUBMISSION = "submission.json"  # written by `python -m suite submit` beside the results
PROMPT_COLUMNS = [
    "engine", "family", "dataset", "draft", "decode_temperature", "num_draft_tokens", "seed",
    "key", "method", "kd_temperature", "kd_dataset", "recipe", "prompt", "alpha",
    "mean_accepted_length", "speedup", "tokens", "token_chars",
]  # fmt: skip
CELL_COLUMNS = [
    "key", "engine", "family", "dataset", "split", "draft", "method", "kd_temperature",
    "kd_dataset", "recipe", "decode_temperature", "num_draft_tokens", "seed", "prompts",
    "max_new_tokens", "acceptance_rate", "ci_low", "ci_high", "judged_acceptance_rate",
    "mean_accepted_length", "speedup", "speedup_kind", "cost_ratio",
]  # fmt: skip


def strict_json(value: Any) -> str:
    return json.dumps(clean(jsonable(value)), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def cell_table(records: list[dict]) -> pd.DataFrame:
    """One row per cell: its coordinates, α with its interval, accepted length and γ."""
    rows = []
    for rec in records:
        cell, result, timing = rec["cell"], rec["result"], rec.get("timing") or {}
        ci = result.get("confidence_interval") or [None, None]
        analytic = cell["engine"] == "analytic"
        info = draft_columns(cell["draft"], rec.facts)  # its record's facts, not its name
        rows.append(
            {**{k: cell.get(k) for k in CELL_COLUMNS if k in cell}, **info, "key": rec["key"]}
            | {
                "acceptance_rate": result.get("acceptance_rate"),
                "ci_low": ci[0],
                "ci_high": ci[1],
                "judged_acceptance_rate": result.get("judged_acceptance_rate"),
                "mean_accepted_length": result.get("mean_accepted_length"),
                "speedup": timing.get("projected_speedup" if analytic else "speedup"),
                "speedup_kind": "projected" if analytic else "measured",
                "cost_ratio": timing.get("cost_ratio"),
            }
        )
    return pd.DataFrame(rows).reindex(columns=CELL_COLUMNS)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class _Figures:
    """Each figure drawn once per (function, study), however many claims show it."""

    def __init__(self, rows: pd.DataFrame, records: list[dict], header: dict):
        self.rows, self.records, self.header = rows, records, header
        self.cache: dict[tuple, bytes | None] = {}

    def study(self, study: str | None) -> tuple[pd.DataFrame, list[dict]]:
        if study is None:
            return _defined(seed_means(self.rows)), self.records
        keys = set(self.header.get("study_cells", {}).get(study, []))
        part = self.rows[self.rows["key"].isin(keys)] if not self.rows.empty else self.rows
        return _defined(seed_means(part)), [r for r in self.records if r["key"] in keys]

    def draw(self, func: Callable, takes: str, study: str | None, arg: Any = None) -> bytes | None:
        key = (func, study)
        if key not in self.cache:
            if arg is None:
                frame, records = self.study(study)
                arg = frame if takes == "frame" else records
            self.cache[key] = func(arg) if not _empty(arg) else None
        return self.cache[key]


def _defined(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows a figure can draw: a prompt whose α and γ are both undefined (null: no token
    judged, no timing) has nothing to show; a figure left without rows is not drawn."""
    if frame.empty:
        return frame
    return frame.dropna(subset=["alpha", "speedup"], how="all")


def _calibration() -> dict | None:
    """The calibration benchmark's result shipped with the suite (reference/calibration.json)."""
    from suite.paths import CALIBRATION_FILE

    if not CALIBRATION_FILE.is_file():
        return None
    return json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))


def _empty(arg: Any) -> bool:
    return len(arg) == 0 if isinstance(arg, pd.DataFrame | list | dict) else arg is None


def figure_function(number: int, figure: Figure) -> Callable:
    """What draws a claim's figure: the function of suite.report.figures it names, or its own."""
    func = figure.draw if callable(figure.draw) else getattr(figures, figure.draw, None)
    if not callable(func):
        raise ValueError(f"claim {number}: no figure {figure.draw!r} in suite.report.figures")
    return func


def _claim_figures(number: int, draw: _Figures, registry: ClaimRegistry) -> list[dict]:
    """The claim's registered figures, once for each study (one per model family) it reads that
    ran; an empty placeholder when its studies were planned but yielded no cells."""
    claim = registry.get(number)
    cells = draw.header.get("study_cells", {})
    planned = [s for s in claim.studies if s in cells] if claim is not None else []
    out = []
    for study in [s for s in planned if cells[s]] or planned[:1]:
        for figure in claim.figures:
            png = draw.draw(figure_function(number, figure), figure.takes, study)
            uri = _data_uri(png) if png else None
            out.append({"uri": uri, "caption": figure.caption, "study": study})
    return out


def _submission(folder: Path) -> dict | None:
    """What ``suite submit`` recorded about the submission; None when absent. A malformed one (or
    a link, FIFO or oversized file) is a SpecError naming it: a results folder is not trusted."""
    path = folder / SUBMISSION
    if not (path.exists() or path.is_symlink()):
        store = ResultsStore(folder)
        records = store.load() if store.cells_path.exists() else {}
        submitted = sorted({r.cell.draft for r in records.values() if r.facts.origin == SUBMITTED})
        if submitted:  # submit writes it before its first record
            message = f"missing beside records of the submitted draft {submitted[0]!r}"
            raise SpecError(path, None, None, message)
        return None
    data = read_json(path, SUBMISSION, 1 << 20, nofollow=True)
    if not isinstance(data, dict):
        raise SpecError(path, "(document)", data, "expected a JSON object")
    check_submission_json(path, data)
    _agrees_with_folder(path, data, folder)
    return data


def _agrees_with_folder(path: Path, data: dict, folder: Path) -> None:
    """What ``submit`` wrote about a submission is what its results hold: its draft is a
    record's, scored with the stated sha256 in the stated family, under ``run.json``'s
    profile, from a model folder inside the submission."""
    from pathlib import PurePosixPath

    store = ResultsStore(folder)
    if not (store.run_path.exists() or store.run_path.is_symlink()):
        return  # a submit's folder before its run: no results yet to agree with
    profile = store.header().get("profile")
    if data.get("profile") is not None and data["profile"] != profile:
        message = f"run.json names profile {profile!r}"
        raise SpecError(path, "profile", data["profile"], message)
    model = data.get("model")
    if model is not None and "@" in model:  # a Hub model, as submit writes one: id@commit
        hub, _, revision = model.rpartition("@")
        if not (_HUB_ID.fullmatch(hub) and re.fullmatch(r"[0-9a-f]{40}", revision)):
            message = "a Hub model as submit writes one: owner/name@<40-hex commit>"
            raise SpecError(path, "model", model, message)
    elif model is not None:
        posix = PurePosixPath(model)
        if posix.is_absolute() or ".." in posix.parts or not posix.parts or str(posix) != model:
            message = "a model folder inside the submission, as submit writes it"
            raise SpecError(path, "model", model, message)
    draft = data["draft"]  # check_submission_json requires it
    records = store.load() if store.cells_path.exists() else {}
    mine = [r for r in records.values() if r.cell.draft == draft]
    if records and not mine:
        raise SpecError(path, "draft", draft, "no record of this folder scores this draft")
    for key, record in records.items():  # a submit's folder holds one submission's results
        if record.facts.origin == SUBMITTED and record.cell.draft != draft:
            message = f"a submitted draft {SUBMISSION} does not state ({draft!r}); refused"
            raise SpecError(store.cells_path, f"{key}: cell.draft", record.cell.draft, message)
    training = data.get("training")
    for record in mine:
        if data.get("target") is not None and record.cell.family != data["target"]:
            message = f"its records are of the {record.cell.family!r} family"
            raise SpecError(path, "target", data["target"], message)
        models = record.provenance.models if record.provenance is not None else {}
        held = models["draft"].sha256 if "draft" in models else None
        if held is None:  # check_folder requires it; stated here for a direct call too
            message = "a record of this draft names no draft model it scored"
            raise SpecError(path, "draft", draft, message)
        if data.get("sha256") is not None and held != data["sha256"]:
            message = f"its records were scored with draft sha256 {held}"
            raise SpecError(path, "sha256", data["sha256"], message)
        where = models["draft"].location
        if model is not None and not _scored_from(model, where, data["name"]):
            message = f"its records scored the draft at {where}"
            raise SpecError(path, "model", model, message)
        facts = record.cell.draft_facts
        if facts is None or facts.origin != SUBMITTED:
            message = "its records do not score it as a submission (origin: submission)"
            raise SpecError(path, "draft", draft, message)
        for field in _TRAINING_FACTS:  # the facts the records were made with, as submit wrote
            stated = _stated_fact(training, field)
            if stated != getattr(facts, field):
                message = f"its records state {field} {getattr(facts, field)!r}"
                raise SpecError(path, f"training.{field}", stated, message)


def _scored_from(model: str, location: str, name: str) -> bool:
    """Whether a record's draft location is the model ``submission.json`` states: the folder
    ``<name>/<model>`` of the submission (its folder is named as the submission), or a Hub
    model's fetched folder, ``<name>/<commit>`` (a local model folder is never named like a
    commit, so the two cannot be confused)."""
    from pathlib import PurePosixPath

    held = PurePosixPath(location).parts
    if "@" in model:
        return held[-2:] == (name, model.rpartition("@")[2])
    parts = (name, *PurePosixPath(model).parts)
    return held[-len(parts) :] == parts


_TRAINING_FACTS = (
    "method", "kd_temperature", "kd_temperatures", "recipe", "dataset", "divergence", "seed"
)  # fmt: skip


def _stated_fact(training: Any, field: str) -> Any:
    """A draft fact as ``submission.json`` states it, read as suite.drafts reads one: a draft
    of one τ_kd that lists none lists it, and a draft that does not say it is a recipe is not."""
    training = training if isinstance(training, dict) else {}
    value = training.get(field)
    if field == "kd_temperatures":
        tau = training.get("kd_temperature")
        return tuple(value) if value is not None else (() if tau is None else (tau,))
    if field == "recipe":
        return bool(value)
    return value


def _leaderboard(folder: Path, rows: pd.DataFrame) -> tuple[dict | None, dict | None]:
    """The leaderboard's numbers (for summary.json) and its view with the figure, if any."""
    board = leaderboard.build(rows, _submission(folder))
    if board is None:
        return None, None
    png = leaderboard.figure(seed_means(rows))
    return board, leaderboard.view(board) | {"figure": _data_uri(png) if png else None}


def _sections(summary: dict, draw: _Figures, registry: ClaimRegistry) -> list[dict]:
    """Each claim's section: its verdict per engine and its figures."""
    per_engine = {e: {c["number"]: c for c in summary["per_engine"].get(e, [])} for e in ENGINES}
    return [
        views.claim_section(
            claim,
            {
                e: per_engine[e][claim["number"]]
                for e in ENGINES
                if claim["number"] in per_engine[e]
            },
            _claim_figures(claim["number"], draw, registry),
        )
        for claim in summary["claims"]
    ]


def _headline(records: list[dict], header: dict, paper: dict, board: dict | None, claims_run: bool):
    """The report's title and description: a reproduction, or a submission's leaderboard."""
    if board is not None and not claims_run:
        return f"Draft submission: {', '.join(board['drafts'])}", (
            f"{len(records)} cells under the {header.get('profile')} profile: the submitted draft "
            f"beside the bundled drafts of the suite for {paper['title']}."
        )
    return f"Reproduction report: {paper['title']}", (
        f"{len(records)} cells of the studies {', '.join(header.get('studies', []))} under "
        f"the {header.get('profile')} profile, tested against the paper's claims "
        f"(arXiv {paper.get('arxiv', '')})."
    )


def build_context(
    folder: Path,
    decision: Decision,
    records: list[dict],
    header: dict,
    registry: ClaimRegistry = REGISTRY,
    paper_path: Path = PAPER_FILE,
) -> dict:
    """Everything the template needs, formatted."""
    summary = views.decision_dict(decision)
    rows = prompt_rows(records)
    board, board_view = _leaderboard(folder, rows)
    claims_run = any(c["verdict"] != NOT_RUN for c in summary["claims"])
    draw = _Figures(rows, records, header)
    sections = _sections(summary, draw, registry)
    agreement_png = draw.draw(figures.engine_agreement, "agreement", None, decision.agreement)
    position_png = draw.draw(figures.position_acceptance, "records", None, records)
    paper = load_paper(paper_path)["paper"]
    title, description = _headline(records, header, paper, board, claims_run)
    return {
        "title": title,
        "description": description,
        "show_claims": claims_run or board is None,
        "leaderboard": board_view,
        "leaderboard_data": board,
        "folder": folder.name,
        "claims": [views.claim_row(c) for c in summary["claims"]],
        "families": views.families_overview(summary["claims"]),
        "calibration": views.calibration_view(_calibration()),
        "sections": sections,
        "agreement": views.agreement_view(decision.agreement),
        "agreement_pairs": decision.agreement.get("pairs", []),
        "agreement_figure": _data_uri(agreement_png) if agreement_png else None,
        "position_figure": _data_uri(position_png) if position_png else None,
        "examples": views.examples(records),
        "provenance": views.provenance(records, header),
        "study_titles": header.get("study_titles", {}),
        "fmt": views.number,
    }


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    folder: str | Path,
    out_dir: str | Path | None = None,
    *,
    decision: Decision | None = None,
    registry: ClaimRegistry = REGISTRY,
    paper_path: str | Path | None = None,
    plan: Plan | None = None,
    profile: str | Path | None = None,
    studies: list[str] | None = None,
) -> Path:
    """Write the four report files into ``out_dir`` (default: the results folder); return the HTML.

    ``decision`` may be passed when the caller already decided the folder, to skip doing it twice;
    ``registry`` and ``paper_path`` name the claims and their words (default: the paper's);
    ``plan``, or ``profile`` and ``studies``, the run's plan (:func:`check_folder`).
    """
    folder = check_folder(folder, plan, profile=profile, studies=studies)
    out = Path(out_dir) if out_dir is not None else folder
    check_out_folder(out)  # made when the files are written, once all are rendered
    if resolve(out, "--out") != resolve(folder, "results") and any(
        (out / name).exists() or (out / name).is_symlink() for name in (RUN_FILE, CELLS_FILE)
    ):
        message = "it holds another run's results: the report goes into DIR or a folder of its own"
        raise SpecError(out, "--out", str(out), message)
    header = ResultsStore(folder).header()
    records = read_records(folder)
    paper_path = PAPER_FILE if paper_path is None else Path(paper_path)
    if decision is None:
        decision = decide_folder(folder, paper_path, registry)
    context = build_context(folder, decision, records, header, registry, paper_path)
    html = _environment().get_template(TEMPLATE).render(**context)
    summary = {
        "title": context["title"],
        "profile": header.get("profile"),
        "studies": header.get("studies", []),
        **views.decision_dict(decision),
        "leaderboard": context["leaderboard_data"],
        "provenance": context["provenance"],
    }
    prompts = prompt_rows(records).reindex(columns=PROMPT_COLUMNS)
    output.write_all(
        {
            out / SUMMARY: strict_json(summary),
            out / PROMPTS: output.safe_csv(prompts),
            out / CELLS: output.safe_csv(cell_table(records)),
            out / REPORT: html,
        }
    )
    return out / REPORT


def claims_table(decision: Decision) -> str:
    """The claims as a plain-text table for the terminal."""
    head = ["#", "verdict", "engine", "estimate [95% CI]", "p adj.", "claim"]
    lines = []
    for claim in decision.claims:
        row = views.claim_row(claim.to_dict())
        estimate = "—" if row["estimate"] == "—" else f"{row['estimate']} {row['ci']}"
        lines.append(
            [
                str(row["number"]),
                row["verdict"],
                row["engine"],
                estimate,
                row["p_adjusted"],
                row["title"],
            ]
        )
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head) - 1)]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]

    table = [fmt(head), fmt(["-" * w for w in widths] + ["-" * 5]), *map(fmt, lines)]
    overview = views.families_overview([c.to_dict() for c in decision.claims])
    if overview:
        table += ["", f"Each family alone ({claim_engines(decision)}, unadjusted):"]
        for row in overview["rows"]:
            cells = "; ".join(
                f"{f}: {c}" for f, c in zip(overview["families"], row["cells"], strict=True)
            )
            table.append(f"  {row['number']}  {cells}")
    return "\n".join(table)


def claim_engines(decision: Decision) -> str:
    engines = sorted({c.engine for c in decision.claims if c.families})
    return ", ".join(f"{e} engine" for e in engines)
