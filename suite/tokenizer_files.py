"""A tokenizer's own regexes, checked before it tokenizes anything, and its Rust panics.

``tokenizer.json`` may hold regexes (``{"Regex": ...}``) in its normalizers (``Replace``),
pre-tokenizers (``Split``) and decoders; the Rust tokenizers library runs them with Oniguruma
over every prompt. A pattern that backtracks without bound (``([a-z ]|[a-z ])*[A-Z]{3}``) hits
Oniguruma's retry limit, and the library then panics: a ``PanicException``, which derives from
``BaseException`` and escapes every handler. Each pattern must pass the rules of
:mod:`suite.tokenizer_regex`; the whole file, the rules of :mod:`suite.tokenizer_growth` and
:mod:`suite.tokenizer_shape`; its regex steps, the timing of :mod:`suite.tokenizer_timing`.

A panic that happens anyway becomes a :class:`SpecError` naming the tokenizer
(:func:`tokenizer_panics`).
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from suite.chat_output import MAX_SPECIAL_TOKEN_CHARS
from suite.errors import SpecError
from suite.jsonable import entries
from suite.strict import read_config, read_json
from suite.tokenizer_growth import MAX_ENCODE_GROWTH, Unbounded, encode_growth, growth_problem
from suite.tokenizer_regex import _python_syntax, tokenizer_regex_problem
from suite.tokenizer_shape import (
    MAX_ADDED_TOKENS,
    added_tokens_problem,
    post_processor_problem,
    post_processor_size_problem,
    unknown_token_problem,
    vocabulary_token_problem,
)
from suite.tokenizer_timing import check_regex_time

MAX_TOKENIZER_BYTES = 64 << 20  # real tokenizer.json files are up to a few tens of MiB
TOKENIZER_JSON = "tokenizer.json"


def _regexes(data: Any) -> Iterator[tuple[str, Any]]:
    """Every ``{"Regex": pattern}`` anywhere in a tokenizer's JSON: (dotted path, pattern)."""
    return ((name, sub) for name, key, sub in entries(data) if key == "Regex")


MAX_TOKENIZER_REGEXES = 8  # each scans every prompt; real tokenizers hold at most a few


def tokenizer_regex_field(data: Any) -> tuple[str, Any, str] | None:
    """The JSON path, pattern and reason of the first refused regex in a tokenizer's JSON."""
    for count, (field, pattern) in enumerate(_regexes(data), 1):
        if count > MAX_TOKENIZER_REGEXES:
            message = f"a tokenizer holds at most {MAX_TOKENIZER_REGEXES} regexes"
            return field, pattern, message
        problem = tokenizer_regex_problem(pattern)
        if problem:
            return field, pattern, problem
    return None


def check_tokenizer_file(path: Path) -> None:
    """A ``tokenizer.json`` read strictly (at most 64 MiB): every regex in it must pass, its
    normalizer, pre-tokenizer and decoder grow text by a bounded factor
    (:mod:`suite.tokenizer_growth`), its model encodes an unknown word, its vocabulary tokens and
    post-processor are bounded (:mod:`suite.tokenizer_shape`), and every added token is at most
    MAX_SPECIAL_TOKEN_CHARS characters."""
    data = read_json(path, path.name, MAX_TOKENIZER_BYTES)
    found = _shape_problem(data)
    if found:
        raise SpecError(path, *found)
    added = data.get("added_tokens") if isinstance(data, dict) else None
    for i, token in enumerate(added if isinstance(added, list) else []):
        _check_token_length(path, f"added_tokens[{i}].content", token)


def _shape_problem(data: Any) -> tuple[str, Any, str] | None:
    """The first refused regex, growing chain, model without an unknown token, overlong
    vocabulary token or post-processor that adds without bound."""
    return (
        tokenizer_regex_field(data)
        or growth_problem(data, _python_syntax)
        or unknown_token_problem(data)
        or vocabulary_token_problem(data)
        or post_processor_size_problem(data)
        or added_tokens_problem(data)
    )


_GROWTH: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tokenizer_growth(tokenizer) -> float:
    """How many characters a loaded tokenizer's normalizer and pre-tokenizer can make of one
    (:mod:`suite.tokenizer_growth`), from the check at load; MAX_ENCODE_GROWTH where it was not
    checked or holds no Rust backend (a sentencepiece tokenizer normalizes with a charsmap)."""
    try:
        return _GROWTH.get(tokenizer, (MAX_ENCODE_GROWTH, 0.0))[0]
    except TypeError:  # not weakly referable (a stand-in in the tests)
        return MAX_ENCODE_GROWTH


