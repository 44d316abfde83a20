"""Task specs: one YAML file per dataset, validated into frozen dataclasses.

A task is data, not code (as in lm-evaluation-harness): adding a dataset means adding a YAML file
to ``tasks/``. Every bad input raises :class:`SpecError` naming the file, the field and the value.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from suite.errors import SpecError
from suite.paths import TASKS_DIR
from suite.reader import (  # noqa: F401 (the readers' names, long imported from here)
    MAX_DRAFT_TOKENS,
    MAX_NEW_TOKENS,
    MAX_SEEDS,
    MAX_SIZE,
    MAX_SPEC_FILES,
    MIN_TEMPERATURE,
    SAFE_NAME,
    SAFE_NAME_RULE,
    Reader,
    compile_template,
)
from suite.sandbox import regex_problem
from suite.strict import (
    MAX_YAML_BYTES,
    decode,
    parse_yaml,
    read_bytes,
    read_yaml,
)

INSTRUCTION_FORMAT = "### Instruction:\n{instruction}\n\n### Response:\n"
DEFAULT_STOP = ("### Instruction",)
DEFAULT_MAX_NEW_TOKENS = 256
FORMATS = ("json", "jsonl", "jsonl.gz", "xml")
NORMALIZERS = ("text", "number")
SELECTS = ("first", "last")


def format_prompt(instruction: str) -> str:
    """The one instruction format of the suite: training, KD and decoding all see the same text."""
    return INSTRUCTION_FORMAT.format(instruction=instruction)


def format_training_text(instruction: str, response: str) -> str:
    """Prompt plus response; the tokenizer side appends EOS so the model learns where to stop."""
    return format_prompt(instruction) + response


@dataclass(frozen=True)
class HubSource:
    """Where the dataset lives on the Hugging Face Hub: provenance, shown to users. The suite reads
    the split's pinned files (a data folder, or its data cache filled from the data sources), never
    an unpinned Hub copy, whose records could differ from the files' (Alpaca's 52k set is not the
    5,000-record subset)."""

    path: str
    config: str | None = None


@dataclass(frozen=True)
class Source:
    format: str
    hub: HubSource | None = None
    record_tag: str | None = None  # XML only: the element that holds one record


@dataclass(frozen=True)
class Split:
    """Files of one split, optionally narrowed by a stable hash range or by a list of IDs."""

    name: str
    files: tuple[str, ...]
    hub_split: str
    hash_range: tuple[float, float] | None = None
    id_field: str | None = None
    id_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnswerPattern:
    regex: str
    select: str = "first"  # which match when the regex matches several times


@dataclass(frozen=True)
class AnswerSpec:
    """How to pull a comparable answer out of a reference or of a model's generation."""

    template: str
    patterns: tuple[AnswerPattern, ...]
    normalize: str = "text"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    license: str
    source: Source
    splits: tuple[Split, ...]
    instruction_template: str
    path: Path
    reference_template: str | None = None
    id_template: str | None = None
    answer: AnswerSpec | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    stop: tuple[str, ...] = DEFAULT_STOP
    sha256: str | None = None  # of the file as read: a record names the spec it was made with

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.splits)

    def split(self, name: str) -> Split:
        for s in self.splits:
            if s.name == name:
                return s
        known = ", ".join(self.split_names)
        raise SpecError(self.path, "splits", name, f"unknown split; known: {known}")


def _read_source(r: Reader, raw: Any) -> Source:
    d = r.mapping(raw, "source", {"format"}, {"hub", "record_tag"})
    fmt = r.choice(d["format"], "source.format", FORMATS)
    hub = None
    if "hub" in d:
        h = r.mapping(d["hub"], "source.hub", {"path"}, {"config"})
        config = h.get("config")
        hub = HubSource(
            path=r.string(h["path"], "source.hub.path"),
            config=None if config is None else r.string(config, "source.hub.config"),
        )
    record_tag = None
    if "record_tag" in d:
        record_tag = r.string(d["record_tag"], "source.record_tag")
    if fmt == "xml" and record_tag is None:
        raise r.error("source.record_tag", None, "required when source.format is 'xml'")
    if fmt != "xml" and record_tag is not None:
        raise r.error("source.record_tag", record_tag, "only valid when source.format is 'xml'")
    return Source(format=fmt, hub=hub, record_tag=record_tag)


