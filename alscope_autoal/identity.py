"""A job's identity is its resolved configuration: the values it runs under, looked up when the sweep is planned.

`resolve(spec)` fills `JobSpec.resolved` from the registries as they are now: every field of the spec's profile,
the profile's budget for the spec's dataset, and the strategy's profile-dependent defaults. A strategy class states
those by defining a classmethod `resolved_params(profile) -> dict`; AutoAL-family strategies (autoal,
autoal-lookahead and any subclass of AutoAL) contribute the profile's entry in AutoAL's SCHEDULES. Values are
JSON scalars (str, int, float, bool, None). The job id hashes them, so an edited profile or schedule gives new
job ids: the jobs rerun, and results written under the old values are stale (docs/protocol.md, "Job identity").
"""

from __future__ import annotations

import json
from dataclasses import MISSING, Field, fields, replace
from types import SimpleNamespace
from typing import Any

from .errors import UserError
from .profiles import PROFILES, Profile
from .spec import JobSpec

# replaced by the one budget, and the training values, that apply to the dataset
PER_DATASET_FIELDS = ("budget", "budget_overrides", "training_overrides")


def profile_values(profile: Profile, dataset: str) -> dict[str, Any]:
    trained = profile.for_dataset(dataset)
    values = {f.name: getattr(trained, f.name) for f in fields(trained)
              if f.name not in PER_DATASET_FIELDS and not at_default_when_set(trained, f)}
    budget = profile.budget_for(dataset)
    values |= {f"budget.{f.name}": getattr(budget, f.name) for f in fields(budget)}
    return values


def at_default_when_set(profile: Profile, f: Field) -> bool:
    """Whether a field marked `profiles.WHEN_SET` holds its default (and so stays out of the identity)."""
    if f.metadata.get("identity") != "when-set":
        return False
    return getattr(profile, f.name) == (f.default_factory() if f.default is MISSING else f.default)


def strategy_defaults(strategy: str, profile: Profile) -> dict[str, Any]:
    """The defaults a strategy takes from the profile: its `resolved_params(profile)`, or AutoAL's schedule."""
    from .strategies import STRATEGIES

    cls = STRATEGIES.get(strategy)
    if hasattr(cls, "resolved_params"):
        return dict(cls.resolved_params(profile))
    from .strategies.autoal.strategy import AutoAL, schedule_for

    if isinstance(cls, type) and issubclass(cls, AutoAL):
        return dict(schedule_for(SimpleNamespace(profile=profile)))  # it reads only ctx.profile
    return {}


def resolved_values(spec: JobSpec) -> dict[str, Any]:
    """Every value the job's identity covers, under "profile." and "strategy." keys, as JSON scalars."""
    profile = PROFILES.get(spec.profile)
    values = {f"profile.{key}": value for key, value in profile_values(profile, spec.dataset).items()}
    values |= {f"strategy.{key}": value for key, value in strategy_defaults(spec.strategy, profile).items()}
    return json.loads(json.dumps(values, default=str))


def resolve(spec: JobSpec) -> JobSpec:
    """`spec` with `resolved` filled from the registries as they are now (its id changes with them)."""
    return replace(spec, resolved=tuple(sorted(resolved_values(spec).items())))


def current(spec: JobSpec) -> JobSpec | None:
    """The spec as it would be planned now; None when its profile or strategy no longer exists."""
    try:
        return resolve(spec)
    except UserError:
        return None


def check_current(spec: JobSpec) -> None:
    """Refuse to run a resolved job where the code resolves it differently (another version on a worker node, a
    profile edited after planning): its result would be filed under values it did not run with."""
    if not spec.resolved:
        return
    now = dict(resolve(spec).resolved)
    changed = sorted(key for key, value in spec.resolved if now.get(key, "<absent>") != value)
    changed += sorted(now.keys() - dict(spec.resolved).keys())
    if changed:
        raise UserError(f"{spec.label}: this code resolves {', '.join(changed)} differently from when the sweep was "
                        "planned; run every worker on the same version and plan the sweep again")
