"""Profiles: one commented hyper-parameter set per compute regime. Every result row names its profile, and
numbers from different profiles are never put in one table (docs/protocol.md, "Profiles")."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Metadata for a Profile field added after results were published: at its default it stays out of the job
# identity (`identity.profile_values`), so the jobs that existed before it keep their ids.
WHEN_SET = {"identity": "when-set"}

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
    optimizer: str  # "adam", "sgd" (momentum 0.9), or "lbfgs": full batch, `epochs` iterations (linear head only)
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

PROFILES: Registry[Profile] = Registry("profile")
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
    # full-batch L-BFGS on the dropout-marginalised loss (models/linear.py, training.fit_full_batch): at most 20
    # iterations (`epochs`: each one pass over the labeled set), lr 1 (L-BFGS's own step, scaled by its line
    # search). batch_size and min_steps are what VAAL and learning-loss read for their own mini-batch training.
    name="linear", model="linear", epochs=20, min_steps=0, batch_size=64, optimizer="lbfgs", lr=1.0,
    weight_decay=0.0, dropout=0.3, augment=False, budget=Budget(100, 100, 10), budget_overrides=SMALL_POOLS,
    eval_batch_size=4096,  # a linear head on cached embeddings: seconds per job, needs --encoder
), "frozen encoder (--encoder): dropout and a linear head on cached embeddings (full-batch L-BFGS), seconds per job")
