"""The analytic acceptance engine against Monte Carlo, the reference decoder and exact cases."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from suite.acceptance import (
    acceptance_from_logits,
    analytic_acceptance,
    engine,
    left_pad,
    mean_accepted_length,
    measure_cost_ratio,
    projected_speedup,
    prompt_seed,
    sample_continuations,
    score_continuations,
)
from suite.decoding import autoregressive_generate, speculative_generate
from suite.decoding.sampling import expected_acceptance, probs_from_logits, sample, verify_block
from tests.models import tiny_llama

VOCAB = 8
EOS = 3
# |decoder α − engine α̂| within this many standard errors of their difference (see the test).
AGREEMENT_Z = 3.5


def _llama(hidden: int, layers: int, seed: int, sharpness: float = 5.0) -> LlamaForCausalLM:
    return tiny_llama(VOCAB, hidden=hidden, layers=layers, seed=seed, sharpness=sharpness)


def _prompts(count: int, seed: int = 5) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 7, (count,), generator=gen).tolist()
    return [torch.randint(0, VOCAB, (n,), generator=gen).tolist() for n in lengths]


PROMPTS = _prompts(64)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and the machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def target() -> LlamaForCausalLM:
    return _llama(hidden=32, layers=2, seed=0)


@pytest.fixture(scope="module")
def draft(target) -> LlamaForCausalLM:
    """A perturbed, twice-as-sharp copy of the target: like a draft distilled at τ_kd = 0.5.

    Its sharpness makes a β that forgets to divide the draft's logits by τ_dec visibly wrong.
    """
    model = copy.deepcopy(target)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.2 * param.std() * torch.randn(param.shape, generator=gen))
        model.lm_head.weight.mul_(2.0)
    return model


def _ratio_and_cluster_se(numerators, denominators) -> tuple[float, float]:
    """Σa / Σn with the delta-method standard error clustered by prompt (the unit)."""
    a = np.asarray(numerators, dtype=float)
    n = np.asarray(denominators, dtype=float)
    rate = a.sum() / n.sum()
    k = len(a)
    se = math.sqrt(((a - rate * n) ** 2).sum() * k / (k - 1)) / n.sum()
    return float(rate), se


def _q_not_divided_by_tau(target_logits, draft_logits, temperature):
    """Wrong: the draft's logits are taken at τ = 1 whatever τ_dec is."""
    p = probs_from_logits(target_logits, temperature)
    return expected_acceptance(p, probs_from_logits(draft_logits, 1.0))


def _agreement_of_independent_draws(target_logits, draft_logits, temperature):
    """Wrong: Σ p·q is the chance two independent draws agree, not the acceptance probability."""
    p = probs_from_logits(target_logits, temperature)
    return (p * probs_from_logits(draft_logits, temperature)).sum(dim=-1)


@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0, 2.0])
def test_beta_equals_acceptance_frequency_of_verify_block_with_one_draft_token(temperature):
    rows, trials = 8, 20_000
    gen = torch.Generator().manual_seed(11)
    target_logits = 2.0 * torch.randn(rows, VOCAB, generator=gen)
    # Drafts from identical to far off, so β spans its range.
    spread = torch.linspace(0.0, 3.0, rows)[:, None]
    draft_logits = target_logits + spread * torch.randn(rows, VOCAB, generator=gen)
    beta = acceptance_from_logits(target_logits, draft_logits, temperature).double()

    p = probs_from_logits(target_logits, temperature).repeat_interleave(trials, dim=0)
    q = probs_from_logits(draft_logits, temperature).repeat_interleave(trials, dim=0)
    drafted = sample(q, gen)[:, None]
    accepted, _ = verify_block(torch.stack([p, p], dim=1), q[:, None], drafted, gen)
    frequency = accepted.view(rows, trials).double().mean(dim=1)

    tolerance = 4.0 * torch.sqrt(beta * (1.0 - beta) / trials) + 1e-6
    assert torch.all((frequency - beta).abs() <= tolerance), (frequency, beta)
    assert beta[0].item() == pytest.approx(1.0, abs=1e-6)
    assert beta.min().item() < 0.9
    if temperature == 0:
        agree = target_logits.argmax(-1) == draft_logits.argmax(-1)
        assert beta.tolist() == agree.double().tolist()
        assert 0 < int(agree.sum()) < rows


