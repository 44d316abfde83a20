"""``python -m suite submit``: validate a submission, score it beside the bundled drafts, report.

The submission joins its family's drafts under the label ``sub-<name>``, with the facts its YAML
states (origin ``submission``), and every draft list of the leaderboard study
(``tasks/studies/leaderboard.yaml``); the runner and the report then treat it like any bundled
draft. Nothing is written before the submission and the results folder pass their checks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from suite.drafts import SUBMISSION, facts_from_name
from suite.errors import Parser, SpecError, error_line
from suite.io import save_model
from suite.number_arguments import ascii_decimal
from suite.number_arguments import seed as seed_argument
from suite.path_arguments import non_empty_path
from suite.paths import bundle_dir, resolve
from suite.profiles import Profile, load_profile
from suite.runner import check_device, first_missing, header_for, planned_screen, run_plan
from suite.store import ResultsStore, write_atomic
from suite.studies import LEADERBOARD, Plan, load_study, plan_studies, with_submission
from suite.submissions import (
    EXAMPLE,
    HUB_CACHE,
    SUBMISSIONS_DIR,
    Checked,
    load_submission,
    staged,
    validate,
)

SUBMISSION_JSON = "submission.json"  # beside the results: what the report says about the entry
# Private copies of checked model folders, one per results folder, while its submit runs (a name
# no submission's Hub cache takes: submission names have no '.')
STAGING = HUB_CACHE / ".staged"
MAX_NOISE = 10.0  # the example's relative weight noise: past it, a random model


@dataclass(frozen=True)
class SubmitReport:
    folder: Path
    report: Path
    cells: int
    ran: int
    seconds: float


def with_draft(profile: Profile, checked: Checked) -> Profile:
    """A copy of the profile whose target family also holds the submission (frozen: no mutation)."""
    family = profile.models[checked.submission.target]
    drafts = {**family.drafts, checked.model.name: checked.model}
    models = {**profile.models, family.family: replace(family, drafts=drafts)}
    return replace(profile, models=models)


def submission_plan(checked: Checked, profile: Profile, study: Path = LEADERBOARD) -> Plan:
    sub = checked.submission
    spec = with_submission(load_study(study), sub.target, sub.draft)
    return plan_studies([spec], with_draft(profile, checked))


def _check_out(out: Path, plan: Plan, checked: Checked, fingerprint: str) -> None:
    """Refuse a folder inside the submission (its files would change under their hash), or
    holding another run, another submission, or this one's older weights."""
    inside = checked.submission.folder
    if resolve(out, "--out").is_relative_to(resolve(inside, "submission")):
        message = f"is inside the submission folder {inside}: results go elsewhere"
        raise SpecError(out, "--out", str(out), message)
    store = ResultsStore(out)
    draft = checked.submission.draft

    planned = planned_screen(store, plan)

    def screen(cell) -> None:  # from each cell alone, before any record is read whole
        facts = cell.draft_facts or facts_from_name(cell.draft)  # as a record's facts
        if facts.origin == SUBMISSION and cell.draft != draft:
            message = f"holds the results of another submission; choose another --out for {draft}"
            raise SpecError(store.cells_path, "draft", cell.draft, message)
        planned(cell)  # after naming another submission's records

    store.check(header_for(plan), screen)
    for record in store.load().values():
        models = record.provenance.models if record.provenance is not None else {}
        held = models["draft"].sha256 if "draft" in models else None
        if record.cell.draft == draft and held != fingerprint:
            message = "the submission's files changed since these results; choose another --out"
            raise SpecError(store.cells_path, "sha256", held, message)
    _own_info(out, checked)


