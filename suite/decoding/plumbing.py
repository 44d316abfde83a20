"""Model plumbing for the decoders: KV caches with rollback, stop conditions, timing.

Kept apart from ``sampling`` so that the acceptance math stays a pure function. Decoder-only and
encoder-decoder models differ only here: the decoders see one ``extend``/``rollback`` interface.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache, EncoderDecoderCache

from suite.tokenizer_decode import decode_text
from suite.tokenizer_ids import SPECIAL_IDS, same_special_ids


def vocab_size(model) -> int:
    return int(model.get_output_embeddings().weight.shape[0])


def is_encoder_decoder(model) -> bool:
    return bool(getattr(model.config, "is_encoder_decoder", False))


def configured_decoder_start(model):
    """What a model's config, else its generation config, names as its decoder's start token
    (None where neither does); checked when a model loads (:mod:`suite.models`)."""
    token = getattr(model.config, "decoder_start_token_id", None)
    if token is None:
        token = getattr(getattr(model, "generation_config", None), "decoder_start_token_id", None)
    return token


def decoder_start_token_id(model) -> int:
    """The token an encoder-decoder model's decoder starts from (config, else generation config)."""
    token = configured_decoder_start(model)
    if token is None:
        raise ValueError("encoder-decoder model has no decoder_start_token_id in its configs")
    return int(token)


def check_pair(target, draft) -> None:
    """Speculative decoding needs one vocabulary (same size and special tokens) and one kind of
    model: the draft's tokens must mean the same thing in the same sequence as the target's."""
    kinds = [
        "encoder-decoder" if is_encoder_decoder(m) else "decoder-only" for m in (target, draft)
    ]
    if kinds[0] != kinds[1]:
        raise ValueError(
            f"architecture mismatch: target is {kinds[0]}, draft is {kinds[1]}; pair two "
            "decoder-only or two encoder-decoder models"
        )
    vt, vd = vocab_size(target), vocab_size(draft)
    if vt != vd:
        raise ValueError(f"vocabulary mismatch: target has {vt} tokens, draft has {vd}")
    for key in SPECIAL_IDS:  # a draft's eos list holds the target's (suite.tokenizer_ids)
        a, b = getattr(target.config, key, None), getattr(draft.config, key, None)
        if not same_special_ids(key, a, b):
            raise ValueError(f"vocabulary mismatch: target {key}={a}, draft {key}={b}")
    if kinds[0] == "encoder-decoder":
        a, b = decoder_start_token_id(target), decoder_start_token_id(draft)
        if a != b:
            key = "decoder_start_token_id"
            raise ValueError(f"vocabulary mismatch: target {key}={a}, draft {key}={b}")


class CachedModel:
    """A causal LM with a KV cache that holds the first ``length`` tokens of a sequence."""

    def __init__(self, model):
        self.model = model
        self.device = next(model.parameters()).device
        self.cache = DynamicCache()
        self.length = 0
        self.seconds = 0.0

    def extend(self, sequence: Sequence[int], upto: int, keep: int) -> torch.Tensor:
        """Feed ``sequence[self.length:upto]``; float32 logits of the last ``keep`` positions."""
        new = sequence[self.length : upto]
        if not new:
            raise RuntimeError("extend called with nothing new to feed")
        ids = torch.tensor([list(new)], dtype=torch.long, device=self.device)
        start = time.perf_counter()
        logits = self._forward(ids, keep)
        self.seconds += time.perf_counter() - start
        self.length = upto
        return logits[0, -keep:].float()

    def _forward(self, ids: torch.Tensor, keep: int) -> torch.Tensor:
        out = self.model(input_ids=ids, cache=self.cache, use_cache=True, logits_to_keep=keep)
        return out.logits

    def rollback(self, length: int) -> None:
        """Drop cached positions at and beyond ``length`` (rejected draft tokens)."""
        if length < self.length:
            self.cache.crop(length - self.length)  # negative: tokens to remove
            self.length = length


class CachedSeq2Seq(CachedModel):
    """An encoder-decoder model: the prompt is encoded once, and ``sequence`` is the decoder's.

    ``EncoderDecoderCache.crop`` trims only the decoder self-attention cache; the cross-attention
    keys over the encoder outputs are computed at the first forward and kept for good. Its layers
    are created lazily (no config): ``DynamicCache(config=T5Config)`` would size the cache by the
    encoder's ``num_layers``, not ``num_decoder_layers``.
    """

    def __init__(self, model, encoder_ids: Sequence[int]):
        super().__init__(model)
        self.cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        self.encoder_ids = torch.tensor([list(encoder_ids)], dtype=torch.long, device=self.device)
        self.encoder_outputs = None

    def _forward(self, ids: torch.Tensor, keep: int) -> torch.Tensor:
        mask = torch.ones_like(self.encoder_ids)
        if self.encoder_outputs is None:  # timed with the first decoder step, as prefill is
            self.encoder_outputs = self.model.get_encoder()(
                input_ids=self.encoder_ids, attention_mask=mask
            )
        out = self.model(
            encoder_outputs=self.encoder_outputs,
            attention_mask=mask,
            decoder_input_ids=ids,
            cache=self.cache,
            use_cache=True,
        )
        return out.logits  # seq2seq heads take no logits_to_keep; extend slices


