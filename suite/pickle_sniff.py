"""Whether a file is a pickle, read by its bytes, never run.

Protocols 2 to 5 start with a PROTO header; a ``torch.save`` archive is a zip holding a
``.pkl`` (listed by zipfile and by torch's own reader), a legacy one an uncompressed tar, and
numpy's ``.npy``/``.npz`` pickle object arrays. Protocols 0 and 1 have no header, so their
bytes are read twice: as opcodes (the stack simulated as :func:`pickletools.dis` does, the
arguments as the C unpickler reads them), then by CPython's own unpicklers, C and pure Python,
in one child process per folder whose every import stops them before it happens
(:func:`_unpickler_verdicts`), so that what they would run is named by them. Used for every
file of a submission and of a model folder the suite loads, whatever its name.
"""

from __future__ import annotations

import _compat_pickle
import functools
import importlib.util
import io
import json
import os
import pickletools
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

# Protocols 0 and 1 are read as far as needed: a first string longer than the part read would
# hide the rest, so the part grows while the opcodes so far are valid and the file goes on.
SNIFF_BYTES = (1 << 16, 1 << 20, 1 << 24, 1 << 26)
MAX_SNIFF_OPCODES = 1_000_000  # valid opcodes in a row: no other file reads as that many
MAX_ARCHIVE_MEMBERS = 4_096  # torch's tar holds three, its zip a few per tensor: more is odd


def is_pickle(path: Path) -> bool:
    """A pickle of any protocol or a torch.save zip, whatever the file is called; a file whose
    first 64 MiB are valid pickle opcodes that have not ended counts as one."""
    return bool(pickles([path]))


class SniffTooSlow(Exception):
    """The unpicklers' reading of a folder's files ran past MAX_PROBE_TOTAL_SECONDS."""

    def __init__(self, path: Path):
        super().__init__(f"reading the files as possible pickles took over "
                         f"{MAX_PROBE_TOTAL_SECONDS} s (at {path.name})")  # fmt: skip
        self.path = path


def pickles(paths: list[Path]) -> list[Path]:
    """The files of ``paths`` that are pickles (:func:`is_pickle`), in order: each read by its
    bytes first (:func:`_first_reading`), then those that reading leaves open by the
    unpicklers, all in one child process (:func:`_unpickler_verdicts`). SniffTooSlow where that
    runs past MAX_PROBE_TOTAL_SECONDS."""
    deadline = time.monotonic() + MAX_PROBE_TOTAL_SECONDS
    verdicts = {path: _first_reading(path, deadline) for path in paths}
    open_ = [path for path, verdict in verdicts.items() if verdict is None]
    verdicts.update(zip(open_, _unpickler_verdicts(open_, deadline), strict=True))
    return [path for path in paths if verdicts[path]]


def _first_reading(path: Path, deadline: float | None = None) -> bool | None:
    """True or False by the file's bytes; None where the unpicklers must read it. SniffTooSlow
    past ``deadline``."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES[0])
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if _is_tar(path) and _tar_holds_pickle(path):  # torch's legacy tar: storages, tensors, ...
        return True  # (a tar whose first member's name is a pickle is read on as one below)
    if head[:6] == b"\x93NUMPY":
        with path.open("rb") as fh:
            return _npy_holds_objects(fh)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # numpy opens both as an .npz
        return _zip_holds_pickle(path, head)
    for size in SNIFF_BYTES:
        if size > len(head):
            with path.open("rb") as fh:
                head = fh.read(size)
        try:
            verdict = _parses_as_pickle(head, path.parent, deadline)
        except _Late:
            raise SniffTooSlow(path) from None
        if verdict is not None or len(head) < size:  # decided, or the file ends before STOP
            break
    else:
        return True
    if verdict:
        return True
    if not head or head[:1].decode("latin-1") not in pickletools.code2op:
        return False  # the unpickler stops at the first byte
    return None


# CPython's unpicklers, C then pure Python (joblib's), run on the file in a child process: every
# import raises before it happens
# (``find_class`` is the only way the unpickler reaches code: REDUCE, BUILD, OBJ and the rest
# call only what it returned; an extension code goes through it too), persistent ids load as
# None. Each prints a line: what it asked for first, or "data" where a load returns a container
# or memoizes, or "constants" where each of the pickles one after another (up to
# MAX_PROBE_LOADS, torch's legacy format writes five) holds constants only, "exhausted" where it
# ran out of memory, or "error". Counts past the file's end read what is there.
_PROBE = r"""
import gc, json, os, pickle, resource, signal, struct, sys
_, hard = resource.getrlimit(resource.RLIMIT_AS)
limit = int(sys.argv[1]) if hard == resource.RLIM_INFINITY else min(int(sys.argv[1]), hard)
resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
LOADS, SECONDS = int(sys.argv[2]), float(sys.argv[3])
class Asked(Exception):
    pass
