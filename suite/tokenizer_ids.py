"""The special token ids a model's config and generation config state, as speculation pairs them.

A target and its draft must agree on their special ids (one vocabulary). ``eos_token_id`` may be
a list of ids (transformers takes ``int | list[int]``; Llama-3 configs state several): a draft's
list agrees with the target when it holds every id the target states, so ``[0]`` and ``[0, 5]``
agree with ``0``. The other ids (``bos_token_id``, ``pad_token_id``) are one id each.
"""

from __future__ import annotations

from typing import Any

SPECIAL_IDS = ("eos_token_id", "bos_token_id", "pad_token_id")
LIST_IDS = ("eos_token_id",)  # the keys transformers reads as a list of ids too
MAX_LISTED_IDS = 64  # real configs list up to a handful of end-of-sequence ids


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ids(value: Any) -> frozenset | None:
    """The ids a value states: one id, a list of ids, or None where it is neither."""
    if _integer(value):
        return frozenset([value])
    if isinstance(value, list | tuple) and all(_integer(v) for v in value):
        return frozenset(value)
    return None


def same_special_ids(key: str, target: Any, draft: Any) -> bool:
    """Whether a draft's ``key`` agrees with its target's: either unstated, equal, or (for a
    :data:`LIST_IDS` key) the draft's ids hold every id of the target's."""
    if target is None or draft is None or target == draft:
        return True
    if key not in LIST_IDS:
        return False
    theirs, mine = _ids(target), _ids(draft)
    return theirs is not None and mine is not None and theirs <= mine


def special_id_problem(
    key: str, value: Any, vocab_size: int | None = None
) -> tuple[str, Any, str] | None:
    """(field, value, why) where a config's ``key`` is a list it may not be: a list for a key
    read as one id, more than MAX_LISTED_IDS ids, or an id that is not an integer >= 0 (and
    below the target's ``vocab_size`` where it is given); for a single value, an integer id
    outside that vocabulary (its type is transformers' to check)."""
    if not isinstance(value, list):  # one id: within the target's vocabulary where known
        if vocab_size is not None and value is not None and not _integer(value):
            return key, value, "expected a token id: an integer (not a bool or a float)"
        if vocab_size is not None and _integer(value) and not 0 <= value < vocab_size:
            return key, value, f"expected a token id in [0, {vocab_size}), the target's vocab_size"
        return None
    if key not in LIST_IDS:
        return key, value, "expected one token id: only eos_token_id may list several"
    if len(value) > MAX_LISTED_IDS:
        return key, f"{len(value):,} ids", f"at most {MAX_LISTED_IDS} ids"
    for i, token in enumerate(value):
        if vocab_size is None and not (_integer(token) and token >= 0):
            return f"{key}[{i}]", token, "expected token ids: integers >= 0"
        if vocab_size is not None and not (_integer(token) and 0 <= token < vocab_size):
            message = f"expected token ids in [0, {vocab_size}), the target's vocab_size"
            return f"{key}[{i}]", token, message
    return None
