"""Whether a file is a pickle, read by its bytes, never run.

Protocols 2 to 5 start with a PROTO header; a ``torch.save`` archive is a zip holding a
``.pkl``; protocols 0 and 1 have no header, so their bytes are read as opcodes (the stack
simulated as :func:`pickletools.dis` does, the arguments as the unpickler reads them). Used for
every file of a submission and of a model folder the suite loads, whatever its name.
"""

from __future__ import annotations

import io
import pickletools
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
        verdict = _parses_as_pickle(head)
        if verdict is not None:
            return verdict
        if len(head) < size:  # the whole file: it ends before STOP
            return False
    return True


def _parses_as_pickle(data: bytes) -> bool | None:
    """Protocols 0 and 1 have no header: a pickle is a run of valid opcodes, each finding on
    the stack what it takes, that ends in STOP with an object to return, and calls or imports on
    the way or holds more than a single constant (read, never executed: the stack is simulated
    as :func:`pickletools.dis` does; see :data:`CODE_OPCODES`). True at such a STOP (or after
    MAX_SNIFF_OPCODES valid ones), False where an opcode is invalid or underflows the stack
    before the end of ``data`` (text such as ``0.41`` is POP then STOP on an empty stack), None
    where ``data`` ran out first."""
    stream = io.BytesIO(data)
    stack: list[str] = []
    code = False  # an opcode that imports, calls or builds: what makes a pickle run anything
    try:
        for count, opcode in enumerate(_opcodes(stream)):
            if not _simulate(stack, opcode):
                return False
            code = code or opcode.name in CODE_OPCODES
            if opcode.name == "STOP":  # a lone constant ("N.B. ...", "I0\n.") is text, not one
                return code or count >= 2  # objects below the one returned are left, unread
            if count >= MAX_SNIFF_OPCODES:
                return True
    except (ValueError, EOFError, UnicodeDecodeError):
        return None if stream.tell() >= len(data) else False
    return None


# Arguments the unpickler reads more loosely than pickletools: an INT or LONG line in any base
# (``I0x1``: C's strtol and int(s, 0)), a FLOAT line as its float parser takes it. Read here as
# any line, so a file the unpickler runs is never "text" for a number pickletools refuses.
_LOOSE_ARGS = frozenset({"decimalnl_short", "decimalnl_long", "floatnl"})


def _opcodes(stream: io.BytesIO) -> Iterator:
    """The opcodes of ``stream`` as :func:`pickletools.genops` reads them, but for
    :data:`_LOOSE_ARGS`; ValueError at a byte that is no opcode or an argument it cannot read,
    EOFError where the stream ends."""
    while True:
        code = stream.read(1)
        if not code:
            raise EOFError("no STOP")
        opcode = pickletools.code2op.get(code.decode("latin-1"))
        if opcode is None:
            raise ValueError(f"no opcode {code!r}")
        if opcode.arg is not None:
            if opcode.arg.name in _LOOSE_ARGS:
                if not stream.readline().endswith(b"\n"):
                    raise EOFError("no newline")
            else:
                opcode.arg.reader(stream)
        yield opcode
        if opcode.name == "STOP":
            return


# Opcodes that import a name, call one or set attributes. A file whose opcodes reach STOP with
# none of them and a single constant (NONE, STOP: a text file such as "N.B. ...", "I0\n.") is
# text that happens to parse, not refused; a data pickle of more (``pickle.dumps([1])``) is.
CODE_OPCODES = frozenset(
    {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "BUILD", "NEWOBJ", "NEWOBJ_EX",
     "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID"}
)  # fmt: skip


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
