"""The bundle in ``reference/``: every artifact listed in MANIFEST.json with its files' sha256.

``python -m suite verify`` recomputes every hash and loads every model and tokenizer, so a
corrupted, missing or unlisted file is caught before any result is computed from it. A family
folder holds decoder-only (llama) or encoder-decoder (t5) models; ``load_model`` tells which.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import re
import reprlib
import stat
from dataclasses import dataclass
from pathlib import Path

from suite.errors import SpecError, control_character
from suite.io import write_json_atomic
from suite.paths import bundle_dir
from suite.strict import read_json, same_json

MANIFEST = "MANIFEST.json"
REFERENCE_DIR = bundle_dir()  # the bundle when this module was imported


MAX_BUNDLE_FILE_BYTES = 2 << 30  # a bundled file is at most tens of MB: far above, and bounded
MAX_BUNDLE_BYTES = 4 << 30  # the files verify hashes in all (the bundle holds 161 MB)


def sha256_file(path: Path) -> str:
    """The file's sha256, opened without following a link (a link is refused by the OS); a file
    over :data:`MAX_BUNDLE_FILE_BYTES` is refused unread."""
    digest = hashlib.sha256()
    # O_NONBLOCK: a FIFO swapped in after the listing is opened at once (and refused), not
    # waited on
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(path, None, None, "not a regular file in a bundle folder; refused")
        _check_size(path, info.st_size)
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_size(path: Path, size: int) -> None:
    if size > MAX_BUNDLE_FILE_BYTES:
        message = f"{size:,} bytes, over the {MAX_BUNDLE_FILE_BYTES:,} a bundle file may hold"
        raise SpecError(path, None, None, message)


MAX_FOLDER_ENTRIES = 100_000  # entries verify lists under all artifact folders (the bundle: ~600)


class _TooMany(Exception):
    """More entries under the artifact folders than :data:`MAX_FOLDER_ENTRIES`."""


class _Budget:
    """The entries left to list: each folder entry read takes one."""

    def __init__(self, limit: int | None = None):
        self.left = MAX_FOLDER_ENTRIES if limit is None else limit

    def entries(self, folder: Path):
        with os.scandir(folder) as found:
            for entry in found:
                self.left -= 1
                if self.left < 0:
                    raise _TooMany
                yield entry


def _listing(folder: Path, budget: _Budget) -> tuple[list[str], list[str]]:
    """An artifact folder's plain files (names, sorted), and what its subfolders hold: each
    subfolder (``folder a/b``) and each entry in one (``file a/b/c``), none followed or read.
    A file of the folder itself is checked with ``lstat``: a link or a special file (FIFO,
    device) is refused naming it, and so is a file over :data:`MAX_BUNDLE_FILE_BYTES`."""
    names, extra, below = [], [], []
    for entry in budget.entries(folder):
        p = folder / entry.name
        info = p.lstat()
        if stat.S_ISDIR(info.st_mode):
            extra.append(f"folder {entry.name}")
            below.append((p, entry.name))
            continue
        if not stat.S_ISREG(info.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
            raise SpecError(p, None, None, f"{kind} in a bundle folder; refused")
        _check_size(p, info.st_size)
        names.append(entry.name)
    while below:  # the subfolders' trees: the manifest lists none of it
        sub, rel = below.pop()
        for entry in budget.entries(sub):
            inner = f"{rel}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                extra.append(f"folder {inner}")
                below.append((sub / entry.name, inner))
            else:
                extra.append(f"file {inner}")
    return sorted(names), sorted(extra)


def plain_files(folder: Path) -> list[str]:
    """The names of an artifact folder's plain files (:func:`_listing`); a subfolder is
    refused (a manifest lists an artifact's own files, none in a subfolder)."""
    names, extra = _listing(folder, _Budget())
    if extra:
        message = "a subfolder in an artifact folder (a manifest lists none); refused"
        raise SpecError(folder / extra[0].split(" ", 1)[1], None, None, message)
    return names


def artifact_files(folder: Path) -> dict[str, str]:
    """Each plain file of an artifact folder (:func:`plain_files`) with its sha256."""
    return {name: sha256_file(folder / name) for name in plain_files(folder)}


def linked_segment(root: Path, folder: Path) -> Path | None:
    """The first path from ``root`` (exclusive) down to ``folder`` that is a symbolic link."""
    current = root
    for part in folder.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def load_manifest(root: Path | None = None) -> dict:
    """The bundle's MANIFEST.json (``root`` defaults to the bundle, ``$SUITE_BUNDLE``)."""
    root = bundle_dir() if root is None else root
    path = root / MANIFEST
    if not root.is_dir():
        raise SpecError(
            root,
            "bundle",
            str(root),
            "no bundle folder: pass --bundle DIR or set SUITE_BUNDLE "
            "to a bundle (a checkout's reference/ folder)",
        )
    if not path.is_file():
        raise SpecError(
            path, None, None, "no bundle manifest; build it with `python -m suite manifest`"
        )
    manifest = read_json(path, "bundle manifest", MAX_MANIFEST_BYTES, nofollow=True)
    _check_manifest(manifest, path)
    return manifest


MAX_MANIFEST_BYTES = 64 << 20
MAX_ARTIFACTS = 10_000  # the bundle holds 108
MAX_PARAMETERS = 10**12  # a model's parameters, as a profile's max_draft_parameters is bounded
# An artifact's name (``llama/kd-offline-gsm8k-t0.4-s0``): printed in tables and messages.
ARTIFACT_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}(/[A-Za-z0-9._-]{1,255}){0,15}", re.ASCII)
ARTIFACT_NAME_RULE = (
    "an artifact name: ASCII letters, digits, '.', '_', '-' and '/' only (no control character, "
    "space or markup), as llama/target"
)
_KINDS = ("target", "draft", "tokenizer")
_HEX = frozenset("0123456789abcdef")


