"""Which bundled drafts the benchmark times: the base draft and the best KD draft at τ_dec 0.

The choice reads facts only: each draft folder's ``training.json`` says how it was distilled, and
``MANIFEST.json`` holds its analytic α̂ per dataset and τ_dec. Folder names are never parsed, so a
renamed or seed-suffixed folder (``kd-offline-gsm8k-t0.0-s0``) is chosen on the same grounds.
"""

from __future__ import annotations

import math
import stat
from dataclasses import dataclass, field
from pathlib import Path

from suite.bundle import MANIFEST, load_manifest
from suite.errors import SpecError
from suite.reader import SAFE_NAME
from suite.strict import read_config

TRAINING = "training.json"
KD_TEMPERATURE = 0.0
DECODE_TEMPERATURE = 0.0
DEFAULT_BASE = "draft"
RULE = (
    "best KD draft: among the drafts whose training.json has kd_temperature 0.0 (any method, "
    "dataset, seed), the highest α̂ at τ_dec 0 in MANIFEST.json "
    "(artifacts[<family>/<name>].acceptance[<dataset>]['0.0'].alpha, mean over its datasets)"
)


class NoKDDraft(ValueError):
    """The bundle cannot name a best KD draft from its facts; nothing is timed."""


@dataclass(frozen=True)
class DraftChoice:
    """The drafts to time, in order, with the facts that chose them."""

    base: Path
    best_kd: Path
    candidates: dict[str, dict] = field(default_factory=dict)
    lacking: list[str] = field(default_factory=list)

    def folders(self) -> dict[str, Path]:
        return {"base": self.base, "best KD": self.best_kd}

    def record(self) -> dict:
        return {
            "rule": RULE,
            "base": self.base.name,
            "best_kd": self.best_kd.name,
            "candidates": self.candidates,
            "without_alpha_at_tau_dec_0": self.lacking,
        }


def read_training(folder: Path) -> dict | None:
    """A folder's ``training.json`` as a dict (strict JSON, at most 16 MiB, a regular file), or
    None where there is none."""
    path = Path(folder) / TRAINING
    if not (path.exists() or path.is_symlink()):
        return None
    return read_config(path, nofollow=True)


def kd_drafts(family_dir: Path, kd_temperature: float = KD_TEMPERATURE) -> dict[str, dict]:
    """Folders under ``family_dir`` whose training facts say they were distilled at
    ``kd_temperature`` (a recipe mixing temperatures has ``kd_temperature`` null: left out)."""
    found = {}
    for folder in sorted(p for p in Path(family_dir).iterdir() if _is_folder(p)):
        facts = read_training(folder)
        tau = facts.get("kd_temperature") if facts else None
        if isinstance(tau, int | float) and not isinstance(tau, bool) and tau == kd_temperature:
            found[folder.name] = facts
    return found


def _is_folder(path: Path) -> bool:
    """A folder of the family's own: a link to one is refused (a bundle holds its own files)."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        raise SpecError(path, None, None, "a symbolic link in a bundle family folder; refused")
    return stat.S_ISDIR(mode)


def alpha_at(entry: dict, decode_temperature: float = DECODE_TEMPERATURE) -> dict[str, float]:
    """α̂ per dataset at ``decode_temperature`` from one manifest artifact entry."""
    alphas = {}
    for dataset, by_tau in sorted((entry.get("acceptance") or {}).items()):
        for key, value in (by_tau or {}).items():
            alpha = value.get("alpha") if isinstance(value, dict) else None
            numeric = isinstance(alpha, int | float) and math.isfinite(alpha)
            if numeric and _as_float(key) == decode_temperature:
                alphas[dataset] = float(alpha)
    return alphas


def _as_float(key) -> float | None:
    try:
        return float(key)
    except (TypeError, ValueError):
        return None


def choose_drafts(family_dir: Path, manifest_path: Path | None = None) -> DraftChoice:
    """The base draft and the best KD draft of a bundle family, from training.json and the
    manifest; raises ``NoKDDraft`` saying what is missing where the facts cannot decide."""
    family_dir = Path(family_dir)
    manifest_path = manifest_path or family_dir.parent / MANIFEST
    kd = kd_drafts(family_dir)
    if not kd:
        raise NoKDDraft(f"no draft under {family_dir} has kd_temperature 0.0 in its {TRAINING}")
    if not manifest_path.is_file():
        raise NoKDDraft(f"{manifest_path} is missing: α̂ at τ_dec 0 cannot rank the KD drafts")
    artifacts = _checked_manifest(manifest_path)["artifacts"]
    candidates, lacking = {}, []
    for name, facts in kd.items():
        alphas = alpha_at(artifacts.get(f"{family_dir.name}/{name}") or {})
        if not alphas:
            lacking.append(name)
            continue
        candidates[name] = {
            "alpha_tau_dec_0": sum(alphas.values()) / len(alphas),
            "alpha_per_dataset": alphas,
            **{key: facts.get(key) for key in ("method", "dataset", "seed", "kd_temperature")},
        }
    if not candidates:
        raise NoKDDraft(
            f"{manifest_path} has no acceptance[<dataset>]['0.0'].alpha for any KD draft with "
            f"kd_temperature 0.0 ({', '.join(lacking)}): the best KD draft cannot be chosen"
        )
    # Ties go to the first name, so the choice never depends on the order folders are listed.
    best = min(candidates, key=lambda n: (-candidates[n]["alpha_tau_dec_0"], n))
    base = family_dir / _base_draft(family_dir / best / TRAINING, kd[best], artifacts)
    if not base.is_dir():
        raise NoKDDraft(f"{family_dir / best / TRAINING} names base_draft {base.name!r}: no folder")
    return DraftChoice(base, family_dir / best, candidates, lacking)


def _checked_manifest(path: Path) -> dict:
    """The manifest as ``verify`` and ``bundle-tables`` read it: its shape and every field the
    choice reads (α̂ in [0, 1] inside its ci95) checked; a SpecError names the field."""
    from suite.bundle_tables import check_table_fields

    if path.name != MANIFEST:
        raise SpecError(path, None, None, f"a bundle manifest is named {MANIFEST}")
    manifest = load_manifest(path.parent)
    check_table_fields(manifest, path)
    return manifest


def _base_draft(path: Path, facts: dict, artifacts: dict) -> str:
    """The base draft a KD draft's training.json names: another draft of its family, by the
    name of its folder, which the manifest lists as a draft."""
    name = facts.get("base_draft")
    if name is None:
        name = DEFAULT_BASE
    elif not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        message = "a draft folder of the same family, by name (letters, digits, '.', '_', '-')"
        raise SpecError(path, "base_draft", name, message)
    family, own = path.parent.parent, path.parent.name
    if (family / name).is_symlink():
        raise SpecError(path, "base_draft", name, "a symbolic link; a bundle holds its own files")
    listed = artifacts.get(f"{family.name}/{name}") or {}
    if name == own or listed.get("kind") != "draft":
        message = f"another draft of the family: one the manifest lists as a draft, not {own}"
        raise SpecError(path, "base_draft", name, message)
    return name
