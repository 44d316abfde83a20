"""The pure acceptance rule against enumerated distributions, and a faulty rule that must fail."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from suite.decoding.sampling import (
    check_temperature,
    expected_acceptance,
    probs_from_logits,
    sample,
    verify_block,
)

VOCAB, K, TRIALS = 6, 3, 200_000


def _random_dists(gen: torch.Generator, rows: int) -> torch.Tensor:
    logits = 2.0 * torch.randn(rows, VOCAB, generator=gen)
    return torch.softmax(logits, dim=-1)


def _verify_resample_from_p(p, q, draft_tokens, generator):
    """Wrong: after a rejection it draws from p instead of the residual max(0, p - q)."""
    n, _ = verify_block(p, q, draft_tokens, generator)
    rows = torch.arange(p.shape[0])
    return n, sample(p[rows, n], generator)


def _verify_accept_by_p(p, q, draft_tokens, generator):
    """Wrong: accepts with probability p(x) instead of min(1, p(x)/q(x))."""
    k = draft_tokens.shape[1]
    p_tok = p[:, :k].gather(-1, draft_tokens.unsqueeze(-1)).squeeze(-1)
    u = torch.rand(draft_tokens.shape, generator=generator)
    n = (u < p_tok).long().cumprod(-1).sum(-1)
    rows = torch.arange(p.shape[0])
    q_pad = torch.cat([q, torch.zeros_like(q[:, :1])], dim=1)
    residual = (p[rows, n] - q_pad[rows, n]).clamp_min(0)
    residual = torch.where(residual.sum(-1, keepdim=True) > 0, residual, p[rows, n])
    return n, sample(residual / residual.sum(-1, keepdim=True), generator)


def _emitted_position_pvalues(rule, seed: int = 1234) -> list[float]:
    """Chi-square p-values of the j-th emitted token against p_j, for j = 1..K+1.

    Distributions do not depend on the prefix here, so given that the first j-1 drafts were
    accepted, the j-th emitted token must follow p_j exactly.
    """
    gen = torch.Generator().manual_seed(seed)
    p1 = _random_dists(gen, K + 1)
    q1 = _random_dists(gen, K)
    p = p1.expand(TRIALS, -1, -1).contiguous()
    q = q1.expand(TRIALS, -1, -1).contiguous()
    drafts = sample(q, gen)
    n_acc, nxt = rule(p, q, drafts, gen)
    emitted = torch.cat([drafts, torch.zeros(TRIALS, 1, dtype=torch.long)], dim=1)
    emitted[torch.arange(TRIALS), n_acc] = nxt
    pvalues = []
    for j in range(K + 1):
        reached = n_acc >= j
        counts = torch.bincount(emitted[reached, j], minlength=VOCAB).double()
        expected = p1[j].double() / p1[j].double().sum() * counts.sum()
        pvalues.append(float(stats.chisquare(counts.numpy(), expected.numpy()).pvalue))
    return pvalues


def test_emitted_tokens_follow_target_distribution_at_every_block_position():
    pvalues = _emitted_position_pvalues(verify_block)
    assert min(pvalues) > 1e-3, pvalues


@pytest.mark.parametrize("rule", [_verify_resample_from_p, _verify_accept_by_p])
def test_faulty_acceptance_rule_is_detected(rule):
    pvalues = _emitted_position_pvalues(rule)
    assert min(pvalues) < 1e-6, pvalues


def test_acceptance_frequency_equals_expected_acceptance():
    gen = torch.Generator().manual_seed(7)
    p1, q1 = _random_dists(gen, 2), _random_dists(gen, 1)
    p = p1.expand(TRIALS, -1, -1).contiguous()
    q = q1.expand(TRIALS, -1, -1).contiguous()
    n_acc, _ = verify_block(p, q, sample(q, gen), gen)
    beta = float(expected_acceptance(p1[0], q1[0]))
    freq = n_acc.double().mean().item()
    se = math.sqrt(beta * (1 - beta) / TRIALS)
    assert abs(freq - beta) < 4 * se, (freq, beta)


def test_identical_distributions_accept_every_draft():
    gen = torch.Generator().manual_seed(3)
    q = _random_dists(gen, K).expand(1000, -1, -1).contiguous()
    p = torch.cat([q, _random_dists(gen, 1).expand(1000, 1, -1)], dim=1)
    n_acc, nxt = verify_block(p, q, sample(q, gen), gen)
    assert torch.all(n_acc == K)
    assert torch.all((nxt >= 0) & (nxt < VOCAB))


def test_greedy_is_one_hot_with_first_index_tie_rule():
    logits = torch.tensor([[0.5, 2.0, 2.0, -1.0]])
    probs = probs_from_logits(logits, 0.0)
    assert probs.tolist() == [[0.0, 1.0, 0.0, 0.0]]


def test_temperature_scales_logits_in_float32():
    logits = torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16)
    probs = probs_from_logits(logits, 0.5)
    assert probs.dtype == torch.float32
    expected = torch.softmax(torch.tensor([2.0, 4.0, 6.0]), dim=-1)
    assert torch.allclose(probs, expected, atol=1e-6)


def test_greedy_verification_accepts_exactly_matching_argmax():
    p = probs_from_logits(torch.tensor([[[0.0, 3.0, 1.0], [2.0, 0.0, 0.0], [0.0, 0.0, 5.0]]]), 0)
    q = probs_from_logits(torch.tensor([[[0.0, 3.0, 1.0], [0.0, 2.0, 0.0]]]), 0)
    n, nxt = verify_block(p, q, torch.tensor([[1, 1]]), torch.Generator().manual_seed(0))
    assert (int(n), int(nxt)) == (1, 0)


def test_expected_acceptance_is_one_minus_total_variation():
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.3, 0.5])
    tv = 0.5 * (p - q).abs().sum()
    assert float(expected_acceptance(p, q)) == pytest.approx(1 - float(tv))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "hot", None])
def test_bad_temperature_is_refused(bad):
    with pytest.raises(ValueError, match="temperature"):
        check_temperature(bad)
