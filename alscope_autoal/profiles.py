"""Profiles: one commented hyper-parameter set per compute regime. Every result row names its profile, and
numbers from different profiles are never put in one table (docs/protocol.md, "Profiles").

A derived profile is a registered one with some of its `OVERRIDABLE` fields changed, named by its base and the
changes: `cpu(max_pool=5000,max_test=2000)` (`derived_name`). `PROFILES.get` builds it from the name alone, so the
name in a job spec is all a worker process or a Ray task needs, and result rows under that name are never pooled
with the base profile's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

# Metadata for a Profile field added after results were published: at its default it stays out of the job
# identity (`identity.profile_values`), so the jobs that existed before it keep their ids.
WHEN_SET = {"identity": "when-set"}

from .errors import UserError
from .registry import Registry


@dataclass(frozen=True)
class Budget:
    initial: int  # labels before the first round
    query_size: int  # labels bought per round
    rounds: int  # query rounds; the model is trained and scored rounds + 1 times


@dataclass(frozen=True)
class Profile:
    name: str
    model: str  # a name in models.MODELS
    epochs: int  # passes over the labeled set per training run
    min_steps: int  # at least this many optimiser steps, so tiny labeled sets still converge
    batch_size: int
    optimizer: str  # "adam" or "sgd" (momentum 0.9)
    lr: float
    weight_decay: float
    dropout: float  # before the classifier; MC-dropout strategies rely on it
    augment: bool  # random crop (pad 4) and, where labels allow, horizontal flips
    budget: Budget
    budget_overrides: dict[str, Budget] = field(default_factory=dict)  # per dataset, where the pool is small
    max_pool: int | None = None  # cap on the unlabeled pool (a seeded subset), for smoke tests
    max_test: int | None = None  # cap on the test set (a seeded subset), for smoke tests
    eval_batch_size: int = 1024

    def budget_for(self, dataset: str) -> Budget:
        return self.budget_overrides.get(dataset, self.budget)

    def with_(self, **changes) -> "Profile":
        return replace(self, **changes)


SMALL_POOLS = {"digits": Budget(30, 30, 10), "breastmnist": Budget(20, 20, 10), "retinamnist": Budget(40, 40, 10)}

OVERRIDABLE = {  # Profile field -> the `autoal bench` option that sets it
    "max_pool": "--max-pool", "max_test": "--max-test",
}
DERIVED = re.compile(r"^(?P<base>[^()]+)\((?P<changes>[^()]*)\)$")


def derived_name(base: Profile, overrides: dict[str, int | None]) -> str:
    """`base`'s name, or with the overrides that change it `cpu(max_pool=5000,max_test=2000)` (sorted keys)."""
    changes = {key: value for key, value in sorted(overrides.items())
               if value is not None and value != getattr(base, key)}
    if not changes:
        return base.name
    return f"{base.name}({','.join(f'{key}={value}' for key, value in changes.items())})"


def parse_overrides(name: str, changes: str) -> dict[str, int]:
    """'max_pool=5000,max_test=2000' -> {'max_pool': 5000, 'max_test': 2000}; anything else is refused."""
    overrides = {}
    for part in changes.split(","):
        key, sep, value = part.partition("=")
        if not sep or key not in OVERRIDABLE or not value.isdigit() or int(value) < 1:
            raise UserError(f"profile {name!r}: {part!r} is not KEY=N with KEY one of {', '.join(OVERRIDABLE)} "
                            f"and N a positive number (set them with {', '.join(OVERRIDABLE.values())})")
        overrides[key] = int(value)
    return overrides


def with_overrides(name: str, overrides: dict[str, int | None]) -> str:
    """The name of profile `name` (registered or derived) with `overrides` applied (None: leave as it is)."""
    match = DERIVED.match(name)
    base = PROFILES.get(match["base"] if match else name)
    current = parse_overrides(name, match["changes"]) if match else {}
    return derived_name(base, current | {key: value for key, value in overrides.items() if value is not None})


class ProfileRegistry(Registry[Profile]):
    """The registered profiles, plus the derived ones their names describe (`derived_name`)."""

    def get(self, name: str) -> Profile:
        match = DERIVED.match(name)
        if not match:
            return super().get(name)
        base = super().get(match["base"])
        overrides = parse_overrides(name, match["changes"])
        if derived_name(base, overrides) != name:
            raise UserError(f"profile {name!r} is not in its canonical form: write "
                            f"{derived_name(base, overrides)!r} (keys sorted, values that change the base)")
        return base.with_(name=name, **overrides)

    def check(self, name: str) -> str:
        if DERIVED.match(name):
            self.get(name)
            return name
        return super().check(name)


PROFILES: ProfileRegistry = ProfileRegistry("profile")
PROFILES.add("smoke", Profile(
    name="smoke", model="small-cnn", epochs=2, min_steps=10, batch_size=32, optimizer="adam", lr=1e-3,
    weight_decay=0.0, dropout=0.3, augment=False, budget=Budget(20, 10, 2),
    max_pool=300, max_test=200,  # seconds per job: for tests and CI only, numbers mean nothing
), "tiny subsets, 2 epochs, 2 rounds: for tests and CI only")
PROFILES.add("cpu", Profile(
    name="cpu", model="small-cnn", epochs=20, min_steps=150, batch_size=64, optimizer="adam", lr=2e-3,
    weight_decay=5e-4, dropout=0.3, augment=False, budget=Budget(100, 100, 10), budget_overrides=SMALL_POOLS,
), "small CNN, short schedule: a 2-core machine runs one 10-round job on a 30k-image set in minutes")
PROFILES.add("paper", Profile(
    name="paper", model="resnet18", epochs=200, min_steps=0, batch_size=128, optimizer="sgd", lr=0.05,
    weight_decay=5e-4, dropout=0.3, augment=True, budget=Budget(1000, 1000, 10),
    budget_overrides={"cifar100": Budget(2000, 1000, 10), **SMALL_POOLS},
), "the AutoAL paper's regime: ResNet-18, 200 epochs, 1,000 labels per round (needs a GPU)")
PROFILES.add("linear", Profile(
    name="linear", model="linear", epochs=50, min_steps=300, batch_size=64, optimizer="adam", lr=1e-2,
    weight_decay=0.0, dropout=0.3, augment=False, budget=Budget(100, 100, 10), budget_overrides=SMALL_POOLS,
    eval_batch_size=4096,  # a linear head on cached embeddings: seconds per job, needs --encoder
), "frozen encoder (--encoder): dropout and a linear head on cached embeddings, seconds per job")