def tokenizer_regex_seconds(tokenizer) -> float:
    """The seconds a loaded tokenizer's regex steps took on their slowest probes at load (0
    without a regex step): its time is measured, not bounded (:mod:`suite.tokenizer_timing`)."""
    try:
        return float(_GROWTH.get(tokenizer, (MAX_ENCODE_GROWTH, 0.0))[1])
    except TypeError:
        return 0.0


class BuiltTokenizerError(SpecError):
    """A rule refuses the JSON transformers built for a loaded tokenizer (which its
    ``tokenizer_class`` may have converted from the folder's)."""

    def __init__(self, where: str | Path, field: str, value: Any, reason: str, built: str):
        message = f"{reason} (in the {built} transformers built from the folder)"
        super().__init__(where, field, value, message)
        self.reason = reason


def check_tokenizer_regexes(tokenizer, where: str | Path) -> None:
    """A loaded tokenizer's regexes, growth and unknown token, from the JSON its Rust backend
    holds (a Hub tokenizer's, or one transformers converted from another format), and its
    regexes' time on long runs (:mod:`suite.tokenizer_timing`): refused naming ``where``."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a Python tokenizer (sentencepiece): no Oniguruma regexes
        return
    data = json.loads(backend.to_str())
    found = _shape_problem(data)
    if found:  # the JSON transformers built, which its tokenizer_class may have converted
        raise BuiltTokenizerError(where, *found, type(tokenizer).__name__)
    seconds = check_regex_time(data, where)
    # bounded just above; TypeError: a tokenizer without weak references
    with contextlib.suppress(Unbounded, TypeError):
        _GROWTH[tokenizer] = (encode_growth(data, _python_syntax), seconds)


@contextlib.contextmanager
def tokenizer_panics(tokenizer) -> Iterator[None]:
    """Around calls into a tokenizer: a Rust panic (``pyo3_runtime.PanicException``, a
    ``BaseException``) or an ordinary exception it raises (a WordPiece model without its unknown
    token) becomes a SpecError naming the tokenizer; a SpecError or an interrupt passes."""
    try:
        yield
    except SpecError:
        raise
    except BaseException as err:
        if type(err).__name__ != "PanicException" and not isinstance(err, Exception):
            raise
        where = getattr(tokenizer, "name_or_path", None) or "tokenizer"
        text = str(err).strip().splitlines()
        message = f"the tokenizer failed: {text[0] if text else type(err).__name__}"
        raise SpecError(where, "tokenizer", Path(str(where)).name, message) from None


SPECIAL_TOKENS = ("eos_token", "bos_token", "pad_token", "unk_token")
SPECIAL_TOKEN_FILES = ("tokenizer_config.json", "special_tokens_map.json")
_TOKEN_LISTS = ("additional_special_tokens", "extra_special_tokens")


def _token_text(value: Any) -> str | None:
    """A special token as ``tokenizer_config.json`` states it: text, or ``{"content": text}``."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _is_id(value: Any, vocab_size: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < vocab_size


def _vocabulary(data: Any, vocab_size: int) -> tuple[set[str], tuple[str, Any, str] | None]:
    """The token texts of a ``tokenizer.json`` and the first id outside [0, vocab_size)."""
    model = data.get("model") if isinstance(data, dict) else None
    vocab = model.get("vocab") if isinstance(model, dict) else None
    where = f"ids in [0, {vocab_size}), the target's vocab_size"
    tokens: set[str] = set()
    if isinstance(vocab, dict):
        for token, token_id in vocab.items():
            if not _is_id(token_id, vocab_size):
                return tokens, (f"model.vocab.{token}", token_id, f"expected {where}")
            tokens.add(token)
    elif isinstance(vocab, list):  # Unigram: (piece, score) pairs, the id is the position
        if len(vocab) > vocab_size:
            return tokens, ("model.vocab", len(vocab), f"more pieces than {where}")
        tokens.update(p[0] for p in vocab if isinstance(p, list) and p and isinstance(p[0], str))
    added = data.get("added_tokens", []) if isinstance(data, dict) else []
    for i, token in enumerate(added if isinstance(added, list) else []):
        token = token if isinstance(token, dict) else {}
        if not _is_id(token.get("id"), vocab_size):
            return tokens, (f"added_tokens[{i}].id", token.get("id"), f"expected {where}")
        if isinstance(token.get("content"), str):
            tokens.add(token["content"])
    return tokens, None


