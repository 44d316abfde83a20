"""Seeds derived from a parent seed and an index: every random draw of the suite is a function of
the cell, the prompt or the step it belongs to, never of batching or order."""

from __future__ import annotations

import numpy as np


def prompt_seed(seed: int, index: int) -> int:
    """The seed of item ``index``'s generator: independent of batching and of other items."""
    state = np.random.SeedSequence((seed, index)).generate_state(1, dtype=np.uint64)
    return int(state[0])


# A stated seed names drafts and cells and reaches torch.manual_seed, which refuses 2**64 and up;
# every reader of a seed checks it here, against this ceiling or a smaller one (an index).
SEED_LIMIT = 2**32


def seed_problem(value, limit: int = SEED_LIMIT) -> str | None:
    """Why ``value`` is not a seed (an integer in [0, ``limit``)), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        return f"expected an integer in [0, {limit:,})"
    return None