def _read_hash_range(r: Reader, value: Any, field: str) -> tuple[float, float]:
    ok = isinstance(value, list) and len(value) == 2
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if not ok or not 0.0 <= value[0] < value[1] <= 1.0:
        raise r.error(field, value, "expected [low, high] with 0 <= low < high <= 1")
    return (float(value[0]), float(value[1]))


MAX_ANSWER_PATTERNS = 32  # answer patterns of one spec: the bundled ones list at most 4
MAX_SPLITS = 16  # splits in one spec: each is read (and hashed) in full; the bundled have 2
MAX_SPLIT_FILES = 64  # data (or id) files in one split: the bundled list at most 5


MAX_SPECS_BYTES = 16 << 20  # a task folder's specs together (the bundled: 20 KiB): parse time
MAX_STOP_STRINGS = 16  # each is searched for in the decoded text after every step: bundled 1
MAX_STOP_CHARS = 256  # one stop string's length (the bundled one is 13 characters)


def _stop_strings(r: Reader, value: Any) -> tuple[str, ...]:
    """``generation.stop``: at most MAX_STOP_STRINGS strings of at most MAX_STOP_CHARS each, as
    every generated token costs a search for each in the text so far."""
    if isinstance(value, list) and len(value) > MAX_STOP_STRINGS:
        message = f"lists {len(value):,}; a spec has at most {MAX_STOP_STRINGS} stop strings"
        raise r.error("generation.stop", value, message)
    stop = r.strings(value, "generation.stop", blank=True)
    for i, text in enumerate(stop):
        if len(text) > MAX_STOP_CHARS:
            message = f"{len(text):,} characters; a stop string is at most {MAX_STOP_CHARS}"
            raise r.error(f"generation.stop[{i}]", text, message)
    return stop


def _data_files(r: Reader, value: Any, field: str) -> tuple[str, ...]:
    """A split's file list: at most MAX_SPLIT_FILES paths, each listed once (``datasets`` reads
    and caches a file once per listing, so a repeated file multiplies time, memory and disk)."""
    if isinstance(value, list) and len(value) > MAX_SPLIT_FILES:
        message = f"lists {len(value):,} files; a split lists at most {MAX_SPLIT_FILES}"
        raise r.error(field, value, message)
    paths = r.relative_paths(value, field)
    seen: dict[PurePosixPath, int] = {}
    for i, p in enumerate(paths):
        key = PurePosixPath(p.replace("\\", "/"))  # 'a//b', 'a/./b' and 'a\\b' are 'a/b'
        if key in seen:
            message = f"lists the file of {field}[{seen[key]}] again; list each file once"
            raise r.error(f"{field}[{i}]", p, message)
        seen[key] = i
    return paths


def _read_splits(r: Reader, raw: Any) -> tuple[Split, ...]:
    if not isinstance(raw, dict) or not raw:
        raise r.error("splits", raw, "expected a non-empty mapping of split name to split")
    if len(raw) > MAX_SPLITS:
        message = f"has {len(raw):,} splits; a spec has at most {MAX_SPLITS}"
        raise r.error("splits", list(raw), message)
    splits = []
    for name, body in raw.items():
        field = f"splits.{name}"
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", name):
            raise r.error(field, name, "split names are 1 to 128 letters, digits, '_' and '-'")
        d = r.mapping(body, field, {"files"}, {"hub_split", "hash_range", "id_field", "id_files"})
        id_field = None
        id_files: tuple[str, ...] = ()
        if ("id_field" in d) != ("id_files" in d):
            missing = "id_files" if "id_field" in d else "id_field"
            raise r.error(f"{field}.{missing}", None, "id_field and id_files go together")
        if "id_field" in d:
            id_field = r.string(d["id_field"], f"{field}.id_field")
            id_files = _data_files(r, d["id_files"], f"{field}.id_files")
        hash_range = None
        if "hash_range" in d:
            hash_range = _read_hash_range(r, d["hash_range"], f"{field}.hash_range")
        hub_split = name
        if "hub_split" in d:
            hub_split = r.string(d["hub_split"], f"{field}.hub_split")
        files = _data_files(r, d["files"], f"{field}.files")
        splits.append(Split(name, files, hub_split, hash_range, id_field, id_files))
    return tuple(splits)