def _check_manifest(manifest, path: Path) -> None:
    """What the suite reads of a manifest, typed: ``artifacts`` maps a name to its ``kind``, a
    ``path`` that stays inside the bundle (relative, no ``..``, hidden or empty segment) and
    ``files`` (file name to sha256); a bundle from ``--bundle`` is checked before use."""
    if not isinstance(manifest, dict):
        value = f"a JSON {type(manifest).__name__}"
        raise SpecError(path, "(document)", value, "expected a JSON object with 'artifacts'")
    arts = manifest.get("artifacts")
    if not isinstance(arts, dict):
        raise SpecError(path, "artifacts", reprlib.repr(arts), "expected a mapping of artifacts")
    if len(arts) > MAX_ARTIFACTS:
        message = f"at most {MAX_ARTIFACTS:,} artifacts (the bundle holds about a hundred)"
        raise SpecError(path, "artifacts", f"{len(arts):,} artifacts", message)
    for name, entry in arts.items():
        if not ARTIFACT_NAME.fullmatch(name):
            raise SpecError(path, "artifacts", reprlib.repr(name), ARTIFACT_NAME_RULE)
        field = f"artifacts.{name}"
        if not isinstance(entry, dict) or entry.get("kind") not in _KINDS:
            raise SpecError(path, field, reprlib.repr(entry), f"expected a mapping, kind {_KINDS}")
        rel = entry.get("path")
        segments = rel.split("/") if isinstance(rel, str) else [""]
        if not all(map(_plain_name, segments)):
            message = "must stay inside the bundle (plain names, no control character)"
            raise SpecError(path, f"{field}.path", reprlib.repr(rel), message)
        files = entry.get("files")
        if not isinstance(files, dict):
            raise SpecError(path, f"{field}.files", reprlib.repr(files), "file names to sha256")
        for f, d in files.items():
            if not _plain_name(f):
                message = (
                    "a file name in the artifact's folder: not empty, no '/', '\\', leading '.' "
                    "or control character, at most 255 bytes"
                )
                raise SpecError(path, f"{field}.files", reprlib.repr(f), message)
            if not (isinstance(d, str) and len(d) == 64 and set(d) <= _HEX):
                raise SpecError(path, f"{field}.files.{f}", reprlib.repr(d), "expected a sha256")
    _check_kinds(arts, path)
    named = {entry["path"]: name for name, entry in arts.items()}
    for name, entry in arts.items():  # readers look an artifact up by name (manifest writes
        other = named.get(name)  # its folder's): a name is no other artifact's folder
        if other is not None and other != name:
            message = f"the folder of artifacts.{other}: a name is its own folder or none's"
            raise SpecError(path, f"artifacts.{name}.path", reprlib.repr(entry["path"]), message)
    _check_own_folders(arts, path)


