"""The results store: one JSON line per finished cell, appended atomically, resumable.

``run.json`` says which studies and profile a folder holds, so a second run of the same command
resumes and a different one is refused. Each record is written with one ``write`` on an
``O_APPEND`` descriptor and fsynced; a line torn by a crash (no trailing newline) is cut away on
the next open, so a killed run loses at most the cell it was writing and never leaves a corrupt or
duplicated line. Timing fields live under ``"timing"`` so the rest of a record is reproducible.
Lines are read one at a time, each at most 16 MiB; a key on two lines must hold the same record
on both (an exact duplicate is read once), else the file contradicts itself and is refused.

The store writes and reads :class:`suite.records.ResultRecord`, in the layout of
:mod:`suite.record_json`: it is the one place that turns records into JSON and back. A line that
is not a record is refused naming the file, the line, the field and the value.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from suite.errors import SpecError, control_character
from suite.io import check_out_folder, clean
from suite.io import write_text_atomic as write_atomic
from suite.record_json import RecordError, StoredRecord, as_record, record_from_json, record_to_json
from suite.record_read import read_cell
from suite.records import ResultRecord
from suite.strict import MAX_CONFIG_BYTES, FieldError, loads_json, read_json
from suite.studies import Cell

RUN_FILE = "run.json"
OWN_FILES = frozenset({".lock", "submission.json"})  # what a run may find before its header
MAX_HOLDER_BYTES = 256  # what a lock file names of its holder: "pid N on HOST"
LOCK_FILE = ".lock"
CELLS_FILE = "cells.jsonl"
# Files a results folder never holds: a run given such a folder would write into a submission
# or a model.
FOREIGN_FILES = ("submission.yaml", "config.json")


def _placeholder(entry: os.DirEntry) -> bool:
    """An empty hidden file (``.gitkeep``): a folder holding only such is an empty one."""
    return (
        entry.name.startswith(".")
        and entry.is_file(follow_symlinks=False)
        and entry.stat(follow_symlinks=False).st_size == 0
    )


def _present(path: Path) -> bool:
    return path.exists() or path.is_symlink()


TIMING = "timing"
MAX_RUN_BYTES = 16 << 20
MAX_CELLS_BYTES = 512 << 20  # 100,000 cells of ~5 KiB each
MAX_LINE_BYTES = MAX_CONFIG_BYTES  # one record: as large as any JSON file the suite reads, 16 MiB
# Separators ({, [ and ,) in one line, counted before it is parsed: a record of 100,000 prompts
# holds about a million; a line of empty objects would cost ~45 bytes of memory per byte.
MAX_LINE_VALUES = 2_000_000
# Per-prompt results of a whole folder (the full profile's run holds 857,172): each costs a
# report about 1 to 2 KB of memory (0.9 GB for 500,000, 5.2 GB for 4.9 million, measured).
MAX_FOLDER_PROMPTS = 2_000_000
# Lines of cells.jsonl, blank ones included: a run writes one per cell (the full profile plans
# 5,217), and a reader parses each in turn (about 1.5 ms a record: 30 s at the cap).
MAX_CELLS_LINES = 20_000


def dumps(record: dict) -> str:
    return json.dumps(clean(record), sort_keys=True, ensure_ascii=False, allow_nan=False)


def without_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != TIMING}


def remove_empty(folder: Path, created: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``created`` (the outermost a command made; None:
    it made none) where each is empty: anything else there stays."""
    if created is None:
        return
    for path in (folder, *folder.parents):
        try:
            path.rmdir()
        except OSError:
            return
        if path == created:
            return


