"""Whether a file is a pickle, read by its bytes, never run.

Protocols 2 to 5 start with a PROTO header; a ``torch.save`` archive is a zip holding a
``.pkl``; protocols 0 and 1 have no header, so their bytes are read twice: as opcodes (the stack
simulated as :func:`pickletools.dis` does, the arguments as the unpickler reads them), then by
CPython's own unpickler in a child process whose every import stops it before it happens
(:func:`_unpickler_imports`), so that what the C unpickler would run is named by the C
unpickler itself. Used for every file of a submission and of a model folder the suite loads,
whatever its name.
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
import zipfile
from collections.abc import Iterator
from pathlib import Path

# Protocols 0 and 1 are read as far as needed: a first string longer than the part read would
# hide the rest, so the part grows while the opcodes so far are valid and the file goes on.
SNIFF_BYTES = (1 << 16, 1 << 20, 1 << 24, 1 << 26)
MAX_SNIFF_OPCODES = 1_000_000  # valid opcodes in a row: no other file reads as that many


def is_pickle(path: Path) -> bool:
    """A pickle of any protocol or a torch.save zip, whatever the file is called; a file whose
    first 64 MiB are valid pickle opcodes that have not ended counts as one."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES[0])
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head[257:262] == b"ustar" or _is_tar(path):  # torch's legacy tar: storages, tensors, ...
        return _tar_holds_pickle(path)
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                return any(n.endswith(".pkl") for n in z.namelist())
        except zipfile.BadZipFile:
            return False
        except (ValueError, OSError, EOFError, NotImplementedError):  # a name it cannot decode
            return True  # an archive that cannot be listed could hide a torch.save pickle
    for size in SNIFF_BYTES:
        if size > len(head):
            with path.open("rb") as fh:
                head = fh.read(size)
        verdict = _parses_as_pickle(head, path.parent)
        if verdict is not None or len(head) < size:  # decided, or the file ends before STOP
            break
    else:
        return True
    if verdict:
        return True
    if not head or head[:1].decode("latin-1") not in pickletools.code2op:
        return False  # the unpickler stops at the first byte
    return _unpickler_imports(path)


# CPython's unpicklers, C then pure Python (joblib's), run on the file in a child process: every
# import raises before it happens
# (``find_class`` is the only way the unpickler reaches code: REDUCE, BUILD, OBJ and the rest
# call only what it returned; an extension code goes through it too), persistent ids load as
# None. Each prints a line: what it asked for first, or "data" where a load returns a container
# or memoizes, or "constants" where each of the pickles one after another (up to
# MAX_PROBE_LOADS, torch's legacy format writes five) holds constants only, or "error".
_PROBE = r"""
import gc, json, pickle, resource, sys
_, hard = resource.getrlimit(resource.RLIMIT_AS)
limit = int(sys.argv[2]) if hard == resource.RLIM_INFINITY else min(int(sys.argv[2]), hard)
resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
class Asked(Exception):
    pass
def read(unpickler_class):
    class Probe(unpickler_class):
        def find_class(self, module, name):
            raise Asked(module, name)
        def persistent_load(self, pid):
            return None
    try:
        with open(sys.argv[1], "rb") as fh:
            unpickler = Probe(fh, encoding="latin-1")
            for _ in range(int(sys.argv[3])):
                value = unpickler.load()
                built = isinstance(value, (list, tuple, dict, set, frozenset, bytearray))
                memo = unpickler.memo
                if built or len(memo.copy() if hasattr(memo, "copy") else memo):
                    return "data"
                if not fh.read(1):
                    return "constants"
                fh.seek(-1, 1)
            return "data"
    except Asked as asked:
        return list(asked.args)
    except BaseException:
        return "error"
for unpickler_class in (pickle.Unpickler, pickle._Unpickler):
    sys.stdout.write(json.dumps(read(unpickler_class)) + "\n")
    sys.stdout.flush()
    gc.collect()
"""
PROBE_MEMORY = 2 << 30  # bytes of address space: a memo index read from text can ask for more
PROBE_SECONDS = 20
MAX_PROBE_LOADS = 16