def _check_kinds(arts: dict, path: Path) -> None:
    """An artifact's ``kind`` is the one its ``artifact`` (training.json's, which verify holds the
    entry to) makes, as ``manifest`` derives it; a family has one target. A draft relabelled as
    a target left the paper's base-draft rows out of every table."""
    held: dict[tuple[str, str], str] = {}
    for name, entry in arts.items():
        field, stated = f"artifacts.{name}", entry.get("artifact")
        if isinstance(stated, str):
            kind = stated if stated in ("tokenizer", "target") else "draft"
            if entry["kind"] != kind:
                message = f"the kind of artifact {reprlib.repr(stated)} is {kind!r}"
                raise SpecError(path, f"{field}.kind", entry["kind"], message)
        if entry["kind"] == "target":
            other = held.setdefault((name.split("/")[0], entry["kind"]), name)
            if other != name:
                message = f"artifacts.{other} is this family's {entry['kind']}: it has one"
                raise SpecError(path, f"{field}.kind", entry["kind"], message)


def _check_own_folders(arts: dict, path: Path) -> None:
    """Each artifact has a folder of its own: no two name the same folder, and none is inside
    another's (whose subfolders verify reports as unlisted). In the order of the paths (with a
    final '/'), a folder and everything inside it are next to each other, so comparing
    neighbours finds any pair."""
    folders = sorted((entry["path"] + "/", name) for name, entry in arts.items())
    for (outer, first), (inner, second) in itertools.pairwise(folders):
        if inner.startswith(outer):
            how = "the folder of" if inner == outer else "inside the folder of"
            message = f"{how} artifacts.{first} ({outer[:-1]}): each artifact has its own folder"
            raise SpecError(path, f"artifacts.{second}.path", inner[:-1], message)