def test_left_padded_batch_logits_match_unpadded_forward(target):
    prompts = [[1, 2, 3, 4, 5, 6], [3], [2, 2, 7]]
    batch = left_pad(prompts)
    assert batch.attention_mask.tolist()[1] == [0, 0, 0, 0, 0, 1]
    assert batch.position_ids.tolist()[2] == [0, 0, 0, 0, 1, 2]
    with torch.inference_mode():
        logits = target(**batch._asdict()).logits
        for row, prompt in enumerate(prompts):
            alone = target(input_ids=torch.tensor([prompt])).logits[0]
            torch.testing.assert_close(logits[row, -len(prompt) :], alone, atol=1e-5, rtol=1e-5)


def test_batched_continuations_equal_unbatched(target):
    kwargs = dict(temperature=1.0, max_new_tokens=10, seed=3, eos_token_id=EOS)
    one = sample_continuations(target, PROMPTS[:12], batch_size=1, **kwargs)
    four = sample_continuations(target, PROMPTS[:12], batch_size=4, **kwargs)
    assert one.tokens == four.tokens
    assert len(set(one.tokens)) > 6


def test_each_continuation_is_the_target_sampled_alone_with_its_prompt_seed(target):
    """The KV-cached padded batch draws what the decoder's baseline draws for the same seed."""
    prompts = PROMPTS[:10]
    conts = sample_continuations(
        target, prompts, temperature=1.0, max_new_tokens=10, seed=3, eos_token_id=EOS
    )
    for i, prompt in enumerate(prompts):
        alone = autoregressive_generate(
            target,
            prompt,
            temperature=1.0,
            max_new_tokens=10,
            seed=prompt_seed(3, i),
            eos_token_id=EOS,
        )
        assert list(conts[i]) == alone.tokens
    stopped = [c for c in conts if c[-1] == EOS]
    assert stopped and all(EOS not in c[:-1] for c in stopped)
    assert all(len(c) == 10 for c in conts if c[-1] != EOS)
    assert any(len(c) < 10 for c in stopped) and len(stopped) < len(conts)


def test_greedy_beta_is_one_exactly_where_argmaxes_agree(target, draft):
    prompts = PROMPTS[:16]
    result = analytic_acceptance(
        target, {"d": draft}, prompts, temperature=0.0, max_new_tokens=8, seed=0
    )["d"]
    agree_total = 0
    with torch.inference_mode():
        for i, prompt in enumerate(prompts):
            cont = list(result.continuations[i])
            ids = torch.tensor([prompt + cont])
            span = slice(len(prompt) - 1, len(prompt) - 1 + len(cont))
            t_argmax = target(input_ids=ids).logits[0, span].argmax(-1)
            d_argmax = draft(input_ids=ids).logits[0, span].argmax(-1)
            assert t_argmax.tolist() == cont
            agree = int((t_argmax == d_argmax).sum())
            assert result.prompt_acceptance[i] == agree / len(cont)
            agree_total += agree
    assert result.acceptance_rate == agree_total / result.tokens
    assert 0.3 < result.acceptance_rate < 0.95


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_draft_identical_to_target_is_always_accepted(target, temperature):
    twin = copy.deepcopy(target)
    result = analytic_acceptance(
        target, {"twin": twin}, PROMPTS[:8], temperature=temperature, max_new_tokens=6, seed=0
    )["twin"]
    assert result.acceptance_rate == pytest.approx(1.0, abs=1e-6)
    assert result.confidence_interval.low == pytest.approx(1.0, abs=1e-6)
    assert result.mean_accepted_length(4) == pytest.approx(5.0, abs=1e-5)
    assert result.projected_speedup(4, 0.25) == pytest.approx(2.5, abs=1e-5)


