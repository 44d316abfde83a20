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
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The call ran past its deadline (``seconds``); ``spent`` where it was a tokenizer's time in
    all (:func:`tokenizer_call`) that ran out, not the call's own."""

    def __init__(self, seconds: float, spent: float | None = None) -> None:
        super().__init__(f"took over {seconds:g} s")
        self.seconds, self.spent = seconds, spent

    def reason(self, what: str) -> str:
        """Why ``what`` (``"a prompt of 9 characters"``) is refused."""
        if self.spent is None:
            return f"the tokenizer took over {self.seconds:g} s on {what}"
        return (
            f"the tokenizer has taken {self.spent:.0f} s in all in this process, over its "
            f"{TOTAL_SECONDS:g} s plus {PER_CALL_SECONDS * 1000:g} ms a call, by {what}"
        )


# A tokenizer's time in all: a call just under its deadline, repeated over every prompt, would
# be bounded only by the number of prompts. Real tokenizers take about a millisecond a call.
TOTAL_SECONDS = 60.0
PER_CALL_SECONDS = 0.05
_SPENT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tokenizer_call(tokenizer, call: Callable[[], T], seconds: float, texts: int = 1) -> T:
    """``call()`` under ``seconds`` and under what is left of ``tokenizer``'s time in all
    (TOTAL_SECONDS plus PER_CALL_SECONDS for each text so far; a batch call counts ``texts``)."""
    try:
        spent, calls = _SPENT.get(tokenizer, (0.0, 0))
    except TypeError:  # not weakly referable (a stand-in in the tests): the call's own deadline
        return call_with_deadline(call, seconds)[0]
    calls += texts
    left = TOTAL_SECONDS + PER_CALL_SECONDS * calls - spent
    if left <= 0:
        raise DeadlineExceeded(seconds, spent)
    try:
        result, took = call_with_deadline(call, min(seconds, left))
    except DeadlineExceeded:
        _SPENT[tokenizer] = (spent + min(seconds, left), calls)
        raise DeadlineExceeded(seconds, None if seconds <= left else spent + left) from None
    _SPENT[tokenizer] = (spent + took, calls)
    return result


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
