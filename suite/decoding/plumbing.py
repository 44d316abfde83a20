"""Model plumbing for the decoders: KV caches with rollback, stop conditions, timing.

Kept apart from ``sampling`` so that the acceptance math stays a pure function.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache


def vocab_size(model) -> int:
    return int(model.get_output_embeddings().weight.shape[0])


def check_pair(target, draft) -> None:
    """Speculative decoding needs one vocabulary: same size and same special tokens."""
    vt, vd = vocab_size(target), vocab_size(draft)
    if vt != vd:
        raise ValueError(f"vocabulary mismatch: target has {vt} tokens, draft has {vd}")
    for key in ("eos_token_id", "bos_token_id", "pad_token_id"):
        a, b = getattr(target.config, key, None), getattr(draft.config, key, None)
        if a is not None and b is not None and a != b:
            raise ValueError(f"vocabulary mismatch: target {key}={a}, draft {key}={b}")


class CachedModel:
    """A causal LM with a KV cache that holds the first ``length`` tokens of a sequence."""

    def __init__(self, model):
        self.model = model
        self.cache = DynamicCache()
        self.length = 0
        self.seconds = 0.0

    def extend(self, sequence: Sequence[int], upto: int, keep: int) -> torch.Tensor:
        """Feed ``sequence[self.length:upto]``; float32 logits of the last ``keep`` positions."""
        new = sequence[self.length : upto]
        if not new:
            raise RuntimeError("extend called with nothing new to feed")
        ids = torch.tensor([list(new)], dtype=torch.long)
        start = time.perf_counter()
        out = self.model(input_ids=ids, cache=self.cache, use_cache=True, logits_to_keep=keep)
        self.seconds += time.perf_counter() - start
        self.length = upto
        return out.logits[0, -keep:].float()

    def rollback(self, length: int) -> None:
        """Drop cached positions at and beyond ``length`` (rejected draft tokens)."""
        if length < self.length:
            self.cache.crop(length - self.length)  # negative: tokens to remove
            self.length = length


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
                text = self.tokenizer.decode(tokens[: j + 1])
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


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
