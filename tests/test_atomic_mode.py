"""Files written atomically keep the mode of the file they replace, and a new one gets the
umask's (a private temporary file used to leave every report and results file at 0600)."""

from __future__ import annotations

import os
import stat

from suite.io import write_text_atomic


def test_a_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    old = tmp_path / "table.md"
    old.write_text("x")
    os.chmod(old, 0o644)
    write_text_atomic(old, "y")
    assert stat.S_IMODE(old.stat().st_mode) == 0o644 and old.read_text() == "y"
    os.chmod(old, 0o444)
    write_text_atomic(old, "z")
    assert stat.S_IMODE(old.stat().st_mode) == 0o444
    mask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "new.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644
