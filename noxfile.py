"""Entry points of the suite. Offline: torch pinned to its CPU build, no Python download.

Environments are reused between runs (``nox -s reproduce`` twice installs once). torch is
installed first, pinned, with PyTorch's CPU index as an extra index: where pip already has a
local torch wheel (a configured ``find-links``) it takes that one, and on a fresh machine or a CI
runner it takes the CPU build (``2.13.0+cpu`` sorts above PyPI's CUDA ``2.13.0``) instead of
several GB of CUDA packages. Each session installs only what it needs.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.download_python = "never"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint"]

TORCH = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
RUFF = "ruff==0.17.6"


def _install(session: nox.Session, extras: str = "") -> None:
    # torch first and pinned: an unpinned resolve would pull several GB of CUDA wheels.
    session.install(TORCH, "--extra-index-url", TORCH_CPU_INDEX)
    session.install("-e", f".[{extras}]" if extras else ".")


def _out(posargs: list[str], default: str) -> tuple[list[str], str]:
    """A session's ``--out`` and the user's arguments: the folder the user names after ``--``
    (``nox -s bench -- --out DIR``), else the session's own ``default``."""
    for i, arg in enumerate(posargs):
        if arg == "--":
            break
        option, given, value = arg.partition("=")
        if len(option) < 3 or not "--out".startswith(option):  # --o, --ou: argparse's --out
            continue
        if given:
            return [], value
        if i + 1 < len(posargs):
            return [], posargs[i + 1]
    return ["--out", default], default


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (pytest)."""
    _install(session, "dev")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """Per-token wall time: target alone, our decoder, transformers' assisted generation, for the
    base and the best KD draft over a sweep of K; then the quick profile's empirical cells
    in-process versus on local Ray with two workers. Writes results/bench (`-- --out DIR`: DIR)."""
    _install(session, "ray")
    out, folder = _out(session.posargs, "results/bench")
    session.run("python", "-m", "suite", "bench", *out, *session.posargs)
    session.run("python", "-m", "suite", "bench", "--executor-compare", "--out", folder)


@nox.session
def quality(session: nox.Session) -> None:
    """GSM8K accuracy, target alone versus speculative decoding at τ_dec 0 and 0.7 (lm-eval)."""
    _install(session)
    out, _ = _out(session.posargs, "results/quality")
    session.run("python", "-m", "suite", "quality", *out, *session.posargs)


@nox.session
def train(session: nox.Session) -> None:
    """Tokenizer, target and base draft from reference/recipes/llama.yaml (hours on a CPU)."""
    _install(session)
    session.run("python", "-m", "suite", "train", *session.posargs)


@nox.session
def distill(session: nox.Session) -> None:
    """The KD drafts from reference/recipes/kd-llama.yaml (resumable; skips finished drafts)."""
    _install(session)
    session.run("python", "-m", "suite", "distill", *session.posargs)


@nox.session
def reproduce(session: nox.Session) -> None:
    """Every study (quick profile), the claims and the HTML report; resumes when rerun.

    `nox -s reproduce -- --profile full` runs the paper's grid; `--out DIR` picks the folder.
    """
    _install(session)
    session.run("python", "-m", "suite", "reproduce", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Render the HTML report from an existing results folder: `nox -s report -- results/quick`."""
    _install(session)
    session.run("python", "-m", "suite", "report", *(session.posargs or ["results/quick"]))


@nox.session
def submit(session: nox.Session) -> None:
    """Validate and score a submitted draft: `nox -s submit -- submissions/NAME --profile smoke`."""
    _install(session)
    args = session.posargs or ["submissions/example-base-copy"]
    session.run("python", "-m", "suite", "submit", *args)


@nox.session
def calibrate(session: nox.Session) -> None:
    """Error rates and power of every claim test on simulated results (quick and full sizes);
    writes results/calibration/calibration.json and .md."""
    _install(session)
    args = session.posargs or ["--profiles", "quick", "--n-sim", "100"]
    out, _ = _out(args, "results/calibration")
    session.run("python", "-m", "suite", "calibrate", *out, *args)
