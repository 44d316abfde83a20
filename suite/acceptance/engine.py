"""The analytic acceptance engine: α̂ from target samples and β = Σ min(p, q), without decoding.

Speculative decoding's output follows the target, so the contexts it visits are target samples.
Sampling them once per τ_dec and scoring every draft on them with one batched forward evaluates a
whole τ_kd × τ_dec grid in minutes, where end-to-end decoding would take hours (DESIGN section 5).
For encoder-decoder pairs (T5) the prompts are encoder inputs and continuations decoder tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch
from transformers import DynamicCache, EncoderDecoderCache

from suite.acceptance.records import AcceptanceResult, Continuations, summarize
from suite.decoding.plumbing import (
    check_pair,
    check_positive_int,
    decoder_start_token_id,
    is_encoder_decoder,
    prompt_ids,
    vocab_size,
)
from suite.decoding.sampling import (
    NonFiniteLogits,
    check_temperature,
    expected_acceptance,
    probs_from_logits,
    sample,
)
from suite.seeding import prompt_seed

BATCH_SIZE = 16  # sequences per batched forward, sampling and scoring alike


class PaddedBatch(NamedTuple):
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor


def acceptance_from_logits(
    target_logits: torch.Tensor, draft_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """β at each position, with p and q both at τ_dec; clamped to [0, 1] against float rounding."""
    p = probs_from_logits(target_logits, temperature, "target")
    q = probs_from_logits(draft_logits, temperature, "draft")
    return expected_acceptance(p, q).clamp(0.0, 1.0)


def left_pad(sequences: Sequence[Sequence[int]], pad_token_id: int = 0, device=None) -> PaddedBatch:
    """Right-align rows so the last real tokens share a column; positions count real tokens only."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq) :] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    positions = (mask.cumsum(dim=-1) - 1).clamp_min(0)
    return PaddedBatch(ids.to(device), mask.to(device), positions.to(device))


