"""A job's identity is its resolved configuration: edit a profile value or AutoAL's schedule, and the affected jobs
are new jobs (they rerun), results written under the old values are stale (not done, never pooled in silence)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.errors import UserError
from alscope_autoal.identity import check_current, resolve
from alscope_autoal.profiles import PROFILES, Budget
from alscope_autoal.registry import Entry
from alscope_autoal.results import STALE_DIR, read_metadata, write_job
from alscope_autoal.runner import sweep_status
from alscope_autoal.strategies.autoal.strategy import SCHEDULES

from conftest import smoke_spec
from test_plot_report import write_rows

BENCH = ["bench", "--profile", "smoke", "--rounds", "1", "--workers", "1"]
runner = CliRunner()


def edit_profile(monkeypatch, name: str, **changes) -> None:
    """Change values of a registered profile for this test (as an edit of profiles.py would)."""
    entry = PROFILES._entries[name]
    monkeypatch.setitem(PROFILES._entries, name, Entry(name, entry.description, PROFILES.get(name).with_(**changes)))


def edit_schedule(monkeypatch, profile: str, **changes) -> None:
    monkeypatch.setitem(SCHEDULES, profile, SCHEDULES[profile] | changes)


def files_by_strategy(out: Path) -> dict[str, Path]:
    return {pd.read_parquet(path)["strategy"][0]: path for path in (out / "jobs").glob("*.parquet")}


def said(result) -> str:
    return " ".join(result.output.split())  # rich wraps long lines at the terminal width


def test_the_job_id_covers_the_profile_budget_and_autoal_schedule(monkeypatch):
    random, autoal = resolve(smoke_spec("random")), resolve(smoke_spec("autoal"))
    values = dict(autoal.resolved)
    assert values["profile.epochs"] == 2 and values["profile.budget.rounds"] == 2 and values["profile.lr"] == 1e-3
    assert values["strategy.width"] == SCHEDULES["smoke"]["width"]
    assert not any(key.startswith("strategy.") for key, _ in random.resolved)
    edit_schedule(monkeypatch, "smoke", width=4)
    assert resolve(smoke_spec("autoal")).job_id != autoal.job_id and resolve(smoke_spec("random")) == random
    breast = resolve(smoke_spec("random", dataset="breastmnist"))
    edit_profile(monkeypatch, "smoke", budget_overrides={"digits": Budget(20, 10, 3)})
    assert resolve(smoke_spec("random")).job_id != random.job_id  # the dataset's budget is part of it...
    assert resolve(smoke_spec("random", dataset="breastmnist")) == breast  # ... not other datasets' budgets


@pytest.mark.slow
def test_editing_settings_reruns_exactly_the_affected_jobs(tmp_path, monkeypatch):
    out = tmp_path / "results"
    first = runner.invoke(app, [*BENCH, "--strategies", "random,autoal", "--out", str(out)])
    assert first.exit_code == 0, first.output
    before = files_by_strategy(out)
    meta = read_metadata(before["autoal"])
    assert meta["spec"]["resolved"] and dict(map(tuple, meta["spec"]["resolved"]))["strategy.width"] == 8
    random_written = before["random"].stat().st_mtime_ns

    edit_schedule(monkeypatch, "smoke", width=4)  # AutoAL's schedule changes: only autoal's job is affected
    state = json.loads(runner.invoke(app, ["status", str(out), "--json"]).output)
    assert (state["done"], state["stale"], state["pending"]) == (1, 1, 0)
    assert state["stale_files"] == [str(before["autoal"])]
    assert "1 done, 0 failed, 0 pending, 1 stale" in said(runner.invoke(app, ["status", str(out)]))
    plan = runner.invoke(app, [*BENCH, "--strategies", "random,autoal", "--out", str(out), "--dry-run"])
    assert "1 job(s) to run, 1 already done" in plan.output

    rerun = runner.invoke(app, [*BENCH, "--strategies", "random,autoal", "--out", str(out)])
    assert rerun.exit_code == 0, rerun.output
    assert "1 run, 1 already there" in said(rerun) and "moved 1 stale result file(s)" in said(rerun)
    assert before["random"].stat().st_mtime_ns == random_written  # skipped
    assert (out / "jobs" / STALE_DIR / before["autoal"].name).is_file()  # kept, out of the results
    after = files_by_strategy(out)
    assert after["autoal"] != before["autoal"] and after["random"] == before["random"]
    assert dict(map(tuple, read_metadata(after["autoal"])["spec"]["resolved"]))["strategy.width"] == 4
    assert json.loads(runner.invoke(app, ["status", str(out), "--json"]).output)["done"] == 2

    edit_profile(monkeypatch, "smoke", epochs=3)  # a profile value: every smoke job is affected
    plan = runner.invoke(app, [*BENCH, "--strategies", "random,autoal", "--out", str(out), "--dry-run"])
    assert "2 job(s) to run, 0 already done" in plan.output


def test_old_result_files_without_resolved_settings_are_stale(tmp_path):
    old = smoke_spec("random", rounds=1)  # as planned before job ids covered the resolved settings
    write_job(tmp_path, old, [{"job_id": old.job_id, "round": 0}], {"spec": json.loads(old.canonical())})
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "old.json").write_text(json.dumps({"command": "autoal bench", "jobs": [
        json.loads(old.canonical())]}))
    state = sweep_status(tmp_path)
    assert not state.done and [s.job_id for s in state.stale] == [resolve(old).job_id]
    assert state.stale_files == [tmp_path / "jobs" / f"{old.job_id}.parquet"]


def synthetic(out: Path, autoal_config: dict[int, str], random_profile: dict[int, str | None]) -> Path:
    for seed in (0, 1):
        profile_config = random_profile[seed]
        write_rows(out, "digits", "random", seed, [0.4, 0.5, 0.6],
                   extra=(lambda r, c=profile_config: {"profile_config": c, "strategy_config": ""}) if profile_config
                   else None)
        write_rows(out, "digits", "autoal", seed, [0.4, 0.55, 0.7],
                   extra=lambda r, c=autoal_config[seed]: {"profile_config": "p1", "strategy_config": c})
    return out


@pytest.mark.parametrize("autoal_config, random_profile, clash", [
    ({0: "s1", 1: "s2"}, {0: "p1", 1: "p1"}, "digits/standard/smoke/autoal: 2 different strategy settings"),
    ({0: "s1", 1: "s1"}, {0: "p1", 1: "p2"}, "digits/standard/smoke: 2 different profile settings"),
    ({0: "s1", 1: "s1"}, {0: "p1", 1: None}, "digits/standard/smoke: 2 different profile settings"),  # old file
])
@pytest.mark.parametrize("command", ["report", "plot"])
def test_plot_and_report_refuse_to_pool_settings_unless_allowed(command, autoal_config, random_profile, clash,
                                                                 tmp_path):
    out = synthetic(tmp_path / "results", autoal_config, random_profile)
    extra = ["--out", str(tmp_path / "fig"), "--format", "svg"] if command == "plot" else []
    refused = runner.invoke(app, [command, str(out), *extra])
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1, refused.output
    assert refused.stderr.startswith("error: ") and clash in refused.stderr and "--allow-stale" in refused.stderr
    allowed = runner.invoke(app, [command, str(out), "--allow-stale", *extra])
    assert allowed.exit_code == 0, allowed.output
    assert f"warning: pooling results written under different settings ({clash}" in allowed.stderr


def test_one_setting_per_panel_and_strategy_is_not_refused(tmp_path):
    out = synthetic(tmp_path, {0: "s1", 1: "s1"}, {0: "p1", 1: "p1"})
    result = runner.invoke(app, ["report", str(out), "--format", "csv"])
    assert result.exit_code == 0 and result.stderr == ""
    assert set(pd.read_csv(io.StringIO(result.stdout))["strategy"]) == {"random", "autoal"}


def test_a_job_planned_under_other_settings_does_not_run(monkeypatch):
    spec = resolve(smoke_spec("random"))
    check_current(spec)
    check_current(smoke_spec("random"))  # hand-built, unresolved: nothing to compare
    edit_profile(monkeypatch, "smoke", lr=0.01)
    with pytest.raises(UserError, match="profile.lr"):
        check_current(spec)


def test_a_profile_field_marked_when_set_joins_the_identity_only_when_set():
    from dataclasses import dataclass, field

    from alscope_autoal.identity import profile_values
    from alscope_autoal.profiles import WHEN_SET, Profile

    @dataclass(frozen=True)
    class WithNewField(Profile):
        new_knob: int | None = field(default=None, metadata=WHEN_SET)

    base = PROFILES.get("smoke")
    plain = WithNewField(**{f: getattr(base, f) for f in base.__dataclass_fields__})
    assert profile_values(plain, "digits") == profile_values(base, "digits")  # old jobs keep their ids
    assert profile_values(plain.with_(new_knob=5), "digits")["new_knob"] == 5
