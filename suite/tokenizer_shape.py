"""What a ``tokenizer.json``'s model does with an unknown word and what its post-processor
adds, checked before it tokenizes anything (its growth: :mod:`suite.tokenizer_growth`).

* Unknown token: a WordPiece or WordLevel model whose ``unk_token`` is not in its vocabulary,
  or a Unigram model without an ``unk_id`` among its pieces, raises on the first unknown word.
* Post-processor ids: every ``ids`` list and ``[token, id]`` pair under ``post_processor`` is an
  id of the target's vocabulary.
"""

from __future__ import annotations

from typing import Any

MAX_MODEL_AFFIX = 64  # a model's unknown token, subword prefix or word suffix ("##", "</w>")
MAX_WORD_CHARS = 200  # WordPiece's max_input_chars_per_word (its search is cubic): BERT's is 100


def unknown_token_problem(data: Any) -> tuple[str, Any, str] | None:
    """(field, value, reason) where the model cannot encode an unknown word, or None."""
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        return None
    kind, vocab = model.get("type"), model.get("vocab")
    unk = model.get("unk_token")
    needed = kind in ("WordPiece", "WordLevel")  # BPE without an unk drops what it cannot spell
    named = kind == "BPE" and unk is not None  # BPE with one raises where it is missing
    if (needed or named) and (
        not isinstance(vocab, dict) or not isinstance(unk, str) or unk not in vocab
    ):
        return "model.unk_token", unk, "the unknown token must be a token of model.vocab"
    for key in ("unk_token", "continuing_subword_prefix", "end_of_word_suffix"):
        text = model.get(key)  # formatted around every piece the model looks up
        if isinstance(text, str) and len(text) > MAX_MODEL_AFFIX:
            return f"model.{key}", f"{text[:40]}…", f"at most {MAX_MODEL_AFFIX} characters"
    longest = model.get("max_input_chars_per_word")
    if longest is not None and not (
        isinstance(longest, int) and not isinstance(longest, bool) and 0 < longest <= MAX_WORD_CHARS
    ):  # WordPiece's greedy search is quadratic in a word's length
        return "model.max_input_chars_per_word", longest, f"expected 1 to {MAX_WORD_CHARS:,}"
    if kind == "BPE" and model.get("dropout") not in (None, 0, 0.0):
        message = "BPE dropout tokenizes at random, so no run would repeat; expected null"
        return "model.dropout", model.get("dropout"), message
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


MAX_UNIGRAM_PIECE_CHARS = 64  # a Unigram piece: its search is the text's length times this
MAX_TOKEN_CHARS = 1024  # a vocabulary token's text; real vocabularies' longest are < 300
MAX_TEMPLATE_IDS = 64  # special-token ids a post-processor adds to one encoding
MAX_PIECES = 64  # pieces of one post-processing template
_SEQUENCES = {"single": 1, "pair": 2}  # a template holds each input sequence at most once
_PLAIN_PROCESSORS = {"BertProcessing": 2, "RobertaProcessing": 4, "ByteLevel": 0}


def vocabulary_token_problem(data: Any) -> tuple[str, Any, str] | None:
    """The first vocabulary token over MAX_TOKEN_CHARS characters: an answer is decoded from
    the target's tokens, so one long token repeated would make a text without bound."""
    model = data.get("model") if isinstance(data, dict) else None
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(vocab, dict):
        texts = ((f"model.vocab.{t[:40]}", t) for t in vocab)
    elif isinstance(vocab, list):  # Unigram: (piece, score) pairs
        texts = (
            (f"model.vocab[{i}][0]", p[0]) for i, p in enumerate(vocab) if isinstance(p, list) and p
        )
    else:
        return None
    # Unigram's lattice tries every piece that starts at each character: its time is the text's
    # length times the longest piece (T5's pieces are under 20 characters).
    most = MAX_UNIGRAM_PIECE_CHARS if isinstance(vocab, list) else MAX_TOKEN_CHARS
    for field, text in texts:
        if isinstance(text, str) and len(text) > most:
            message = (
                f"a vocabulary token is at most {most:,} characters (this one has {len(text):,})"
            )
            return field, f"{text[:40]}…", message
    return None