def _unpickler_imports(path: Path) -> bool:
    """Whether CPython's unpicklers, C or pure Python, reading ``path`` as ``pickle.load``
    does, would import a module :func:`_runs` finds (Python 2's names mapped or not) before they
    fail, or load a data pickle (a container, a memoized object, more than MAX_PROBE_LOADS
    pickles in a row). Run with PROBE_MEMORY of address space and PROBE_SECONDS: past them the
    file is what the opcode reading called it (a memo index read from text, as in
    ``Kernel ...``, asks the C unpickler for gigabytes and stops it there)."""
    argv = [sys.executable, "-I", "-S", "-c", _PROBE, str(path), str(PROBE_MEMORY),
            str(MAX_PROBE_LOADS)]  # fmt: skip
    try:
        out = subprocess.run(
            argv, capture_output=True, timeout=PROBE_SECONDS, check=False, stdin=subprocess.DEVNULL
        ).stdout
    except subprocess.TimeoutExpired as late:  # the lines printed so far
        out = late.stdout or b""
    except OSError:
        return False
    for line in out.splitlines():
        try:
            asked = json.loads(line)
        except ValueError:
            continue
        if asked == "data":
            return True
        if isinstance(asked, list) and len(asked) == 2 and all(isinstance(a, str) for a in asked):
            folder, names = path.parent, tuple(asked)
            if _runs("GLOBAL", names, folder, 0) or _runs("GLOBAL", names, folder, 3):
                return True
    return False


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


def _is_tar(path: Path) -> bool:
    """A tar of any format, the old v7 one without ``ustar`` too (its header's checksum)."""
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except (OSError, ValueError, EOFError):
        return False


def _tar_holds_pickle(path: Path) -> bool:
    """A tar archive holding torch's legacy checkpoint members (``pickle``, ``storages``,
    ``tensors``) or a ``.pkl``; one that cannot be listed could hide them."""
    import tarfile

    try:
        with tarfile.open(path) as tar:
            for count, member in enumerate(tar):
                name = member.name.rsplit("/", 1)[-1]
                if name in ("pickle", "storages", "tensors") or name.endswith(".pkl"):
                    return True
                if count >= MAX_SNIFF_OPCODES:
                    return True
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return True
    return False


def _parses_as_pickle(data: bytes, folder: Path | None = None) -> bool | None:
    """Protocols 0 and 1 have no header: a pickle is a run of valid opcodes, each finding on
    the stack what it takes (read, never executed: the stack is simulated as
    :func:`pickletools.dis` does). True at the first opcode that runs code as the unpickler
    reads it (:data:`RUNS`: an import of a module by name, a call; whatever follows, a STOP or
    not), at a STOP after an opcode that builds a container (:data:`BUILDS`: a data pickle), or
    after MAX_SNIFF_OPCODES valid ones; False where an opcode is invalid or underflows the stack
    before the end of ``data``, or at a STOP after constants only (text such as ``0.41``, POP
    then STOP on an empty stack, or ``Version 2\nVersion 3\n.``); None where ``data`` ran out
    first."""
    stream = io.BytesIO(data)
    stack: list[str] = []
    built, proto = False, 0
    try:
        for count, (opcode, arg) in enumerate(_opcodes(stream)):
            if not _simulate(stack, opcode):
                return False
            if opcode.name == "PROTO":  # from here on, Python 2's names are not mapped
                proto = arg
            if opcode.name in RUNS and _runs(opcode.name, arg, folder, proto):
                return True  # the unpickler has run it before it reads on
            built = built or opcode.name in BUILDS
            if opcode.name == "STOP":  # objects below the one returned are left, unread
                return built
            if count >= MAX_SNIFF_OPCODES:
                return True
    except (ValueError, EOFError, UnicodeDecodeError):
        return None if stream.tell() >= len(data) else False
    return None


# Opcodes the unpickler runs code at: an import by name, a call, setting attributes, an
# extension code (a registered import).
RUNS = frozenset(
    {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "BUILD", "NEWOBJ", "NEWOBJ_EX",
     "EXT1", "EXT2", "EXT4"}
)  # fmt: skip
# Opcodes that build a container or memoize an object (pickle.dumps memoizes every string and
# container): a data pickle, not text.
BUILDS = frozenset(
    {"LIST", "DICT", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "APPEND", "APPENDS", "SETITEM",
     "SETITEMS", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_TUPLE", "EMPTY_SET", "ADDITEMS", "FROZENSET",
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
    try:  # a top-level module this Python has (found, not imported)
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


def _simulate(stack: list[str], opcode) -> bool:
    """One opcode's effect on a stack of ``"mark"`` and ``"obj"``; False where it underflows.
    POP on a mark pops the mark, as the unpickler does."""
    if opcode.name == "POP" and stack[-1:] == ["mark"]:
        stack.pop()
        return True
    before = opcode.stack_before
    if pickletools.markobject in before:  # takes everything above the topmost mark, the mark
        if "mark" not in stack:
            return False
        del stack[len(stack) - 1 - stack[::-1].index("mark") :]
        taken = before.index(pickletools.markobject)  # and the objects below the mark
    else:
        taken = len(before)
    if len(stack) < taken or "mark" in stack[len(stack) - taken :]:
        return False
    del stack[len(stack) - taken :]
    stack.extend("mark" if x is pickletools.markobject else "obj" for x in opcode.stack_after)
    return True
