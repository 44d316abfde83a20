"""A Rust library's panic report kept off the terminal.

The tokenizers library panics where Oniguruma gives up (``retry-limit-in-match over``): Rust's
panic hook writes ``thread '...' panicked at ...`` (and, with ``RUST_BACKTRACE`` set, a stack
trace of dozens of frames) straight to file descriptor 2, and Python then raises a
``PanicException`` that the suite turns into its one-line error naming the file. Around such
calls, :func:`panic_text_held` points descriptor 2 at a temporary file and, when the call is
done, writes back what was held unless it is a panic report, whose first line the suite's
error already states. Nested and concurrent uses share one redirection (the outermost undoes
it); what is written back is at most :data:`MAX_HELD_BYTES`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

MAX_HELD_BYTES = 1 << 20
_PANIC = b"panicked at "

_STATE: dict = {"depth": 0, "saved": None, "held": None}  # held: one file, kept open
_LOCK = threading.Lock()


def _begin() -> None:
    with _LOCK:
        _STATE["depth"] += 1
        if _STATE["depth"] > 1:
            return
        try:
            for stream in (sys.stderr, sys.__stderr__):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.flush()
            if _STATE["held"] is None:
                _STATE["held"] = tempfile.TemporaryFile()  # noqa: SIM115 (kept open, reused)
            saved = os.dup(2)
            os.dup2(_STATE["held"].fileno(), 2)
        except OSError:  # no descriptor 2, or none to spare: the text reaches the terminal
            return
        _STATE["saved"] = saved


def _end() -> None:
    with _LOCK:
        _STATE["depth"] -= 1
        if _STATE["depth"] > 0 or _STATE["saved"] is None:
            return
        saved, held = _STATE["saved"], _STATE["held"].fileno()
        _STATE["saved"] = None
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        size = os.fstat(held).st_size
        text = os.pread(held, min(size, MAX_HELD_BYTES), 0) if size else b""
        if size:
            os.ftruncate(held, 0)
            os.lseek(held, 0, os.SEEK_SET)
        if text and _PANIC not in text:  # another writer's text: written back
            with contextlib.suppress(OSError):
                os.write(2, text)


@contextlib.contextmanager
def panic_text_held() -> Iterator[None]:
    """While the block runs, a Rust panic report on descriptor 2 is held and dropped (the
    exception it comes with is named by the caller); other text is written back after."""
    _begin()
    try:
        yield
    finally:
        _end()
