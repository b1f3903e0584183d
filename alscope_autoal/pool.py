"""The labeling state of the training pool: which samples are labeled, and in which round."""

from __future__ import annotations

import numpy as np

UNLABELED = -1


class LabelState:
    """Which pool samples are labeled, and when: the round in which each sample was labeled (-1: not yet), which
    gives per-round provenance. It holds no images or labels, only this state.

    `is_unknown` marks open-set samples: querying one spends budget but yields no training label.
    Strategies read it (`ctx.pool`); only the loop calls `label`.
    """

    def __init__(self, size: int, is_unknown: np.ndarray | None = None):
        self.labeled_round = np.full(size, UNLABELED, dtype=np.int64)
        self.is_unknown = np.zeros(size, dtype=bool) if is_unknown is None else is_unknown.astype(bool)

    def __len__(self) -> int:
        return len(self.labeled_round)

    @property
    def labeled_mask(self) -> np.ndarray:
        return self.labeled_round != UNLABELED

    def labeled_indices(self) -> np.ndarray:
        return np.flatnonzero(self.labeled_mask)

    def unlabeled_indices(self) -> np.ndarray:
        return np.flatnonzero(~self.labeled_mask)

    def trainable_indices(self) -> np.ndarray:
        """Labeled samples of known classes: what the task model is trained on."""
        return np.flatnonzero(self.labeled_mask & ~self.is_unknown)

    def label(self, indices: np.ndarray, round_: int) -> None:
        indices = np.asarray(indices, dtype=np.int64)
        if len(np.unique(indices)) != len(indices):
            raise ValueError("a query holds duplicate indices")
        if self.labeled_mask[indices].any():
            raise ValueError("a query holds samples that are already labeled")
        self.labeled_round[indices] = round_

    def subset(self, rows: np.ndarray) -> "LabelState":
        """The state of the samples at `rows` only, in that order."""
        part = LabelState(len(rows), self.is_unknown[rows])
        part.labeled_round = self.labeled_round[rows].copy()
        return part

    def copy(self) -> "LabelState":
        twin = LabelState(len(self), self.is_unknown.copy())
        twin.labeled_round = self.labeled_round.copy()
        return twin
