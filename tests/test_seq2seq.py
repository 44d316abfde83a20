"""Encoder-decoder (T5) pairs through the decoder and the analytic engine, on tiny random models."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from scipy import stats
from transformers import GenerationConfig

from suite.acceptance import (
    analytic_acceptance,
    engine,
    prompt_seed,
    sample_continuations,
    score_continuations,
)
from suite.decoding import autoregressive_generate, speculative_generate
from suite.decoding.plumbing import CachedSeq2Seq
from suite.decoding.sampling import expected_acceptance, probs_from_logits
from tests.models import perturbed, tiny_llama, tiny_t5

VOCAB = 8
PROMPT = [3, 4, 5, 6]
SAMPLES = 300
AGREEMENT_Z = 3.5


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def target():
    return tiny_t5(VOCAB, d_model=32, layers=2, decoder_layers=2, seed=0, sharpness=0.5)


@pytest.fixture(scope="module")
def drafts(target):
    # The poor draft has fewer encoder than decoder layers: a cache sized from the config's
    # num_layers would be one layer short (see CachedSeq2Seq).
    return {
        "good": perturbed(target, noise=0.3, seed=1),
        "poor": tiny_t5(VOCAB, d_model=16, layers=1, decoder_layers=2, seed=2, sharpness=0.3),
    }


def _prompts(n: int, vocab: int, seed: int, longest: int = 7) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, longest, (n,), generator=gen).tolist()
    return [torch.randint(2, vocab, (length,), generator=gen).tolist() for length in lengths]


def _decoder_logits(model, prompt, decoder_ids) -> torch.Tensor:
    """Uncached, unpadded decoder logits: the reference every cached or batched path must match."""
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prompt]), decoder_input_ids=torch.tensor([decoder_ids]))
    return out.logits[0].float()


def _joint_two_tokens(model, temperature: float) -> torch.Tensor:
    """Exact P(first two decoder tokens) under ``model`` sampled alone at ``temperature``."""
    first = torch.softmax(_decoder_logits(model, PROMPT, [0])[-1] / temperature, -1)
    with torch.inference_mode():
        out = model(
            input_ids=torch.tensor([PROMPT] * VOCAB),
            decoder_input_ids=torch.tensor([[0, a] for a in range(VOCAB)]),
        )
    second = torch.softmax(out.logits[:, -1].float() / temperature, -1)
    return (first[:, None] * second).double().flatten()


def _chisquare_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Chi-square goodness of fit, pooling cells whose expected count is under 5."""
    expected = probs / probs.sum() * counts.sum()
    small = expected < 5
    obs, exp = counts[~small], expected[~small]
    if small.any():
        obs = torch.cat([obs, counts[small].sum().reshape(1)])
        exp = torch.cat([exp, expected[small].sum().reshape(1)])
    return float(stats.chisquare(obs.numpy(), exp.numpy()).pvalue)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.7])
@pytest.mark.parametrize("draft_name", ["good", "poor"])
def test_first_two_decoder_tokens_follow_target_joint_distribution(
    target, drafts, draft_name, temperature
):
    draft = drafts[draft_name]
    counts = torch.zeros(VOCAB * VOCAB, dtype=torch.float64)
    accepted = proposed = 0
    for seed in range(SAMPLES):
        out = speculative_generate(
            target,
            draft,
            PROMPT,
            num_draft_tokens=2,
            temperature=temperature,
            max_new_tokens=3,
            seed=seed,
        )
        counts[out.tokens[0] * VOCAB + out.tokens[1]] += 1
        accepted += out.stats.accepted
        proposed += out.stats.proposed
    assert _chisquare_pvalue(counts, _joint_two_tokens(target, temperature)) > 1e-3
    # The samples must be told apart from the draft's own distribution: the test has power.
    assert _chisquare_pvalue(counts, _joint_two_tokens(draft, temperature)) < 1e-4
    assert 0 < accepted < proposed