def _next_id(data: Any) -> int:
    """The id transformers gives the first token it adds to a ``tokenizer.json``: one past its
    highest id (its vocabulary's and added tokens')."""
    model = data.get("model") if isinstance(data, dict) else None
    vocab = model.get("vocab") if isinstance(model, dict) else None
    ids = [v for v in vocab.values() if _is_id(v, 1 << 62)] if isinstance(vocab, dict) else []
    highest = max(ids, default=len(vocab) - 1 if isinstance(vocab, list) else -1)
    added = data.get("added_tokens", []) if isinstance(data, dict) else []
    for token in added if isinstance(added, list) else []:
        token_id = token.get("id") if isinstance(token, dict) else None
        if _is_id(token_id, 1 << 62):
            highest = max(highest, token_id)
    return highest + 1


ADDED_TOKENS_JSON = "added_tokens.json"


def _check_added_tokens_file(
    folder: Path, vocab_size: int, tokens: set[str] | None, next_id: int
) -> None:
    """``added_tokens.json`` (token -> id, which transformers loads beside the other files):
    each id below ``vocab_size``, and each token not already in ``tokens`` (the tokenizer's,
    where its ``tokenizer.json`` was read) added, as transformers adds it, at the next id, which
    must also be below ``vocab_size``."""
    path = folder / ADDED_TOKENS_JSON
    if not (path.exists() or path.is_symlink()):
        return
    added = read_config(path)
    if len(added) > MAX_ADDED_TOKENS:
        raise SpecError(path, path.name, f"{len(added):,} tokens", f"at most {MAX_ADDED_TOKENS:,}")
    where = f"ids in [0, {vocab_size}), the target's vocab_size"
    for token, token_id in added.items():
        if not _is_id(token_id, vocab_size):
            raise SpecError(path, token, token_id, f"expected {where}")
    ordered = sorted(added.items(), key=lambda item: item[1])
    for token, token_id in ordered if tokens is not None else ():
        if token in tokens:
            continue
        if next_id >= vocab_size:
            message = (
                f"not a token of {TOKENIZER_JSON}: transformers adds it with id {next_id}, "
                f"past the target's vocab_size ({vocab_size})"
            )
            raise SpecError(path, token, token_id, message)
        tokens.add(token)
        next_id += 1


def check_tokenizer_vocabulary(folder: Path, vocab_size: int) -> None:
    """A tokenizer folder against its target's logits: every id in ``tokenizer.json`` (its
    vocabulary, added tokens and post-processor) and ``added_tokens.json`` below ``vocab_size``,
    a token ``added_tokens.json`` adds given an id below it too, and each special token of
    ``tokenizer_config.json`` and ``special_tokens_map.json`` one of its tokens (transformers
    would add it past the logits).
    A folder without ``tokenizer.json`` (sentencepiece) has its ``added_tokens.json`` ids
    checked here, the rest when it is loaded."""
    path = folder / TOKENIZER_JSON
    if not path.is_file():
        _check_added_tokens_file(folder, vocab_size, None, 0)
        return
    data = read_json(path, path.name, MAX_TOKENIZER_BYTES)
    tokens, problem = _vocabulary(data, vocab_size)
    problem = problem or post_processor_problem(data, vocab_size)
    if problem:
        raise SpecError(path, *problem)
    config_path = folder / "tokenizer_config.json"
    config = read_config(config_path) if config_path.is_file() else {}
    decoder = config.get("added_tokens_decoder") or {}
    for key in decoder if isinstance(decoder, dict) else ():
        if not (re.fullmatch(r"[0-9]{1,11}", key) and int(key) < vocab_size):
            message = f"expected ids in [0, {vocab_size}), the target's vocab_size"
            raise SpecError(config_path, f"added_tokens_decoder.{key}", key, message)
        tokens.add(_token_text(decoder[key]) or "")
    decoded = [int(key) + 1 for key in decoder] if isinstance(decoder, dict) else []
    next_id = max([_next_id(data), *decoded])
    _check_added_tokens_file(folder, vocab_size, tokens, next_id)
    for name in SPECIAL_TOKEN_FILES:
        special = config if name == config_path.name else _special_tokens_map(folder / name)
        named = [(key, special[key]) for key in SPECIAL_TOKENS if special.get(key) is not None]
        for field, value in [*named, *_listed_tokens(special)]:
            text = _token_text(value)
            if text is None or text not in tokens:  # transformers would add it past the logits
                message = "not a token of this tokenizer's vocabulary"
                raise SpecError(folder / name, field, value, message)


def _special_tokens_map(path: Path) -> dict:
    return read_config(path) if path.is_file() else {}


def _listed_tokens(config: dict) -> Iterator[tuple[str, Any]]:
    """(field, token) of the additional and extra special tokens of a tokenizer config."""
    for key in _TOKEN_LISTS:
        value = config.get(key)
        if isinstance(value, dict):
            yield from ((f"{key}.{name}", token) for name, token in value.items())
        elif isinstance(value, list):
            yield from ((f"{key}[{i}]", token) for i, token in enumerate(value))