def _own_info(out: Path, checked: Checked) -> None:
    """A ``submission.json`` already in ``out`` (a killed submit's) is read strictly and must be
    this submission's: submit replaces it, and never a file it did not write."""
    from suite.report.render import _submission

    held = _submission(out)
    if held is None:
        return
    sub = checked.submission
    for field, mine in (("name", sub.name), ("draft", sub.draft)):
        if held.get(field) != mine:
            message = f"not {sub.draft}'s {SUBMISSION_JSON}; choose another --out"
            raise SpecError(out / SUBMISSION_JSON, field, held.get(field), message)


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A private path for the copy of the checked model (:func:`suite.submissions.staged`),
    one per results folder (records name the submission's folder, not the copy), held by one
    submit at a time and removed after it."""
    where = resolve(out, "--out")
    if where == STAGING.resolve() or STAGING.resolve() in where.parents:
        message = "inside the folder of submit's private model copies; choose another --out"
        raise SpecError(out, "--out", str(out), message)
    key = hashlib.sha256(os.fsencode(str(where))).hexdigest()[:32]
    STAGING.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = STAGING / f"{key}.lock"
    fd = _hold(lock, out)
    try:
        into = STAGING / key
        _remove(into)  # a killed submit's
        try:
            yield into
        finally:
            _remove(into)
            lock.unlink(missing_ok=True)  # while held: a submit that opened it finds it gone
    finally:
        os.close(fd)  # releases the lock


def _hold(lock: Path, out: Path) -> int:
    """An exclusive lock on the file ``lock``, as it is now: one opened before a holder
    removed it is let go and opened again, so two submits never hold two files of one name."""
    for _ in range(8):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            message = "another submit into this results folder is running; wait for it to end"
            raise SpecError(out, "--out", str(out), message) from None
        try:
            current = os.stat(lock, follow_symlinks=False).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)
    message = "its lock file keeps being replaced; wait for other submits to end"
    raise SpecError(out, "--out", str(out), message)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _loads(checked: Checked) -> None:
    """The draft loads as the run will load it, and gives finite logits; any failure names the
    submission's model."""
    from suite.models import check_finite_logits, load_model

    sub = checked.submission
    try:
        model = load_model(checked.model.path)
    except SpecError:
        raise
    except Exception as err:  # transformers raises many types for a model it cannot load
        message = f"the model does not load: {err}"
        raise SpecError(sub.path, sub.model_field, str(checked.model.path), message) from None
    check_finite_logits(model, sub.path, sub.model_field, str(checked.model.path))


def _discard_new(folder: Path, created: Path | None, wrote_info: bool) -> None:
    """After a failed submit that wrote no record yet: the submission.json it wrote
    (``wrote_info``: there was none before) goes, and so does the results folder it made
    (``created``: it or its outermost new parent) where that is left empty."""
    store = ResultsStore(folder)
    if store.cells_path.exists() or store.cells_path.is_symlink():
        return
    if wrote_info:
        (folder / SUBMISSION_JSON).unlink(missing_ok=True)
    store.discard(created, set())  # the run's own header and lock went with its failure


def submit(
    folder: str | Path,
    *,
    profile: str = "quick",
    out: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
    study: Path = LEADERBOARD,
) -> SubmitReport:
    """Validate, run the leaderboard study with the submission, render the report into ``out``."""
    start = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")  # before any write
    chosen = load_profile(profile)
    checked = validate(load_submission(folder), chosen)
    plan = submission_plan(checked, chosen, study)
    folder_out = Path(out or f"results/submissions/{checked.submission.name}-{chosen.name}")
    fingerprint = checked.model.fingerprint()
    _check_out(folder_out, plan, checked, fingerprint)
    check_device(chosen)
    with _staging(folder_out) as into:
        # the run loads, hashes and scores a private copy, checked again: never files changed
        # in the submission since they were checked
        checked = staged(checked, chosen, into, fingerprint)
        plan = submission_plan(checked, chosen, study)
        _loads(checked)  # before anything is written
        info = checked.submission.to_dict() | {
            "parameters": checked.parameters,
            "sha256": checked.model.fingerprint(),
            "profile": chosen.name,
        }
        created = first_missing(folder_out)
        info_path = folder_out / SUBMISSION_JSON
        wrote_info = not (info_path.exists() or info_path.is_symlink())
        try:
            folder_out.mkdir(parents=True, exist_ok=True)
            write_atomic(info_path, json.dumps(info, indent=2, ensure_ascii=False))
            run = run_plan(plan, folder_out, workers=workers, progress=progress, submitting=True)
        except BaseException:
            _discard_new(folder_out, created, wrote_info)
            raise
    from suite.report.render import render_report

    path = render_report(folder_out, plan=plan)
    return SubmitReport(folder_out, path, run.cells, run.ran, time.perf_counter() - start)


def make_example(
    noise: float = 0.05, seed: int = 0, bundle: Path | None = None, target: Path | None = None
) -> Path:
    """The example's weights: the bundled base draft with a little seeded noise, safetensors.

    Written to ``submissions/example-base-copy/model`` (git-ignored) through a temporary folder,
    so an interrupted run leaves no half-written model behind.
    """
    import torch

    from suite.models import load_causal_lm

    bundle = bundle or bundle_dir() / "llama"
    if not 0 <= noise <= MAX_NOISE:  # NaN too: the example's weights are finite
        raise ValueError(f"--noise must be in [0, {MAX_NOISE:g}], got {noise!r}")
    model = load_causal_lm(bundle / "draft")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            scale = noise * float(param.std()) if param.numel() > 1 else 0.0
            param.add_(scale * torch.randn(param.shape, generator=gen))
    target = target or SUBMISSIONS_DIR / EXAMPLE / "model"
    tmp = target.with_name(".model.tmp")
    for path in (target, tmp):  # never written through a link planted in the example folder
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            message = "a link or file where the example's model folder goes; delete it"
            raise SpecError(path, "make-example", str(path), message)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_model(model.half(), tmp)  # the bundle stores its drafts in float16
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(bundle / "tokenizer" / name, tmp / name)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written is left
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="python -m suite submissions", description="Build the example or check a submission."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("make-example", help=f"write submissions/{EXAMPLE}/model (git-ignored)")
    p.add_argument(
        "--noise", type=ascii_decimal, default=0.05, help="relative weight noise (0: a copy)"
    )
    p.add_argument("--seed", type=seed_argument, default=0, help="0 to 4,294,967,295")
    p = sub.add_parser("check", help="validate a submission against a profile; run nothing")
    p.add_argument("folder", type=non_empty_path, help="submissions/<name>")
    p.add_argument("--profile", default="quick", help="smoke, quick, full, paper, or a YAML path")
    args = parser.parse_args(argv)
    try:
        if args.command == "make-example":
            print(f"wrote {make_example(noise=args.noise, seed=args.seed)}")
        else:
            checked = validate(load_submission(args.folder), load_profile(args.profile))
            print(f"ok: {checked.submission.draft}, {checked.parameters:,} parameters")
    except (SpecError, ValueError, OSError) as err:
        print(error_line(err), file=sys.stderr)
        return 2
    return 0
