"""A job's identity is its resolved configuration: the values it runs under, looked up when the sweep is planned.

`resolve(spec)` fills `JobSpec.resolved` from the registries as they are now: every field of the spec's profile,
the profile's budget for the spec's dataset, the strategy's profile-dependent defaults, and for a user's own
dataset the hash of its files' content (not their path). A strategy class states
those by defining a classmethod `resolved_params(profile) -> dict`; AutoAL-family strategies (autoal,
autoal-lookahead and any subclass of AutoAL) contribute the profile's entry in AutoAL's SCHEDULES. Values are
JSON scalars (str, int, float, bool, None). The job id hashes them, so an edited profile or schedule gives new
job ids: the jobs rerun, and results written under the old values are stale (docs/protocol.md, "Job identity").
A strategy from outside the package (an entry point or a `--plugin`) also contributes its code's source,
"strategy.source" = "<module or file>@<sha12>" (and "strategy.source.<name>" for such a selector candidate), so an
edited plugin gives new jobs; built-in strategies add nothing, so their jobs keep their ids.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, Field, fields, replace
from types import SimpleNamespace
from typing import Any

from .errors import UserError
from .plugins import source_identity
from .profiles import PROFILES, Profile
from .registry import Source
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


def external_strategies(spec: JobSpec) -> dict[str, Source]:
    """The job's strategies from outside the package, by identity key: its own ("strategy.source") and its
    candidates' ("strategy.source.<name>")."""
    from .strategies import STRATEGIES

    named = {"strategy.source": spec.strategy}
    candidates = spec.params.get("candidates")
    if isinstance(candidates, str):
        named |= {f"strategy.source.{name.strip()}": name.strip() for name in candidates.split(",") if name.strip()}
    sources = {key: STRATEGIES.source(name) for key, name in named.items() if name in STRATEGIES}
    return {key: source for key, source in sources.items() if source.external}


def resolved_values(spec: JobSpec) -> dict[str, Any]:
    """Every value the job's identity covers, under "profile." and "strategy." keys, as JSON scalars."""
    profile = PROFILES.get(spec.profile)
    values = {f"profile.{key}": value for key, value in profile_values(profile, spec.dataset).items()}
    values |= {f"strategy.{key}": value for key, value in strategy_defaults(spec.strategy, profile).items()}
    values |= {key: source_identity(source) for key, source in external_strategies(spec).items()}
    values |= dataset_values(spec)
    return json.loads(json.dumps(values, default=str))


def dataset_values(spec: JobSpec) -> dict[str, Any]:
    """A user dataset's content hash ("dataset.sha256"), so an edited file makes new jobs; built-ins add nothing.
    Where the dataset is not known (`autoal status` has no path), the recorded hash stands."""
    from .data.user_sets import user_source

    source = user_source(spec.dataset)
    if source is not None:
        return {"dataset.sha256": source.sha256()}
    return {key: value for key, value in spec.resolved if key.startswith("dataset.")}


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
    plugins = [f"{key} is {now.get(key, 'absent')} here, {dict(spec.resolved).get(key, 'absent')} when planned"
               for key in changed if key.startswith("strategy.source")]
    if plugins:
        raise UserError(f"{spec.label}: the strategy's code differs from when the sweep was planned "
                        f"({'; '.join(plugins)}): give every worker the same plugin file and plan the sweep again")
    if "dataset.sha256" in changed:
        raise UserError(f"{spec.label}: the files of dataset {spec.dataset!r} changed after the sweep was planned; "
                        "plan the sweep again (rerun its command)")
    if changed:
        raise UserError(f"{spec.label}: this code resolves {', '.join(changed)} differently from when the sweep was "
                        "planned; run every worker on the same version and plan the sweep again")