def test_record_is_the_ratio_of_sums_with_a_prompt_level_interval(target, draft):
    kwargs = dict(temperature=1.0, max_new_tokens=12, seed=0, eos_token_id=EOS, n_boot=2000)
    result = analytic_acceptance(target, {"d": draft}, PROMPTS, **kwargs)["d"]
    tokens = np.array(result.prompt_tokens)
    means = np.array(result.prompt_acceptance)
    assert result.tokens == tokens.sum() == sum(len(c) for c in result.continuations)
    assert result.acceptance_rate == pytest.approx((means * tokens).sum() / tokens.sum(), rel=1e-12)
    assert len(result.position_acceptance) == tokens.max() == 12

    # Offset 0 is the prompt's last position, which every prompt has: check it by hand.
    with torch.inference_mode():
        first = [
            float(
                acceptance_from_logits(
                    target(input_ids=torch.tensor([p])).logits[0, -1],
                    draft(input_ids=torch.tensor([p])).logits[0, -1],
                    1.0,
                )
            )
            for p in PROMPTS
        ]
    assert result.position_acceptance[0] == pytest.approx(np.mean(first), abs=1e-5)
    single = [i for i, n in enumerate(tokens) if n == 1]
    assert single
    for i in single:
        assert result.prompt_acceptance[i] == pytest.approx(first[i], abs=1e-5)

    # The bootstrap resamples prompts: its spread is the prompt-clustered ratio SE.
    _, se = _ratio_and_cluster_se(means * tokens, tokens)
    low, high = result.confidence_interval
    assert result.standard_error == pytest.approx(se, rel=0.15)
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.2)
    assert low < result.acceptance_rate < high

    again = analytic_acceptance(target, {"d": draft}, PROMPTS, **kwargs)["d"]
    assert again == result and again.continuations == result.continuations
    assert json.loads(json.dumps(result.to_dict()))["confidence_interval"] == [low, high]


@pytest.mark.parametrize(
    ("temperature", "wrong_betas"),
    [
        (0.5, [_q_not_divided_by_tau, _agreement_of_independent_draws]),
        (1.0, [_agreement_of_independent_draws]),
    ],
)
def test_engine_acceptance_rate_agrees_with_decoder_at_one_draft_token(
    target, draft, temperature, wrong_betas, monkeypatch
):
    """α̂ from target samples matches what speculative decoding with K = 1 accepts.

    The two estimates are independent (the engine's continuations and the decoder's draws use
    different seeds) and each is a ratio of sums over the same 64 prompts, so each has a standard
    error clustered by prompt: the engine's bootstrap SE, and the decoder's delta-method SE of
    Σ accepted / Σ proposed. Their difference over sqrt(se₁² + se₂²) is about N(0, 1); we accept
    |z| ≤ 3.5. With K = 1 the decoder skips the position after an accepted token (the bonus token
    fills it) and never drafts the last one; with 1,000 prompts that shifted its rate by 0.002
    (τ 0.5) and 0.007 (τ 1), well inside the tolerance here (about 0.06).
    The same tolerance must reject a β computed wrongly from the same continuations.
    """
    max_new = 16
    result = analytic_acceptance(
        target, {"d": draft}, PROMPTS, temperature=temperature, max_new_tokens=max_new, seed=0
    )["d"]
    accepted, proposed = [], []
    for i, prompt in enumerate(PROMPTS):
        stats = speculative_generate(
            target,
            draft,
            prompt,
            num_draft_tokens=1,
            temperature=temperature,
            max_new_tokens=max_new,
            seed=10_000 + i,
        ).stats
        accepted.append(stats.accepted)
        proposed.append(stats.proposed)
    rate, se = _ratio_and_cluster_se(accepted, proposed)
    tolerance = AGREEMENT_Z * math.hypot(se, result.standard_error)
    assert abs(rate - result.acceptance_rate) <= tolerance, (rate, result.acceptance_rate)
    assert tolerance < 0.1  # the comparison has teeth

    for wrong in wrong_betas:
        monkeypatch.setattr(engine, "acceptance_from_logits", wrong)
        bad = score_continuations(target, {"d": draft}, result.continuations)["d"]
        assert abs(rate - bad.acceptance_rate) > tolerance, wrong.__name__


