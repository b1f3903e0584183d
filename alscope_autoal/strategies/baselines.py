"""Random sampling: the reference every strategy must beat."""

from __future__ import annotations

import numpy as np

from .base import QueryContext


class RandomSampling:
    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> np.ndarray:
        candidates = ctx.pool.unlabeled_indices()
        return rng.choice(candidates, size=min(budget, len(candidates)), replace=False)
