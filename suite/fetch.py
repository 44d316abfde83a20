"""Fetch the datasets for machines without the local mirror: pinned GitHub files, sha256-checked.

``python -m suite fetch DEST`` downloads every file of ``reference/data_sources.yaml`` into DEST
(skipping files already there with the right hash), then ``SUITE_DATA_DIR=DEST`` points the suite
at them. Without a data folder, the suite fetches each file it needs into its data cache on first
use, the same way. A file whose hash differs is refused and nothing is left half-written.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import time
import unicodedata
import urllib.request
from pathlib import Path

from suite.errors import Parser, SpecError, error_line
from suite.io import file_mode

# Only suite.paths and suite.strict (yaml and the standard library): this runs before the
# package's other dependencies are installed.
from suite.path_arguments import non_empty_path
from suite.paths import DATA_SOURCES
from suite.strict import read_yaml

SOURCES = DATA_SOURCES


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MAX_FILE_BYTES = 256 << 20
MAX_ENTRIES = 1_000
MAX_SOURCES_BYTES = 1 << 20
_HEX = set("0123456789abcdef")


def _entries(sources: Path) -> list[dict]:
    """The sources file's entries, each checked: a relative path that stays inside the folder,
    an https URL and a sha256; errors name the file, the field and the value."""
    raw = read_yaml(sources, "data sources", MAX_SOURCES_BYTES)
    unknown = sorted(str(k) for k in raw if k != "files") if isinstance(raw, dict) else []
    if unknown:
        message = "unknown key; expected ['files']"
        raise SpecError(sources, unknown[0][:40], unknown[0], message)
    files = raw.get("files") if isinstance(raw, dict) else None
    if not isinstance(files, list):
        raise SpecError(sources, "files", files, "expected a list")
    if len(files) > MAX_ENTRIES:
        raise SpecError(sources, "files", len(files), f"at most {MAX_ENTRIES:,} entries")
    seen: dict[str, int] = {}
    for i, entry in enumerate(files):
        where = f"{sources}: field 'files[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}' = {entry!r:.80}: expected a mapping")
        unknown = sorted(str(k) for k in entry if k not in ENTRY_KEYS)
        if unknown:
            raise ValueError(
                f"{where}.{unknown[0]:.40}': unknown key; expected {sorted(ENTRY_KEYS)}"
            )
        path, url, digest = entry.get("path"), entry.get("url"), entry.get("sha256")
        _check_path(path, f"{where}.path'")
        if not isinstance(url, str) or url[:8].lower() != "https://":
            raise ValueError(f"{where}.url' = {url!r:.80}: expected an https URL")
        if not url.isascii():  # urllib's request line is ASCII: its own error named nothing
            raise ValueError(f"{where}.url' = {url!r:.80}: a URL is ASCII; percent-encode it")
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
            message = "expected 64 lower-case hex digits (as sha256sum prints them)"
            raise ValueError(f"{where}.sha256' = {digest!r:.80}: {message}")
        if len(url) > 2048 or any(c.isspace() or not c.isprintable() for c in url):
            raise ValueError(f"{where}.url' = {url!r:.80}: at most 2,048 printable characters")
        if problem := _url_problem(url):
            raise ValueError(f"{where}.url' = {url!r:.80}: {problem}")
        license_ = entry.get("license", "")
        if not isinstance(license_, str) or len(license_) > 1024 or not license_.isprintable():
            raise ValueError(
                f"{where}.license' = {license_!r:.80}: expected text, printable, 1,024 characters "
                "at most"
            )
        key = unicodedata.normalize("NFC", path).casefold()
        if key in seen:
            raise ValueError(
                f"{where}.path' = {path!r:.80}: the same file as files[{seen[key]}] "
                "(paths are compared case-folded and NFC-normalised)"
            )
        seen[key] = i
    _check_no_file_is_a_folder(files, seen, sources)
    return files


ENTRY_KEYS = frozenset({"path", "url", "sha256", "license"})


def _check_path(path, where: str) -> None:
    """A plain relative POSIX path: segments separated by single '/', none empty, '.' or '..',
    none hidden (a leading '.': no '.git/config'), each at most 255 bytes, printable, no '\\',
    none starting or ending with a space or ending with a dot."""
    problem = None
    if not isinstance(path, str) or not path:
        problem = "expected a relative path inside DEST"
    elif len(path) > 1024 or "\\" in path or any(not c.isprintable() for c in path):
        problem = "printable, no backslash, 1,024 characters at most"
    else:
        for segment in path.split("/"):
            if not segment or segment.startswith("."):
                problem = (
                    "not a plain relative path inside DEST (empty, '.', '..' or hidden segment)"
                )
                break
            if len(segment.encode("utf-8")) > 255:
                problem = "a path segment longer than 255 bytes"
                break
            if segment != segment.strip() or segment.endswith("."):  # Windows drops them:
                problem = "a path segment starts or ends with a space, or ends with a dot"
                break  # "a.jsonl " and "a.jsonl" would be one file there
    if problem:
        raise ValueError(f"{where} = {path!r:.80}: {problem}")


def _check_no_file_is_a_folder(files: list[dict], seen: dict[str, int], sources: Path) -> None:
    """Refuse an entry whose path is a folder of another entry's (``toy`` beside ``toy/a.json``)."""
    for key, i in seen.items():
        parts = key.split("/")
        for depth in range(1, len(parts)):
            j = seen.get("/".join(parts[:depth]))
            if j is not None:
                raise ValueError(
                    f"{sources}: field 'files[{j}].path' = {files[j]['path']!r:.80}: a folder of "
                    f"files[{i}].path ({files[i]['path']!r:.80}); one path cannot be both"
                )


