"""Shared file basics: atomic writes (unique temporary name, fsync, rename, directory synced),
JSON written the one way, and one hash of a model folder's weights."""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from suite.errors import SpecError


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a uniquely named file beside ``path``, then rename it over ``path`` and
    sync the folder: readers see the old file or the new one, never half of one, and two writers
    never share a temporary file."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode(path))  # mkstemp's file is private (0600); the file keeps its mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def file_mode(path: Path) -> int:
    """The permission bits ``path`` has now, or a new file's (0666 less the umask)."""
    try:
        info = path.lstat()
    except OSError:
        info = None
    if info is not None and stat.S_ISREG(info.st_mode):
        return stat.S_IMODE(info.st_mode)
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_model(model, folder: Path) -> None:
    """``model.save_pretrained`` in safetensors, its weight files given a new file's mode (0666
    less the umask, as every other file the suite writes): transformers writes them 0600."""
    model.save_pretrained(str(folder), safe_serialization=True)
    mode = file_mode(Path(folder) / ".no such file")
    for path in Path(folder).iterdir():
        if path.name.startswith("model") and path.suffix == ".safetensors":
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:  # its own new file
                os.chmod(path, mode)


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a platform without directory handles
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: Path, data, *, indent: int | None = 2, sort_keys: bool = True) -> None:
    """Strict JSON (NaN and infinities as null), keys sorted unless ``sort_keys`` is False (and a
    final newline when indented), written atomically."""
    text = json.dumps(clean(data), indent=indent, sort_keys=sort_keys, allow_nan=False)
    write_text_atomic(path, text + "\n" if indent is not None else text)


def weights_sha256(folder: Path) -> str:
    """One hash over a save_pretrained folder's safetensors files (names and bytes, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.safetensors")):
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def check_out_folder(out: Path, flag: str = "--out") -> None:
    """``out`` is a folder or can be made one: a file (or a broken link) at it, or on its way,
    is refused naming ``flag``, before any work is done."""
    out = Path(out)
    for path in (out, *out.parents):
        where = "it" if path == out else str(path)
        if path.is_dir():
            try:  # a folder the OS will not write into (read-only, /proc) is named here, once
                with tempfile.TemporaryFile(dir=path):
                    pass
            except OSError as err:
                message = f"cannot write into {where}: {err.strerror or err}"
                raise SpecError(out, flag, str(out), message) from None
            return
        if path.is_symlink() and not path.exists():
            message = (
                f"{where} is a symbolic link to a missing path ({os.readlink(path)}): "
                f"{flag} names a folder to write into"
            )
            raise SpecError(out, flag, str(out), message)
        if path.exists():
            message = f"{where} exists and is not a folder: {flag} names a folder to write into"
            raise SpecError(out, flag, str(out), message)


def check_targets(paths, flag: str = "--out") -> None:
    """Each file a command will write is absent or a regular file: a folder (or a device) in its
    place is refused before anything is written, so no output is left half-made."""
    for path in paths:
        path = Path(path)
        if (path.exists() or path.is_symlink()) and not path.is_file():
            message = "exists and is not a file; nothing was written"
            raise SpecError(path, flag, str(path), message)


def check_write_folder(folder: Path, flag: str = "--out") -> None:
    """A folder a command saves an artifact into (``--out/tokenizer``, ``--out/<draft>``): absent,
    or a folder that is not a symbolic link, holding no link, FIFO or device (checked with
    ``lstat``, nothing followed), so nothing is written through a link to a file elsewhere or
    into a file in the folder's place. Refused naming the path and ``flag`` before anything is
    written; checked again just before the files are saved."""
    folder = Path(folder)
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return
    except NotADirectoryError:  # --out (or a folder above it) is a file
        check_out_folder(folder.parent, flag)
        raise
    if stat.S_ISLNK(info.st_mode):
        message = (
            "is a symbolic link: an artifact is saved into a folder of its own, never through "
            "a link; nothing was written"
        )
        raise SpecError(folder, flag, str(folder), message)
    if not stat.S_ISDIR(info.st_mode):
        message = "exists and is not a folder: an artifact's folder goes there; nothing was written"
        raise SpecError(folder, flag, str(folder), message)
    with os.scandir(folder) as entries:
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            # a file with another name elsewhere (a hard link) would be written in place there
            if (stat.S_ISREG(mode) and st.st_nlink == 1) or stat.S_ISDIR(mode):
                continue
            kind = (
                "a symbolic link"
                if stat.S_ISLNK(mode)
                else "a hard link (a file with another name elsewhere)"
                if stat.S_ISREG(mode)
                else "not a regular file"
            )
            message = (
                f"is {kind} in an artifact's folder, where files are saved; nothing was written"
            )
            path = folder / entry.name
            raise SpecError(path, flag, str(path), message)


def make_folder(folder: Path, flag: str = "--out") -> Path | None:
    """Make ``folder`` and its missing parents; the outermost one made, None if it existed.
    A folder that cannot be made (``/proc/self/x``, no permission) is a SpecError naming
    ``flag``, with none of its parents left made."""
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.is_dir()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        remove_made(folder, missing[-1] if missing else None)
        message = f"cannot make this folder: {err.strerror or err}"
        raise SpecError(folder, flag, str(folder), message) from None
    return missing[-1] if missing else None


def remove_made(folder: Path, made: Path | None) -> None:
    """Undo :func:`make_folder` where nothing was written: remove ``folder`` and its parents up
    to ``made`` while they are empty."""
    if made is None:
        return
    for path in (Path(folder), *Path(folder).parents):
        try:
            path.rmdir()
        except OSError:
            return
        if path == made:
            return
