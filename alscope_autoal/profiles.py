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
# `autoal bench --precision` when not given; fp32 until a GPU measurement shows bf16 pays (docs/gpu.md,
# "Precision"). Job ids do not depend on it: a job's precision joins its id only when it is not fp32.
DEFAULT_PRECISION = "fp32"

from .errors import UserError
from .registry import Registry


@dataclass(frozen=True)
class Budget:
    initial: int  # labels before the first round
    query_size: int  # labels bought per round
    rounds: int  # query rounds; the model is trained and scored rounds + 1 times


@dataclass(frozen=True)
class Training:
    """Per-dataset training values that replace the profile's own (`Profile.training_overrides`): the released
    AutoAL code sets optimiser, learning rate and epochs per dataset. None keeps the profile's value."""

    epochs: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float | None = None
    momentum: float | None = None
    augment: bool | None = None

    def changes(self) -> dict:
        return {name: value for name, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class Profile:
    name: str
    model: str  # a name in models.MODELS
    epochs: int  # passes over the labeled set per training run
    min_steps: int  # at least this many optimiser steps, so tiny labeled sets still converge
    batch_size: int
    optimizer: str  # "adam" (AdamW), "sgd" (with `momentum`), "lbfgs" (linear head: full batch, `epochs` iterations)
    lr: float
    weight_decay: float  # lbfgs: the head's L2 strength per labeled sample, relative to the embeddings' mean squared
    #                      norm (training.head_l2_weight): scikit-learn's C = 1 / (weight_decay x mean ||x||^2)
    dropout: float  # before the classifier; MC-dropout strategies rely on it
    augment: bool  # random crop (pad 4) and, where labels allow, horizontal flips
    budget: Budget
    budget_overrides: dict[str, Budget] = field(default_factory=dict)  # per dataset, where the pool is small
    max_pool: int | None = None  # cap on the unlabeled pool (a seeded subset), for smoke tests
    max_test: int | None = None  # cap on the test set (a seeded subset), for smoke tests
    eval_batch_size: int = 1024
    # Fields below were added after results were published: at their default they stay out of the job identity.
    momentum: float = field(default=0.9, metadata=WHEN_SET)  # SGD momentum (Nesterov when > 0); 0 = plain SGD
    lr_step_epoch: int = field(default=0, metadata=WHEN_SET)  # 0: cosine annealing over all steps; N: lr x 0.1 from
    #                                                          epoch N on (a one-milestone MultiStepLR)
    training_overrides: dict[str, Training] = field(default_factory=dict, metadata=WHEN_SET)  # per dataset
    precision: str = field(default="fp32", metadata=WHEN_SET)  # set per job from `JobSpec.precision`, never here

    def budget_for(self, dataset: str) -> Budget:
        return self.budget_overrides.get(dataset, self.budget)

    def for_dataset(self, dataset: str) -> "Profile":
        """The profile as a job on `dataset` trains under: its training overrides for that dataset applied."""
        if not self.training_overrides:
            return self
        return replace(self, training_overrides={}, **self.training_overrides.get(dataset, Training()).changes())

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
), "from scratch, as DeepAL+ and ALScope train: ResNet-18, 200 epochs, 1,000 labels per round (needs a GPU)")
PROFILES.add("linear", Profile(
    # full-batch L-BFGS on the dropout-marginalised loss plus an L2 term (models/linear.py,
    # training.fit_full_batch), to convergence: at most 200 iterations (`epochs`: each one pass over the labeled
    # set), lr 1 (L-BFGS's own step, scaled by its line search). weight_decay 1/30: C = 30 in units of the
    # embeddings' mean squared norm, chosen on validation splits of the MR, TREC, CIFAR-10 and OrganAMNIST training
    # pools (benchmarks/linear_head_strength.py). batch_size is what VAAL and learning-loss read for their own
    # mini-batch training (training.minibatch_profile).
    name="linear", model="linear", epochs=200, min_steps=0, batch_size=64, optimizer="lbfgs", lr=1.0,
    weight_decay=1 / 30, dropout=0.3, augment=False, budget=Budget(100, 100, 10), budget_overrides=SMALL_POOLS,
    eval_batch_size=4096,  # a linear head on cached embeddings: seconds per job, needs --encoder
), "frozen encoder (--encoder): dropout and a linear head on cached embeddings (full-batch L-BFGS), seconds per job")