class Late(BaseException):
    pass
def late(signum, frame):
    raise Late
signal.signal(signal.SIGALRM, late)
class Bounded:
    # The file, read as it is: a count past its end reads what is there (the load fails as
    # truncated, as it would anywhere) instead of allocating the count first.
    def __init__(self, fh):
        self.fh, self.size = fh, os.fstat(fh.fileno()).st_size
    def left(self):
        return self.size - self.fh.tell()
    def read(self, n=-1):
        return self.fh.read(self.left() if n is None or n < 0 else min(n, self.left()))
    def readline(self, *args):
        return self.fh.readline(*args)
    def readinto(self, buffer):
        return self.fh.readinto(buffer)
class Python(pickle._Unpickler):
    dispatch = dict(pickle._Unpickler.dispatch)
    def load_bytearray8(self):  # bytearray(n) is written before it is read: n past the end fails
        (n,) = struct.unpack("<Q", self.read(8))
        if n > self._file_left():
            raise pickle.UnpicklingError("BYTEARRAY8 past the end of the file")
        self.append(bytearray(self.read(n)))
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
def read(path, unpickler_class):
    class Probe(unpickler_class):
        def find_class(self, module, name):
            raise Asked(module, name)
        def persistent_load(self, pid):
            return None
        def _file_left(self):
            return bounded.left()
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        with open(path, "rb") as fh:
            bounded = Bounded(fh)
            unpickler = Probe(bounded, encoding="latin-1")
            for _ in range(LOADS):
                value = unpickler.load()
                built = isinstance(value, (list, tuple, dict, set, frozenset)) and len(value)
                memo = unpickler.memo
                if built or len(memo.copy() if hasattr(memo, "copy") else memo):
                    return "data"
                if not bounded.left():
                    return "constants"
            return "data"
    except Asked as asked:
        return list(asked.args)
    except (MemoryError, RecursionError, Late):
        return "exhausted"
    except BaseException:
        return "error"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        gc.collect()
for index, path in enumerate(json.load(sys.stdin)):
    outcomes = [read(path, pickle.Unpickler), read(path, Python)]
    sys.stdout.write(json.dumps([index, outcomes]) + "\n")
    sys.stdout.flush()
