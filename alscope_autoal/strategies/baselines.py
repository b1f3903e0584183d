"""Random sampling: the reference every strategy must beat."""

from __future__ import annotations

import numpy as np

from .base import QueryContext, Selection


class RandomSampling:
    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        return Selection(rng.choice(candidates, size=budget, replace=False))