def right_pad(
    sequences: Sequence[Sequence[int]], pad_token_id: int = 0, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-align rows with a mask: encoder and decoder inputs of encoder-decoder models.

    Real tokens keep positions 0..n-1, which absolute (BART) and relative (T5) position schemes
    both need, and a causal decoder's real positions never see the padding after them.
    """
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


def sample_continuations(
    target,
    prompts,
    *,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    eos_token_id: int | None = None,
    batch_size: int = BATCH_SIZE,
) -> Continuations:
    """Sample one target continuation per prompt at τ_dec, batched with a KV cache.

    Each prompt draws from its own generator seeded by (seed, prompt index), so its continuation
    does not depend on the batch it was in. A row stops at EOS (kept) or ``max_new_tokens``.
    """
    temperature = check_temperature(temperature)
    check_positive_int(max_new_tokens, "max_new_tokens")
    check_positive_int(batch_size, "batch_size")
    seed = _check_seed(seed)
    vocab = vocab_size(target)
    prompts = _check_prompts(prompts, vocab)
    _check_token(eos_token_id, vocab, "eos_token_id")
    tokens: list[tuple[int, ...]] = [()] * len(prompts)
    sample_batch = _sample_batch_seq2seq if is_encoder_decoder(target) else _sample_batch
    for chunk in _chunks_by_length(prompts, batch_size):
        generators = [torch.Generator().manual_seed(prompt_seed(seed, i)) for i in chunk]
        rows = sample_batch(
            target,
            [prompts[i] for i in chunk],
            generators,
            temperature,
            max_new_tokens,
            eos_token_id,
        )
        for i, row in zip(chunk, rows, strict=True):
            tokens[i] = tuple(row)
    return Continuations(
        prompts=prompts,
        tokens=tuple(tokens),
        temperature=temperature,
        seed=seed,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
    )


def score_continuations(
    target,
    drafts: Mapping[str, object],
    continuations: Continuations,
    *,
    batch_size: int = BATCH_SIZE,
    n_boot: int = 1000,
) -> dict[str, AcceptanceResult]:
    """β of every draft at every continuation position, at the τ_dec the samples were drawn at."""
    if not isinstance(continuations, Continuations):
        raise ValueError(
            f"continuations must come from sample_continuations, got {type(continuations).__name__}"
        )
    _check_drafts(target, drafts)
    check_positive_int(batch_size, "batch_size")
    check_positive_int(n_boot, "n_boot")
    temperature = continuations.temperature
    prompts, tokens = continuations.prompts, continuations.tokens
    # Score x + y[:-1]: the logits at its last len(y) positions predicted y. An encoder-decoder
    # reads x in its encoder and [start] + y[:-1] in its decoder, whose len(y) logits predicted y.
    sequences = [p + c[:-1] for p, c in zip(prompts, tokens, strict=True)]
    seq2seq = is_encoder_decoder(target)
    start = (decoder_start_token_id(target),) if seq2seq else ()
    betas: dict[str, list[np.ndarray]] = {name: [np.empty(0)] * len(sequences) for name in drafts}
    with torch.inference_mode():
        for chunk in _chunks_by_length(sequences, batch_size):
            keep = max(len(tokens[i]) for i in chunk)
            if seq2seq:
                batch = ([prompts[i] for i in chunk], [start + tokens[i][:-1] for i in chunk])
            else:
                batch = [sequences[i] for i in chunk]
            used = _used_positions(chunk, tokens, keep, seq2seq)
            target_logits = _finite_where_used(_scoring_logits(target, batch, keep), used)
            for name, draft in drafts.items():
                draft_logits = _scoring_logits(draft, batch, keep).to(target_logits.device)
                draft_logits = _finite_where_used(draft_logits, used)
                try:
                    beta = acceptance_from_logits(target_logits, draft_logits, temperature)
                except NonFiniteLogits as err:  # which draft: the cell names its model
                    raise NonFiniteLogits(err.role, name if err.role == "draft" else None) from None
                beta = beta.double().cpu().numpy()
                for row, i in enumerate(chunk):
                    n = len(tokens[i])
                    # Decoder inputs are right-padded, causal-LM sequences left-padded.
                    betas[name][i] = beta[row, :n] if seq2seq else beta[row, keep - n :]
    return {name: summarize(values, continuations, n_boot) for name, values in betas.items()}


def analytic_acceptance(
    target, drafts: Mapping[str, object], prompts, *, n_boot: int = 1000, **sampling
) -> dict[str, AcceptanceResult]:
    """α̂ of every draft at τ_dec, on one shared set of target continuations.

    ``sampling`` are :func:`sample_continuations`' keywords (``temperature``, ``max_new_tokens``
    and ``seed``; optionally ``eos_token_id`` and ``batch_size``, which scoring uses too). Each
    result holds the continuations (``result.continuations``) for reuse by callers.
    """
    _check_drafts(target, drafts)
    check_positive_int(n_boot, "n_boot")
    continuations = sample_continuations(target, prompts, **sampling)
    batch_size = sampling.get("batch_size", BATCH_SIZE)
    return score_continuations(target, drafts, continuations, batch_size=batch_size, n_boot=n_boot)


def _sample_batch(model, prompts, generators, temperature, max_new_tokens, eos_token_id):
    """Ancestral sampling for a batch of prompts; finished rows are fed pad tokens and ignored."""
    device = _device(model)
    ids, mask, positions = left_pad(prompts, device=device)
    cache = DynamicCache(config=model.config)

    def forward(step):
        nonlocal ids, mask, positions
        if step is not None:  # the tokens just drawn, one position further
            ids = step.to(device)
            positions = positions[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones((len(prompts), 1))], dim=-1)
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits

    return _sample_rows(forward, None, 0, generators, temperature, max_new_tokens, eos_token_id)


def _sample_batch_seq2seq(model, prompts, generators, temperature, max_new_tokens, eos_token_id):
    """``_sample_batch`` for an encoder-decoder: encode once, then every row's decoder advances
    one token per step from the start token, so decoder inputs need no padding."""
    device = _device(model)
    ids, mask = right_pad(prompts, _pad_id(model), device)
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())  # see CachedSeq2Seq
    start = torch.full((len(prompts), 1), decoder_start_token_id(model), dtype=torch.long)
    with torch.inference_mode():
        encoder_outputs = model.get_encoder()(input_ids=ids, attention_mask=mask)

    def forward(step):
        out = model(
            encoder_outputs=encoder_outputs,
            attention_mask=mask,
            decoder_input_ids=step.to(device),
            cache=cache,
            use_cache=True,
        )
        return out.logits

    pad = _pad_id(model)
    return _sample_rows(forward, start, pad, generators, temperature, max_new_tokens, eos_token_id)


def _sample_rows(
    forward, first, pad_id: int, generators, temperature, max_new_tokens, eos_token_id
) -> list[list[int]]:
    """The sampling loop of both kinds of model: ``forward(step)`` feeds ``step`` (``first`` at
    the first step, then the tokens just drawn, ``pad_id`` in finished rows) and returns the
    logits; each row draws from its own generator until EOS or ``max_new_tokens`` tokens."""
    rows: list[list[int]] = [[] for _ in generators]
    live = list(range(len(generators)))
    step = first
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            logits = forward(step)
            step = torch.full((len(generators), 1), pad_id, dtype=torch.long)
            live = _draw(logits, temperature, generators, rows, live, step, eos_token_id)
            if not live:
                break
    return rows


def _draw(logits, temperature, generators, rows, live, step, eos_token_id) -> list[int]:
    """One token for every live row from its own generator, written into ``rows`` and ``step``;
    returns the rows still live (a row ends at EOS)."""
    probs = probs_from_logits(logits[:, -1].float().cpu(), temperature, "target")
    for i in live:
        token = int(sample(probs[i], generators[i]))
        rows[i].append(token)
        step[i, 0] = token
    return [i for i in live if rows[i][-1] != eos_token_id]


def _used_positions(chunk, tokens, keep: int, seq2seq: bool) -> torch.Tensor:
    """(rows, keep) bool: the positions whose logits score a continuation token (decoder inputs
    are right-padded, causal-LM sequences left-padded); the rest are padding or prompt."""
    used = torch.zeros((len(chunk), keep), dtype=torch.bool)
    for row, i in enumerate(chunk):
        n = len(tokens[i])
        if seq2seq:
            used[row, :n] = True
        else:
            used[row, keep - n :] = True
    return used


def _finite_where_used(logits: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    """``logits`` with the positions no continuation reads set to 0 (a model may give anything
    at a padding position); where one is read, NaN or infinite logits are left in place for
    :func:`probs_from_logits` to refuse."""
    return logits.masked_fill(~used.to(logits.device).unsqueeze(-1), 0.0)


def _scoring_logits(model, batch, keep: int) -> torch.Tensor:
    """Logits at the positions that predicted the continuations, (B, keep, V)."""
    if is_encoder_decoder(model):
        return _decoder_logits(model, *batch)
    return _last_logits(model, batch, keep)


def _decoder_logits(model, prompts, decoder_inputs) -> torch.Tensor:
    """Float32 decoder logits over right-padded ``decoder_inputs`` given right-padded prompts."""
    device = _device(model)
    ids, mask = right_pad(prompts, _pad_id(model), device)
    dec_ids, dec_mask = right_pad(decoder_inputs, _pad_id(model), device)
    out = model(
        input_ids=ids,
        attention_mask=mask,
        decoder_input_ids=dec_ids,
        decoder_attention_mask=dec_mask,
        use_cache=False,
    )
    return out.logits.float()


def _pad_id(model) -> int:
    pad = getattr(model.config, "pad_token_id", None)
    return 0 if pad is None else int(pad)


def _last_logits(model, sequences, keep: int) -> torch.Tensor:
    """Float32 logits at the last ``keep`` positions of left-padded ``sequences``."""
    ids, mask, positions = left_pad(sequences, device=_device(model))
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep)
    return out.logits[:, -keep:].float()


def _chunks_by_length(sequences, batch_size: int) -> list[list[int]]:
    """Indices in batches of similar length, to waste little on padding; results stay per index."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _check_prompts(prompts, vocab: int) -> tuple[tuple[int, ...], ...]:
    if isinstance(prompts, torch.Tensor) or not isinstance(prompts, Sequence) or not prompts:
        raise ValueError("prompts must be a non-empty list of token-id lists")
    checked = []
    for index, prompt in enumerate(prompts):
        try:
            ids = prompt_ids(prompt)
        except (TypeError, ValueError) as err:
            raise ValueError(f"prompts[{index}]: {err}") from None
        bad = [t for t in ids if not 0 <= t < vocab]
        if bad:
            raise ValueError(
                f"prompts[{index}]: token id {bad[0]} outside the vocabulary [0, {vocab})"
            )
        checked.append(tuple(ids))
    return tuple(checked)


def _check_drafts(target, drafts) -> None:
    if not isinstance(drafts, Mapping) or not drafts:
        raise ValueError("drafts must be a non-empty dict of name -> model")
    for name, draft in drafts.items():
        try:
            check_pair(target, draft)
        except ValueError as err:
            raise ValueError(f"drafts[{name!r}]: {err}") from None


def _check_token(token, vocab: int, name: str) -> None:
    if token is None:
        return
    if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token < vocab:
        raise ValueError(f"{name} must be a token id in [0, {vocab}) or None, got {token!r}")


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return seed


def _device(model) -> torch.device:
    return next(model.parameters()).device
