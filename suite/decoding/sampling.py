"""Pure sampling math shared by the speculative decoder, the baseline and the analytic engine.

Every function takes tensors (and an explicit ``torch.Generator``) and touches no model, cache or
clock, so the acceptance rule can be tested against enumerated distributions.
"""

from __future__ import annotations

import math

import torch

from suite.reader import MAX_TEMPERATURE
from suite.specs import MIN_TEMPERATURE

# Below this residual mass p and q agree to float32 precision; the draw falls back to p.
RESIDUAL_EPS = 1e-6


def check_temperature(temperature: float, name: str = "temperature") -> float:
    """Reject negative, NaN and infinite temperatures, and positive ones below MIN_TEMPERATURE,
    instead of silently clamping them."""
    try:
        if isinstance(temperature, bool):  # float(True) is 1.0: a switch, not a temperature
            raise TypeError
        value = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0, got {temperature!r}") from None
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {temperature!r}")
    if value > MAX_TEMPERATURE:  # as a profile's or study's: past it, sampling is noise
        raise ValueError(f"{name} must be at most {MAX_TEMPERATURE:g}, got {value!r}")
    if 0 < value < MIN_TEMPERATURE:
        raise ValueError(
            f"{name} must be 0 (greedy) or at least {MIN_TEMPERATURE:g}, got {value!r}"
        )
    return value if value else 0.0  # -0.0 is 0: recorded as written it reads as negative


class NonFiniteLogits(ValueError):
    """A model gave NaN or infinite logits where a distribution was needed: no probability
    follows from them (an argmax of NaN picks a token, a softmax gives NaN), so the run stops
    naming the model (``role``: target or draft) instead of scoring it."""

    def __init__(self, role: str, name: str | None = None):
        super().__init__(f"the {role}{f' {name}' if name else ''} gives NaN or infinite logits")
        self.role, self.name = role, name


def probs_from_logits(
    logits: torch.Tensor, temperature: float, role: str = "model"
) -> torch.Tensor:
    """softmax(logits / τ) in float32; τ = 0 is the one-hot argmax (first index wins ties).

    Greedy decoding is speculative sampling with one-hot distributions: a draft token is accepted
    exactly when it is the target's argmax, and the residual is the target's argmax. Logits that
    are not all finite raise :class:`NonFiniteLogits` naming ``role``.
    """
    logits = logits.float()
    if not bool(torch.isfinite(logits).all()):
        raise NonFiniteLogits(role)
    if temperature == 0:
        index = logits.argmax(dim=-1, keepdim=True)
        return torch.zeros_like(logits).scatter_(-1, index, 1.0)
    scaled = logits / temperature
    if not bool(torch.isfinite(scaled).all()):  # logits near float32's limit, divided by τ < 1
        raise NonFiniteLogits(role)
    return torch.softmax(scaled, dim=-1)


def sample(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw per row of ``probs`` (..., V) -> (...) int64, by inverse CDF in float64.

    Exact for any (unnormalized) non-negative row, and an order of magnitude cheaper than
    ``torch.multinomial`` over a few thousand tokens; zero-mass tokens are never drawn.
    """
    flat = probs.reshape(-1, probs.shape[-1]).double()
    cdf = flat.cumsum(dim=-1)
    if not torch.isfinite(cdf[:, -1]).all():  # a NaN or inf anywhere in a row reaches its total
        raise ValueError("cannot sample from a distribution with NaN or infinite probabilities")
    u = torch.rand((flat.shape[0], 1), generator=generator, dtype=torch.float64)
    draws = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1)
    return draws.clamp_max(flat.shape[-1] - 1).reshape(probs.shape[:-1])


def expected_acceptance(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """β = Σ_x min(p(x), q(x)) = 1 - TV(p, q), over the last dimension."""
    return torch.minimum(p.float(), q.float()).sum(dim=-1)


def verify_block(
    p: torch.Tensor,
    q: torch.Tensor,
    draft_tokens: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Speculative sampling's verification of one block (Leviathan et al.; Chen et al., 2023).

    p: (B, K+1, V) target probabilities at the K drafted positions and the bonus position.
    q: (B, K, V) draft probabilities the drafted tokens were sampled from.
    draft_tokens: (B, K) int64.
    Returns (num_accepted (B,), next_token (B,)): token i is kept with probability
    min(1, p_i(x_i) / q_i(x_i)); at the first rejection the next token comes from
    normalize(max(0, p_i - q_i)); when all K are kept it comes from p_{K+1}.
    """
    p = p.float()
    q = q.float()
    batch, k = draft_tokens.shape
    if p.shape[:2] != (batch, k + 1) or q.shape[:2] != (batch, k) or p.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"shape mismatch: p {tuple(p.shape)}, q {tuple(q.shape)}, "
            f"draft_tokens {tuple(draft_tokens.shape)}"
        )
    index = draft_tokens.unsqueeze(-1)
    p_tok = p[:, :k].gather(-1, index).squeeze(-1)
    q_tok = q.gather(-1, index).squeeze(-1)
    u = torch.rand((batch, k), generator=generator, dtype=torch.float32)
    # u < p/q without dividing: q_tok > 0 because x_i was drawn from q_i.
    accepted = u * q_tok < p_tok
    num_accepted = accepted.to(torch.int64).cumprod(dim=-1).sum(dim=-1)

    rows = torch.arange(batch)
    p_next = p[rows, num_accepted]
    q_pad = torch.cat([q, q.new_zeros(batch, 1, q.shape[-1])], dim=1)
    residual = (p_next - q_pad[rows, num_accepted]).clamp_min(0.0)
    mass = residual.sum(dim=-1, keepdim=True)
    degenerate = mass <= RESIDUAL_EPS
    residual = torch.where(degenerate, p_next, residual / mass.clamp_min(RESIDUAL_EPS))
    return num_accepted, sample(residual, generator)
