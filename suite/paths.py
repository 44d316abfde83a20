"""Where things live: the suite's own files, the model bundle, the data and the caches.

The suite's own files (task specs, studies, profiles, the report template, the paper's claims and
the data sources) are package data: an installed wheel holds a copy under ``suite/_resources``,
read through :mod:`importlib.resources`; a checkout reads them where they are edited (``tasks/``,
``reports/templates/``, ``reference/``).

The model bundle is ``$SUITE_BUNDLE`` (or a command's ``--bundle``), else the checkout's
``reference/``. Data is ``$SUITE_DATA_DIR``, else ``../shared/data`` beside a checkout, else a
cache (``$XDG_CACHE_HOME/suite/data``) that is filled on first use from pinned, sha256-checked
sources.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from suite.errors import SpecError

REPO_ROOT = Path(__file__).resolve().parents[1]


def _resource_root() -> Path:
    """The wheel's copy of the suite's files if there is one, else the checkout."""
    packaged = Path(str(resources.files("suite").joinpath("_resources")))
    return packaged if packaged.is_dir() else REPO_ROOT


RESOURCE_ROOT = _resource_root()
PACKAGED = RESOURCE_ROOT != REPO_ROOT
TASKS_DIR = RESOURCE_ROOT / "tasks"
PROFILES_DIR = TASKS_DIR / "profiles"
STUDIES_DIR = TASKS_DIR / "studies"
TEMPLATE_DIR = RESOURCE_ROOT / "reports" / "templates"
PAPER_FILE = RESOURCE_ROOT / "reference" / "paper.yaml"
DATA_SOURCES = RESOURCE_ROOT / "reference" / "data_sources.yaml"
CALIBRATION_FILE = RESOURCE_ROOT / "reference" / "calibration.json"  # python -m suite calibrate
CHECKOUT_REFERENCE = REPO_ROOT / "reference"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def spec_names(folder: Path) -> list[str]:
    """The names of the specs in ``folder`` (profiles, studies): its ``*.yaml`` files' stems."""
    return sorted(p.stem for p in folder.glob("*.yaml"))


def spec_file(name: str, folder: Path, what: str) -> Path:
    """The file of the ``what`` named ``name``: a path to a ``.yaml``/``.yml`` file as it is
    (a symbolic link the user named is followed here, to the file it names: the readers refuse
    links they meet), else ``<folder>/<name>.yaml`` for one of :func:`spec_names`; any other
    name is a :class:`SpecError` that lists the known ones."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return resolve(candidate, what) if candidate.is_symlink() else candidate
    if candidate.suffix in (".yaml", ".yml") and (candidate.exists() or candidate.is_symlink()):
        message = "a path to a YAML file: it exists and is not a regular file"  # a FIFO, a folder
        raise SpecError(candidate, what, name, message)
    known = spec_names(folder)
    if name not in known:
        listed = ", ".join(known) or "(none)"
        raise SpecError(folder, what, name, f"unknown {what}; known: {listed}")
    return folder / f"{name}.yaml"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/suite`` (default ``~/.cache/suite``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "suite"


def data_cache_dir() -> Path:
    """Where datasets are fetched on first use when no data folder is given."""
    return cache_dir() / "data"


def bundle_dir() -> Path:
    """``$SUITE_BUNDLE``, else the checkout's ``reference/`` (which an installed wheel lacks)."""
    env = os.environ.get("SUITE_BUNDLE")
    if env:
        return Path(env).expanduser().resolve()
    return CHECKOUT_REFERENCE


def bundle_path(path: str | Path) -> Path:
    """A path as a profile or submission writes it: ``reference/...`` is inside the bundle
    (wherever it lives), another relative path is relative to the checkout (or, for an
    installed wheel, to the working directory). A ``reference/...`` path that climbs with ``..``
    would leave the bundle: a ValueError."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    if path.parts and path.parts[0] == "reference":
        if ".." in path.parts:
            raise ValueError("a path under reference/ stays inside the bundle: no '..'")
        return bundle_dir().joinpath(*path.parts[1:])
    return (Path.cwd() if PACKAGED else REPO_ROOT) / path


def resolve(path: str | Path, field: str | None = None) -> Path:
    """``path`` with its symbolic links followed; a loop of links (Python 3.11 raises
    RuntimeError, later ones OSError) is a SpecError naming the path, not a traceback."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as err:
        raise SpecError(path, field or "path", str(path), f"cannot be resolved: {err}") from None


def portable_path(path: Path) -> str:
    """The inverse for records: ``reference/...`` for a bundle file, so results do not depend on
    where the bundle or the checkout lie; any other path as it is."""
    resolved = resolve(path)
    for root, prefix in ((bundle_dir(), Path("reference")), (REPO_ROOT, Path())):
        try:
            return str(prefix / resolved.relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)