# Control characters but tab, newline and carriage return (C0, DEL, C1), format characters
# (bidirectional marks, embeddings, overrides and isolates, which reorder the text a terminal or
# a report shows, the byte-order mark, invisible spaces) but the joiners scripts need, and the
# line and paragraph separators.
_HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")
_SHOWN = frozenset("\t\n\r\u200c\u200d")


def _hidden(text: str) -> tuple[int, str] | None:
    """The position and character of ``text``'s first hidden character, or None."""
    for i, c in enumerate(text):
        if c not in _SHOWN and unicodedata.category(c) in _HIDDEN_CATEGORIES:
            return i, c
    return None


def _check_token_length(path: Path | str, field: str, value: Any) -> None:
    """A special or added token of at most MAX_SPECIAL_TOKEN_CHARS characters (transformers passes
    each special token to the chat template, which may print it many times) without control or
    bidirectional-override characters (a token is printed in prompts, reports and errors)."""
    text = _token_text(value)
    if text is not None and len(text) > MAX_SPECIAL_TOKEN_CHARS:
        message = (
            f"a special or added token is at most {MAX_SPECIAL_TOKEN_CHARS} characters "
            f"(this one has {len(text):,})"
        )
        raise SpecError(path, field, text, message)
    hidden = _hidden(text) if text is not None else None
    if hidden:
        message = (
            "a special or added token holds no control, format (bidirectional, byte-order, "
            f"invisible) or separator character (this one has U+{ord(hidden[1]):04X} at "
            f"{hidden[0]})"
        )
        raise SpecError(path, field, text, message)


def _named_tokens(config: dict) -> Iterator[tuple[str, Any]]:
    """(field, value) of every token a ``tokenizer_config.json`` or ``special_tokens_map.json``
    names: each ``*_token`` (transformers reads any as a model-specific special token), the
    additional and extra special tokens and ``added_tokens_decoder``'s entries."""
    for key, value in config.items():
        if key.endswith("_token"):
            yield key, value
    yield from _listed_tokens(config)
    decoder = config.get("added_tokens_decoder")
    for key, token in decoder.items() if isinstance(decoder, dict) else ():
        yield f"added_tokens_decoder.{key}.content", token


def check_special_tokens(folder: Path) -> None:
    """Every token a tokenizer folder's ``tokenizer_config.json`` and ``special_tokens_map.json``
    name is at most MAX_SPECIAL_TOKEN_CHARS characters (``tokenizer.json``'s added tokens are
    checked with its regexes): a SpecError naming the file, the field and the token."""
    for name in (*SPECIAL_TOKEN_FILES, TOKENIZER_JSON):  # a folder of one of these names:
        path = folder / name  # transformers skips it, and its tokens would go unchecked
        if (path.exists() or path.is_symlink()) and not path.is_file():
            raise SpecError(path, name, name, "not a regular file; refused")
    for name in SPECIAL_TOKEN_FILES:
        path = folder / name
        config = read_config(path) if path.is_file() else None
        for field, value in _named_tokens(config) if isinstance(config, dict) else ():
            _check_token_length(path, field, value)
        for field, value in config.items() if isinstance(config, dict) else ():
            _check_file_names(path, field, value)


def _check_file_names(path: Path, field: str, value: Any) -> None:
    """``fast_tokenizer_files`` (a tokenizer.json per library version) is refused: transformers
    loads the file it names, relative to the folder (``../tokenizer.1.json``: a file no check
    read), instead of the folder's own tokenizer.json, the one the suite checks. Other ``*_file``
    fields (``vocab_file``, ``special_tokens_map_file``, often an absolute path where a tokenizer
    was saved) are not opened from the config: the folder's own files are."""
    if field == "fast_tokenizer_files":
        message = "refused: the folder's tokenizer.json is the tokenizer the suite checks and loads"
        raise SpecError(path, field, value, message)


def check_loaded_special_tokens(tokenizer, where: str | Path) -> None:
    """A loaded tokenizer's special and added tokens (a Hub tokenizer's too) against the same
    cap, refused naming ``where``."""
    named = getattr(tokenizer, "special_tokens_map", None) or {}
    for field, value in named.items() if isinstance(named, dict) else ():
        _check_token_length(where, field, value)
    for token in getattr(tokenizer, "all_special_tokens", None) or ():
        _check_token_length(where, "extra_special_tokens", token)
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for key, token in decoder.items() if isinstance(decoder, dict) else ():
        _check_token_length(where, f"added_tokens_decoder.{key}.content", str(token))
