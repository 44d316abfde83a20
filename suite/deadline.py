"""A call into the Rust tokenizers library with a deadline.

The library's batch calls (``encode_batch``, which ``transformers`` uses for every text, and
``decode_batch``) release the GIL, so a worker thread can run one while the caller waits with a
timeout. A call past its deadline cannot be stopped: the worker goes on in the background (a
daemon thread, ended when the process exits) and the caller gets :class:`DeadlineExceeded`, which
the CLI reports as a refusal of the tokenizer before anything more is written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The call ran past its deadline (``seconds``)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"took over {seconds:g} s")
        self.seconds = seconds


def call_with_deadline(call: Callable[[], T], seconds: float) -> tuple[T, float]:
    """``call()``'s result and the seconds it took; what it raises (a ``PanicException`` too)
    is raised here; past ``seconds``, :class:`DeadlineExceeded`."""
    box: dict[str, Any] = {}

    def work() -> None:
        start = time.perf_counter()
        try:
            box["result"] = call()
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err
        box["seconds"] = time.perf_counter() - start

    thread = threading.Thread(target=work, daemon=True, name="tokenizer-call")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise DeadlineExceeded(seconds)
    if "error" in box:
        raise box["error"]
    return box["result"], box["seconds"]