def _read_answer(r: Reader, raw: Any) -> AnswerSpec:
    d = r.mapping(raw, "answer", {"template", "patterns"}, {"normalize"})
    if not isinstance(d["patterns"], list) or not d["patterns"]:
        raise r.error("answer.patterns", d["patterns"], "expected a non-empty list")
    if len(d["patterns"]) > MAX_ANSWER_PATTERNS:  # each is tried on every answer
        message = f"lists {len(d['patterns']):,}; a spec has at most {MAX_ANSWER_PATTERNS}"
        raise r.error("answer.patterns", f"{len(d['patterns']):,} patterns", message)
    patterns = []
    for i, p in enumerate(d["patterns"]):
        field = f"answer.patterns[{i}]"
        p = r.mapping(p, field, {"regex"}, {"select"})
        regex = r.string(p["regex"], f"{field}.regex")
        try:
            problem, compiled = regex_problem(regex), re.compile(regex)
        except re.error as e:
            raise r.error(f"{field}.regex", regex, f"bad regular expression: {e}") from None
        if problem:
            raise r.error(f"{field}.regex", regex, problem)
        if compiled.groups > 1:
            raise r.error(f"{field}.regex", regex, "at most one capture group (the answer)")
        select = r.choice(p.get("select", "first"), f"{field}.select", SELECTS)
        patterns.append(AnswerPattern(regex, select))
    return AnswerSpec(
        template=r.template(d["template"], "answer.template"),
        patterns=tuple(patterns),
        normalize=r.choice(d.get("normalize", "text"), "answer.normalize", NORMALIZERS),
    )


_UNREAD = object()
_TOP_REQUIRED = {"name", "description", "license", "source", "splits", "instruction"}
_TOP_OPTIONAL = {"id", "reference", "answer", "generation"}


def read_named(
    path: Path, what: str, required: set[str], optional: set[str], raw: Any = _UNREAD
) -> tuple[Reader, dict, str]:
    """A spec file's top-level mapping (``raw``, else read) and its ``name``, which must be the
    file's stem."""
    if raw is _UNREAD:
        raw = read_yaml(path, what, nofollow=True)  # a link could print a file outside the folder
    r = Reader(path)
    if not isinstance(raw, dict):
        raise r.error(None, raw, "expected a YAML mapping at the top level")
    d = r.mapping(raw, "", required, optional)
    name = r.string(d["name"], "name")
    if not SAFE_NAME.fullmatch(name):  # a name becomes a cell key's part and a results folder
        raise r.error("name", name, f"a name is {SAFE_NAME_RULE}")
    if name != path.stem:
        raise r.error("name", name, f"must match the file name '{path.stem}'")
    return r, d, name


