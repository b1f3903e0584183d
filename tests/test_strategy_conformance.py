"""One conformance suite over every registered strategy: a new strategy is tested for free."""

from __future__ import annotations

import numbers

import numpy as np
import pytest

from alscope_autoal.strategies import STRATEGIES, Selection, make_strategy
from conftest import rng

ALL = STRATEGIES.names()


def select(ctx, name: str, budget: int, seed: int = 0) -> np.ndarray:
    return make_strategy(name).select(ctx, budget, rng(seed)).indices


@pytest.mark.parametrize("name", ALL)
def test_returns_budget_unique_unlabeled_indices_and_numeric_extras(fresh_context, name):
    selection = make_strategy(name).select(fresh_context, 15, rng())
    assert isinstance(selection, Selection) and isinstance(selection.indices, np.ndarray)
    picked = selection.indices
    assert len(picked) == 15
    assert len(np.unique(picked)) == 15
    assert not fresh_context.pool.labeled_mask[picked].any()
    assert picked.dtype.kind in "iu"
    for key, value in selection.extras.items():  # each becomes a numeric column of the round's row
        assert isinstance(key, str) and isinstance(value, numbers.Real) and not isinstance(value, bool), (key, value)


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_picks(fresh_context, name):
    assert np.array_equal(select(fresh_context, name, 12, seed=3), select(fresh_context, name, 12, seed=3))


@pytest.mark.parametrize("name", ALL)
def test_pool_untouched(fresh_context, name):
    before = fresh_context.pool.labeled_round.copy()
    select(fresh_context, name, 10)
    assert np.array_equal(fresh_context.pool.labeled_round, before)


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_is_described(name):
    assert len(STRATEGIES.describe(name)) > 10
