"""The AL loop, the pool, settings and seeds: behaviours a user relies on when comparing strategies."""

from __future__ import annotations

import numpy as np
import pytest

from alscope_autoal.data import load_dataset
from alscope_autoal.loop import run_job
from alscope_autoal.pool import LabelState
from alscope_autoal.prepare import initial_indices, prepare
from alscope_autoal.profiles import PROFILES
from alscope_autoal.seeds import derive_seed
from alscope_autoal.strategies import make_strategy, select_or_all
from alscope_autoal.training import classification_metrics
from conftest import smoke_spec


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_pool_remembers_the_round_of_each_label():
    pool = LabelState(6)
    pool.label(np.array([0, 3]), 0)
    pool.label(np.array([5]), 1)
    assert pool.labeled_round.tolist() == [0, -1, -1, 0, -1, 1]
    assert pool.unlabeled_indices().tolist() == [1, 2, 4]
    with pytest.raises(ValueError, match="already labeled"):
        pool.label(np.array([3]), 2)
    with pytest.raises(ValueError, match="duplicate"):
        pool.label(np.array([1, 1]), 2)


def test_unknown_samples_spend_budget_but_are_not_trained_on():
    pool = LabelState(4, is_unknown=np.array([False, True, False, False]))
    pool.label(np.array([0, 1]), 0)
    assert pool.labeled_indices().tolist() == [0, 1] and pool.trainable_indices().tolist() == [0]


def test_seeds_are_derived_per_purpose():
    assert derive_seed(0, "a") == derive_seed(0, "a")
    assert len({derive_seed(0, "a"), derive_seed(0, "b"), derive_seed(1, "a")}) == 3


def test_every_strategy_of_a_seed_starts_from_the_same_labeled_set(digits):
    profile = PROFILES.get("smoke")
    sets = [initial_indices(prepare(digits, smoke_spec(s), profile), smoke_spec(s)) for s in ("random", "entropy")]
    assert np.array_equal(*sets)
    other_seed = initial_indices(prepare(digits, smoke_spec(seed=1), profile), smoke_spec(seed=1))
    assert not np.array_equal(sets[0], other_seed)


def test_job_rows_follow_the_budget(digits):
    spec = smoke_spec("entropy", rounds=3)
    rows = run_job(spec, digits)
    assert [r["round"] for r in rows] == [0, 1, 2, 3]
    assert [r["n_labeled"] for r in rows] == [20, 30, 40, 50]
    assert [r["n_queried"] for r in rows] == [0, 10, 10, 10]
    assert rows[0]["selection_seconds"] == 0 and all(r["selection_seconds"] > 0 for r in rows[1:])
    assert all(0 <= r["accuracy"] <= 1 and r["profile"] == "smoke" for r in rows)
    assert [sum(r["labeled_class_counts"]) for r in rows] == [20, 30, 40, 50]


def test_rows_record_cpu_seconds_beside_wall_seconds(digits, monkeypatch):
    """A query that waits (as a job does when other work holds the cores) costs wall time, not CPU time."""
    import time

    from alscope_autoal import loop

    class Waiting:
        def __init__(self, strategy):
            self.strategy = strategy

        def select(self, ctx, budget, rng):
            time.sleep(0.3)
            return self.strategy.select(ctx, budget, rng)

    make = loop.make_strategy
    monkeypatch.setattr(loop, "make_strategy", lambda name, params: Waiting(make(name, params)))
    rows = run_job(smoke_spec("random", rounds=1), digits)
    assert rows[0]["selection_cpu_seconds"] == 0 and rows[1]["selection_seconds"] >= 0.3
    assert rows[1]["selection_cpu_seconds"] < 0.1
    assert all(r["train_cpu_seconds"] > 0 and r["eval_cpu_seconds"] > 0 for r in rows)


class Recording:
    """Wraps a strategy and records the (budget, unlabeled count) of each select() call."""

    def __init__(self, strategy):
        self.strategy, self.asked = strategy, []

    def select(self, ctx, budget, rng):
        self.asked.append((budget, len(ctx.pool.unlabeled_indices())))
        return self.strategy.select(ctx, budget, rng)


