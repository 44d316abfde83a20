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

from suite.panic_text import panic_text_held

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The call ran past its deadline (``seconds``); ``spent`` where it was the process's
    tokenizer time in all (:func:`tokenizer_call`) that ran out, not the call's own."""

    def __init__(self, seconds: float, spent: float | None = None) -> None:
        super().__init__(f"took over {seconds:g} s")
        self.seconds, self.spent = seconds, spent

    def reason(self, what: str) -> str:
        """Why ``what`` (``"a prompt of 9 characters"``) is refused."""
        if self.spent is None:
            return f"the tokenizer took over {self.seconds:g} s on {what}"
        return (
            f"tokenizers have taken {self.spent:.0f} s in all in this process, over its "
            f"{TOTAL_SECONDS:g} s plus {PER_TEXT_SECONDS * 1000:g} ms a text, by {what}"
        )


# The tokenizers' time in all, in this process: a call just under its deadline, repeated over
# every prompt or chunk of training texts, would be bounded only by their number, and one budget
# per tokenizer would multiply by the tokenizers a run loads. Real tokenizers take well under a
# millisecond a text, so the allowance a text is generous and what a slow one costs is at most
# TOTAL_SECONDS plus PER_TEXT_SECONDS for each text it was handed.
TOTAL_SECONDS = 60.0
PER_TEXT_SECONDS = 0.002


class _Budget:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spent, self.texts = 0.0, 0


_BUDGET = _Budget()
# The load-time timing checks of every tokenizer in a process together
# (suite.tokenizer_timing.CHECK_SECONDS each): a profile of many families, each with its own
# hostile tokenizer, would otherwise multiply the check's bound. Real checks take about a second.
CHECKS_SECONDS = 60.0
_CHECKS = _Budget()


def reset_budget() -> None:
    """Start this process's tokenizer time afresh (a test's own, or a new run in one process)."""
    for budget in (_BUDGET, _CHECKS):
        with budget.lock:
            budget.spent, budget.texts = 0.0, 0


def check_seconds_left() -> float:
    """What is left of CHECKS_SECONDS in this process."""
    with _CHECKS.lock:
        return CHECKS_SECONDS - _CHECKS.spent


def spend_check_seconds(seconds: float) -> None:
    with _CHECKS.lock:
        _CHECKS.spent += seconds


def tokenizer_call(call: Callable[[], T], seconds: float, texts: int = 1) -> T:
    """``call()`` under ``seconds`` and under what is left of this process's tokenizer time
    (TOTAL_SECONDS plus PER_TEXT_SECONDS for each text handed to a tokenizer so far; a batch call
    counts ``texts``)."""
    with _BUDGET.lock:
        _BUDGET.texts += max(1, texts)
        spent = _BUDGET.spent
        left = TOTAL_SECONDS + PER_TEXT_SECONDS * _BUDGET.texts - spent
    if left <= 0:
        raise DeadlineExceeded(seconds, spent)
    try:
        result, took = call_with_deadline(call, min(seconds, left))
    except DeadlineExceeded:
        with _BUDGET.lock:
            _BUDGET.spent += min(seconds, left)
        raise DeadlineExceeded(seconds, None if seconds <= left else spent + left) from None
    with _BUDGET.lock:
        _BUDGET.spent += took
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
    with panic_text_held():  # a Rust panic's report: the caller names the error in one line
        thread.start()
        thread.join(seconds)
    if thread.is_alive():
        raise DeadlineExceeded(seconds)
    if "error" in box:
        raise box["error"]
    return box["result"], box["seconds"]
