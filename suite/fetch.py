"""Fetch the datasets for machines without the local mirror: pinned GitHub files, sha256-checked.

``python -m suite.fetch DEST`` downloads every file of ``reference/data_sources.yaml`` into DEST
(skipping files already there with the right hash), then ``SUITE_DATA_DIR=DEST`` points the suite
at them. A file whose hash differs is refused and nothing is left half-written.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import urllib.request
from pathlib import Path

import yaml

# No suite imports: this runs before the package's dependencies are installed.
SOURCES = Path(__file__).resolve().parents[1] / "reference" / "data_sources.yaml"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(dest: Path, sources: Path = SOURCES, opener=urllib.request.urlopen) -> list[str]:
    """Download what is missing; return the paths written. Raises on a hash mismatch."""
    entries = yaml.safe_load(sources.read_text(encoding="utf-8"))["files"]
    written = []
    for entry in entries:
        path = dest / entry["path"]
        if path.is_file() and _sha256(path.read_bytes()) == entry["sha256"]:
            continue
        with opener(entry["url"], timeout=120) as response:
            data = response.read()
        if _sha256(data) != entry["sha256"]:
            raise ValueError(
                f"{sources}: field 'sha256' of {entry['path']} = {entry['sha256']}: the file at "
                f"{entry['url']} hashes to {_sha256(data)}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        written.append(entry["path"])
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suite.fetch", description=__doc__)
    parser.add_argument("dest", help="folder to fill; then set SUITE_DATA_DIR to it")
    args = parser.parse_args(argv)
    try:
        written = fetch(Path(args.dest))
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(written)} files fetched into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