"""
PROBE_MEMORY = 256 << 20  # bytes of address space: a memo index read from text asks for more
PROBE_SECONDS = 20  # each unpickler, each file
MAX_PROBE_TOTAL_SECONDS = 120  # all the files of one call
MAX_PROBE_LOADS = 16


def _unpickler_imports(path: Path) -> bool:
    """:func:`_unpickler_verdicts` of one file."""
    return _unpickler_verdicts([path])[0]


def _unpickler_verdicts(paths: list[Path], deadline: float | None = None) -> list[bool]:
    """For each file, whether CPython's unpicklers, C or pure Python, reading it as
    ``pickle.load`` does, would import a module :func:`_runs` finds (Python 2's names mapped or
    not) before they fail, or load a data pickle (a container, a memoized object, more than
    MAX_PROBE_LOADS pickles in a row). One child process reads them all, each unpickler within
    PROBE_MEMORY of address space and PROBE_SECONDS. The C unpickler running out is left to the
    Python one: a memo index read from text (``Kernel ...``) asks the C unpickler for gigabytes,
    the Python one keeps a dictionary. The Python one running out is a pickle: its objects are
    the file's own, and no text builds that many. SniffTooSlow past MAX_PROBE_TOTAL_SECONDS."""
    verdicts: list[bool] = []
    deadline = deadline or time.monotonic() + MAX_PROBE_TOTAL_SECONDS
    while len(verdicts) < len(paths):
        rest = paths[len(verdicts) :]
        lines, finished = _probe_run(rest, deadline)
        verdicts += [_verdict(path, line) for path, line in zip(rest, lines, strict=False)]
        if len(verdicts) < len(paths):
            if not finished:
                raise SniffTooSlow(paths[len(verdicts)])
            verdicts.append(True)  # the child died on this file (no line): read as exhausted
    return verdicts


def _probe_run(paths: list[Path], deadline: float) -> tuple[list, bool]:
    """The child's lines for ``paths``, in order, and whether it ended before the deadline."""
    if not paths:
        return [], True
    argv = [sys.executable, "-I", "-S", "-c", _PROBE, str(PROBE_MEMORY), str(MAX_PROBE_LOADS),
            str(PROBE_SECONDS)]  # fmt: skip
    given = json.dumps([str(p) for p in paths]).encode()
    try:
        child = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
    except OSError:
        return [["error", "error"]] * len(paths), True
    finished = True
    try:
        out, _ = child.communicate(given, timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
        finished = False
    lines = []
    for line in out.splitlines():
        try:
            index, outcomes = json.loads(line)
        except ValueError:
            break
        if index != len(lines):
            break
        lines.append(outcomes)
    return lines, finished


def _verdict(path: Path, outcomes) -> bool:
    """A file's verdict from its two unpicklers' outcomes (C, then Python)."""
    if not (isinstance(outcomes, list) and len(outcomes) == 2):
        return True
    for asked in outcomes:
        if asked == "data":
            return True
        if isinstance(asked, list) and len(asked) == 2 and all(isinstance(a, str) for a in asked):
            folder, names = path.parent, tuple(asked)
            if _runs("GLOBAL", names, folder, 0) or _runs("GLOBAL", names, folder, 3):
                return True
    return outcomes[1] == "exhausted"


@functools.lru_cache(maxsize=64)
def _stems_at(folder: str, mtime_ns: int) -> frozenset:
    return frozenset(name.split(".")[0] for name in os.listdir(folder))


def _stems(folder: Path) -> frozenset:
    """The names of ``folder``'s entries up to their first dot (``helper`` for helper.py), read
    once while the folder is unchanged."""
    try:
        return _stems_at(str(folder), os.stat(folder).st_mtime_ns)
    except OSError:
        return frozenset()


def _zip_holds_pickle(path: Path, head: bytes) -> bool:
    """A zip holding a ``.pkl`` (torch finds ``data.pkl`` in any case, its first entry; torch's
    own reader lists it too) or an ``.npy`` of objects (numpy's ``.npz``). So is one that
    ``zipfile`` cannot list (torch's reader takes some: a broken extra field, a stray end
    record), one with zip64 records (torch's reader follows their offsets, zipfile does not; a
    model ships no 4 GiB zip), one too large to list, one of bzip2 or lzma members (zipfile
    inflates those without bound), one whose directory is not where its end record says (each
    reader would read another archive), and one whose local names differ from its directory's."""
    first = _local_name(head) if head[:4] == b"PK\x03\x04" else None
    if first is not None and first.lower().endswith(".pkl"):
        return True
    try:
        with path.open("rb") as fh:  # its directory's size and count, before listing it
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - ZIP_TAIL_BYTES))
            if ZIP64_SIGNATURES.search(fh.read()):  # torch's reader follows a zip64 locator's
                return True  # offset, zipfile does not: each could read another directory
            end = zipfile._EndRecData(fh)  # zipfile's own reader of its end record
        if end is None:
            return True
        listed = end[zipfile._ECD_SIZE], end[zipfile._ECD_ENTRIES_TOTAL]
        if listed[0] > MAX_ARCHIVE_MEMBERS * 512 or listed[1] > MAX_ARCHIVE_MEMBERS:
            return True  # listing it would take memory; no model ships such an archive
        if _directory_moved(end) or _torch_reads_a_pickle(path):
            return True
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():  # each entry's local header names it as the directory
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    return True  # zipfile inflates bzip2 and lzma without bound (1.3 million
                    # to one); numpy would read such a member, numpy and torch write none
                z.open(info).close()  # does (BadZipFile where they differ)
            names = z.namelist()
            if any(n.lower().endswith(".pkl") for n in names):
                return True
            for name in names:  # numpy reads any member that starts as an .npy as one
                with z.open(name) as member:
                    if member.read(6) != b"\x93NUMPY":
                        continue
                    member.seek(0)
                    if _npy_holds_objects(member):
                        return True
    except Exception:  # zipfile raises many kinds on a damaged archive
        return True  # an archive that cannot be listed could hide a torch.save pickle
    return False


