"""The analytic acceptance engine (DESIGN section 5): α̂, mean accepted length and projected γ.

``analytic_acceptance`` samples target continuations once and scores every draft on them;
``measure_cost_ratio`` gives the c that turns α̂ into a projected speedup.
"""

from suite.acceptance.cost import CostRatio, measure_cost_ratio
from suite.acceptance.engine import (
    PaddedBatch,
    acceptance_from_logits,
    analytic_acceptance,
    left_pad,
    prompt_seed,
    right_pad,
    sample_continuations,
    score_continuations,
)
from suite.acceptance.records import (
    CONFIDENCE_LEVEL,
    AcceptanceResult,
    ConfidenceInterval,
    Continuations,
    mean_accepted_length,
    projected_speedup,
)

__all__ = [
    "CONFIDENCE_LEVEL",
    "AcceptanceResult",
    "ConfidenceInterval",
    "Continuations",
    "CostRatio",
    "PaddedBatch",
    "acceptance_from_logits",
    "analytic_acceptance",
    "left_pad",
    "mean_accepted_length",
    "measure_cost_ratio",
    "projected_speedup",
    "prompt_seed",
    "right_pad",
    "sample_continuations",
    "score_continuations",
]