@pytest.mark.parametrize("num_draft_tokens", [1, 3, 5])
def test_greedy_is_token_identical_to_transformers_generate(num_draft_tokens):
    """Both stop at EOS (kept) or after 16 decoder tokens; generate's output starts with 0."""
    eos = 1
    target = tiny_t5(16, d_model=32, layers=2, decoder_layers=2, seed=10, eos_token_id=eos)
    draft = perturbed(target, noise=0.1, seed=11)
    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=16,
        eos_token_id=eos,
        pad_token_id=0,
        decoder_start_token_id=0,
    )
    accepted = proposed = 0
    reasons = set()
    for prompt in _prompts(8, 16, seed=num_draft_tokens, longest=10):
        spec = speculative_generate(
            target,
            draft,
            prompt,
            num_draft_tokens=num_draft_tokens,
            temperature=0,
            max_new_tokens=16,
            seed=0,
            eos_token_id=eos,
        )
        with torch.inference_mode():
            ids = torch.tensor([prompt])
            hf = target.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
        assert hf[0, 0] == 0
        assert spec.tokens == hf[0, 1:].tolist()
        alone = autoregressive_generate(
            target, prompt, temperature=0, max_new_tokens=16, seed=0, eos_token_id=eos
        )
        assert (spec.tokens, spec.finish_reason) == (alone.tokens, alone.finish_reason)
        accepted += spec.stats.accepted
        proposed += spec.stats.proposed
        reasons.add(spec.finish_reason)
    assert 0 < accepted < proposed  # both the accept and the rollback paths ran
    assert reasons == {"eos", "length"}


def test_decoder_cache_rollback_matches_fresh_forward_after_random_accept_reject_patterns():
    model = tiny_t5(32, d_model=32, layers=1, decoder_layers=2, seed=5)
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(2, 32, (5,), generator=gen).tolist()
    seq = [0]
    cached = CachedSeq2Seq(model, prompt)
    with torch.inference_mode():
        for _ in range(30):
            block = int(torch.randint(1, 5, (1,), generator=gen))
            seq += torch.randint(0, 32, (block,), generator=gen).tolist()
            logits = cached.extend(seq, len(seq), keep=block + 1 if len(seq) > block else block)
            fresh = _decoder_logits(model, prompt, seq)[-logits.shape[0] :]
            assert torch.allclose(logits, fresh, atol=1e-5)
            rejected = int(torch.randint(0, block + 1, (1,), generator=gen))
            del seq[len(seq) - rejected :]
            seq.append(int(torch.randint(0, 32, (1,), generator=gen)))
            cached.rollback(len(seq) - 1)
            assert cached.length == cached.cache.get_seq_length() == len(seq) - 1
            # Cross-attention keys cover the encoder input and are never cropped.
            assert cached.cache.cross_attention_cache.get_seq_length() == len(prompt)
        logits = cached.extend(seq, len(seq), keep=1)
        assert torch.allclose(logits, _decoder_logits(model, prompt, seq)[-1:], atol=1e-5)


class _CharTokenizer:
    def decode(self, tokens):
        return "".join("abcdefghijklmnop"[t] for t in tokens)


def test_stop_string_applies_to_decoder_tokens(target, drafts):
    base = autoregressive_generate(target, PROMPT, temperature=0, max_new_tokens=20, seed=0)
    text = _CharTokenizer().decode(base.tokens)
    stop = text[5:7]
    end = text.index(stop) + len(stop)
    out = speculative_generate(
        target,
        drafts["good"],
        PROMPT,
        num_draft_tokens=3,
        temperature=0,
        max_new_tokens=20,
        seed=0,
        stop_strings=[stop],
        tokenizer=_CharTokenizer(),
    )
    assert out.tokens == base.tokens[:end] and out.finish_reason == "stop"


# --- the analytic engine ----------------------------------------------------------------------

ENGINE_PROMPTS = _prompts(64, VOCAB, seed=5)


@pytest.fixture(scope="module")
def flat_draft(target):
    """A perturbed, half-as-sharp copy, like a draft distilled at τ_kd = 2.

    Its flatness makes a β that forgets to divide the draft's logits by τ_dec visibly wrong.
    """
    model = perturbed(target, noise=0.1, seed=3)
    with torch.no_grad():
        model.lm_head.weight.mul_(0.5)
    return model


def _ratio_and_cluster_se(numerators, denominators) -> tuple[float, float]:
    a = np.asarray(numerators, dtype=float)
    n = np.asarray(denominators, dtype=float)
    rate = a.sum() / n.sum()
    k = len(a)
    return float(rate), math.sqrt(((a - rate * n) ** 2).sum() * k / (k - 1)) / n.sum()


def _q_not_divided_by_tau(target_logits, draft_logits, temperature):
    p = probs_from_logits(target_logits, temperature)
    return expected_acceptance(p, probs_from_logits(draft_logits, 1.0))


def _agreement_of_independent_draws(target_logits, draft_logits, temperature):
    p = probs_from_logits(target_logits, temperature)
    return (p * probs_from_logits(draft_logits, temperature)).sum(dim=-1)


