"""Strategies from outside the package: --plugin files, installed entry points, where each comes from, what a job
records of their code, and the one-line errors when a plugin is missing, broken or takes a name that exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.errors import UserError
from alscope_autoal.identity import check_current, resolve
from alscope_autoal.plugins import entry_point_entries, load_plugins
from alscope_autoal.registry import Registry
from alscope_autoal.results import read_metadata, read_results
from alscope_autoal.runner import FAILURES_DIR
from alscope_autoal.strategies import STRATEGIES, make_strategy
from conftest import rng, smoke_spec

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "my_strategy.py"
runner = CliRunner()

FIXTURE_MODULE = '''
from alscope_autoal.strategies import ScoreStrategy


class LowestTopLogit(ScoreStrategy):
    """Lowest top logit first: the model's least confident raw score (a fixture distribution's strategy)."""

    def scores(self, ctx, candidates):
        return -ctx.logits(candidates).max(dim=1).values
'''

BROKEN = '''
import numpy as np
from alscope_autoal.strategies import Selection, register_strategy


@register_strategy("picks-labeled", "puts one labeled index among its picks")
class PicksLabeled:
    def select(self, ctx, budget, rng):
        unlabeled = rng.permutation(ctx.pool.unlabeled_indices())
        return Selection(np.concatenate([ctx.pool.labeled_indices()[:1], unlabeled[:budget - 1]]))


@register_strategy("picks-too-many", "one pick over the budget")
class PicksTooMany:
    def select(self, ctx, budget, rng):
        return Selection(rng.permutation(ctx.pool.unlabeled_indices())[:budget + 1])


@register_strategy("unseeded", "draws from a generator of its own, not the one given")
class Unseeded:
    def select(self, ctx, budget, rng):
        return Selection(np.random.default_rng().permutation(ctx.pool.unlabeled_indices())[:budget])


@register_strategy("raises", "fails on every call")
class Raises:
    def select(self, ctx, budget, rng):
        raise RuntimeError("boom")
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def fixture_distribution(root: Path) -> Path:
    """An installed distribution as pip leaves it: a module and a .dist-info folder declaring its entry point."""
    write(root / "autoal_fixture_strategies.py", FIXTURE_MODULE)
    info = root / "autoal_fixture_strategies-0.1.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: autoal-fixture-strategies\nVersion: 0.1\n")
    write(info / "entry_points.txt",
          "[alscope_autoal.strategies]\nlowest-top-logit = autoal_fixture_strategies:LowestTopLogit\n")
    return root


def autoal(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """The installed `autoal` command in a fresh process, as a user runs it."""
    script = Path(sys.executable).parent / "autoal"
    return subprocess.run([str(script), *args], env=os.environ | env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_entry_points_join_a_registry_lazily_with_their_distribution_as_source(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(fixture_distribution(tmp_path)))
    registry = Registry("strategy", discover=entry_point_entries)
    registry.add("margin", object, "a built-in")
    assert "autoal_fixture_strategies" not in sys.modules  # listed without importing it
    assert str(registry.source("lowest-top-logit")) == "entry point of autoal-fixture-strategies"
    assert registry.describe("lowest-top-logit").startswith("Lowest top logit first")
    assert registry.get("lowest-top-logit").__name__ == "LowestTopLogit"


def registry_with_entry_point(tmp_path, monkeypatch, line: str) -> Registry:
    """A strategy registry that discovers the fixture distribution declaring just this entry point."""
    fixture_distribution(tmp_path)
    write(tmp_path / "autoal_fixture_strategies-0.1.dist-info" / "entry_points.txt",
          f"[alscope_autoal.strategies]\n{line}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return Registry("strategy", discover=entry_point_entries)


def test_an_entry_point_never_shadows_a_built_in(tmp_path, monkeypatch):
    registry = registry_with_entry_point(tmp_path, monkeypatch, "margin = autoal_fixture_strategies:LowestTopLogit")
    registry.add("margin", object, "a built-in")
    with pytest.raises(UserError, match=r"^strategy 'margin' of entry point of autoal-fixture-strategies is already "
                                        r"registered \(built-in\)"):
        registry.names()
    with pytest.raises(UserError):  # asked again, it says so again: nothing half-joined
        registry.check("margin")


def test_an_entry_point_that_cannot_be_imported_is_one_line_naming_it(tmp_path, monkeypatch):
    registry = registry_with_entry_point(tmp_path, monkeypatch, "gone = autoal_fixture_gone:Gone")
    with pytest.raises(UserError, match=r"^strategy 'gone' of entry point of autoal-fixture-strategies cannot be "
                                        r"loaded from autoal_fixture_gone:Gone: ModuleNotFoundError: No module named "
                                        r"'autoal_fixture_gone'$"):
        registry.get("gone")


def test_a_plugin_file_joins_the_registry_and_the_listing_names_it(tmp_path, plugin_free):
    result = runner.invoke(app, ["list", "strategies", "--plugin", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert f"plugin {EXAMPLE}" in lines["far-margin"] and "built-in" in lines["margin"]
    assert "ORACLE" in result.output.strip().splitlines()[-1]  # the oracle still comes last
    load_plugins([str(EXAMPLE)])  # a second import of the same file does nothing
    assert STRATEGIES.names().count("far-margin") == 1


@pytest.mark.parametrize("text, message", [
    ("from alscope_autoal.strategies import STRATEGIES\nSTRATEGIES.add('margin', object, 'mine')\n",
     "error: strategy 'margin' of plugin {path} is already registered (built-in); rename it in plugin {path}"),
    ("import numpy\nraise ValueError('no weights here')\n",
     "error: plugin {path} failed to import: ValueError: no weights here"),
    ("def broken(:\n", "error: plugin {path} failed to import: SyntaxError: "),
])
def test_a_bad_plugin_file_is_one_line_and_exit_2(tmp_path, plugin_free, text, message):
    path = write(tmp_path / "mine.py", text)
    result = runner.invoke(app, ["bench", "--plugin", str(path), "--strategies", "margin", "--profile", "smoke",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.startswith(message.format(path=path)) and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "out").exists()


def test_two_plugins_with_one_name_name_both_and_leave_no_half_registration(tmp_path, plugin_free):
    first = write(tmp_path / "a" / "mine.py", "from alscope_autoal.strategies import STRATEGIES\n"
                                              "STRATEGIES.add('mine', object, 'first')\n")
    second = write(tmp_path / "b" / "mine.py", "from alscope_autoal.strategies import STRATEGIES\n"
                                               "STRATEGIES.add('also-mine', object, 'second')\n"
                                               "STRATEGIES.add('mine', object, 'second')\n")
    with pytest.raises(UserError, match=f"^strategy 'mine' of plugin {second} is already registered "
                                        f"\\(plugin {first}\\); rename it in plugin {second}$"):
        load_plugins([str(first), str(second)])
    assert "also-mine" not in STRATEGIES and STRATEGIES.describe("mine") == "first"


def test_a_missing_plugin_says_which(tmp_path, plugin_free):
    for plugin, message in [("nowhere/mine.py", "error: plugin file nowhere/mine.py does not exist"),
                            ("no_such_module_here", "error: plugin no_such_module_here is neither a file nor an "
                                                    "importable module")]:
        result = runner.invoke(app, ["check", "margin", "--plugin", plugin])
        assert result.exit_code == 2 and result.output.startswith(message), result.output
        assert result.output.count("\n") == 1


def test_a_plugin_module_by_name(tmp_path, plugin_free, monkeypatch):
    write(tmp_path / "lab_strategies.py", "from alscope_autoal.strategies import register_strategy\n"
                                          "from alscope_autoal.strategies.uncertainty import MarginSampling\n"
                                          "register_strategy('lab-margin', 'our margin')(MarginSampling)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins(["lab_strategies"])
    assert str(STRATEGIES.source("lab-margin")) == "plugin module lab_strategies"
    assert dict(resolve(smoke_spec("lab-margin")).resolved)["strategy.source"].startswith("lab_strategies@")


def test_the_job_id_follows_the_plugin_file_and_a_worker_with_another_file_refuses(tmp_path, plugin_free):
    path = write(tmp_path / "mine.py", EXAMPLE.read_text())
    load_plugins([str(path)])
    planned = resolve(smoke_spec("far-margin"))
    source = dict(planned.resolved)["strategy.source"]
    assert source.startswith("mine.py@") and len(source) == len("mine.py@") + 12
    assert "strategy.source" not in dict(resolve(smoke_spec("margin")).resolved)  # built-ins keep their ids
    # a worker process that imports an edited copy of the file
    path.write_text(EXAMPLE.read_text() + "\n# tuned\n")
    STRATEGIES._entries.pop("far-margin")
    from alscope_autoal import plugins
    plugins._loaded.clear()
    load_plugins([str(path)])
    assert resolve(smoke_spec("far-margin")).job_id != planned.job_id
    with pytest.raises(UserError, match=r"the strategy's code differs from when the sweep was planned "
                                        r"\(strategy.source is mine.py@\w{12} here, mine.py@\w{12} when planned\)"):
        check_current(planned)


def test_broken_strategies_fail_the_check_that_names_what_they_broke(tmp_path, plugin_free):
    path = write(tmp_path / "broken.py", BROKEN)
    expected = {"picks-labeled": "FAIL  cnn: no labeled or out-of-range indices: index ",
                "picks-too-many": "FAIL  cnn: budget respected: 16 indices returned for a budget of 15",
                "unseeded": "FAIL  cnn: same picks under the same seed: two calls with the same seed picked "
                            "different indices",
                "raises": "FAIL  cnn: select runs: select raised RuntimeError: boom"}
    for name, line in expected.items():
        result = runner.invoke(app, ["check", name, "--plugin", str(path)])
        assert result.exit_code == 1, result.output
        assert any(out.startswith(line) for out in result.output.splitlines()), (name, result.output)
        assert f"{name}: " in result.output and "checks failed" in result.output
    assert "is already labeled" in runner.invoke(app, ["check", "picks-labeled", "--plugin", str(path)]).output


def test_check_passes_a_built_in_with_one_line_per_check(plugin_free):
    result = runner.invoke(app, ["check", "margin"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["pass"] * 16
    assert "cnn: budget respected" in result.output and "linear: same picks under the same seed" in result.output
    assert lines[-1] == "margin: all 16 checks passed"
    unknown = runner.invoke(app, ["check", "marign"])
    assert unknown.exit_code == 2 and "did you mean 'margin'" in unknown.output


@pytest.mark.slow
def test_a_strategy_that_breaks_the_contract_fails_its_job_and_the_sweep_goes_on(tmp_path, plugin_free):
    path = write(tmp_path / "broken.py", BROKEN)
    out = tmp_path / "out"
    result = runner.invoke(app, ["bench", "--plugin", str(path), "--strategies", "picks-labeled,picks-too-many,margin",
                                 "--profile", "smoke", "--rounds", "1", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 1, result.output
    errors = sorted(json.loads(p.read_text())["error"] for p in (out / FAILURES_DIR).glob("*.json"))
    assert errors[0].startswith("ContractError: the strategy broke the contract (budget respected) in round 0: "
                                "11 indices returned for a budget of 10")
    assert errors[1].startswith("ContractError: the strategy broke the contract (no labeled or out-of-range "
                                "indices) in round 0: index ")
    assert read_results(out)["strategy"].unique().tolist() == ["margin"]


@pytest.mark.slow
def test_an_entry_point_and_a_plugin_file_run_on_two_workers_and_report(tmp_path):
    """The installed fixture distribution's strategy, the example plugin file, margin and autoal in one sweep on
    two worker processes (which see the distribution through PYTHONPATH and import the file themselves)."""
    site = fixture_distribution(tmp_path / "site")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    listed = autoal(["list", "strategies"], env, tmp_path)
    assert "lowest-top-logit  entry point of autoal-fixture-strategies" in " ".join(listed.stdout.split("  "))
    bench = autoal(["bench", "--plugin", str(EXAMPLE), "--strategies", "lowest-top-logit,far-margin,margin,autoal",
                    "--profile", "smoke", "--workers", "2", "--out", "results"], env, tmp_path)
    assert bench.returncode == 0, bench.stderr
    rows = read_results(tmp_path / "results")
    assert sorted(rows["strategy"].unique()) == ["autoal", "far-margin", "lowest-top-logit", "margin"]
    footers = {meta["spec"]["strategy"]: meta for meta in map(read_metadata, (tmp_path / "results" / "jobs").glob("*"))}
    sources = {name: dict(map(tuple, meta["spec"]["resolved"])).get("strategy.source") for name, meta in footers.items()}
    assert sources["far-margin"].startswith("my_strategy.py@") and sources["margin"] is None
    assert sources["lowest-top-logit"].startswith("autoal_fixture_strategies@")
    assert footers["far-margin"]["plugins"]["far-margin"]["module"] == "my_strategy.py"
    assert "plugins" not in footers["margin"]
    report = autoal(["report", "results"], env, tmp_path)
    assert report.returncode == 0 and "far-margin" in report.stdout and "lowest-top-logit" in report.stdout
    again = autoal(["bench", "--plugin", str(EXAMPLE), "--strategies", "far-margin,margin", "--profile", "smoke",
                    "--out", "results"], env, tmp_path)
    assert again.returncode == 0 and "(0 run, 2 already there)" in again.stderr


@pytest.mark.slow
def test_a_plugin_strategy_runs_on_ray(tmp_path, plugin_free):
    pytest.importorskip("ray")
    from alscope_autoal.runner import RunOptions, run_sweep

    load_plugins([str(EXAMPLE)])
    spec = resolve(smoke_spec("far-margin", rounds=1))
    outcome = run_sweep([spec], tmp_path, RunOptions(backend="ray", workers=1, plugins=(str(EXAMPLE),)))
    assert not outcome.failed, outcome.failed
    assert read_results(tmp_path)["strategy"].unique().tolist() == ["far-margin"]


def test_the_example_keeps_the_contract_with_the_rng_it_is_given(fresh_context, plugin_free):
    load_plugins([str(EXAMPLE)])
    picked = make_strategy("far-margin").select(fresh_context, 15, rng(0)).indices
    assert len(np.unique(picked)) == 15 and not fresh_context.pool.labeled_mask[picked].any()


def test_a_selector_with_a_plugin_candidate_records_that_candidate_s_source(plugin_free):
    load_plugins([str(EXAMPLE)])
    spec = resolve(smoke_spec("autoal", strategy_params=(("candidates", "far-margin,margin"),)))
    sources = {key: value for key, value in spec.resolved if key.startswith("strategy.source")}
    assert list(sources) == ["strategy.source.far-margin"] and sources["strategy.source.far-margin"].startswith(
        "my_strategy.py@")