def load_spec(path: str | Path) -> TaskSpec:
    """Parse and validate one task file; data files are checked when examples are loaded."""
    path = Path(path)
    data = read_bytes(path, "task spec", MAX_YAML_BYTES, nofollow=True)  # a link: refused
    raw = parse_yaml(decode(data, path, "task spec"), path)
    r, d, name = read_named(path, "task spec", _TOP_REQUIRED, _TOP_OPTIONAL, raw)
    max_new_tokens, stop = DEFAULT_MAX_NEW_TOKENS, DEFAULT_STOP
    if "generation" in d:
        g = r.mapping(d["generation"], "generation", set(), {"max_new_tokens", "stop"})
        if "max_new_tokens" in g:
            max_new_tokens = r.positive_int(
                g["max_new_tokens"], "generation.max_new_tokens", MAX_NEW_TOKENS
            )
        if "stop" in g:
            extra = _stop_strings(r, g["stop"])
            stop = tuple(dict.fromkeys(DEFAULT_STOP + extra))
    optional_templates = {}
    for key in ("id", "reference"):
        if key in d:
            optional_templates[key] = r.template(d[key], key)
    return TaskSpec(
        name=name,
        description=r.string(d["description"], "description"),
        license=r.string(d["license"], "license"),
        source=_read_source(r, d["source"]),
        splits=_read_splits(r, d["splits"]),
        instruction_template=r.template(d["instruction"], "instruction"),
        path=path,
        reference_template=optional_templates.get("reference"),
        id_template=optional_templates.get("id"),
        answer=_read_answer(r, d["answer"]) if "answer" in d else None,
        max_new_tokens=max_new_tokens,
        stop=stop,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def tasks_dir(folder: str | Path | None = None) -> Path:
    """The folder argument, else ``$SUITE_TASKS_DIR``, else the repository's ``tasks/``."""
    if folder is not None:
        return Path(folder)
    env = os.environ.get("SUITE_TASKS_DIR")
    return Path(env) if env else TASKS_DIR


def load_specs(folder: str | Path | None = None) -> dict[str, TaskSpec]:
    """Every task spec in a folder (``*.yaml``/``*.yml``, not recursive), keyed by name."""
    folder = tasks_dir(folder)
    if not folder.is_dir():
        raise SpecError(folder, "tasks_dir", str(folder), "task folder not found")
    files, size = [], 0
    with os.scandir(folder) as entries:  # counted and sized before any is parsed
        for entry in entries:
            if entry.name.endswith((".yaml", ".yml")):
                files.append(folder / entry.name)
                if len(files) > MAX_SPEC_FILES:
                    message = f"more than {MAX_SPEC_FILES:,} task specs (*.yaml, *.yml); refused"
                    raise SpecError(folder, "tasks_dir", str(folder), message)
                with contextlib.suppress(OSError):  # a file that cannot be read is named below
                    size += entry.stat(follow_symlinks=False).st_size
                if size > MAX_SPECS_BYTES:
                    message = f"its task specs hold over {MAX_SPECS_BYTES:,} bytes; refused"
                    raise SpecError(folder, "tasks_dir", str(folder), message)
    files.sort()
    specs: dict[str, TaskSpec] = {}
    for path in files:
        spec = _cached_spec(path)
        if spec.name in specs:
            other = specs[spec.name].path.name
            raise SpecError(path, "name", spec.name, f"duplicate task name (also in {other})")
        specs[spec.name] = spec
    return specs


_SPEC_CACHE: dict[Path, tuple[tuple, TaskSpec]] = {}


def _cached_spec(path: Path) -> TaskSpec:
    """:func:`load_spec`, parsed once per process while the file is unchanged (its inode, size
    and times): a run asks for its tasks once per cell, and a spec may be a megabyte."""
    try:
        st = path.lstat()
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
    except OSError:
        return load_spec(path)  # names the file and why it cannot be read
    held = _SPEC_CACHE.get(path)
    if held is not None and held[0] == stamp:
        return held[1]
    spec = load_spec(path)
    _SPEC_CACHE[path] = (stamp, spec)
    return spec


def load_task(name: str, folder: str | Path | None = None) -> TaskSpec:
    """One task by name; an unknown name lists the known ones, so a typo is easy to fix."""
    specs = load_specs(folder)
    if name not in specs:
        known = ", ".join(sorted(specs)) or "(none)"
        raise SpecError(tasks_dir(folder), "task", name, f"unknown task; known: {known}")
    return specs[name]
