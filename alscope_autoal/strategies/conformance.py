"""The strategy conformance checks: what every registered strategy must do, run on small real data (digits).

`autoal check STRATEGY` prints them one line each, and tests/test_strategy_conformance.py runs them over every
built-in, so a strategy from outside the package is held to exactly what the built-ins pass. Each profile family
gets a round-0 context as the loop builds it: the small CNN on digits images (smoke profile) and the linear head
on digits' 64 pixel values used as embeddings (linear profile, capped like smoke). In each family:

- the strategy's `select` runs, and returns a `Selection` of integer indices with numeric extras;
- exactly the budget, no index twice, only unlabeled pool indices (`base.selection_problems`, which the loop
  also enforces in every sweep);
- the same picks from a fresh copy of the context under the same seed;
- the pool and the task model left as they were (a strategy never labels or trains);
- the largest budget it can be asked for, where the pool is nearly spent: all unlabeled samples but one (or
  but the samples it reserves, `reserved_pool`); a budget that covers the whole pool never reaches a strategy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch

from ..data import ImageDataset, load_dataset
from ..pool import LabelState
from ..prepare import initial_indices, prepare
from ..profiles import PROFILES
from ..spec import JobSpec
from ..training import ImageSpec, train_model
from . import STRATEGIES, make_strategy
from .base import BUDGET, DUPLICATES, INDICES, RETURNS, QueryContext, Selection, selection_problems

BUDGET_ASKED = 15  # picks asked of the strategy on a pool of a few hundred
NEARLY_SPENT = 30  # unlabeled samples left (beside those it reserves) for the largest-budget check
SEED = 3
CAP = {"max_pool": 300, "max_test": 200}  # smoke-sized: the checks take seconds


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool | None  # None: not run, because the strategy's select raised in this family
    reason: str = ""

    def line(self) -> str:
        status = {True: "pass", False: "FAIL", None: "skip"}[self.passed]
        return f"{status}  {self.name}" + (f": {self.reason}" if self.reason else "")


def digits_spec(profile: str) -> JobSpec:
    return JobSpec(dataset="digits", strategy="conformance", seed=0, profile=profile, initial=20, query_size=10,
                   rounds=2)


def as_embeddings(data: ImageDataset) -> ImageDataset:
    """Digits' 8x8 pixels as 64-d feature vectors on the 0-1 scale: real data in the shape an encoder gives."""
    return replace(data, train_x=data.train_x.flatten(1).float() / 255, test_x=data.test_x.flatten(1).float() / 255)


@functools.lru_cache(maxsize=4)
def family_context(family: str, device: str = "cpu") -> QueryContext:
    """The round-0 context of a profile family ("cnn" or "linear") on a torch device, trained once per process,
    with the pool on the device as the loop puts it."""
    data = load_dataset("digits")
    profile_name = "smoke" if family == "cnn" else "linear"
    profile = PROFILES.get(profile_name).with_(**CAP)
    if family == "linear":
        data = as_embeddings(data)
    spec = digits_spec(profile_name)
    prepared = prepare(data, spec, profile)
    mean, std = data.channel_stats()
    img = ImageSpec(data.n_channels, len(prepared.classes), mean, std, data.flips_ok)
    pool = LabelState(len(prepared.pool_y), prepared.is_unknown)
    pool.label(initial_indices(prepared, spec), 0)
    trainable = pool.trainable_indices()
    pool_x = prepared.pool_x.to(device)
    model = train_model(pool_x[torch.as_tensor(trainable, device=device)], prepared.pool_y[trainable], img, profile,
                        1, torch.device(device))
    return QueryContext(model, pool, pool_x, prepared.pool_y, img, profile, torch.device(device), 0, seed=7)


def fresh(ctx: QueryContext, pool: LabelState | None = None) -> QueryContext:
    """The context with its own pool copy and an empty cache, as the loop hands one to a strategy."""
    return QueryContext(ctx.model, (pool or ctx.pool).copy(), ctx.x, ctx.y, ctx.spec, ctx.profile, ctx.device,
                        ctx.round, ctx.seed)


