"""Shared file basics: one hash of a model folder's weights."""

from __future__ import annotations

import hashlib
from pathlib import Path


def weights_sha256(folder: Path) -> str:
    """One hash over a save_pretrained folder's safetensors files (names and bytes, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.safetensors")):
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