SOCKET_SECONDS = 120.0  # one connect or read
DOWNLOAD_SECONDS = 900.0  # one whole file: a server that trickles bytes is cut off
_CHUNK = 1 << 16


def _url_problem(url: str) -> str | None:
    """Why an https URL is refused before any download: credentials in it (they would be sent
    to the host and shown in every message), no host, or a port no socket has."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it: ValueError outside 0 to 65535
    except ValueError as err:
        return f"not a URL to download from ({err})"
    if "@" in parts.netloc:
        return "credentials in a URL are refused (they would be sent and shown); remove them"
    if not parts.hostname:
        return "no host"
    return None


def _download(url: str, opener, seconds: float | None = None) -> bytes:
    """At most MAX_FILE_BYTES within ``seconds`` (default DOWNLOAD_SECONDS); a broken, short or
    slower transfer is an error (short: fewer bytes than its Content-Length announced). The file
    is read in chunks and the clock checked after each, so a download ends within the deadline
    and one socket timeout (itself at most the deadline)."""
    seconds = DOWNLOAD_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    chunks, size = [], 0
    try:
        with opener(url, timeout=min(SOCKET_SECONDS, seconds)) as response:
            announced = _content_length(response)
            # an HTTP response's read1 returns what has arrived, where read waits for a full chunk
            http_response = isinstance(response, http.client.HTTPResponse)
            read = response.read1 if http_response else response.read
            while size <= MAX_FILE_BYTES and (
                chunk := read(min(_CHUNK, MAX_FILE_BYTES + 1 - size))
            ):
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:
                    raise ValueError(
                        f"not downloaded within {seconds:g} s ({size:,} bytes by then); refused"
                    )
    except (OSError, http.client.HTTPException) as e:
        raise ValueError(f"download failed ({type(e).__name__}: {e})") from None
    if size > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes; refused")
    if announced is not None and size != announced:  # read1 ends a cut transfer without error
        raise ValueError(
            f"an incomplete download: {size:,} bytes arrived of the {announced:,} its "
            "Content-Length announced"
        )
    return b"".join(chunks)


def _content_length(response) -> int | None:
    """The body's length the response's headers announce (not for a chunked body), or None."""
    headers = getattr(response, "headers", None)
    if headers is None or getattr(response, "chunked", False):
        return None
    text = headers.get("Content-Length")
    if not isinstance(text, str) or not text.isascii() or not text.strip().isdigit():
        return None
    return int(text.strip())


def source_entry(path: str, sources: Path = SOURCES) -> dict | None:
    """The checked entry of ``sources`` for one data file (``gsm8k/test.jsonl``), or None."""
    return next((e for e in _entries(sources) if e["path"] == path), None)


PATH_BYTES = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096


def _inside_without_links(dest: Path, path: Path, sources: Path, rel: str, field: str) -> None:
    """Refuse a path under ``dest`` that passes through, or is, a symbolic link, that passes
    through something other than a folder, or that is a folder: a link planted in DEST would make
    the write land elsewhere, and the others would fail halfway with the system's message."""
    if dest.exists() and not dest.is_dir():
        raise SpecError(dest, "DEST", str(dest), "not a folder")
    size = len(os.fsencode(str(path)))
    if size >= PATH_BYTES:  # past the system's bound on a path: named here, not by its errno
        message = (
            f"{size:,} bytes under DEST; a path is at most {PATH_BYTES - 1:,} (a shorter DEST)"
        )
        raise SpecError(sources, field, rel, message)
    current = dest
    parts = Path(rel).parts
    for depth, part in enumerate(parts, 1):
        current = current / part
        if current.is_symlink():
            message = f"{current} is a symbolic link inside DEST; refused (fetch writes no link)"
            raise SpecError(sources, field, rel, message)
        if depth < len(parts) and current.exists() and not current.is_dir():
            raise SpecError(sources, field, rel, f"{current} is not a folder")
    if path.is_dir():
        raise SpecError(sources, field, rel, f"{path} is a folder; refused (fetch writes files)")