def cached_model(model, prompt: Sequence[int]) -> CachedModel:
    """The cached wrapper for ``model``; an encoder-decoder encodes ``prompt`` at its first step."""
    return CachedSeq2Seq(model, prompt) if is_encoder_decoder(model) else CachedModel(model)


def decoder_prefix(model, prompt: Sequence[int]) -> list[int]:
    """The tokens generation continues: the prompt, or an encoder-decoder's start token."""
    return [decoder_start_token_id(model)] if is_encoder_decoder(model) else list(prompt)


@dataclass
class StopCondition:
    """EOS and stop strings over the generated tokens; returns how many tokens to keep."""

    eos_token_id: int | None = None
    stop_strings: tuple[str, ...] = ()
    tokenizer: object | None = None

    def __post_init__(self):
        if self.stop_strings and self.tokenizer is None:
            raise ValueError("stop_strings need a tokenizer to decode the generated text")

    def finished(self, seq: list[int], n_prompt: int, first_new: int, budget: int) -> str | None:
        """Truncate ``seq`` in place at a stop; the finish reason, or None to go on.

        ``first_new`` is the index (within the generated tokens) of the first token of this step.
        """
        cut = self.cut(seq[n_prompt:], first_new)
        if cut is not None:
            del seq[n_prompt + cut[0] :]
            return cut[1]
        return "length" if len(seq) - n_prompt >= budget else None

    def cut(self, tokens: list[int], first_new: int) -> tuple[int, str] | None:
        """The length to keep and the reason, if a stop happened in ``tokens[first_new:]``."""
        for j in range(first_new, len(tokens)):
            if self.eos_token_id is not None and tokens[j] == self.eos_token_id:
                return j + 1, "eos"
            if self.stop_strings:
                text = decode_text(self.tokenizer, tokens[: j + 1])
                if any(s in text for s in self.stop_strings):
                    return j + 1, "stop"
        return None


def prompt_ids(input_ids) -> list[int]:
    """Accept a list of ints, a 1-D tensor or a (1, L) tensor; batch size 1 only."""
    if isinstance(input_ids, torch.Tensor):
        if input_ids.dim() == 2:
            if input_ids.shape[0] != 1:
                raise ValueError(
                    f"batch size must be 1, got input_ids of shape {tuple(input_ids.shape)}"
                )
            input_ids = input_ids[0]
        ids = [int(t) for t in input_ids.tolist()]
    else:
        ids = [int(t) for t in input_ids]
    if not ids:
        raise ValueError("input_ids is empty: the prompt needs at least one token")
    return ids


def check_positive_int(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer from {minimum} to {maximum:,}, got {value!r}")
    return value


def start_generation(target, input_ids, seed: int, eos_token_id, stop_strings, tokenizer):
    """What every generation starts from: its stop rule, the prompt's ids, the decoder-side
    sequence (the prompt, or an encoder-decoder's start token) and the sampling generator."""
    stop = StopCondition(eos_token_id, tuple(stop_strings), tokenizer)
    prompt = prompt_ids(input_ids)
    seq = decoder_prefix(target, prompt)
    return stop, prompt, seq, torch.Generator().manual_seed(int(seed))


def prefilled(model, context_tokens: int) -> tuple[CachedModel, list[int]]:
    """``model`` cached over a fixed context of ``context_tokens`` tokens, and the sequence one
    token longer whose single-token forward a cost measurement times. An encoder-decoder encodes
    the context once and its decoder holds ``context_tokens`` tokens, the start token first."""
    vocab = vocab_size(model)
    context = [t % vocab for t in range(context_tokens)]
    prefix = decoder_prefix(model, context)
    if is_encoder_decoder(model):
        prefix += context[: context_tokens - 1]
    wrapper = cached_model(model, context)
    with torch.inference_mode():
        wrapper.extend(prefix, len(prefix), 1)  # prefill, untimed: encoder and decoder context
    return wrapper, [*prefix, context_tokens % vocab]
