"""End-to-end losslessness of the decoder on tiny models with enumerable vocabularies."""

from __future__ import annotations

import pytest
import torch
from scipy import stats
from transformers import GenerationConfig

from suite.decoding import autoregressive_generate, speculative_generate
from suite.decoding.plumbing import CachedModel
from tests.models import perturbed, tiny_llama

VOCAB = 8
PROMPT = [1, 2, 3]
SAMPLES = 2000


@pytest.fixture(scope="module")
def target():
    return tiny_llama(VOCAB, hidden=32, layers=2, seed=0, sharpness=10.0)


@pytest.fixture(scope="module")
def drafts(target):
    return {
        "good": perturbed(target, noise=0.15, seed=1),
        "poor": tiny_llama(VOCAB, hidden=16, layers=1, seed=2, sharpness=10.0),
    }


def _joint_two_tokens(model, temperature: float) -> torch.Tensor:
    """Exact P(first two new tokens) under ``model`` sampled alone at ``temperature``."""
    with torch.no_grad():
        first = torch.softmax(model(torch.tensor([PROMPT])).logits[0, -1] / temperature, -1)
        batch = torch.tensor([[*PROMPT, a] for a in range(VOCAB)])
        second = torch.softmax(model(batch).logits[:, -1] / temperature, -1)
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
def test_first_two_tokens_follow_target_joint_distribution(target, drafts, draft_name, temperature):
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
    # And drafts were really both accepted and rejected along the way.
    assert 0 < accepted < proposed


def _prompts(n: int, vocab: int, seed: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 12, (n,), generator=gen).tolist()
    return [torch.randint(0, vocab, (length,), generator=gen).tolist() for length in lengths]


@pytest.mark.parametrize("num_draft_tokens", [1, 3, 5])
def test_greedy_is_token_identical_to_target_greedy_decoding(num_draft_tokens):
    target = tiny_llama(64, hidden=32, layers=2, seed=10, sharpness=4.0)
    draft = tiny_llama(64, hidden=16, layers=1, seed=11, sharpness=4.0)
    config = GenerationConfig(do_sample=False, max_new_tokens=24, min_new_tokens=24, pad_token_id=0)
    agree = 0
    for prompt in _prompts(20, 64, seed=num_draft_tokens):
        spec = speculative_generate(
            target,
            draft,
            prompt,
            num_draft_tokens=num_draft_tokens,
            temperature=0,
            max_new_tokens=24,
            seed=0,
        )
        with torch.no_grad():
            ids = torch.tensor([prompt])
            hf = target.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
        hf = hf[0, len(prompt) :]
        assert spec.tokens == hf.tolist()
        assert (
            spec.tokens
            == autoregressive_generate(
                target, prompt, temperature=0, max_new_tokens=24, seed=0
            ).tokens
        )
        agree += spec.stats.accepted
    assert agree > 0  # the draft did get some tokens accepted, so rollback paths were exercised


def test_kv_rollback_matches_fresh_forward_after_random_accept_reject_patterns():
    model = tiny_llama(32, hidden=32, layers=2, seed=5)
    gen = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 32, (6,), generator=gen).tolist()
    cached = CachedModel(model)
    with torch.no_grad():
        for _ in range(40):
            block = int(torch.randint(1, 5, (1,), generator=gen))
            seq += torch.randint(0, 32, (block,), generator=gen).tolist()
            logits = cached.extend(seq, len(seq), keep=block + 1 if len(seq) > block else block)
            fresh = model(torch.tensor([seq])).logits[0, -logits.shape[0] :]
            assert torch.allclose(logits, fresh, atol=1e-5)
            rejected = int(torch.randint(0, block + 1, (1,), generator=gen))
            del seq[len(seq) - rejected :]
            seq.append(int(torch.randint(0, 32, (1,), generator=gen)))
            cached.rollback(len(seq) - 1)
            assert cached.length == len(seq) - 1
            assert cached.cache.get_seq_length() == len(seq) - 1


@pytest.mark.parametrize("num_draft_tokens", [1, 2, 4, 7])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_emits_exactly_max_new_tokens(num_draft_tokens, temperature):
    target = tiny_llama(16, seed=3)
    draft = tiny_llama(16, hidden=16, layers=1, seed=4)
    for max_new in (1, 2, 5, 13):
        out = speculative_generate(
            target,
            draft,
            [1, 2],
            num_draft_tokens=num_draft_tokens,
            temperature=temperature,
            max_new_tokens=max_new,
            seed=9,
        )
        assert len(out.tokens) == max_new
        assert out.finish_reason == "length"
        assert out.stats.tokens_emitted == max_new
        assert out.stats.accepted + out.stats.steps >= max_new
        assert sum(out.stats.proposed_per_position) == out.stats.proposed