def _plain_name(name) -> bool:
    """One segment of a path inside the bundle: no '/', '\\', leading '.' (no '..', no hidden
    file) or control character (NUL, escapes, lone surrogates), at most 255 bytes."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
        and control_character(name, "") is None
        and len(name.encode("utf-8")) <= 255
    )


def write_manifest(manifest: dict, root: Path | None = None) -> Path:
    path = (bundle_dir() if root is None else root) / MANIFEST
    write_json_atomic(path, manifest)
    return path


MODEL_FILES = ("model.safetensors", "config.json")


def artifact_path(name: str, root: Path | None = None) -> Path:
    """The folder of a bundled artifact by its manifest name (e.g. ``llama/target``)."""
    root = bundle_dir() if root is None else root
    manifest = load_manifest(root)
    if name not in manifest["artifacts"]:
        known = ", ".join(sorted(manifest["artifacts"]))
        raise SpecError(root / MANIFEST, "artifact", name, f"not in the bundle; known: {known}")
    return root / manifest["artifacts"][name]["path"]


MAX_PROBLEMS_SHOWN = 100  # problems verify keeps and prints; the rest are counted


@dataclass
class Verdict:
    """What :func:`check_bundle` found: the first problems (at most ``MAX_PROBLEMS_SHOWN``) and
    how many there were in all."""

    artifacts: int
    problems: list[str] = dataclasses.field(default_factory=list)
    count: int = 0

    def add(self, problem: str) -> None:
        self.count += 1
        if len(self.problems) < MAX_PROBLEMS_SHOWN:
            self.problems.append(problem)


def verify(root: Path | None = None, *, load: bool = True) -> list[str]:
    """Problems found (empty when the bundle is intact): hash mismatches, missing or extra files;
    the first :data:`MAX_PROBLEMS_SHOWN`, then one line counting the rest."""
    verdict = check_bundle(root, load=load)
    more = verdict.count - len(verdict.problems)
    return verdict.problems + ([f"and {more:,} more problems"] if more else [])


def check_bundle(root: Path | None = None, *, load: bool = True) -> Verdict:
    """Every artifact of the manifest checked against its folder (each folder is one artifact's:
    :func:`load_manifest` refuses two sharing one): missing files, every entry the manifest does
    not list (in subfolders too, at most :data:`MAX_FOLDER_ENTRIES` listed in all), hashes, and
    (``load``) each model and tokenizer loaded."""
    from suite.models import load_model, load_tokenizer

    root = bundle_dir() if root is None else root
    manifest = load_manifest(root)
    verdict = Verdict(len(manifest["artifacts"]))
    total = _listed_bytes(root, manifest)
    if total > MAX_BUNDLE_BYTES:
        message = f"over the {MAX_BUNDLE_BYTES:,} a bundle may hold; none hashed"
        verdict.add(f"the listed files come to {total:,} bytes, {message}")
        return verdict
    budget = _Budget()
    try:
        for problem in _unlisted_entries(root, manifest, budget):
            verdict.add(problem)
    except _TooMany:
        verdict.add(f"more than {MAX_FOLDER_ENTRIES:,} entries in the bundle; none verified")
        return verdict
    for name, entry in sorted(manifest["artifacts"].items()):
        folder = root / entry["path"]
        link = linked_segment(root, folder)
        if link is not None:
            verdict.add(f"{name}: {link} is a symbolic link; a bundle holds its own files")
            continue
        if not folder.is_dir():
            verdict.add(f"{name}: folder {folder} is missing")
            continue
        try:
            mine = _file_problems(name, folder, entry["files"], budget)
        except SpecError as err:
            verdict.add(f"{name}: {err.path}: {err.message}")
            continue
        except _TooMany:
            verdict.add(
                f"{name}: more than {MAX_FOLDER_ENTRIES:,} entries under the artifact folders; "
                "listing stopped, this artifact and the ones after it not verified"
            )
            break
        for problem in mine:
            verdict.add(problem)
        if not mine:  # its training.json hashed as listed: the facts the manifest copied
            stated = _stated_facts(name, folder, entry)
            if stated is not None:
                verdict.add(stated)
                continue
        if load and not mine:  # each artifact whose own files are sound is loaded
            if entry["kind"] == "tokenizer":
                load_tokenizer(folder)
            else:
                model = load_model(folder)
                count = sum(p.numel() for p in model.parameters())
                if count != entry.get("parameters"):
                    verdict.add(
                        f"{name}: {count} parameters, manifest says {entry.get('parameters')}"
                    )
    return verdict


# What a bundle's root holds besides its artifacts' folders: the suite's own files, read and
# checked where they are used (calibration, data sources, the paper's numbers, the recipes).
BUNDLE_FILES = ("MANIFEST.json", "calibration.json", "data_sources.yaml", "paper.yaml", "recipes")


def _unlisted_entries(root: Path, manifest: dict, budget: _Budget) -> list[str]:
    """Each entry of the bundle's root and of the folders on the way to its artifacts that is
    neither one of those folders nor a bundle file: a run would take an unlisted model folder
    in a family for a draft, so verify names it. Nothing is followed."""
    paths = {Path(entry["path"]) for entry in manifest["artifacts"].values()}
    on_the_way = {parent for p in paths for parent in p.parents} - {Path(".")}
    problems = []
    for folder in sorted({Path("."), *on_the_way}):
        if linked_segment(root, root / folder) is not None or not (root / folder).is_dir():
            continue  # named with the artifacts below it
        for entry in budget.entries(root / folder):
            rel = folder / entry.name
            if folder == Path(".") and rel.name in BUNDLE_FILES:
                wanted = stat.S_ISDIR if rel.name == "recipes" else stat.S_ISREG
                if not wanted(os.lstat(root / rel).st_mode):
                    kind = "a plain folder" if rel.name == "recipes" else "a regular file"
                    problems.append(f"{rel.as_posix()}: a bundle file is {kind} of its own")
                continue
            if rel in paths or rel in on_the_way:
                continue
            kind = "folder" if entry.is_dir(follow_symlinks=False) else "file"
            problems.append(f"{rel.as_posix()}: a {kind} the manifest does not list")
    return problems


# The facts of a training.json that tables and cards print: a manifest states them only as
# its training.json does (beside what the manifest measures and sets itself).
FACT_KEYS = (
    "artifact", "parameters", "method", "kd_temperature", "kd_temperatures", "dataset",
    "datasets", "divergence", "seed", "recipe", "heldout_loss", "pretrained", "entropy_at_tau_1",
)  # fmt: skip


def _stated_facts(name: str, folder: Path, entry: dict) -> str | None:
    """A problem when the manifest's facts of an artifact are not its training.json's."""
    from suite.strict import read_config

    path = folder / "training.json"
    if "training.json" not in entry.get("files", {}):  # then it states no fact of its own
        stated = sorted(k for k in FACT_KEYS if k in entry and k not in ("artifact", "parameters"))
        return f"{name}: {stated[0]} stated without a training.json" if stated else None
    if not path.is_file() or path.is_symlink():
        return f"{name}: no training.json beside its files; the manifest's facts come from it"
    try:
        info = read_config(path, nofollow=True)
    except SpecError as err:
        return f"{name}: {err.path}: {err.message}"
    for key in sorted(set(info) | set(FACT_KEYS)):
        if key in ("path", "kind", "files"):
            continue
        absent = "(absent)"
        mine, theirs = entry.get(key, absent), info.get(key, absent)
        if not same_json(mine, theirs):
            return f"{name}: {key} is {mine!r:.60} in the manifest, {theirs!r:.60} in training.json"
    return None


def _listed_bytes(root: Path, manifest: dict) -> int:
    """The sizes (``lstat``) of the plain files the manifest lists and the folders hold."""
    total = 0
    for entry in manifest["artifacts"].values():
        for fname in entry["files"]:
            with contextlib.suppress(OSError):
                info = (root / entry["path"] / fname).lstat()
                total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def _file_problems(name: str, folder: Path, listed: dict[str, str], budget: _Budget) -> list[str]:
    """Missing and unlisted files first (a subfolder and all it holds included), from the names
    alone; then the listed files' hashes."""
    present, extra = _listing(folder, budget)
    problems = [f"{name}: file {f} is missing" for f in listed if f not in present]
    problems += [
        f"{name}: file {f} is not listed in the manifest" for f in present if f not in listed
    ]
    problems += [
        f"{name}: {what} is not listed in the manifest (it lists no subfolder)" for what in extra
    ]
    for fname in (f for f in present if f in listed):
        actual = sha256_file(folder / fname)
        if actual != listed[fname]:
            problems.append(f"{name}: {fname} sha256 {actual[:12]} != {listed[fname][:12]}")
    return problems