def _write_new(path: Path, data: bytes) -> None:
    """A unique temporary name beside ``path`` (O_EXCL), fsync, rename, the folder synced."""
    # a short name: the file's own may be 255 bytes, the longest a folder holds
    fd, tmp = tempfile.mkstemp(prefix=".fetch-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode(path))  # mkstemp's file is private (0600): a shared data folder
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class _HttpsRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, to https only: an entry's https URL never ends on plain http (or
    ftp, or a file) on a host and port the server chose."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        import urllib.parse

        if urllib.parse.urlsplit(newurl).scheme.lower() != "https":
            raise ValueError(f"redirected to {newurl[:200]!r}: only https is followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_https(url, *args, **kwargs):
    return urllib.request.build_opener(_HttpsRedirectsOnly).open(url, *args, **kwargs)


def fetch_one(
    dest: Path, entry: dict, opener=None, sources: Path = SOURCES, index: int | None = None
) -> bool:
    """Download one checked entry (``files[index]`` of ``sources``) into ``dest`` unless it is
    there with its hash; True if written. A hash mismatch raises and writes nothing; nothing is
    written through a link; an error names the sources file, the entry's field and its path."""
    opener = opener or _open_https
    path = dest / entry["path"]
    field = "path" if index is None else f"files[{index}].path"
    _inside_without_links(dest, path, sources, entry["path"], field)
    small = path.is_file() and path.stat().st_size <= MAX_FILE_BYTES
    if small and _sha256(path.read_bytes()) == entry["sha256"]:
        return False
    where = "" if index is None else f"files[{index}]."
    try:
        data = _download(entry["url"], opener)
    except ValueError as e:
        raise SpecError(sources, f"{where}url", entry["url"], str(e)) from None
    if _sha256(data) != entry["sha256"]:
        message = f"the file at {entry['url']} (for {entry['path']}) hashes to {_sha256(data)}"
        raise SpecError(sources, f"{where}sha256", entry["sha256"], message)
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _inside_without_links(dest, path, sources, entry["path"], field)  # nothing planted since
        _write_new(path, data)
    except OSError as e:  # a full disk, a read-only folder: named, not the bare system message
        for folder in made:  # the folders this entry made, innermost first, where still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        message = f"cannot write {path.name}: {e.strerror or e}"
        raise SpecError(sources, field, entry["path"], message) from None
    return True


def fetch(dest: Path, sources: Path = SOURCES, opener=None) -> list[str]:
    """Download what is missing; return the paths written. Raises on a hash mismatch."""
    return [
        entry["path"]
        for i, entry in enumerate(_entries(sources))
        if fetch_one(dest, entry, opener=opener, sources=sources, index=i)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m suite fetch", description=__doc__)
    parser.add_argument(
        "dest", type=non_empty_path, help="folder to fill; then set SUITE_DATA_DIR to it"
    )
    parser.add_argument(
        "--sources",
        type=non_empty_path,
        default=str(SOURCES),
        help="the pinned sources YAML (default: the suite's)",
    )
    args = parser.parse_args(argv)
    try:
        written = fetch(Path(args.dest), Path(args.sources))
    except (OSError, ValueError) as err:
        print(error_line(err), file=sys.stderr)
        return 2
    print(f"{len(written)} files fetched into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