def nearly_spent(ctx: QueryContext, left: int) -> QueryContext:
    """A copy of the context whose pool keeps only `left` unlabeled samples."""
    pool = ctx.pool.copy()
    unlabeled = pool.unlabeled_indices()
    pool.label(unlabeled[:max(0, len(unlabeled) - left)], 0)
    return fresh(ctx, pool)


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def run_select(make: Callable[[], Any], ctx: QueryContext, budget: int) -> tuple[Any, str]:
    """(the selection, "") or (None, why it raised)."""
    try:
        return make().select(ctx, budget, np.random.default_rng(SEED)), ""
    except Exception as exc:  # noqa: BLE001 - a raising strategy is a failed check, not a crash
        message = (f"{type(exc).__name__}: {exc}".splitlines() or [type(exc).__name__])[0]
        return None, f"select raised {message}"


def family_checks(make: Callable[[], Any], family: str, device: str) -> list[CheckResult]:
    """The checks of one profile family, in the order `autoal check` prints them."""
    base = family_context(family, device)
    ctx = fresh(base)
    pool_before, model_before = ctx.pool.labeled_round.copy(), model_state(ctx.model)
    selection, error = run_select(make, ctx, BUDGET_ASKED)
    names = [RETURNS, BUDGET, DUPLICATES, INDICES, "same picks under the same seed", "pool and model left untouched",
             "largest budget"]
    if error:
        return ([CheckResult(f"{family}: select runs", False, error)]
                + [CheckResult(f"{family}: {name}", None, "select raised") for name in names])
    problems = selection_problems(selection, ctx.pool, BUDGET_ASKED)
    results = [CheckResult(f"{family}: select runs", True)]
    results += [CheckResult(f"{family}: {rule}", rule not in problems, problems.get(rule, ""))
                for rule in (RETURNS, BUDGET, DUPLICATES, INDICES)]
    results.append(same_picks(make, base, selection, family))
    results.append(untouched(ctx, pool_before, model_before, family))
    results.append(largest_budget(make, base, family))
    return results


def same_picks(make, base: QueryContext, first: Selection, family: str) -> CheckResult:
    name = f"{family}: same picks under the same seed"
    again, error = run_select(make, fresh(base), BUDGET_ASKED)
    if error:
        return CheckResult(name, False, f"the second call: {error}")
    ours, theirs = np.asarray(first.indices), np.asarray(getattr(again, "indices", again))
    if ours.shape == theirs.shape and np.array_equal(ours, theirs):
        return CheckResult(name, True)
    differ = int((ours != theirs).sum()) if ours.shape == theirs.shape else "all"
    return CheckResult(name, False, f"two calls with the same seed picked different indices ({differ} of "
                                    f"{len(ours)} differ); draw randomness only from the rng given")


def untouched(ctx: QueryContext, pool_before: np.ndarray, model_before: dict, family: str) -> CheckResult:
    name = f"{family}: pool and model left untouched"
    if not np.array_equal(ctx.pool.labeled_round, pool_before):
        return CheckResult(name, False, "the pool's labeled set changed: a strategy only returns indices, the loop "
                                        "labels them")
    changed = [key for key, value in model_state(ctx.model).items()
               if value.shape != model_before[key].shape or not torch.equal(value, model_before[key])]
    if changed:
        return CheckResult(name, False, f"the task model changed ({changed[0]}): train a copy "
                                        "(copy.deepcopy(ctx.model)), never ctx.model")
    return CheckResult(name, True)


def largest_budget(make, base: QueryContext, family: str) -> CheckResult:
    reserved = int(getattr(make(), "reserved_pool", lambda: 0)())
    ctx = nearly_spent(base, NEARLY_SPENT + reserved)
    budget = len(ctx.pool.unlabeled_indices()) - max(reserved, 1)
    name = f"{family}: largest budget ({budget} of {budget + max(reserved, 1)} unlabeled)"
    selection, error = run_select(make, ctx, budget)
    problems = {"": error} if error else selection_problems(selection, ctx.pool, budget)
    reason = "; ".join(f"{rule}: {why}" if rule else why for rule, why in problems.items())
    return CheckResult(name, not problems, reason)


def check_strategy(name: str, params: dict[str, Any] | None = None, families: tuple[str, ...] = ("cnn", "linear"),
                   device: str = "cpu") -> list[CheckResult]:
    """Every conformance check of a registered strategy (built with `params`), in order, on a torch device."""
    STRATEGIES.check(name)
    make_strategy(name, params)  # bad parameters are the user's mistake, not a failed check

    def make():
        return make_strategy(name, params)

    return [result for family in families for result in family_checks(make, family, device)]
