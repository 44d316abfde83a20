"""Where a checkout keeps things: the repository's task specs, bundle and data mirror."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TASKS_DIR = REPO_ROOT / "tasks"
REFERENCE_DIR = REPO_ROOT / "reference"
DATA_SOURCES = REFERENCE_DIR / "data_sources.yaml"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
