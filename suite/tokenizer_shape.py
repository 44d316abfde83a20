"""What a ``tokenizer.json`` does to a prompt's length, its model's unknown token and its
post-processor's ids, checked before it tokenizes anything.

* Growth: the normalizer and the decoder run on every prompt and every answer. A ``Replace``
  whose ``content`` is longer than what its pattern matches multiplies the text (26 chained
  ``e`` → ``ee`` steps made the Rust tokenizer abort, out of memory, on a 64 KiB prompt). The
  worst case of a chain is ``out ≤ F·in + C``: a ``Replace`` multiplies ``F`` by
  ``len(content) / (shortest match)`` (``1 + len(content)`` where the pattern can match empty
  text), ``Prepend`` and ``Append`` add their content to ``C``. ``F`` is at most
  :data:`MAX_GROWTH` and ``C`` at most :data:`MAX_ADDED_CHARS`.
* Unknown token: a WordPiece or WordLevel model whose ``unk_token`` is not in its vocabulary,
  or a Unigram model without an ``unk_id`` among its pieces, raises on the first unknown word.
* Post-processor ids: every ``ids`` list and ``[token, id]`` pair under ``post_processor`` is an
  id of the target's vocabulary.
"""

from __future__ import annotations

import re
import re._parser as sre_parse
from typing import Any

MAX_GROWTH = 4.0  # the text a normalizer or decoder chain gives, per input character
MAX_ADDED_CHARS = 4096  # characters a chain may add whatever the input (Prepend, Append)
_CHAINS = ("normalizer", "decoder")


def _shortest_match(pattern: Any, python_syntax) -> int | None:
    """The fewest characters ``pattern`` (``{"String": s}`` or ``{"Regex": r}``) matches."""
    if not isinstance(pattern, dict) or len(pattern) != 1:
        return None
    ((kind, text),) = pattern.items()
    if not isinstance(text, str):
        return None
    if kind == "String":
        return len(text)
    if kind == "Regex":
        try:
            return int(sre_parse.parse(python_syntax(text)).getwidth()[0])
        except (re.error, RecursionError, OverflowError):
            return None
    return None


def _steps(value: Any, field: str):
    """(field, step) for each step of a normalizer or decoder, Sequences flattened in order."""
    if not isinstance(value, dict):
        return
    if value.get("type") == "Sequence":
        for key in ("normalizers", "decoders"):
            items = value.get(key)
            for i, sub in enumerate(items if isinstance(items, list) else []):
                yield from _steps(sub, f"{field}.{key}[{i}]")
        return
    yield field, value


def growth_problem(data: Any, python_syntax) -> tuple[str, Any, str] | None:
    """(field, value, reason) where a normalizer or decoder chain can grow text over the
    bounds in the module's docstring, or None."""
    if not isinstance(data, dict):
        return None
    for chain in _CHAINS:
        factor, added = 1.0, 0
        for field, step in _steps(data.get(chain), chain):
            kind = step.get("type")
            if kind == "Replace":
                content = step.get("content")
                shortest = _shortest_match(step.get("pattern"), python_syntax)
                if shortest is None or not isinstance(content, str):
                    return f"{field}.pattern", step.get("pattern"), "not a pattern to bound"
                step_factor = (
                    1 + len(content) if shortest == 0 else max(1.0, len(content) / shortest)
                )
                factor, added = factor * step_factor, int(added * step_factor)
                added += len(content) if shortest == 0 else 0
                what = f"{field}.content"
            elif kind in ("Prepend", "Append"):
                key = kind.lower()
                text = step.get(key)
                added += len(text) if isinstance(text, str) else 0
                content, what = text, f"{field}.{key}"
            else:
                continue
            if factor > MAX_GROWTH or added > MAX_ADDED_CHARS:
                message = (
                    f"the {chain} chain can grow a text {factor:,.0f}-fold plus {added:,} "
                    f"characters up to here; at most {MAX_GROWTH:g}-fold plus "
                    f"{MAX_ADDED_CHARS:,} (a Replace's content against its shortest match)"
                )
                return what, content, message
    return None


def unknown_token_problem(data: Any) -> tuple[str, Any, str] | None:
    """(field, value, reason) where the model cannot encode an unknown word, or None."""
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        return None
    kind, vocab = model.get("type"), model.get("vocab")
    unk = model.get("unk_token")
    needed = kind in ("WordPiece", "WordLevel")  # BPE without its unk passes: bytes cover all
    if needed and (not isinstance(vocab, dict) or not isinstance(unk, str) or unk not in vocab):
        return "model.unk_token", unk, "the unknown token must be a token of model.vocab"
    if kind == "Unigram":
        unk_id, size = model.get("unk_id"), len(vocab) if isinstance(vocab, list) else 0
        if not (isinstance(unk_id, int) and not isinstance(unk_id, bool) and 0 <= unk_id < size):
            message = f"expected the id of a piece of model.vocab, in [0, {size})"
            return "model.unk_id", unk_id, message
    return None


def _post_processor_ids(value: Any, field: str):
    """(field, id) of each token id under a post-processor: ``ids`` lists (TemplateProcessing's
    special tokens) and ``[token, id]`` pairs (Bert's and Roberta's ``sep`` and ``cls``)."""
    stack = [(value, field)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                name = f"{where}.{key}"
                if key == "ids" and isinstance(sub, list):
                    yield from ((f"{name}[{i}]", token) for i, token in enumerate(sub))
                elif key in ("sep", "cls") and isinstance(sub, list) and len(sub) == 2:
                    yield f"{name}[1]", sub[1]
                elif isinstance(sub, dict | list):
                    stack.append((sub, name))
        elif isinstance(item, list):
            stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))


def post_processor_problem(data: Any, vocab_size: int) -> tuple[str, Any, str] | None:
    """The first post-processor id outside [0, vocab_size): (field, id, reason), or None."""
    processor = data.get("post_processor") if isinstance(data, dict) else None
    for field, token in _post_processor_ids(processor, "post_processor"):
        if not (isinstance(token, int) and not isinstance(token, bool)) or not (
            0 <= token < vocab_size
        ):
            return field, token, f"expected ids in [0, {vocab_size}), the target's vocab_size"
    return None
