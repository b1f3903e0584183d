"""A dataset prepared for a job's data setting (ALScope's): the standard split, a long-tailed pool, or an open-set
pool, and the initial labeled set.

Everything here depends only on (dataset, setting, seed), never on the strategy, so every strategy of one
repetition sees the same pool, the same test set and the same initial labeled set (paired comparisons).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .data import ImageDataset
from .errors import UserError
from .profiles import Profile
from .seeds import rng_for
from .spec import JobSpec

MIN_KNOWN_CLASSES = 2


@dataclass
class PreparedData:
    """The pool and test set of one job, with labels remapped to the known classes."""

    pool_x: torch.Tensor
    pool_y: torch.Tensor  # known classes 0..K-1; unknown-class samples hold -1
    is_unknown: np.ndarray
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]  # the known classes
    train_index: np.ndarray  # each pool row's index in the dataset's training set


def subsample(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if cap is None or n <= cap else np.sort(rng.choice(n, cap, replace=False))


def long_tail(y: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Keep n_c = n_max * factor^(-c/(C-1)) samples of class c (class 0 largest), as in Cao et al. 2019."""
    classes = np.unique(y)
    n_max = min(np.bincount(y)[classes])
    keep = []
    for rank, c in enumerate(classes):
        size = max(1, int(round(n_max * factor ** (-rank / max(len(classes) - 1, 1)))))
        members = np.flatnonzero(y == c)
        keep.append(rng.choice(members, size, replace=False))
    return np.sort(np.concatenate(keep))


def known_classes(n_classes: int, open_set_ratio: float) -> np.ndarray:
    """The first classes by index are known, the last round(ratio * C) unknown (LfOSA's convention)."""
    n_unknown = int(round(open_set_ratio * n_classes))
    return np.arange(n_classes - n_unknown)


def check_known_classes(n_known: int, n_classes: int, spec: JobSpec) -> None:
    """An open-set pool must keep two known classes: with fewer there is nothing to classify."""
    if n_known >= MIN_KNOWN_CLASSES or not spec.open_set_ratio:
        return
    most = math.floor((n_classes - MIN_KNOWN_CLASSES) / n_classes * 100) / 100
    fix = f"choose --open-set-ratio {most:g} or less" if most > 0 else "leave out --open-set-ratio"
    raise UserError(f"--open-set-ratio {spec.open_set_ratio} leaves {n_known} of the {n_classes} classes of "
                    f"{spec.dataset} known, but an open-set pool needs {MIN_KNOWN_CLASSES}: {fix}")


def prepare(data: ImageDataset, spec: JobSpec, profile: Profile) -> PreparedData:
    key = (spec.dataset, spec.setting, spec.seed)
    pool_idx = subsample(len(data.train_y), profile.max_pool, rng_for(spec.seed, *key, "pool-subset"))
    test_idx = subsample(len(data.test_y), profile.max_test, rng_for(spec.seed, *key, "test-subset"))
    y = data.train_y.numpy()[pool_idx]
    if spec.imbalance_factor != 1.0:
        pool_idx = pool_idx[long_tail(y, spec.imbalance_factor, rng_for(spec.seed, *key, "long-tail"))]
    known = known_classes(data.n_classes, spec.open_set_ratio)
    check_known_classes(len(known), data.n_classes, spec)
    remap = np.full(data.n_classes, -1, dtype=np.int64)
    remap[known] = np.arange(len(known))
    pool_y = remap[data.train_y.numpy()[pool_idx]]
    test_y = remap[data.test_y.numpy()[test_idx]]
    test_idx = test_idx[test_y >= 0]  # the test set holds the known classes only
    return PreparedData(
        pool_x=data.train_x[pool_idx], pool_y=torch.from_numpy(pool_y), is_unknown=pool_y < 0,
        test_x=data.test_x[test_idx], test_y=torch.from_numpy(test_y[test_y >= 0]),
        classes=[data.classes[c] for c in known], train_index=pool_idx,
    )


def initial_indices(prepared: PreparedData, spec: JobSpec) -> np.ndarray:
    """The initial labeled set: drawn from known-class samples, shared by every strategy of a repetition."""
    rng = rng_for(spec.seed, spec.dataset, spec.setting, "initial-labeled-set")
    known = np.flatnonzero(~prepared.is_unknown)
    return np.sort(rng.choice(known, spec.initial, replace=False))
