"""Which items a training step sees: rows s·B … s·B+B−1 of the epochs laid end to end.

A pure function of the step, so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import torch

from suite.seeding import prompt_seed


def step_positions(step: int, batch_size: int, n: int) -> list[tuple[int, int]]:
    """(epoch, position within the epoch) of each row of step ``step`` over ``n`` items."""
    return [divmod(step * batch_size + j, n) for j in range(batch_size)]


class SeededOrder:
    """Each epoch a permutation of ``n`` items from a generator seeded by (seed, epoch)."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed
        self._order: tuple[int, torch.Tensor] | None = None

    def permutation(self, epoch: int) -> torch.Tensor:
        if self._order is None or self._order[0] != epoch:
            gen = torch.Generator().manual_seed(prompt_seed(self.seed, epoch))
            self._order = (epoch, torch.randperm(self.n, generator=gen))
        return self._order[1]

    def __call__(self, step: int, batch_size: int) -> list[int]:
        """The items of step ``step``'s rows."""
        positions = step_positions(step, batch_size, self.n)
        return [int(self.permutation(epoch)[i]) for epoch, i in positions]