def test_mean_accepted_length_and_projected_speedup_on_known_values():
    assert mean_accepted_length(0.5, 3) == pytest.approx(1.875)
    assert mean_accepted_length(0.8, 4) == pytest.approx((1 - 0.8**5) / 0.2)
    assert mean_accepted_length(0.0, 5) == 1.0
    assert mean_accepted_length(1.0, 5) == 6.0
    assert mean_accepted_length(1.0 - 1e-12, 5) == pytest.approx(6.0, abs=1e-9)
    assert projected_speedup(0.8, 4, 0.05) == pytest.approx(3.3616 / 1.2)
    assert projected_speedup(1.0, 3, 0.0) == 4.0
    assert projected_speedup(0.0, 1, 1.0) == 0.5
    for bad in [
        lambda: mean_accepted_length(1.1, 3),
        lambda: mean_accepted_length(float("nan"), 3),
        lambda: mean_accepted_length(0.5, 0),
        lambda: projected_speedup(0.5, 3, -0.1),
    ]:
        with pytest.raises(ValueError):
            bad()


def test_inputs_are_validated_with_clear_errors(target, draft):
    other_vocab = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=VOCAB + 1,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    )
    ok = dict(temperature=1.0, max_new_tokens=4, seed=0)
    cases = [
        (dict(ok, temperature=-1.0), "temperature"),
        (dict(ok, max_new_tokens=0), "max_new_tokens"),
        (dict(ok, seed=-1), "seed"),
        (dict(ok, eos_token_id=VOCAB), "eos_token_id"),
        (dict(ok, batch_size=0), "batch_size"),
        (dict(ok, n_boot=0), "n_boot"),
    ]
    for kwargs, word in cases:
        with pytest.raises(ValueError, match=word):
            analytic_acceptance(target, {"d": draft}, PROMPTS[:2], **kwargs)
    with pytest.raises(ValueError, match="non-empty"):
        analytic_acceptance(target, {"d": draft}, [], **ok)
    with pytest.raises(ValueError, match=r"prompts\[1\].*empty"):
        analytic_acceptance(target, {"d": draft}, [[1], []], **ok)
    with pytest.raises(ValueError, match=r"prompts\[0\].*token id 9"):
        analytic_acceptance(target, {"d": draft}, [[1, 9]], **ok)
    with pytest.raises(ValueError, match=r"drafts\['wide'\].*vocabulary mismatch"):
        analytic_acceptance(target, {"d": draft, "wide": other_vocab}, PROMPTS[:2], **ok)
    with pytest.raises(ValueError, match="non-empty dict"):
        analytic_acceptance(target, {}, PROMPTS[:2], **ok)


def test_cost_ratio_is_the_ratio_of_median_latencies_on_the_clock(target, draft):
    # Forwards alternate target, draft; one warmup, then three timed repeats each.
    durations = [100.0, 100.0, 2.0, 0.5, 9.0, 0.5, 2.0, 7.0]
    events, now = [], 0.0
    for d in durations:
        events += [now, now + d]
        now += d + 1.0
    ticks = iter(events)
    cost = measure_cost_ratio(
        target, draft, context_tokens=4, repeats=3, warmup=1, clock=lambda: next(ticks)
    )
    assert (cost.target_seconds, cost.draft_seconds, cost.cost_ratio) == (2.0, 0.5, 0.25)


def test_draft_much_smaller_than_target_costs_less_per_token():
    big = _llama(hidden=256, layers=4, seed=2)
    small = _llama(hidden=32, layers=1, seed=3)
    cost = measure_cost_ratio(big, small, context_tokens=32, repeats=15, warmup=3)
    assert cost.draft_seconds > 0 and cost.target_seconds > 0
    assert cost.cost_ratio == cost.draft_seconds / cost.target_seconds
    assert cost.cost_ratio < 1.0