@pytest.mark.parametrize(
    ("temperature", "wrong_betas"),
    [
        (0.5, [_q_not_divided_by_tau, _agreement_of_independent_draws]),
        (1.0, [_agreement_of_independent_draws]),
    ],
)
def test_engine_agrees_with_decoder_at_one_draft_token(
    target, flat_draft, temperature, wrong_betas, monkeypatch
):
    """The decoder-only agreement test (tests/test_acceptance.py), on an encoder-decoder pair."""
    max_new = 16
    result = analytic_acceptance(
        target,
        {"d": flat_draft},
        ENGINE_PROMPTS,
        temperature=temperature,
        max_new_tokens=max_new,
        seed=0,
    )["d"]
    accepted, proposed = [], []
    for i, prompt in enumerate(ENGINE_PROMPTS):
        out = speculative_generate(
            target,
            flat_draft,
            prompt,
            num_draft_tokens=1,
            temperature=temperature,
            max_new_tokens=max_new,
            seed=10_000 + i,
        ).stats
        accepted.append(out.accepted)
        proposed.append(out.proposed)
    rate, se = _ratio_and_cluster_se(accepted, proposed)
    tolerance = AGREEMENT_Z * math.hypot(se, result.standard_error)
    assert abs(rate - result.acceptance_rate) <= tolerance, (rate, result.acceptance_rate)
    assert tolerance < 0.1
    for wrong in wrong_betas:
        monkeypatch.setattr(engine, "acceptance_from_logits", wrong)
        bad = score_continuations(target, {"d": flat_draft}, result.continuations)["d"]
        assert abs(rate - bad.acceptance_rate) > tolerance, wrong.__name__


def test_engine_per_prompt_results_do_not_depend_on_batching(target, drafts):
    """Padded encoder inputs and padded decoder inputs give what each prompt gives alone."""
    eos = 6  # frequent enough under this target to stop some rows early
    prompts = ENGINE_PROMPTS[:12]
    kwargs = dict(temperature=1.0, max_new_tokens=8, eos_token_id=eos)
    one = sample_continuations(target, prompts, batch_size=1, seed=3, **kwargs)
    four = sample_continuations(target, prompts, batch_size=4, seed=3, **kwargs)
    assert one.tokens == four.tokens
    for i, prompt in enumerate(prompts):
        alone = autoregressive_generate(target, prompt, seed=prompt_seed(3, i), **kwargs)
        assert list(one[i]) == alone.tokens
    lengths = {len(c) for c in one}
    assert len(lengths) > 1  # ragged decoder inputs, so decoder padding was exercised

    scored = {
        size: score_continuations(target, dict(drafts), one, batch_size=size, n_boot=10)
        for size in (1, 5, 12)
    }
    for name in drafts:
        reference = np.array(scored[1][name].prompt_acceptance)
        for size in (5, 12):
            np.testing.assert_allclose(scored[size][name].prompt_acceptance, reference, atol=1e-5)
    # And batch size 1 is β from unpadded forwards over [start] + y[:-1].
    for i in (0, 5):
        dec = [0, *one[i][:-1]]
        p = probs_from_logits(_decoder_logits(target, prompts[i], dec), 1.0)
        q = probs_from_logits(_decoder_logits(drafts["poor"], prompts[i], dec), 1.0)
        beta = float(expected_acceptance(p, q).mean())
        assert scored[1]["poor"].prompt_acceptance[i] == pytest.approx(beta, abs=1e-5)


def test_draft_identical_to_target_is_always_accepted_by_the_engine(target):
    result = analytic_acceptance(
        target,
        {"twin": copy.deepcopy(target)},
        ENGINE_PROMPTS[:8],
        temperature=1.0,
        max_new_tokens=6,
        seed=0,
    )["twin"]
    assert result.acceptance_rate == pytest.approx(1.0, abs=1e-6)


# --- pairing ----------------------------------------------------------------------------------


def test_mixing_decoder_only_and_encoder_decoder_is_refused(target):
    llama = tiny_llama(VOCAB, seed=3)
    args = dict(num_draft_tokens=2, temperature=1.0, max_new_tokens=4, seed=0)
    for pair in ((target, llama), (llama, target)):
        with pytest.raises(ValueError, match="architecture mismatch"):
            speculative_generate(*pair, PROMPT, **args)
    with pytest.raises(ValueError, match=r"drafts\['llama'\].*architecture mismatch"):
        analytic_acceptance(
            target, {"llama": llama}, [PROMPT], temperature=1.0, max_new_tokens=4, seed=0
        )
    wide = tiny_t5(VOCAB + 4, d_model=16, layers=1, decoder_layers=1, seed=4)
    with pytest.raises(ValueError, match="vocabulary mismatch: target has 8 tokens, draft has 12"):
        speculative_generate(target, wide, PROMPT, **args)
    other_start = copy.deepcopy(target)
    other_start.config.decoder_start_token_id = 2
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        speculative_generate(target, other_start, PROMPT, **args)
