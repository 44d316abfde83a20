"""The reference speculative decoder and its target-only baseline."""

from suite.decoding.autoregressive import autoregressive_generate
from suite.decoding.sampling import expected_acceptance, probs_from_logits, verify_block
from suite.decoding.speculative import GenerationResult, GenerationStats, speculative_generate

__all__ = [
    "GenerationResult",
    "GenerationStats",
    "autoregressive_generate",
    "expected_acceptance",
    "probs_from_logits",
    "speculative_generate",
    "verify_block",
]