class ResultsStore:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.cells_path = self.folder / CELLS_FILE
        self.run_path = self.folder / RUN_FILE

    def check(
        self,
        header: dict,
        screen: Callable[[Cell], None] | None = None,
        *,
        submitting: bool = True,
    ) -> None:
        """Refuse a folder that holds another run's results; writes nothing. ``screen`` sees
        each record's cell (:meth:`cells`) before any record is read whole, to refuse a cell its
        run does not plan at the first one. A new folder may hold ``submission.json`` only for
        ``submitting`` (submit writes it before the run's header; for another run it is a
        stray the report would hold against every record)."""
        own = OWN_FILES if submitting else OWN_FILES - {"submission.json"}
        check_out_folder(self.folder, "out")  # a file at it, or on its way, is named
        if any(_present(self.folder / name) for name in FOREIGN_FILES):
            message = "a submission or model folder, not a results folder; choose another --out"
            raise SpecError(self.folder, "out", str(self.folder), message)
        if self.run_path.exists() or self.run_path.is_symlink():
            held = self.header()
            for field in ("studies", "profile"):
                if held.get(field) != header[field]:
                    raise SpecError(
                        self.run_path,
                        field,
                        held.get(field),
                        f"this folder holds the results of another run (asked for "
                        f"{header[field]!r}); choose another --out",
                    )
            if screen is not None:
                self.cells(screen)
            self.load(writing=True)  # every line read before the lock is taken or anything written
        elif self.cells_path.exists() or self.cells_path.is_symlink():
            raise SpecError(self.cells_path, "out", str(self.folder), f"{RUN_FILE} is missing")
        elif self.folder.is_dir():  # a new run writes into a new or empty folder, not beside files
            with os.scandir(self.folder) as entries:
                other = sorted(
                    e.name
                    for e in entries
                    if not (e.name in own and e.is_file(follow_symlinks=False))
                    and not _placeholder(e)
                )
            if other:
                message = (
                    f"holds {other[0]!r} and no {RUN_FILE}: not a results folder; choose an empty "
                    "or new --out"
                )
                raise SpecError(self.folder, "out", str(self.folder), message)

    @contextlib.contextmanager
    def lock(self):
        """Hold the folder for one run: a second runner on it is refused, naming the holder.
        An OS lock (flock), so a killed runner releases it with its process."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_FILE
        fd = _open_regular(path, os.O_RDWR | os.O_CREAT)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # the holder's text is the folder's, not ours: read a bounded prefix of it
                held = os.pread(fd, MAX_HOLDER_BYTES, 0).decode("utf-8", "replace").strip()
                message = "another run holds this results folder; wait for it to end"
                raise SpecError(path, "holder", held or "another process", message) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def drop(self, keys: set[str]) -> None:
        """Rewrite the file without the records of ``keys`` (stale ones, to be recomputed)."""
        records = self.load()
        kept = "".join(dumps(record_to_json(r)) + "\n" for k, r in records.items() if k not in keys)
        write_atomic(self.cells_path, kept)

    def open(self, header: dict) -> dict[str, dict]:
        """Create the folder, (re)write the header, repair a torn tail; return finished records."""
        self.check(header)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.run_path, json.dumps(header, indent=2, sort_keys=True) + "\n")
        return self.load(repair=True)

    def header(self) -> dict:
        """The run header: a JSON object (a regular file, not a link), else a SpecError."""
        held = read_json(self.run_path, "run header", MAX_RUN_BYTES, nofollow=True)
        if not isinstance(held, dict):
            raise SpecError(
                self.run_path, "(document)", held, "the run header must be a JSON object"
            )
        _check_header(self.run_path, held)
        return held

    def load(self, *, repair: bool = False, writing: bool = False) -> dict[str, StoredRecord]:
        """Finished records by cell key, in file order. A key twice must hold the same record
        (it is read once); two different records of one key are refused, naming both lines.
        A file with other names (a hard link) is read (a snapshot made with ``cp -al``), but not
        for a run that will append to it (``writing``, ``repair``)."""
        if not (self.cells_path.exists() or self.cells_path.is_symlink()):
            return {}
        records: dict[str, StoredRecord] = {}
        first_line: dict[str, int] = {}
        prompts = 0
        read: set[bytes] = set()
        for number, line in _complete_lines(self.cells_path, repair, writing=writing or repair):
            if not line.strip():
                continue
            digest = hashlib.blake2b(line, digest_size=16).digest()
            if digest in read:  # the very line read before: its record, read once, not parsed
                continue
            read.add(digest)
            record = self._record(number, line)
            prompts += len(record.result.prompts)
            if prompts > MAX_FOLDER_PROMPTS:  # what a report holds in memory, bounded
                message = f"over {MAX_FOLDER_PROMPTS:,} prompt results in one folder; refused"
                raise SpecError(self.cells_path, f"line {number}", record.key, message)
            if record.key not in records:
                records[record.key], first_line[record.key] = record, number
            elif _canonical(record) != _canonical(records[record.key]):
                message = (
                    f"line {first_line[record.key]} holds another record of this key: a results "
                    "folder holds one record per cell"
                )
                raise SpecError(self.cells_path, f"line {number}: key", record.key, message)
        return records

    def cells(self, screen: Callable[[Cell], None] | None = None) -> dict[str, Cell]:
        """Each finished line's cell by key, in file order, read without the rest of its record
        (no interval is restated): what a reader holds to its plan before it reads records
        whole, so that a folder of heavy records of no planned cell is refused in the time it
        takes to parse. ``screen`` sees each new cell as it is read, so the first it refuses
        ends the reading. A key twice is left to :meth:`load` to judge."""
        if not (self.cells_path.exists() or self.cells_path.is_symlink()):
            return {}
        cells: dict[str, Cell] = {}
        read: set[bytes] = set()
        for number, line in _complete_lines(self.cells_path, False, writing=False):
            digest = hashlib.blake2b(line, digest_size=16).digest()
            if not line.strip() or digest in read:
                continue
            read.add(digest)
            cell = self._record(number, line, read_cell)
            if cell.key not in cells and screen is not None:
                screen(cell)
            cells.setdefault(cell.key, cell)
            if len(cells) > MAX_FOLDER_PROMPTS:  # each cell scores a prompt at least
                message = f"over {MAX_FOLDER_PROMPTS:,} prompt results in one folder; refused"
                raise SpecError(self.cells_path, f"line {number}", cell.key, message)
        return cells

    def _record(self, number: int, line: bytes, read=record_from_json):
        """One line's record (or what ``read`` takes of its JSON); a SpecError names the file,
        the line, the field and the value."""
        values = _values(line)
        if values > MAX_LINE_VALUES:
            message = f"over {MAX_LINE_VALUES:,} JSON values in one line: no record holds that many"
            raise SpecError(self.cells_path, f"line {number}", line[:80], message)
        try:
            return read(loads_json(line))
        except (RecordError, FieldError) as err:
            field = f"line {number}: {err.field}"
            raise SpecError(self.cells_path, field, err.value, err.message) from None
        except ValueError as err:  # malformed JSON, or a value no record can hold
            raise SpecError(self.cells_path, f"line {number}", line[:80], str(err)) from None

    def append(self, record: ResultRecord | dict) -> None:
        """Append one record (a JSON mapping is read into one first: only records are written)."""
        record = as_record(record)
        line = (dumps(record_to_json(record)) + "\n").encode("utf-8")
        values = _values(line)
        if len(line) > MAX_LINE_BYTES or values > MAX_LINE_VALUES:  # the reader would refuse it
            message = (
                f"its record is {len(line):,} bytes of {values:,} JSON values; a record is at "
                f"most {MAX_LINE_BYTES:,} bytes and {MAX_LINE_VALUES:,} values (fewer prompts, "
                "a smaller K or shorter example ids)"
            )
            raise SpecError(self.cells_path, "key", record.key, message)
        try:  # what is written reads back: a run never leaves a line its own reader refuses
            record_from_json(loads_json(line))
        except (RecordError, FieldError) as err:
            message = f"would not read back: {err.field} = {err.value!r:.80}: {err.message}"
            raise SpecError(self.cells_path, "key", record.key, message) from None
        fd = _open_regular(self.cells_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    def absent_files(self) -> set[str]:
        """The run's own files (header, lock) not yet in the folder: what a run made, that
        :meth:`discard` may remove if it fails before its first record."""
        return {name for name in (RUN_FILE, LOCK_FILE) if not _present(self.folder / name)}

    def discard(self, created: Path | None, files: set[str]) -> None:
        """After a failed run that wrote no record, under its lock: remove the header and lock
        it made (``files``, from :meth:`absent_files`), and the folder with the parents it made
        (``created``: the outermost) where they are empty; never a file it did not write."""
        if self.cells_path.exists() or self.cells_path.is_symlink():
            return
        for name in sorted(files & {RUN_FILE, LOCK_FILE}):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()
        remove_empty(self.folder, created)

    def finalize(self, order: list[str]) -> None:
        """Rewrite the file in plan order, so equal runs give equal files (timing aside)."""
        records = self.load()
        rank = {key: i for i, key in enumerate(order)}
        keys = sorted(records, key=lambda k: (rank.get(k, len(rank)), k))
        lines = "".join(dumps(record_to_json(records[k])) + "\n" for k in keys)
        write_atomic(self.cells_path, lines)


def _values(line: bytes) -> int:
    """Separators ({, [ and ,) in a line: what its JSON values cost to parse, counted first."""
    return line.count(b"{") + line.count(b"[") + line.count(b",")


def _canonical(record: StoredRecord) -> str:
    return dumps(record_to_json(record))


def _complete_lines(path: Path, repair: bool, *, writing: bool) -> Iterator[tuple[int, bytes]]:
    """Each line that ends in a newline, numbered from 1, read one at a time: a line over
    MAX_LINE_BYTES is refused before more of it is read. A last line without a newline was torn
    by a crash: it is skipped, and with ``repair`` cut away once every line before it was read."""
    fd = _open_regular(path, os.O_RDONLY, linked=not writing)
    with os.fdopen(fd, "rb") as fh:
        if os.fstat(fh.fileno()).st_size > MAX_CELLS_BYTES:
            raise SpecError(path, None, None, f"{CELLS_FILE} is over {MAX_CELLS_BYTES} bytes")
        number = end = 0
        while line := fh.readline(MAX_LINE_BYTES + 1):
            number += 1
            if number > MAX_CELLS_LINES:
                message = f"over {MAX_CELLS_LINES:,} lines: a run writes one line per cell"
                raise SpecError(path, f"line {number}", None, message)
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                message = f"a line of over {MAX_LINE_BYTES:,} bytes: no record is that long"
                raise SpecError(path, f"line {number}", line[:80], message)
            if not line.endswith(b"\n"):
                break  # a torn last line
            end += len(line)
            if end > MAX_CELLS_BYTES:  # the file grew while it was read
                raise SpecError(path, None, None, f"{CELLS_FILE} is over {MAX_CELLS_BYTES} bytes")
            yield number, line
        torn = fh.tell() > end
    if torn and repair:
        fd = _open_regular(path, os.O_RDWR)
        try:
            os.ftruncate(fd, end)
            os.fsync(fd)
        finally:
            os.close(fd)


def _names(value: Any) -> bool:
    """Cell keys: each a line of plain text no longer than a record's key can be, each once."""
    return (
        isinstance(value, list)
        and all(
            isinstance(v, str) and 0 < len(v) <= 4096 and control_character(v, "") is None
            for v in value
        )
        and len(set(value)) == len(value)  # a run lists each once: 320,000 copies took 555 MB
    )


MAX_CLAIM = 1_000  # a claim's number (the paper's are 1 to 10)


def _claim_numbers(value: Any) -> bool:
    return (
        isinstance(value, list)
        and all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_CLAIM for v in value
        )
        and len(set(value)) == len(value)
    )


NAME_RULE = "a file's stem: printable, at most 255 characters, no '/' or '\\', not '.' or '..'"


def _safe(value: Any) -> bool:
    """A study's or profile's name as a run writes it: its file's stem, never a path."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 255
        and value.isprintable()
        and not any(c in value for c in "/\\")
        and value not in (".", "..")
    )


# the header's fields a report reads, each with its check and what it expects
_HEADER_FIELDS = {
    "studies": (
        lambda v: isinstance(v, list) and all(_safe(n) for n in v) and len(set(v)) == len(v),
        f"expected a list of study names, none twice ({NAME_RULE})",
    ),
    "profile": (_safe, f"expected a profile name ({NAME_RULE})"),
    "study_titles": (
        lambda v: isinstance(v, str) and len(v) <= 4096 and control_character(v, "") is None,
        "expected a title: one line of at most 4,096 characters, no control character",
    ),
    "study_cells": (_names, "expected a list of cell keys, each once and one line of plain text"),
    "study_claims": (
        _claim_numbers,
        f"expected a list of claim numbers from 1 to {MAX_CLAIM}, none twice",
    ),
}


def _check_header(path: Path, held: dict) -> None:
    """Every field a report reads has the type a run writes: a SpecError names the first that
    does not (``study_*`` are mappings of study name to the value). A run states its studies
    (one at least) and its profile, and no field but these."""
    for field in held:
        if field not in _HEADER_FIELDS:
            message = f"not a field a run writes; known: {', '.join(_HEADER_FIELDS)}"
            raise SpecError(path, str(field)[:64], "...", message)
    for field in ("studies", "profile"):
        if field not in held:
            raise SpecError(path, field, None, "a run states it")
    if held["studies"] == []:
        raise SpecError(path, "studies", [], "a run runs one study at least")
    for field, (check, expected) in _HEADER_FIELDS.items():
        if field not in held:
            continue
        value = held[field]
        if not field.startswith("study_"):
            if not check(value):
                raise SpecError(path, field, value, expected)
            continue
        if not isinstance(value, dict):
            raise SpecError(path, field, value, "expected a mapping of study names")
        for name, item in value.items():
            if not _safe(name):
                raise SpecError(path, field, name, f"expected study names ({NAME_RULE})")
            if not check(item):
                raise SpecError(path, f"{field}.{name}", item, expected)
    studies = set(held.get("studies") or ())
    for field in ("study_cells", "study_claims", "study_titles"):
        for name in held.get(field) or {}:  # a run states these of its own studies only
            if name not in studies:
                message = "a study the header's 'studies' does not name"
                raise SpecError(path, f"{field}.{name}", name, message)


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _open_regular(path: Path, flags: int, *, linked: bool = False) -> int:
    """A descriptor on a regular file that is not a link: a results folder is not trusted, and a
    link planted in it must not make the store truncate or append to a file elsewhere."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            target = os.readlink(path) if path.is_symlink() else None
            raise SpecError(path, path.name, target, "is a symbolic link; refused") from None
        raise SpecError(path, path.name, None, f"cannot be opened: {e.strerror}; refused") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        message = (
            f"is {kind}, not a regular file: a results folder holds plain files only; "
            f"remove it (or use another folder)"
        )
        raise SpecError(path, path.name, kind, message)
    try:
        if not linked:  # ``linked``: a reader that writes nothing through it may share the file
            _refuse_hard_link(path, st)
    except SpecError:
        os.close(fd)
        raise
    return fd


def _refuse_hard_link(path: Path, st: os.stat_result) -> None:
    """A file of a results folder with another name elsewhere (a hard link) is refused: appending
    to it or cutting its tail would change a file outside the folder."""
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        message = f"has {st.st_nlink} hard links: it may be a file outside the folder; refused"
        raise SpecError(path, path.name, st.st_nlink, message)
