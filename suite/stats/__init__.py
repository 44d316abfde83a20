"""Statistics for the report's claims, in three parts.

- :mod:`suite.stats.core`: per-prompt tests within one checkpoint (the prompt is the unit).
- :mod:`suite.stats.seeds`: comparisons between drafts, with the training seed as the unit and
  prompts crossed with seeds (a two-way random-effects test), and the sample-split U test.
- :mod:`suite.stats.combine`: combining series (mid-p, ``scipy.stats.combine_pvalues``) and joint
  bootstrap intervals over shared prompts.
- :mod:`suite.stats.intervals`: the one module every reported interval comes from (Wilson,
  ``scipy.stats.bootstrap``, percentile intervals of resamples, the analytic engine's ratio
  bootstrap of α̂, the figures' bands, the mean ± SD of seeds).
"""

from suite.stats.combine import combine_pvalues, joint_mean_ci, mid_p_signed_rank
from suite.stats.core import (
    ALTERNATIVES,
    TestResult,
    adjust_pvalues,
    bootstrap_ci,
    independent_test,
    one_sample_test,
    paired_test,
    slopes,
    trend_test,
    weighted_spearman,
)
from suite.stats.grids import alignment_test, u_shape_test
from suite.stats.intervals import (
    CONFIDENCE,
    ConfidenceInterval,
    bootstrap_mean_interval,
    mean_and_spread,
    percentile_interval,
    ratio_bootstrap,
    resampled_mean_interval,
    t_interval,
    wilson_interval,
)
from suite.stats.seeds import seed_contrast_test, split_u_slopes, split_u_test

__all__ = [
    "ALTERNATIVES",
    "CONFIDENCE",
    "ConfidenceInterval",
    "TestResult",
    "adjust_pvalues",
    "alignment_test",
    "bootstrap_ci",
    "bootstrap_mean_interval",
    "combine_pvalues",
    "independent_test",
    "joint_mean_ci",
    "mean_and_spread",
    "mid_p_signed_rank",
    "one_sample_test",
    "paired_test",
    "percentile_interval",
    "ratio_bootstrap",
    "resampled_mean_interval",
    "seed_contrast_test",
    "slopes",
    "split_u_slopes",
    "split_u_test",
    "t_interval",
    "trend_test",
    "u_shape_test",
    "weighted_spearman",
    "wilson_interval",
]