def test_stats_account_for_every_emitted_token():
    target = tiny_llama(VOCAB, seed=0, sharpness=10.0)
    draft = perturbed(target, 0.15, 1)
    out = speculative_generate(
        target, draft, PROMPT, num_draft_tokens=4, temperature=1.0, max_new_tokens=200, seed=1
    )
    s = out.stats
    assert s.accepted + s.steps == len(out.tokens)
    assert s.mean_accepted_length == pytest.approx(len(out.tokens) / s.steps)
    assert s.acceptance_rate == pytest.approx(s.accepted / s.proposed)
    # Judged = accepted + one rejection per step that had one; never more than proposed.
    assert s.accepted <= s.judged <= s.proposed
    assert s.judged - s.accepted <= s.steps
    assert s.judged_acceptance_rate >= s.acceptance_rate
    assert s.accepted_per_position[0] >= s.accepted_per_position[-1]
    assert s.wall_seconds >= s.draft_seconds + s.target_seconds > 0


def test_eos_stops_generation_like_the_target_alone():
    target = tiny_llama(16, seed=3, sharpness=3.0)
    draft = tiny_llama(16, hidden=16, layers=1, seed=4, sharpness=3.0)
    base = autoregressive_generate(target, [1, 2], temperature=0, max_new_tokens=30, seed=0)
    eos = base.tokens[5]
    first = base.tokens.index(eos)
    spec = speculative_generate(
        target,
        draft,
        [1, 2],
        num_draft_tokens=3,
        temperature=0,
        max_new_tokens=30,
        seed=0,
        eos_token_id=eos,
    )
    assert spec.tokens == base.tokens[: first + 1]
    assert spec.finish_reason == "eos"


class _CharTokenizer:
    def decode(self, tokens):
        return "".join("abcdefghijklmnop"[t] for t in tokens)


def test_stop_string_cuts_after_the_token_that_completes_it():
    target = tiny_llama(16, seed=3, sharpness=3.0)
    draft = tiny_llama(16, hidden=16, layers=1, seed=4, sharpness=3.0)
    base = autoregressive_generate(target, [1, 2], temperature=0, max_new_tokens=30, seed=0)
    text = _CharTokenizer().decode(base.tokens)
    stop = text[6:8]
    end = text.index(stop) + len(stop)
    for generate in (
        lambda **kw: speculative_generate(target, draft, [1, 2], num_draft_tokens=3, **kw),
        lambda **kw: autoregressive_generate(target, [1, 2], **kw),
    ):
        out = generate(
            temperature=0,
            max_new_tokens=30,
            seed=0,
            stop_strings=[stop],
            tokenizer=_CharTokenizer(),
        )
        assert out.tokens == base.tokens[:end]
        assert out.finish_reason == "stop"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": -0.5}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"num_draft_tokens": 0}, "num_draft_tokens"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    target, draft = tiny_llama(16, seed=3), tiny_llama(16, hidden=16, layers=1, seed=4)
    args = {"num_draft_tokens": 2, "temperature": 1.0, "max_new_tokens": 4, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        speculative_generate(target, draft, [1, 2], **args)


def test_vocabulary_mismatch_is_refused():
    target, draft = tiny_llama(16, seed=3), tiny_llama(12, hidden=16, layers=1, seed=4)
    with pytest.raises(ValueError, match="vocabulary mismatch: target has 16 tokens, draft has 12"):
        speculative_generate(
            target, draft, [1], num_draft_tokens=2, temperature=1.0, max_new_tokens=4, seed=0
        )


def test_draft_equal_to_target_has_every_draft_accepted_and_judged():
    target = tiny_llama(VOCAB, seed=0, sharpness=10.0)
    out = speculative_generate(
        target, target, PROMPT, num_draft_tokens=3, temperature=1.0, max_new_tokens=41, seed=2
    )
    s = out.stats
    assert s.accepted == s.judged == s.proposed == 30
    assert s.steps == 11 and s.mean_accepted_length == pytest.approx(41 / 11)


def test_same_seed_gives_same_tokens():
    target, draft = tiny_llama(16, seed=3), tiny_llama(16, hidden=16, layers=1, seed=4)
    a, b = (
        speculative_generate(
            target, draft, [1, 2], num_draft_tokens=3, temperature=1.0, max_new_tokens=40, seed=11
        )
        for _ in range(2)
    )
    assert a.tokens == b.tokens
    assert a.stats.accepted_per_position == b.stats.accepted_per_position
