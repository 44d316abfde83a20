"""Prompts as the target expects them: its chat template where it has one, else our format.

The bundled models were trained on the suite's ``### Instruction:`` format (already in each
example's ``prompt``); a chat model such as Llama-2-13B-chat expects its own template. The format
used is recorded in every record's provenance (``prompt_format``) and shown in the report.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

from suite.chat_output import max_rendered_chars
from suite.data import MAX_FIELD_CHARS
from suite.deadline import DeadlineExceeded, call_with_deadline, tokenizer_call
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


RENDER_SECONDS = 10.0  # a chat template's render of one prompt; real ones take milliseconds


def _render(tokenizer, messages: list[dict]) -> str:
    """The chat as text: transformers renders it so before it tokenizes (``tokenize=True`` is
    this text through ``tokenizer(text, add_special_tokens=False)``), within RENDER_SECONDS (the
    template's syntax tree is checked first; a render the check missed is not waited for past the
    deadline: Jinja is Python, so the waiting thread wakes while the render goes on in a daemon
    thread)."""
    with tokenizer_panics(tokenizer):
        try:
            text, _seconds = call_with_deadline(
                lambda: tokenizer.apply_chat_template(
                    messages, add_generation_prompt=True, tokenize=False
                ),
                RENDER_SECONDS,
            )
        except DeadlineExceeded:
            message = (
                f"the chat template takes over {RENDER_SECONDS:g} s to render a prompt of "
                f"{len(messages[-1]['content']):,} characters; refused"
            )
            template = tokenizer.chat_template
            raise SpecError(_where(tokenizer), "chat_template", template, message) from None
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
    _check_growth(tokenizer, text, "a prompt")
    ids = [int(t) for t in _tokenize(tokenizer, text, special)]
    most = min(limit, MAX_PROMPT_TOKENS) if limit > 0 else MAX_PROMPT_TOKENS
    if len(ids) > most:
        message = (
            f"the tokenizer gives {len(ids):,} ids for a {len(text):,}-character prompt, over "
            f"{most:,} (the target's max_position_embeddings or {MAX_PROMPT_TOKENS:,})"
        )
        raise SpecError(_where(tokenizer), "tokenizer", cut(text, 200), message)
    return ids


def _check_growth(tokenizer, text: str, what: str) -> None:
    """``text`` at most what this tokenizer may meet: MAX_NORMALIZED_CHARS, or what its regexes'
    measured time allows, once its normalizer has grown it (a SpecError naming the text)."""
    growth = tokenizer_growth(tokenizer)
    most = min(MAX_NORMALIZED_CHARS, regex_text_limit(tokenizer_regex_seconds(tokenizer)))
    if len(text) * growth > most:
        message = (
            f"{what} of {len(text):,} characters, which this tokenizer's normalizer can grow "
            f"{growth:g}-fold, over {most:,} characters; refused"
        )
        raise SpecError(_where(tokenizer), "tokenizer", cut(text), message)


ENCODE_SECONDS = 10.0  # one call: a prompt, or a chunk of training texts; real ones take ms


def _tokenize(tokenizer, text: str, special: bool) -> list:
    """``tokenizer(text)``'s ids within ENCODE_SECONDS (the load-time regex timing is a
    measurement that a pattern may slip past; this bounds what it would cost)."""
    what = f"a prompt of {len(text):,} characters"
    return _batch(tokenizer, text, special, 1, what, cut(text, 200))


# Training texts go to the tokenizer in chunks, so that what its Rust side holds at once (about
# a hundred bytes a token of a batch's encodings) is bounded whatever the corpus: at most
# CHUNK_TEXTS texts and CHUNK_CHARS characters once grown by the normalizer.
CHUNK_TEXTS = 256
CHUNK_CHARS = 1 << 20
# A text's ids: a byte-level tokenizer gives up to 4 for a character (an emoji's bytes), so more
# is a tokenizer making ids of nothing; this bounds a corpus's ids by its characters.
MAX_IDS_PER_CHAR = 4
MAX_IDS_EXTRA = 16  # special tokens a post-processor adds
# And at least one id for MAX_CHARS_PER_ID characters over a corpus of FLOOR_CHARS or more: real
# tokenizers give one for about four, a vocabulary token is at most 1,024 characters, and a
# tokenizer that erases the text (a normalizer replacing every character with nothing) trains a
# model on nothing and reports a loss of 0.
MAX_CHARS_PER_ID = 64
FLOOR_CHARS = 4096


def encode_texts(tokenizer, texts: Sequence[str], *, special: bool = False) -> list[list[int]]:
    """Many texts' ids (training data), in chunks (CHUNK_TEXTS, CHUNK_CHARS), each one batch
    call under ENCODE_SECONDS, all under the process's tokenizer time
    (:func:`suite.deadline.tokenizer_call`). Each text is at most what the tokenizer may meet
    (as a prompt is) and gives at most MAX_IDS_PER_CHAR ids a character: a SpecError naming the
    tokenizer and the text otherwise."""
    texts = list(texts)
    growth = tokenizer_growth(tokenizer)
    out: list[list[int]] = []
    for chunk in _chunks(texts, growth):
        for text in chunk:
            _check_growth(tokenizer, text, "a training text")
        what = f"{len(chunk):,} training texts"
        ids = _batch(tokenizer, chunk, special, len(chunk), what, str(_where(tokenizer)))
        for text, row in zip(chunk, ids, strict=True):
            row = [int(t) for t in row]
            if len(row) > MAX_IDS_PER_CHAR * len(text) + MAX_IDS_EXTRA:
                message = (
                    f"the tokenizer gives {len(row):,} ids for a {len(text):,}-character "
                    f"training text, over {MAX_IDS_PER_CHAR} a character; refused"
                )
                raise SpecError(_where(tokenizer), "tokenizer", cut(text, 200), message)
            out.append(row)
    chars, ids = sum(map(len, texts)), sum(map(len, out))
    if chars >= FLOOR_CHARS and ids * MAX_CHARS_PER_ID < chars:
        message = (
            f"the tokenizer gives {ids:,} ids for {chars:,} characters of training text, under "
            f"one for {MAX_CHARS_PER_ID}: it drops the text; refused"
        )
        raise SpecError(_where(tokenizer), "tokenizer", str(_where(tokenizer)), message)
    return out


def _chunks(texts: list[str], growth: float) -> Iterator[list[str]]:
    """``texts`` in order, in lists of at most CHUNK_TEXTS and CHUNK_CHARS grown characters (a
    longer text alone)."""
    chunk: list[str] = []
    chars = 0.0
    for text in texts:
        size = len(text) * growth
        if chunk and (len(chunk) == CHUNK_TEXTS or chars + size > CHUNK_CHARS):
            yield chunk
            chunk, chars = [], 0.0
        chunk.append(text)
        chars += size
    if chunk:
        yield chunk


def _batch(tokenizer, texts, special: bool, count: int, what: str, value):
    """``tokenizer(texts)``'s ids under ENCODE_SECONDS and the process's tokenizer time
    (:func:`suite.deadline.tokenizer_call`); a Rust panic or the deadline a SpecError naming the
    tokenizer, ``value`` the text shown."""

    def call():
        return tokenizer(texts, add_special_tokens=special)["input_ids"]

    with tokenizer_panics(tokenizer):  # a Rust panic names the tokenizer, not a traceback
        try:
            return tokenizer_call(call, ENCODE_SECONDS, count)
        except DeadlineExceeded as err:
            message = f"{err.reason(what)} (its regexes or model scan it in super-linear time)"
            raise SpecError(_where(tokenizer), "tokenizer", value, f"{message}; refused") from None


PROBE_INSTRUCTION = "Name three primary colours."


def check_prompt_rendering(tokenizer) -> None:
    """A prompt rendered and tokenized as a run will (through the chat template where the
    tokenizer has one): a template that fails or grows is refused before any cell."""
    if prompt_format(tokenizer) == CHAT_TEMPLATE:
        _chat_ids(tokenizer, PROBE_INSTRUCTION)


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


def check_positions(prompt_tokens: int, max_new_tokens: int, models: dict) -> None:
    """The longest prompt and the new tokens fit every model's positions (``models``: role to
    model, None for one not given): a decode past them reads positions the model never had."""
    for role, model in models.items():
        positions = position_limit(model) if model is not None else 0
        if positions and prompt_tokens + max_new_tokens > positions:
            message = (
                f"the prompt's {prompt_tokens:,} tokens and {max_new_tokens:,} new tokens pass "
                f"the {role}'s max_position_embeddings ({positions:,}); ask for fewer"
            )
            raise SpecError(None, "--max-new-tokens", max_new_tokens, message)


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
