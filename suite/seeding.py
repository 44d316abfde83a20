"""Seeds derived from a parent seed and an index: every random draw of the suite is a function of
the cell, the prompt or the step it belongs to, never of batching or order."""

from __future__ import annotations

import numpy as np


def prompt_seed(seed: int, index: int) -> int:
    """The seed of item ``index``'s generator: independent of batching and of other items."""
    state = np.random.SeedSequence((seed, index)).generate_state(1, dtype=np.uint64)
    return int(state[0])
