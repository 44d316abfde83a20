"""Divergences between the target's and the draft's next-token distributions at τ_kd.

Pure functions over logits (..., V) and a mask (...): online KD's loss, and a measure of how close
a draft came. Everything is computed in float32 log space, so no term divides by zero.

At τ_kd = 0 the target's distribution is its one-hot argmax (as in ``probs_from_logits``) and the
draft side is taken at τ = 1. The draft at τ → 0 would be one-hot as well and carry no gradient;
at τ = 1 forward KL to a one-hot p is exactly the cross-entropy to the target's argmax, the
token-level twin of greedy SeqKD. Reverse KL to a one-hot p is infinite unless q is one-hot, so at
τ_kd = 0 it falls back to that same cross-entropy; total variation and JSD stay finite and are
used as they are.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from suite.decoding.sampling import check_temperature, probs_from_logits

DIVERGENCES = ("forward_kl", "reverse_kl", "total_variation", "jsd")
# log of the smallest normal float32: finite stand-in for log 0, always weighted by p = 0.
_LOG_TINY = math.log(torch.finfo(torch.float32).tiny)


def log_probs(
    target_logits: torch.Tensor, draft_logits: torch.Tensor, kd_temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p, log q) at τ_kd; at τ_kd = 0, p is the target's one-hot argmax and q is at τ = 1."""
    kd_temperature = check_temperature(kd_temperature, "kd_temperature")
    if target_logits.shape != draft_logits.shape:
        raise ValueError(
            f"logits shapes differ: target {tuple(target_logits.shape)}, "
            f"draft {tuple(draft_logits.shape)}"
        )
    if kd_temperature == 0:
        p = probs_from_logits(target_logits, 0.0)
        log_p = torch.where(p > 0, 0.0, _LOG_TINY)
        return log_p, F.log_softmax(draft_logits.float(), dim=-1)
    log_p = F.log_softmax(target_logits.float() / kd_temperature, dim=-1)
    log_q = F.log_softmax(draft_logits.float() / kd_temperature, dim=-1)
    return log_p, log_q


def _kl(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """KL(a || b) over the last dimension, from log-probabilities."""
    return (log_a.exp() * (log_a - log_b)).sum(dim=-1)


def per_position(
    name: str, target_logits: torch.Tensor, draft_logits: torch.Tensor, kd_temperature: float
) -> torch.Tensor:
    """The divergence ``name`` between p (target) and q (draft) at every position: shape (...)."""
    if name not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {DIVERGENCES}, got {name!r}")
    log_p, log_q = log_probs(target_logits, draft_logits, kd_temperature)
    if name == "forward_kl" or (name == "reverse_kl" and float(kd_temperature) == 0):
        return _kl(log_p, log_q)
    if name == "reverse_kl":
        return _kl(log_q, log_p)
    if name == "total_variation":
        return 0.5 * (log_p.exp() - log_q.exp()).abs().sum(dim=-1)
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
    return 0.5 * _kl(log_p, log_m) + 0.5 * _kl(log_q, log_m)


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over the positions where ``mask`` is true (all positions when it is None)."""
    if mask is None:
        return values.mean()
    mask = mask.to(values.device).bool()
    if mask.shape != values.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} != positions {tuple(values.shape)}")
    return (values * mask).sum() / mask.sum().clamp_min(1)


def divergence(
    name: str,
    target_logits: torch.Tensor,
    draft_logits: torch.Tensor,
    mask: torch.Tensor | None,
    kd_temperature: float,
) -> torch.Tensor:
    """Mean divergence over the masked positions: online KD's loss (gradients reach the draft)."""
    return masked_mean(per_position(name, target_logits, draft_logits, kd_temperature), mask)