def _directory_moved(end: list) -> bool:
    """Whether a zip's directory is not where its end record (zipfile's ``_EndRecData``) says:
    zipfile then reads the one just before the end record, torch's reader (miniz) the one the
    record names, and each reads another archive."""
    concat = end[zipfile._ECD_LOCATION] - end[zipfile._ECD_SIZE] - end[zipfile._ECD_OFFSET]
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    return concat != 0


def stored_zip_problem(data: bytes) -> str | None:
    """Why a ``torch.save`` archive held in ``data`` is refused before torch reads it, or
    None: torch.save stores every record uncompressed, and torch allocates a compressed
    record's stated size before it inflates it (a 2 MB file asked for gigabytes). Its
    directory must be where its end record says, and torch's own reader must list the records
    zipfile lists (torch.save writes zip64 records, whose offsets torch's reader follows and
    zipfile does not: where they differ, each reads another archive)."""
    try:
        end = zipfile._EndRecData(io.BytesIO(data))
        if end is None:
            return "no zip end record"
        if _directory_moved(end):
            return "its directory is not where its end record says"
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            for info in infos:
                if info.compress_type != zipfile.ZIP_STORED or info.file_size > len(data):
                    return f"record {info.filename[:80]!r} is compressed (torch.save stores)"
        import torch

        theirs = sorted(torch._C.PyTorchFileReader(io.BytesIO(data)).get_all_records())
    except Exception as err:  # zipfile and torch raise many kinds on a damaged archive
        return f"not a zip archive both zipfile and torch read ({type(err).__name__})"
    ours = sorted(info.filename.split("/", 1)[-1] for info in infos)
    if ours != theirs:
        return "torch's reader lists other records than zipfile"
    return None


def _torch_reads_a_pickle(path: Path) -> bool:
    """Whether torch's own zip reader (miniz, as ``torch.load`` opens an archive) finds a
    ``.pkl`` record in ``path``: what torch would unpickle, named by torch itself. False where
    it cannot open the file (torch.load fails there too) or this torch has no such reader."""
    try:
        import torch

        records = torch._C.PyTorchFileReader(str(path)).get_all_records()
    except Exception:  # not an archive torch reads: it loads nothing from it
        return False
    return any(str(name).lower().endswith(".pkl") for name in records)


# Where a zip's end record, zip64 records and comment lie: its last 64 KiB and the record.
ZIP_TAIL_BYTES = (1 << 16) + 22 + 56 + 20
ZIP64_SIGNATURES = re.compile(b"PK\x06\x06|PK\x06\x07")