# The released AutoAL code (github.com/haizailache999/AutoAL, commit 5200ce7), where the paper is silent. Each
# value cites its file and line there; docs/gpu.md, "Two regimes", lists them with what we do differently.
# Optimiser names map as nets.py:36-39 does: 'Adam' -> torch.optim.AdamW, 'SGD' -> torch.optim.SGD, both given only
# the dataset's `optimizer_args`, so SGD runs without momentum (torch's default 0) and AdamW without a weight decay
# given runs at torch's default 1e-2.
ADAMW_DEFAULT_DECAY = 1e-2  # torch.optim.AdamW(weight_decay=1e-2) when parameters.py gives none
RELEASED_TRAINING = {
    "svhn": Training(epochs=200, optimizer="adam", lr=1e-3, weight_decay=5e-4,  # parameters.py:112,118,121
                     augment=False),  # parameters.py:114: ToTensor and Normalize only
    "cifar100": Training(epochs=200, optimizer="adam", lr=1e-3,  # parameters.py:195,207,209
                         weight_decay=ADAMW_DEFAULT_DECAY),
    "tiny-imagenet": Training(epochs=40, optimizer="adam", lr=1e-3,  # parameters.py:227,234,236
                              weight_decay=ADAMW_DEFAULT_DECAY),
    "dermamnist": Training(epochs=400, optimizer="adam", lr=3e-3,  # parameters.py:32,43,44
                           weight_decay=ADAMW_DEFAULT_DECAY),
    "pathmnist": Training(epochs=400, optimizer="adam", lr=1e-3,  # parameters.py:47,58,59
                          weight_decay=ADAMW_DEFAULT_DECAY),
    "organcmnist": Training(epochs=400, optimizer="sgd", lr=1e-3, weight_decay=5e-4,  # parameters.py:62,72,73
                            momentum=0.0),
    "mnist": Training(epochs=20, optimizer="adam", lr=1e-3,  # parameters.py:10,17,19
                      weight_decay=ADAMW_DEFAULT_DECAY, augment=False),  # parameters.py:12
    "fashionmnist": Training(epochs=20, optimizer="adam", lr=1e-3,  # parameters.py:90,96,99
                             weight_decay=ADAMW_DEFAULT_DECAY, augment=False),  # parameters.py:92
}
PROFILES.add("released", Profile(
    name="released", model="resnet18-imagenet",  # nets.py:290-298 CIFAR10_Net (utils.py:135-169 get_net)
    epochs=200, min_steps=0,  # parameters.py:124 CIFAR10 n_epoch; epochs only, no step floor (nets.py:45)
    batch_size=128,  # parameters.py:135 loader_tr_args
    optimizer="sgd", lr=1e-3, weight_decay=5e-4,  # parameters.py:139-140 CIFAR10 optimizer, optimizer_args
    momentum=0.0,  # nets.py:39 SGD(**optimizer_args): no momentum given
    lr_step_epoch=120,  # nets.py:42 MultiStepLR(milestones=[120]), gamma 0.1, stepped before each epoch (nets.py:46)
    dropout=0.3,  # ours, not the released code's (CIFAR10_Net has none): our MC-dropout candidates need it
    augment=True,  # parameters.py:127-129 flip and crop (pad 4); its ColorJitter (line 130) is not reproduced
    budget=Budget(2000, 1000, 18),  # arguments.py:24 initseed 2000, :17 batch 1000, :16 quota 18000 (18 rounds)
    budget_overrides=SMALL_POOLS,  # ours: these pools cannot pay 20,000 labels
    training_overrides=RELEASED_TRAINING,
), "the released AutoAL code's regime: ImageNet-initialised ResNet-18, 2,000 + 18 x 1,000 labels, per-dataset "
   "optimiser and epochs (needs a GPU and resnet18-f37072fd.pth)")