def _template_ids(processor: dict, field: str) -> int:
    """The special-token ids a TemplateProcessing adds at most; ValueError(field, value, reason)
    where a template repeats an input sequence or is not one to bound."""
    specials = processor.get("special_tokens")
    specials = specials if isinstance(specials, dict) else {}
    most = 0
    for name, sequences in _SEQUENCES.items():
        template = processor.get(name)
        if not isinstance(template, list) or len(template) > MAX_PIECES:
            raise ValueError(
                f"{field}.{name}", template, f"a template is a list of at most {MAX_PIECES} pieces"
            )
        ids, held = 0, 0
        for piece in template:
            if isinstance(piece, dict) and "Sequence" in piece:
                held += 1
            elif isinstance(piece, dict) and isinstance(piece.get("SpecialToken"), dict):
                name = piece["SpecialToken"].get("id")
                token = specials.get(name) if isinstance(name, str) else None
                token_ids = token.get("ids") if isinstance(token, dict) else None
                ids += len(token_ids) if isinstance(token_ids, list) else 0
        if held > sequences:
            raise ValueError(
                f"{field}.{name}",
                f"{held} Sequence pieces",
                f"a {name} template holds at most {sequences}",
            )
        most = max(most, ids)
    return most


def post_processor_size_problem(data: Any) -> tuple[str, Any, str] | None:
    """Where a post-processor can add more than MAX_TEMPLATE_IDS ids to an encoding, repeat an
    input sequence (each copy doubles the prompt) or is of a type this suite cannot bound."""
    stack = [(data.get("post_processor") if isinstance(data, dict) else None, "post_processor", 0)]
    total = 0
    try:
        while stack:
            processor, field, depth = stack.pop()
            if processor is None:
                continue
            kind = processor.get("type") if isinstance(processor, dict) else None
            kind = kind if isinstance(kind, str) else repr(kind)
            if kind == "Sequence" and depth >= 16:
                raise ValueError(field, kind, "post-processor Sequences nest at most 16 deep")
            if kind == "Sequence" and depth < 16 and isinstance(processor.get("processors"), list):
                items = enumerate(processor["processors"])
                stack.extend((sub, f"{field}.processors[{i}]", depth + 1) for i, sub in items)
            elif kind == "TemplateProcessing":
                total += _template_ids(processor, field)
            elif kind in _PLAIN_PROCESSORS:
                total += _PLAIN_PROCESSORS[kind]
            else:
                raise ValueError(f"{field}.type", kind, "a post-processor this suite cannot bound")
            if total > MAX_TEMPLATE_IDS:
                raise ValueError(
                    field, f"{total} ids", f"a post-processor adds at most {MAX_TEMPLATE_IDS} ids"
                )
    except ValueError as err:
        return err.args
    return None


MAX_ADDED_TOKENS = 65_536  # real tokenizers add at most a few thousand


def added_tokens_problem(data: Any) -> tuple[str, Any, str] | None:
    """Where ``added_tokens`` holds more than MAX_ADDED_TOKENS tokens or two with one id (each
    is matched in every prompt; ids shared make the vocabulary ambiguous)."""
    added = data.get("added_tokens") if isinstance(data, dict) else None
    if not isinstance(added, list):
        return None
    if len(added) > MAX_ADDED_TOKENS:
        return "added_tokens", f"{len(added):,} tokens", f"at most {MAX_ADDED_TOKENS:,}"
    seen: dict[int, int] = {}
    for i, token in enumerate(added):
        token_id = token.get("id") if isinstance(token, dict) else None
        if isinstance(token_id, int) and not isinstance(token_id, bool):
            if token_id in seen:
                message = f"the id of added_tokens[{seen[token_id]}] again; each has its own"
                return f"added_tokens[{i}].id", token_id, message
            seen[token_id] = i
    return None
