"""Prompts as the target expects them: its chat template where it has one, else our format.

The bundled models were trained on the suite's ``### Instruction:`` format (already in each
example's ``prompt``); a chat model such as Llama-2-13B-chat expects its own template. The format
used is recorded in every record's provenance (``prompt_format``) and shown in the report.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from suite.chat_output import max_rendered_chars
from suite.data import MAX_FIELD_CHARS
from suite.deadline import PER_CALL_SECONDS, DeadlineExceeded, tokenizer_call
from suite.errors import SpecError, cut
from suite.sandbox import chat_template_refusal
from suite.specs import INSTRUCTION_FORMAT, format_prompt
from suite.tokenizer_files import tokenizer_growth, tokenizer_panics, tokenizer_regex_seconds
from suite.tokenizer_timing import regex_text_limit

INSTRUCTION = "instruction"  # the suite's own format, suite.specs.format_prompt
CHAT_TEMPLATE = "chat_template"
MAX_PROMPT_TOKENS = 100_000  # a prompt's ids, whatever the model; the bundled prompts have < 2,000
MAX_PROMPT_CHARS = MAX_FIELD_CHARS + len(INSTRUCTION_FORMAT)  # a rendered field in our format
# The text a tokenizer's normalizer and pre-tokenizer may make of a prompt at their worst
# (suite.tokenizer_growth), before the model's search over it (a WordPiece word's is cubic, a
# Unigram lattice's the text times its longest piece): 256 Ki characters, so a 51,000-character
# prompt through the bundled tokenizer (5-fold), far past its 1,024 positions.
# A tokenizer with regexes is timed on runs of 8,192 characters (suite.tokenizer_timing): a step
# within its limit there may still be quadratic, so the text it meets is also at most what its
# measured time allows (suite.tokenizer_timing.regex_text_limit): a T5 tokenizer's chain, bounded
# 36-fold, takes prompts of 7,000 characters.
MAX_NORMALIZED_CHARS = 256 << 10


def prompt_format(tokenizer) -> str:
    """``chat_template`` when the tokenizer carries one, else ``instruction``."""
    return CHAT_TEMPLATE if getattr(tokenizer, "chat_template", None) else INSTRUCTION


def ensure_pad(tokenizer):
    """Pad with EOS where the tokenizer has no pad token (Llama's has none); returns it."""
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@functools.lru_cache(maxsize=16)
def _refusal(template: str) -> str | None:
    return chat_template_refusal(template)


def check_chat_template(tokenizer) -> None:
    """A tokenizer's chat template obeys the sandbox's chat-template rules (no range, no nested
    loop, no growth without bound) before transformers renders it: a SpecError naming it."""
    template = tokenizer.chat_template
    problem = _refusal(template) if isinstance(template, str) else chat_template_refusal(template)
    if problem:
        raise SpecError(_where(tokenizer), "chat_template", template, problem)


def _where(tokenizer) -> str:
    return getattr(tokenizer, "name_or_path", None) or "tokenizer"


def _render(tokenizer, messages: list[dict]) -> str:
    """The chat as text: transformers renders it so before it tokenizes (``tokenize=True`` is
    this text through ``tokenizer(text, add_special_tokens=False)``)."""
    with tokenizer_panics(tokenizer):
        try:
            text = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        except Exception as err:  # a template that raises, divides by zero or does not compile
            message = f"the chat template fails to render: {type(err).__name__}: {cut(str(err))}"
            template = tokenizer.chat_template
            raise SpecError(_where(tokenizer), "chat_template", template, message) from None
    if not isinstance(text, str):
        message = f"the chat template renders {type(text).__name__}, not text"
        raise SpecError(_where(tokenizer), "chat_template", tokenizer.chat_template, message)
    return text


def _chat_ids(tokenizer, instruction: str, limit: int = 0) -> list[int]:
    """The user turn through the chat template: checked on its syntax tree, rendered as text, the
    text's length capped (a template the check missed cannot hand the Rust tokenizer hundreds
    of megabytes, which aborts the process), then tokenized."""
    check_chat_template(tokenizer)
    text = _render(tokenizer, [{"role": "user", "content": instruction}])
    limit_chars = max_rendered_chars(instruction)
    if len(text) > limit_chars:
        message = (
            f"the chat template renders {len(text):,} characters for a "
            f"{len(instruction):,}-character prompt, over {limit_chars:,}; "
            "refused before tokenizing"
        )
        raise SpecError(_where(tokenizer), "chat_template", tokenizer.chat_template, message)
    return _encode(tokenizer, text, chars=limit_chars, special=False, limit=limit)


def _encode(tokenizer, text: str, *, chars: int, special: bool = True, limit: int = 0) -> list[int]:
    """``text``'s ids: the text at most ``chars`` characters (MAX_PROMPT_CHARS in our format,
    the render cap for a chat), a panic or error of the tokenizer a SpecError naming it, and
    the ids at most ``limit`` (the target's positions) or MAX_PROMPT_TOKENS."""
    if len(text) > chars:
        message = f"a prompt of {len(text):,} characters, over {chars:,}; refused"
        raise SpecError(_where(tokenizer), "tokenizer", cut(text), message)
    growth = tokenizer_growth(tokenizer)
    most = min(MAX_NORMALIZED_CHARS, regex_text_limit(tokenizer_regex_seconds(tokenizer)))
    if len(text) * growth > most:
        message = (
            f"a prompt of {len(text):,} characters, which this tokenizer's normalizer can grow "
            f"{growth:g}-fold, over {most:,} characters; refused"
        )
        raise SpecError(_where(tokenizer), "tokenizer", cut(text), message)
    ids = [int(t) for t in _tokenize(tokenizer, text, special)]
    most = min(limit, MAX_PROMPT_TOKENS) if limit > 0 else MAX_PROMPT_TOKENS
    if len(ids) > most:
        message = (
            f"the tokenizer gives {len(ids):,} ids for a {len(text):,}-character prompt, over "
            f"{most:,} (the target's max_position_embeddings or {MAX_PROMPT_TOKENS:,})"
        )
        raise SpecError(_where(tokenizer), "tokenizer", cut(text, 200), message)
    return ids


ENCODE_SECONDS = 10.0  # one prompt; real tokenizers take milliseconds on the longest allowed


def _tokenize(tokenizer, text: str, special: bool) -> list:
    """``tokenizer(text)``'s ids within ENCODE_SECONDS (the load-time regex timing is a
    measurement that a pattern may slip past; this bounds what it would cost)."""
    what = f"a prompt of {len(text):,} characters"
    return _batch(tokenizer, text, special, ENCODE_SECONDS, 1, what, cut(text, 200))


def encode_texts(tokenizer, texts: Sequence[str], *, special: bool = False) -> list[list[int]]:
    """Many texts' ids in one batch call (training data), under ENCODE_SECONDS plus
    PER_CALL_SECONDS a text."""
    texts = list(texts)
    seconds = ENCODE_SECONDS + PER_CALL_SECONDS * len(texts)
    what = f"{len(texts):,} training texts"
    ids = _batch(tokenizer, texts, special, seconds, len(texts), what, str(_where(tokenizer)))
    return [list(row) for row in ids]


def _batch(tokenizer, texts, special: bool, seconds: float, count: int, what: str, value):
    """``tokenizer(texts)``'s ids under ``seconds`` and the tokenizer's time in all
    (:func:`suite.deadline.tokenizer_call`); a Rust panic or the deadline a SpecError naming the
    tokenizer, ``value`` the text shown."""

    def call():
        return tokenizer(texts, add_special_tokens=special)["input_ids"]

    with tokenizer_panics(tokenizer):  # a Rust panic names the tokenizer, not a traceback
        try:
            return tokenizer_call(tokenizer, call, seconds, count)
        except DeadlineExceeded as err:
            message = f"{err.reason(what)} (its regexes or model scan it in super-linear time)"
            raise SpecError(_where(tokenizer), "tokenizer", value, f"{message}; refused") from None


def prompt_ids(tokenizer, example, limit: int = 0) -> list[int]:
    """One example's prompt tokens: the user turn through the chat template, or our prompt;
    at most ``limit`` of them (no limit: MAX_PROMPT_TOKENS)."""
    if prompt_format(tokenizer) == CHAT_TEMPLATE:
        return _chat_ids(tokenizer, example.instruction, limit)
    return _encode(tokenizer, example.prompt, chars=MAX_PROMPT_CHARS, limit=limit)


def training_prompt_ids(tokenizer, instruction: str) -> list[int]:
    """A prompt as KD and held-out losses give it: the chat template where the tokenizer has one
    (as the runner prompts a chat target, so KD data comes from the prompts it is scored on), else
    our format without special tokens (as the bundled models were trained)."""
    if prompt_format(tokenizer) == CHAT_TEMPLATE:
        return _chat_ids(tokenizer, instruction)
    text = format_prompt(instruction)
    return _encode(tokenizer, text, chars=MAX_PROMPT_CHARS, special=False)


def prompts_ids(tokenizer, examples: Sequence, limit: int = 0) -> list[list[int]]:
    """Each example's prompt ids, at most ``limit`` (the target's max_position_embeddings)."""
    return [prompt_ids(tokenizer, ex, limit) for ex in examples]


def position_limit(model) -> int:
    """A model's ``max_position_embeddings`` (0 where it states none)."""
    value = getattr(getattr(model, "config", None), "max_position_embeddings", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def model_prompt_ids(
    tokenizer, text: str, model, *, special: bool = True, limit: int | None = None
) -> list[int]:
    """``text``'s ids for ``model`` where no profile paired them (``generate``, ``bench``,
    lm-eval): the text and the ids capped as a run's, and every id one of the model's logits (a
    tokenizer named beside a model may hold tokens the model has no row for). At most ``limit``
    ids (None: the model's max_position_embeddings; 0: MAX_PROMPT_TOKENS, for a caller that
    truncates)."""
    limit = position_limit(model) if limit is None else limit
    ids = _encode(tokenizer, text, chars=MAX_PROMPT_CHARS, special=special, limit=limit)
    rows = int(model.get_output_embeddings().weight.shape[0])
    outside = [token for token in ids if not 0 <= token < rows]
    if outside:
        message = f"gives id {outside[0]:,}, outside the model's {rows:,} logits; refused"
        raise SpecError(_where(tokenizer), "tokenizer", cut(text, 200), message)
    return ids