def _local_name(head: bytes) -> str | None:
    """The name in a zip's first local header (torch.save writes ``archive/data.pkl`` there)."""
    if len(head) < 30:
        return None
    size = int.from_bytes(head[26:28], "little")
    return head[30 : 30 + size].decode("latin-1")


NPY_HEADER_BYTES = 10_000  # numpy's own bound on an .npy header


def _npy_holds_objects(fh) -> bool:
    """An ``.npy`` (``fh`` at its start) whose dtype holds objects, read by numpy's own header
    reader (``'|O'``, ``"object"``, a field of them): ``numpy.load(allow_pickle=True)``
    unpickles its data, which starts after the header, not at the file's first byte. A header
    numpy cannot read is called one."""
    import numpy.lib.format as npy

    try:
        version = npy.read_magic(fh)
        read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        _, _, dtype = read(fh, max_header_size=NPY_HEADER_BYTES)
    except Exception:  # numpy raises several kinds on a header it cannot read
        return True
    return bool(dtype.hasobject)


def _is_tar(path: Path) -> bool:
    """An uncompressed tar of any format, the old v7 one without ``ustar`` too (its header's
    checksum). torch reads only those; a compressed one is never opened (listing it would
    decompress every member: 53 kB of bz2 can hold 64 GiB)."""
    import tarfile

    try:
        with path.open("rb") as fh, tarfile.open(fileobj=_Clamped(fh), mode="r:"):
            return True
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return False
    except MemoryError:  # a header that read as a tar's and claims more than there is
        return True


class _Clamped:
    """A file for tarfile whose reads past the end read what is there: a GNU long-name or pax
    header claiming 2**40 bytes had tarfile allocate them before reading."""

    def __init__(self, fh):
        self._fh, self._size = fh, os.fstat(fh.fileno()).st_size

    def read(self, n: int = -1) -> bytes:
        left = max(0, self._size - self._fh.tell())
        return self._fh.read(left if n is None or n < 0 else min(n, left))

    def seek(self, *args) -> int:
        return self._fh.seek(*args)

    def tell(self) -> int:
        return self._fh.tell()


def _tar_holds_pickle(path: Path) -> bool:
    """A tar archive holding torch's legacy checkpoint members (``pickle``, ``storages``,
    ``tensors``) or a ``.pkl``; one that cannot be listed could hide them."""
    import tarfile

    try:
        with path.open("rb") as fh, tarfile.open(fileobj=_Clamped(fh), mode="r:") as tar:
            for count, member in enumerate(tar):
                name = member.name.rsplit("/", 1)[-1]
                if name in ("pickle", "storages", "tensors") or name.endswith(".pkl"):
                    return True
                if count >= MAX_ARCHIVE_MEMBERS:
                    return True
    except (tarfile.TarError, OSError, ValueError, EOFError, MemoryError):
        return True
    return False


class _Late(Exception):
    """The opcode reading ran past its deadline."""