def test_a_budget_that_covers_the_pool_labels_the_rest_without_asking_the_strategy(digits, monkeypatch):
    from alscope_autoal import loop

    n_pool = len(prepare(digits, smoke_spec(), PROFILES.get("smoke")).pool_y)
    query_size = (n_pool - 20 + 1) // 2  # round 1 leaves fewer than that unlabeled, round 2 takes them all
    made: list[Recording] = []
    make = loop.make_strategy

    def recording(name, params):
        made.append(Recording(make(name, params)))
        return made[-1]
    monkeypatch.setattr(loop, "make_strategy", recording)
    rows = run_job(smoke_spec("tcm", query_size=query_size), digits)
    assert made[0].asked == [(query_size, n_pool - 20)]
    assert [r["n_labeled"] for r in rows] == [20, 20 + query_size, n_pool]
    assert rows[1]["tcm_typiclust"] == 1.0 and rows[1]["selection_seconds"] > 0
    assert rows[2]["n_queried"] == n_pool - 20 - query_size
    assert rows[2]["selection_seconds"] == rows[2]["selection_cpu_seconds"] == 0.0
    assert not any(key.startswith("tcm_") for key in rows[2])  # no strategy ran, so no extras


def test_select_or_all_takes_everything_without_asking_the_strategy(fresh_context):
    """How strategies that ask others (AutoAL on L_val, the oracle, albl, tailor) spare them that case."""
    class Refusing:
        def select(self, ctx, budget, rng):
            raise AssertionError("a strategy was asked to choose when there was nothing to choose")

    unlabeled = fresh_context.pool.unlabeled_indices()
    everything = select_or_all(Refusing(), fresh_context, len(unlabeled), np.random.default_rng(0))
    assert np.array_equal(everything.indices, unlabeled) and not everything.extras
    assert len(select_or_all(make_strategy("margin"), fresh_context, 5, np.random.default_rng(0)).indices) == 5


def test_same_spec_twice_gives_identical_accuracies_and_picks(digits):
    first, second = (run_job(smoke_spec("margin"), digits) for _ in range(2))
    for a, b in zip(first, second):
        assert a["accuracy"] == b["accuracy"] and a["labeled_ids_added"] == b["labeled_ids_added"]
    assert first[-1]["job_id"] == second[-1]["job_id"]


def test_rows_name_the_training_samples_each_round_labeled(digits):
    """On a long-tailed pool (a subset of the training set), the ids are the dataset's own: rows 0 to r together
    are round r's labeled set, and their classes are the ones the row counts."""
    rows = run_job(smoke_spec("entropy", imbalance_factor=10.0, rounds=3), digits)
    added = [row["labeled_ids_added"] for row in rows]
    assert [len(ids) for ids in added] == [20, 10, 10, 10]
    labeled: list[int] = []
    for row, ids in zip(rows, added):
        labeled += ids
        counts = np.bincount(digits.train_y.numpy()[labeled], minlength=len(row["labeled_class_counts"]))
        assert counts.tolist() == row["labeled_class_counts"]
    assert len(set(labeled)) == len(labeled)
    pool_classes = np.bincount(digits.train_y.numpy()[prepare(digits, smoke_spec(imbalance_factor=10.0),
                                                              PROFILES.get("smoke")).train_index])
    assert pool_classes.max() >= 5 * pool_classes.min()  # the pool really is a long-tailed subset


def test_round_zero_is_shared_by_all_strategies_of_a_seed(digits):
    """Same initial set, same model seed: round 0 is the same experiment for every strategy (pairing)."""
    accuracies = {run_job(smoke_spec(s, rounds=1), digits)[0]["accuracy"] for s in ("random", "least-confidence")}
    assert len(accuracies) == 1


def test_imbalanced_pool_is_long_tailed_and_test_set_unchanged(digits):
    spec = smoke_spec(imbalance_factor=10.0)
    prepared = prepare(digits, spec, PROFILES.get("cpu"))
    counts = np.bincount(prepared.pool_y.numpy())
    assert counts[0] / counts[-1] == pytest.approx(10, rel=0.1)
    assert np.all(np.diff(counts) <= 0)
    assert len(prepared.test_y) == len(digits.test_y)


def test_open_set_holds_unknown_classes_in_the_pool_only(digits):
    prepared = prepare(digits, smoke_spec(open_set_ratio=0.4), PROFILES.get("cpu"))
    assert prepared.classes == [str(d) for d in range(6)]
    assert prepared.is_unknown.sum() > 0 and set(prepared.pool_y[prepared.is_unknown].tolist()) == {-1}
    assert prepared.test_y.max() == 5
    initial = initial_indices(prepared, smoke_spec(open_set_ratio=0.4))
    assert not prepared.is_unknown[initial].any()


def test_metrics_on_a_hand_made_case():
    scores = classification_metrics(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]), 3)
    assert scores["accuracy"] == 0.75
    assert scores["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert scores["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
