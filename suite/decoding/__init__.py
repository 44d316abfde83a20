"""The reference speculative decoder and its target-only baseline."""

from suite.decoding.autoregressive import autoregressive_generate
from suite.decoding.sampling import (
    NonFiniteLogits,
    expected_acceptance,
    probs_from_logits,
    verify_block,
)
from suite.decoding.speculative import GenerationResult, GenerationStats, speculative_generate


def generate(target, draft, input_ids, *, num_draft_tokens=None, **settings) -> GenerationResult:
    """Speculative decoding with ``draft`` proposing ``num_draft_tokens``, or the target alone
    when ``draft`` is None (``num_draft_tokens`` unused); ``settings`` are the keywords both
    decoders take (``temperature``, ``max_new_tokens``, ``seed``, ``eos_token_id``, ...)."""
    if draft is None:
        return autoregressive_generate(target, input_ids, **settings)
    return speculative_generate(
        target, draft, input_ids, num_draft_tokens=num_draft_tokens, **settings
    )


def generate_named(target_where, draft_where, target, draft, input_ids, **keywords):
    """:func:`generate`, where NaN or infinite logits are a SpecError naming the model's folder
    (``target_where`` or ``draft_where``), not the bare role."""
    from suite.errors import SpecError

    try:
        return generate(target, draft, input_ids, **keywords)
    except NonFiniteLogits as err:
        role = "draft" if err.role == "draft" else "target"
        where = draft_where if role == "draft" else target_where
        message = f"{err}: check its weights and config.json's numbers"
        raise SpecError(where, role, str(where), message) from None


__all__ = [
    "GenerationResult",
    "GenerationStats",
    "autoregressive_generate",
    "expected_acceptance",
    "generate",
    "generate_named",
    "probs_from_logits",
    "speculative_generate",
    "verify_block",
]