def _parses_as_pickle(
    data: bytes, folder: Path | None = None, deadline: float | None = None
) -> bool | None:
    """Protocols 0 and 1 have no header: a pickle is a run of valid opcodes, each finding on
    the stack what it takes (read, never executed: the stack is simulated as
    :func:`pickletools.dis` does). True at the first opcode that imports as the unpickler reads
    it (:data:`RUNS`: a module by name that :func:`_runs` finds, whatever follows, a STOP or
    not; a call runs only what an import returned), at a STOP after an opcode that builds a
    container (:data:`BUILDS`: a data pickle), past MAX_PROBE_LOADS pickles one after another
    (a loader such as torch's legacy one reads on after a STOP: constants first, then anything),
    or after MAX_SNIFF_OPCODES valid opcodes; False where an opcode is invalid or underflows the
    stack before the end of ``data``, or where ``data`` ends at a STOP after constants only (text
    such as ``0.41``, POP then STOP on an empty stack, or ``Version 2\nVersion 3\n.``); None
    where ``data`` ran out first."""
    stream = io.BytesIO(data)
    count = 0
    for _ in range(MAX_PROBE_LOADS):  # each pickle, read by a loader that reads on after a STOP
        stack, built, proto = _Stack(), False, 0
        try:
            for opcode, arg in _opcodes(stream):
                count += 1
                if not _simulate(stack, opcode):
                    return False
                if opcode.name == "PROTO":  # from here on, Python 2's names are not mapped
                    proto = arg
                if opcode.name in RUNS and _runs(opcode.name, arg, folder, proto):
                    return True  # the unpickler has run it before it reads on
                built = built or opcode.name in BUILDS
                if count >= MAX_SNIFF_OPCODES:
                    return True
                if deadline is not None and not count % 65_536 and time.monotonic() > deadline:
                    raise _Late
        except (ValueError, EOFError, UnicodeDecodeError):
            return None if stream.tell() >= len(data) else False
        if built:  # at its STOP; objects below the one returned are left, unread
            return True
        if stream.tell() >= len(data):
            return None  # the file may go on (the caller knows whether it does)
    return True


# Opcodes the unpickler reaches code at: an import by name, an extension code (a registered
# import). A call (REDUCE, OBJ, BUILD, NEWOBJ) runs only what one of them returned.
RUNS = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "EXT1", "EXT2", "EXT4"})
# Opcodes that fill a container or memoize an object (pickle.dumps memoizes every string and
# container): a data pickle, not text. An empty container alone is not one (a licence text
# "C... )." reads as bytes, an empty tuple, STOP).
BUILDS = frozenset(
    {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "TUPLE1", "TUPLE2", "TUPLE3",
     "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
)  # fmt: skip


def _runs(name: str, arg, folder: Path | None = None, proto: int = 0) -> bool:
    """Whether the unpickler runs code at ``name``: an import by name (GLOBAL, INST: ``arg`` is
    the module and the attribute, as the C unpickler decodes them) only of a module it can find,
    one this Python has (``cos\nsystem``; a text line ``cool model`` names no module, ``cat\ndog``
    none there is, and importing it fails before anything runs) or one ``folder`` (the file's)
    holds a file or folder of that name for; Python 2's names mapped below protocol 3."""
    if name not in ("GLOBAL", "INST"):
        return True
    module, attribute = arg
    if proto < 3:  # the unpickler maps Python 2's names (__builtin__ is builtins)
        module, _ = _compat_pickle.NAME_MAPPING.get((module, attribute), (module, attribute))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    top = module.split(".")[0]
    if not top:  # "c.f. the paper": a relative name, which the import refuses
        return False
    if folder is not None and top in _stems(folder):
        return True  # a module shipped beside the file, found where the file is loaded from
    return top in sys.modules or _module_found(top)


@functools.lru_cache(maxsize=4_096)
def _module_found(top: str) -> bool:
    """A top-level module this Python has (found, not imported), each name looked up once. One
    already loaded counts before this (:func:`_runs`): ``__main__`` under a console script has
    no spec, find_spec raises there, and the unpickler takes it from sys.modules."""
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):  # a name no import takes
        return False


def _line(stream: io.BytesIO) -> bytes:
    """One argument line, its newline cut; EOFError where the stream ends first."""
    line = stream.readline()
    if not line.endswith(b"\n"):
        raise EOFError("no newline")
    return line[:-1]


def _names_as_c_reads(stream: io.BytesIO) -> tuple[str, str]:
    """GLOBAL and INST's module and attribute lines as the C unpickler reads them: each decoded
    as UTF-8, no escapes (pickletools takes ASCII and escapes: ``é``, ``x\\`` stopped it)."""
    module = _line(stream).decode("utf-8")
    attribute = _line(stream)
    if not attribute:
        raise ValueError("an empty attribute line")
    return module, attribute.decode("utf-8")