def compact(folder: Path, tokenizer, datasets: list[str], limit: int, tolerance: float) -> dict:
    """Store the weights in fp16 when that moves held-out loss by less than ``tolerance`` nats."""
    import torch
    from safetensors import safe_open

    from suite.distill.pretrain import heldout_loss
    from suite.models import load_model

    with safe_open(str(folder / "model.safetensors"), "pt") as fh:
        stored = fh.get_tensor(next(iter(fh.keys()))).dtype
    if stored != torch.float32 or (folder / ".fp32").exists():
        if stored == torch.float16:
            compute_in_float32(folder)
        return {"dtype": str(stored).removeprefix("torch.")}
    model = load_model(folder)
    before = heldout_loss(model, tokenizer, datasets, limit)
    half = load_model(folder).to(torch.float16).float()
    after = heldout_loss(half, tokenizer, datasets, limit)
    shift = max(abs(after[k] - before[k]) for k in before)
    info = {"fp32_heldout": before, "fp16_heldout": after, "max_shift_nats": shift}
    if shift < tolerance:
        load_model(folder).to(torch.float16).save_pretrained(str(folder))
        compute_in_float32(folder)
        info["dtype"] = "float16"
    else:
        (folder / ".fp32").touch()
        info["dtype"] = "float32"
    return info


