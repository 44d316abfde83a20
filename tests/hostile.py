"""Shared by the hostile-input corpus (tests/test_hostile_*.py): drive the real CLI, and check
that a refusal exits 2 naming file, field and value, without a traceback or a raw control
character, and changes nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from suite.cli import main
from suite.errors import control_character


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under ``folder``: a file's bytes, a link's target, a FIFO's kind."""
    out: dict[str, object] = {}
    for path in sorted(Path(folder).rglob("*")):
        mode = path.lstat().st_mode
        key = str(path.relative_to(folder))
        if stat.S_ISLNK(mode):
            out[key] = ("link", os.readlink(path))
        elif stat.S_ISREG(mode):
            out[key] = path.read_bytes()
        else:
            out[key] = ("kind", stat.S_IFMT(mode))
    return out


def refused(argv: list[str], folder: Path, capsys, *expected: str) -> str:
    """Run ``python -m suite`` in process; it must exit 2 naming every ``expected`` text, print
    no traceback, and leave ``folder`` exactly as it was."""
    before = snapshot(folder)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line: no warning, no forgery
    raw = control_character(err)  # a file name or value never drives the terminal
    assert raw is None, (raw, err)
    for text in expected:
        assert text in err, (text, err)
    assert snapshot(folder) == before
    return err