def _quoted_as_c_reads(stream: io.BytesIO) -> None:
    """STRING's line as the C unpickler takes it: quoted at both ends; its escapes and its
    bytes are decoded later, as the load's ``encoding`` says (latin-1 takes any)."""
    line = _line(stream)
    if not (len(line) >= 2 and line[:1] == line[-1:] and line[:1] in (b"'", b'"')):
        raise ValueError("the STRING argument must be quoted")


# A number line (INT, LONG, FLOAT; GET and PUT's memo keys) as the C unpickler reads it: as a C
# string, so up to its first NUL (``I1\x00x``), an INT or LONG in any base (``I0x1``: strtol,
# then int(s, 0)); pickletools reads the whole line, in base 10.
_LOOSE_ARGS = frozenset({"decimalnl_short", "decimalnl_long", "floatnl"})
_STRTOL = re.compile(rb"\s*[-+]?(?:0[xX][0-9a-fA-F]+|[0-9]+)")


def _loose_number(line: bytes, kind: str) -> None:
    """A number argument line (its newline cut) the unpickler reads; ValueError if not."""
    text = line.split(b"\x00", 1)[0]
    if kind == "floatnl":
        float(text.decode("ascii"))  # ValueError, UnicodeDecodeError: not a float to it either
        return
    text = text[:-1] if text.endswith(b"L") else text
    if _STRTOL.fullmatch(text):
        return
    int(text.decode("ascii"), 0)


def _opcodes(stream: io.BytesIO) -> Iterator[tuple]:
    """(opcode, argument) of ``stream`` as :func:`pickletools.genops` reads them, but for
    :data:`_LOOSE_ARGS`; ValueError at a byte that is no opcode or an argument it cannot read,
    EOFError where the stream ends."""
    while True:
        code = stream.read(1)
        if not code:
            raise EOFError("no STOP")
        opcode = pickletools.code2op.get(code.decode("latin-1"))
        if opcode is None:
            raise ValueError(f"no opcode {code!r}")
        arg = None
        if opcode.arg is not None:
            if opcode.arg.name == "stringnl_noescape_pair":
                arg = _names_as_c_reads(stream)
            elif opcode.arg.name == "stringnl":
                _quoted_as_c_reads(stream)
            elif opcode.arg.name == "stringnl_noescape":  # PERSID: ASCII, no escapes (\\x too)
                arg = _line(stream).decode("ascii")
            elif opcode.arg.name in _LOOSE_ARGS:
                line = stream.readline()
                if not line.endswith(b"\n"):
                    raise EOFError("no newline")
                _loose_number(line[:-1], opcode.arg.name)
            else:
                arg = opcode.arg.reader(stream)
        yield opcode, arg
        if opcode.name == "STOP":
            return


class _Stack:
    """The simulated stack: its depth and where its marks are (each opcode costs O(1))."""

    __slots__ = ("depth", "marks")

    def __init__(self) -> None:
        self.depth, self.marks = 0, []


def _simulate(stack: _Stack, opcode) -> bool:
    """One opcode's effect on the stack of marks and objects; False where it underflows.
    POP on a mark pops the mark, as the unpickler does."""
    marks = stack.marks
    if opcode.name == "POP" and marks and marks[-1] == stack.depth - 1:
        marks.pop()
        stack.depth -= 1
        return True
    before = opcode.stack_before
    if pickletools.markobject in before:  # takes everything above the topmost mark, the mark
        if not marks:
            return False
        stack.depth = marks.pop()
        taken = before.index(pickletools.markobject)  # and the objects below the mark
    else:
        taken = len(before)
    if stack.depth < taken or (marks and marks[-1] >= stack.depth - taken):
        return False
    stack.depth -= taken
    for item in opcode.stack_after:
        if item is pickletools.markobject:
            marks.append(stack.depth)
        stack.depth += 1
    return True