def compute_in_float32(folder: Path) -> None:
    """Weights stored in float16 but config ``dtype`` float32: a plain ``from_pretrained`` on a
    CPU then computes in float32 (float16 there is several times slower, and greedy output can
    differ), while the files stay half the size."""
    path = folder / "config.json"
    config = json.loads(path.read_text())
    if config.get("dtype") != "float32":
        write_json_atomic(path, config | {"dtype": "float32"})


def evaluate_target(target, tokenizer, *, prompts: int = 100, max_new_tokens: int = 256) -> dict:
    """Greedy GSM8K test accuracy (exact match on the final number) and a few greedy samples."""
    from suite.acceptance import sample_continuations
    from suite.data import extract_answer, load_examples
    from suite.specs import DEFAULT_STOP, load_task

    spec = load_task("gsm8k")
    examples = load_examples(spec, "test", limit=prompts)
    ids = [tokenizer(ex.prompt, add_special_tokens=False).input_ids for ex in examples]
    out = sample_continuations(
        target,
        ids,
        temperature=0.0,
        max_new_tokens=max_new_tokens,
        seed=0,
        eos_token_id=tokenizer.eos_token_id,
    )
    texts = [tokenizer.decode(t, skip_special_tokens=True) for t in out.tokens]
    texts = [min((t.split(s)[0] for s in DEFAULT_STOP), key=len) for t in texts]
    correct = [extract_answer(spec, t) == ex.answer for t, ex in zip(texts, examples, strict=True)]
    samples = []
    for task in ("gsm8k", "alpaca"):
        for ex in load_examples(task, "test", limit=2):
            ids = tokenizer(ex.prompt, add_special_tokens=False).input_ids
            cont = sample_continuations(
                target,
                [ids],
                temperature=0.0,
                max_new_tokens=96,
                seed=0,
                eos_token_id=tokenizer.eos_token_id,
            )
            text = tokenizer.decode(cont.tokens[0], skip_special_tokens=True)
            samples.append({"task": task, "instruction": ex.instruction, "greedy": text})
    return {
        "gsm8k_test_accuracy": {
            "correct": sum(correct),
            "prompts": len(correct),
            "accuracy": sum(correct) / len(correct),
            "decoding": f"greedy, {max_new_tokens} new tokens, answer = last number",
        },
        "greedy_samples": samples,
    }


def greedy_quality_pair(target, draft, tokenizer, datasets: list[str], prompts: int = 48) -> dict:
    """Held-out greedy quality (token F1 with the reference, GSM8K accuracy) of the target and
    its base draft on the same prompts: how an aligned target is judged better than its draft
    (held-out loss on the references is not: alignment moves a model away from them)."""
    from suite.distill.align import greedy_quality

    return {
        "prompts_per_dataset": prompts,
        "target": greedy_quality(target, tokenizer, datasets, prompts, 128),
        "base_draft": greedy_quality(draft, tokenizer, datasets, prompts, 128),
    }
