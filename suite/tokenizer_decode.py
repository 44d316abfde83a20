"""Token ids to text with a deadline, exactly as ``tokenizer.decode`` gives it.

``tokenizer.decode`` calls the Rust library's ``decode``, which holds the GIL, so no deadline can
stop a decoder step that scans its text in super-linear time (the load-time probes of
:mod:`suite.tokenizer_timing` are a measurement). :func:`decode_texts` calls the library's
``decode_batch`` instead, which releases the GIL, under :data:`DECODE_SECONDS`, then applies what
transformers' ``TokenizersBackend._decode`` applies after the library (its clean-up of spaces,
which it skips for BPE), so the text is the same. A tokenizer class that decodes otherwise (its
own ``decode``, as ``CodeGenTokenizer``'s) is decoded by it, once the library's part has ended
under the deadline: what is left is transformers' Python, which the suite trusts.
"""

from __future__ import annotations

from collections.abc import Sequence

from suite.deadline import DeadlineExceeded, tokenizer_call
from suite.errors import SpecError
from suite.tokenizer_files import tokenizer_panics

DECODE_SECONDS = 10.0  # a run's outputs; real decoders take milliseconds


def _mirrored(tokenizer) -> bool:
    """Whether ``tokenizer.decode`` is transformers' own, for a Rust backend."""
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    kind = type(tokenizer)
    return (
        getattr(tokenizer, "backend_tokenizer", None) is not None
        and kind.decode is PreTrainedTokenizerBase.decode
        and getattr(kind, "_decode", None) is TokenizersBackend._decode
    )


def _cleans(tokenizer) -> bool:
    """transformers' rule: clean up spaces where asked, except for BPE unless forced."""
    if not tokenizer.clean_up_tokenization_spaces:
        return False
    bpe = type(tokenizer.backend_tokenizer.model).__name__ == "BPE"
    force = "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"
    return not bpe or bool(getattr(tokenizer, force, False))


def decode_texts(
    tokenizer, sequences: Sequence[Sequence[int]], *, skip_special_tokens: bool = False
) -> list[str]:
    """Each sequence's text, as ``tokenizer.decode(seq, skip_special_tokens=...)`` gives it; a
    Rust panic, or all of them taking over DECODE_SECONDS, a SpecError naming the tokenizer."""
    ids = [[int(t) for t in seq] for seq in sequences]
    with tokenizer_panics(tokenizer):
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            texts = _backend_texts(tokenizer, backend, ids, skip_special_tokens)
        if not _mirrored(tokenizer):  # its own decode, once the library's part is known to end
            if skip_special_tokens:
                return [tokenizer.decode(seq, skip_special_tokens=True) for seq in ids]
            return [tokenizer.decode(seq) for seq in ids]
    if _cleans(tokenizer):
        texts = [tokenizer.clean_up_tokenization(text) for text in texts]
    return list(texts)


def _backend_texts(tokenizer, backend, ids: list[list[int]], skip_special_tokens: bool) -> list:
    """The Rust library's texts for ``ids`` under DECODE_SECONDS and the process's tokenizer
    time; past it, a SpecError naming the tokenizer."""
    try:
        return tokenizer_call(
            lambda: backend.decode_batch(ids, skip_special_tokens=skip_special_tokens),
            DECODE_SECONDS,
            len(ids),
        )
    except DeadlineExceeded as err:
        where = getattr(tokenizer, "name_or_path", None) or "tokenizer"
        tokens = sum(len(seq) for seq in ids)
        why = err.reason(f"decoding {tokens:,} tokens")
        message = f"{why} (its decoder scans the text in super-linear time); refused"
        raise SpecError(where, "tokenizer", str(where), message) from None


def decode_text(tokenizer, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
    """One sequence's text (:func:`decode_texts`)."""
    return decode_texts(tokenizer, [ids], skip_special_tokens=skip_special_tokens)[0]
