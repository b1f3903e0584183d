"""Job specs: one (dataset, setting, strategy, seed, profile, budget) cell of a sweep, frozen and hashable.

The job id is a hash of the spec's canonical JSON, so a finished job is recognised by its result file name and a
rerun of the same sweep skips it. `resolved` holds the values the job runs under, looked up when the sweep is
planned (`identity.resolve`): every field of its profile, the profile's budget for its dataset, and its
strategy's profile-dependent defaults (AutoAL's schedule). They are part of the id, so editing a profile or a
schedule makes the affected jobs new jobs, and results written under the old values are stale, not done. Where
the data lives is not part of the spec: it does not change the result (the dataset fingerprint in the result
metadata records what was read).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    dataset: str
    strategy: str
    seed: int
    profile: str
    initial: int
    query_size: int
    rounds: int
    imbalance_factor: float = 1.0  # largest / smallest class size in the training pool; 1 = as shipped
    open_set_ratio: float = 0.0  # fraction of classes held out as unknown; their samples stay in the pool
    strategy_params: tuple[tuple[str, Any], ...] = field(default=())
    # ("profile.<field>" | "profile.budget.<field>" | "strategy.<default>", value) pairs, sorted; () unresolved
    resolved: tuple[tuple[str, Any], ...] = field(default=())
    encoder: str = ""  # frozen encoder whose cached embeddings the job learns on (linear profile); "" = raw images
    variant: str = ""  # the `autoal ablate` variant the job runs (e.g. "K=3", "K=7 hard-mask"); "" outside ablations
    precision: str = "fp32"  # what the task model's forward passes run in (`training.PRECISIONS`)
    subsample: int = 0  # unlabeled samples a strategy sees per round (a seeded subset); 0 = the whole pool

    def canonical(self) -> str:
        fields = asdict(self)
        for name in ("encoder", "variant", "subsample"):  # jobs without one keep the ids they had before it existed
            if not fields[name]:
                del fields[name]
        if fields["precision"] == "fp32":  # as every job ran before --precision existed: the ids it had
            del fields["precision"]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @property
    def job_id(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:16]

    def config_hash(self, part: str) -> str:
        """A short hash of the resolved values of one part ("profile" or "strategy"); "" if unresolved."""
        if not self.resolved:
            return ""
        values = [(key, value) for key, value in self.resolved if key.startswith(part + ".")]
        return hashlib.sha256(json.dumps(values, separators=(",", ":")).encode()).hexdigest()[:12]

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.strategy_params)

    @property
    def setting(self) -> str:
        """A short name for the data setting, used to group results."""
        parts = [f"encoder={self.encoder}"] if self.encoder else []
        if self.imbalance_factor != 1.0:
            parts.append(f"imbalance={self.imbalance_factor:g}")
        if self.open_set_ratio:
            parts.append(f"open-set={self.open_set_ratio:g}")
        return ",".join(parts) or "standard"

    @property
    def arm(self) -> str:
        """The strategy, or for an ablation variant 'autoal(K=3)': how results and progress name it."""
        return f"{self.strategy}({self.variant})" if self.variant else self.strategy

    @property
    def label(self) -> str:
        subset = f"/subsample={self.subsample}" if self.subsample else ""
        return f"{self.dataset}/{self.setting}/{self.arm}{subset}/seed{self.seed}"

    @classmethod
    def from_json(cls, text: str) -> "JobSpec":
        raw = json.loads(text)
        for name in ("strategy_params", "resolved"):
            raw[name] = tuple(tuple(kv) for kv in raw.get(name, ()))
        return cls(**raw)
