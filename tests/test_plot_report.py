"""`autoal plot` and `autoal report`: figures show exactly the numbers the tables print, from the same files.

Result folders are real: rows written through `results.write_job`, and one folder from a real smoke-profile
`autoal bench` run on digits. Plotted values are read back from the matplotlib artists (tagged with `gid`).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from alscope_autoal.analysis import aggregate as agg
from alscope_autoal.analysis import plots
from alscope_autoal.analysis.load import load
from alscope_autoal.cli.app import app
from alscope_autoal.loop import params_text
from alscope_autoal.results import read_results, write_job
from alscope_autoal.spec import JobSpec

STRATEGIES = {"random": 0.0, "entropy": 0.010, "margin": 0.020, "autoal": 0.015}  # accuracy gain per round
SELECTION = {"random": 0.001, "entropy": 0.1, "margin": 0.12, "autoal": 1.5}  # seconds per query
DATASETS = ("digits", "breastmnist")
SEEDS = (0, 1, 2)
runner = CliRunner()


def write_rows(out: Path, dataset: str, strategy: str, seed: int, accuracy: list[float], profile: str = "smoke",
               extra=None, params: dict | None = None, cpu_time: bool = True, legacy_params: bool = False,
               meta: dict | None = None) -> None:
    """One job's rows as the loop writes them; `cpu_time=False` writes them as jobs did before CPU seconds were
    recorded (wall time only), `legacy_params=True` with the parameters' Python repr, as before they were JSON."""
    spec = JobSpec(dataset=dataset, strategy=strategy, seed=seed, profile=profile, initial=20, query_size=10,
                   rounds=len(accuracy) - 1, strategy_params=tuple(sorted((params or {}).items())))
    rows = [{"job_id": spec.job_id, "dataset": dataset, "setting": spec.setting, "imbalance_factor": 1.0,
             "open_set_ratio": 0.0, "profile": profile, "model": "small-cnn", "strategy": strategy,
             "strategy_params": str(spec.params) if legacy_params and params else params_text(spec.params), "seed": seed, "round": r, "n_labeled": 20 + 10 * r, "n_trainable": 20 + 10 * r,
             "accuracy": a, "balanced_accuracy": a, "macro_f1": a, "n_queried": 10 * (r > 0), "n_queried_unknown": 0,
             "selection_seconds": SELECTION.get(strategy, 0.5) * (r > 0), "train_seconds": 1.0, "eval_seconds": 0.1,
             "device": "cpu", "labeled_class_counts": [10, 10 + 10 * r]}
            | (cpu_seconds(strategy, r) if cpu_time else {}) | (extra(r) if extra else {})
            for r, a in enumerate(accuracy)]
    write_job(out, spec, rows, {"spec": json.loads(spec.canonical())} | (meta or {}))


def cpu_seconds(strategy: str, r: int) -> dict:
    """CPU seconds equal to the wall seconds above (a quiet machine)."""
    return {"selection_cpu_seconds": SELECTION.get(strategy, 0.5) * (r > 0), "train_cpu_seconds": 1.0,
            "eval_cpu_seconds": 0.1}


def autoal_weights(r: int) -> dict:
    """Round 0 has no query, so no weights (NaN), as in a real AutoAL job."""
    return {"autoal_weight_entropy": np.nan if r == 0 else 0.2 + 0.1 * r,
            "autoal_weight_margin": np.nan if r == 0 else 0.8 - 0.1 * r}


def synthetic_folder(out: Path) -> Path:
    """2 datasets x 4 strategies x 3 seeds x 4 rounds; one seed's round 0 is shared by every strategy."""
    for dataset in DATASETS:
        for seed in SEEDS:
            noise = np.random.default_rng([seed, len(dataset)])
            start = 0.4 + 0.02 * seed
            for strategy, gain in STRATEGIES.items():
                acc = [start] + [start + (0.05 + gain) * r + noise.normal(0, 0.01) for r in (1, 2, 3)]
                write_rows(out, dataset, strategy, seed, acc, extra=autoal_weights if strategy == "autoal" else None)
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return synthetic_folder(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def analysis(folder):
    return load(folder)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """A real sweep: `autoal bench --profile smoke` on digits, random and entropy, 2 seeds."""
    out = tmp_path_factory.mktemp("smoke") / "results"
    result = runner.invoke(app, ["bench", "--profile", "smoke", "--datasets", "digits", "--strategies",
                                 "random,entropy", "--seeds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def by_gid(ax, kind: str = "lines") -> dict:
    artists = ax.get_lines() if kind == "lines" else ax.patches
    return {a.get_gid(): a for a in artists if a.get_gid()}


def panel(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    return frame[frame["dataset"] == dataset]


def test_aubc_and_label_efficiency_follow_their_definitions():
    assert agg.aubc(np.array([30, 10, 20]), np.array([0.7, 0.5, 0.6])) == pytest.approx(0.6)
    # random needs 10, 15, 30 labels to reach 0.5, 0.6, 0.8 on the curve (10, .5) (20, .7) (30, .6): first crossing
    needed = agg.labels_to_reach(np.array([10, 20, 30]), np.array([0.5, 0.7, 0.6]), np.array([0.5, 0.6, 0.8]))
    assert needed == pytest.approx([10, 15, 30])
    rows = pd.DataFrame([{"dataset": "d", "setting": "standard", "profile": "smoke", "strategy": s, "seed": 0,
                          "round": r, "n_labeled": n, "accuracy": a}
                         for s, accs in {"random": [0.5, 0.6, 0.7], "margin": [0.5, 0.65, 0.7]}.items()
                         for r, (n, a) in enumerate(zip([10, 20, 30], accs))])
    eff = agg.label_efficiency(rows).set_index("strategy")["label_efficiency"]
    assert eff["margin"] == pytest.approx((25 / 20 + 30 / 30) / 2)
    assert eff["random"] == pytest.approx(1.0)


def test_learning_curves_plot_the_mean_over_seeds_of_the_files(analysis):
    fig = plots.learning_curves(analysis)
    raw = analysis.rows.groupby(["dataset", "strategy", "round"])["accuracy"].agg(["mean", "std"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split(" (")[0] for ax in axes] == sorted(DATASETS)
    for ax, dataset in zip(axes, sorted(DATASETS)):
        lines = by_gid(ax)
        assert set(lines) == set(STRATEGIES)
        for name, line in lines.items():
            expected = raw.loc[(dataset, name)]
            assert line.get_xdata() == pytest.approx([20, 30, 40, 50])
            assert line.get_ydata() == pytest.approx(expected["mean"].to_numpy() * 100)
        assert lines["random"].get_linestyle() == "--"  # the reference is drawn apart
    colours = {name: line.get_color() for name, line in by_gid(axes[0]).items()}
    assert len(set(colours.values())) == len(colours)
    assert colours == {name: line.get_color() for name, line in by_gid(axes[1]).items()}


def test_aubc_bars_equal_the_report_csv(folder, analysis):
    result = runner.invoke(app, ["report", str(folder), "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout)).set_index(["dataset", "strategy"])
    fig = plots.aubc_bars(analysis)
    for ax, dataset in zip(fig.axes, sorted(DATASETS)):
        bars = by_gid(ax, "patches")
        assert set(bars) == set(STRATEGIES)
        for name, bar in bars.items():
            assert bar.get_height() == pytest.approx(table.loc[(dataset, name), "aubc_mean"] * 100)
    margin = analysis.rows.query("dataset == 'digits' and strategy == 'margin'")
    by_hand = [np.trapezoid(job["accuracy"], job["n_labeled"]) / 30 for _, job in margin.groupby("seed")]
    assert table.loc[("digits", "margin"), "aubc_mean"] == pytest.approx(np.mean(by_hand))


def test_rank_bars_and_ranks_table_agree(analysis):
    table = agg.ranks(analysis.summary, "aubc")
    assert list(table.index) == ["margin", "autoal", "entropy", "random"]  # gains per round order them
    assert table.loc["margin", "average"] == 1 and table.loc["random", "average"] == 4
    bars = by_gid(plots.rank_bars(analysis).axes[0], "patches")
    assert {n: b.get_width() for n, b in bars.items()} == table["average"].to_dict()


def test_cost_figure_uses_a_log_axis_and_ratios_to_entropy(analysis):
    fig = plots.cost(analysis)
    left, right = fig.axes[0], fig.axes[1]
    assert left.get_yscale() == "log" and "s, log scale" in left.get_ylabel()
    assert by_gid(left)["autoal"].get_ydata() == pytest.approx([1.5, 1.5, 1.5])
    ratios = {n: b.get_height() for n, b in by_gid(right, "patches").items()}
    expected = panel(analysis.summary, "breastmnist").set_index("strategy")["cost_ratio_mean"]
    assert ratios == pytest.approx(expected.to_dict())
    assert ratios["entropy"] == pytest.approx(1.0)
    assert ratios["autoal"] == pytest.approx((3 * 1.5 + 4 * 1.1) / (3 * 0.1 + 4 * 1.1))


def test_autoal_weights_figure_reads_the_weight_columns(analysis):
    fig = plots.candidate_weights(analysis)
    lines = by_gid(fig.axes[0])
    assert set(lines) == {"entropy", "margin"}
    assert lines["entropy"].get_xdata() == pytest.approx([1, 2, 3])
    assert lines["entropy"].get_ydata() == pytest.approx([0.3, 0.4, 0.5])


def test_win_matrix_counts_paired_wins(analysis):
    wm = agg.win_matrix(analysis.jobs, "aubc", list(analysis.strategies))
    assert wm.n.loc["margin", "random"] == len(DATASETS) * len(SEEDS)
    assert wm.wins.loc["margin", "random"] == 1.0 and wm.wins.loc["random", "margin"] == 0.0
    assert wm.test.loc["margin", "random"] == "wilcoxon" and wm.p.loc["margin", "random"] < 0.05
    image = plots.win_heatmap(analysis).axes[0].get_images()[0].get_array()
    assert np.ma.filled(image, np.nan) == pytest.approx(wm.wins.to_numpy(float), nan_ok=True)
    assert agg.paired_test([1, 2, 3], [0, 1, 2]) == (pytest.approx(0.25), "sign")


def test_report_formats_mark_the_best(folder, tmp_path):
    md = runner.invoke(app, ["report", str(folder)])
    assert md.exit_code == 0, md.output
    first_rows = {line.split(" | ")[0][2:]: line for line in reversed(md.stdout.splitlines()) if line[:2] == "| "}
    assert first_rows["margin"].count("**") == 2 * 3  # best on both datasets and best average rank
    assert "**" not in first_rows["random"]
    latex = runner.invoke(app, ["report", str(folder), "--format", "latex", "--metric", "final"])
    assert latex.exit_code == 0
    assert r"\toprule" in latex.stdout and r"\textbf{" in latex.stdout and "$\\pm$" in latex.stdout
    assert "final accuracy (\\%)" in latex.stdout
    out = tmp_path / "tables" / "report.md"
    written = runner.invoke(app, ["report", str(folder), "--metric", "efficiency", "--out", str(out)])
    assert written.exit_code == 0 and written.stdout == "" and "label efficiency" in out.read_text()


@pytest.mark.slow
def test_plot_writes_every_figure_and_prints_where(folder, tmp_path):
    result = runner.invoke(app, ["plot", str(folder), "--out", str(tmp_path), "--format", "png,pdf", "--dpi", "40",
                                 "--strategies", "autoal,entropy", "--datasets", "digits"])
    assert result.exit_code == 0, result.output
    printed = [Path(p) for p in result.stdout.split()]
    names = ["learning_curves", "aubc", "ranks", "cost", "autoal_weights", "win_matrix"]
    assert sorted(printed) == sorted(tmp_path / f"{n}.{f}" for n in names for f in ("png", "pdf"))
    assert all(p.stat().st_size > 1000 for p in printed)
    without_autoal = runner.invoke(app, ["plot", str(folder), "--out", str(tmp_path), "--format", "svg",
                                         "--strategies", "entropy", "--datasets", "digits"])
    assert "skipped autoal_weights" in without_autoal.stderr


@pytest.mark.slow
def test_real_smoke_run_plots_and_reports(smoke_run):
    an = load(smoke_run)
    assert plots.candidate_weights(an) is None  # no AutoAL here: that figure is skipped
    lines = by_gid(plots.learning_curves(an).axes[0])
    for name in ("random", "entropy"):
        rows = an.rows[an.rows["strategy"] == name]
        assert lines[name].get_ydata() == pytest.approx(rows.groupby("round")["accuracy"].mean() * 100)
    report = runner.invoke(app, ["report", str(smoke_run), "--format", "csv"])
    assert report.exit_code == 0, report.output
    table = pd.read_csv(io.StringIO(report.stdout)).set_index("strategy")
    assert table.loc["entropy", "cost_ratio_mean"] == pytest.approx(1.0)
    assert table["n_seeds"].tolist() == [2, 2]


def test_partial_sweep_is_reported(folder, tmp_path):
    """A running sweep: a strategy with fewer seeds, and a half-written temporary file."""
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    write_rows(tmp_path, "digits", "least-confidence", 0, [0.4, 0.5, 0.55, 0.6])
    (tmp_path / "jobs" / ".abc.tmp").write_bytes(b"PAR1 half")
    result = runner.invoke(app, ["report", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout)).set_index(["dataset", "strategy"])
    assert table.loc[("digits", "least-confidence"), "n_seeds"] == 1
    assert ("breastmnist", "least-confidence") not in table.index


def test_parameter_variants_are_separate_strategies(tmp_path):
    for temperature, gain in ((0.5, 0.1), (1, 0.2)):
        write_rows(tmp_path, "digits", "autoal", 0, [0.4, 0.4 + gain], params={"temperature": temperature})
    write_rows(tmp_path, "digits", "random", 0, [0.4, 0.45])
    result = runner.invoke(app, ["report", str(tmp_path), "--format", "csv", "--strategies", "autoal"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout)).set_index("strategy")
    assert table["aubc_mean"].to_dict() == pytest.approx({"autoal(temperature=0.5)": 0.45, "autoal(temperature=1)": 0.5})


def test_parameters_stored_as_json_and_as_an_older_repr_name_one_arm(tmp_path):
    for seed, legacy in ((0, False), (1, True)):
        write_rows(tmp_path, "digits", "autoal", seed, [0.4, 0.5], params={"temperature": 0.5}, legacy_params=legacy)
    rows = agg.label_strategies(read_results(tmp_path))
    assert rows.groupby("strategy")["seed"].unique().map(sorted).to_dict() == {"autoal(temperature=0.5)": [0, 1]}


def one_line_error(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.output
    assert expected in result.stderr


@pytest.mark.parametrize("command", ["plot", "report"])
def test_bad_folders_give_one_line_errors(command, folder, tmp_path):
    one_line_error([command, str(tmp_path / "missing")], "no results folder")
    one_line_error([command, str(tmp_path)], "no result files")
    foreign = tmp_path / "foreign"
    (foreign / "jobs").mkdir(parents=True)
    pd.DataFrame({"x": [1, 2]}).to_parquet(foreign / "jobs" / "other.parquet")
    one_line_error([command, str(foreign)], "not autoal results")
    one_line_error([command, str(folder), "--strategies", "badge"], "no results for strategy badge")


def test_mixed_profiles_are_refused_unless_asked(folder, tmp_path):
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    write_rows(tmp_path, "digits", "entropy", 0, [0.6, 0.7, 0.8, 0.85], profile="cpu")
    one_line_error(["report", str(tmp_path)], "mix profiles (cpu, smoke)")
    one_line_error(["plot", str(tmp_path)], "--profile NAME")
    only_cpu = runner.invoke(app, ["report", str(tmp_path), "--profile", "cpu", "--format", "csv"])
    assert only_cpu.exit_code == 0 and set(pd.read_csv(io.StringIO(only_cpu.stdout))["profile"]) == {"cpu"}
    both = runner.invoke(app, ["report", str(tmp_path), "--allow-mixed-profiles"])
    assert both.exit_code == 0 and "digits [cpu]" in both.stdout and "digits [smoke]" in both.stdout


def test_missing_metric_gives_one_line_error(tmp_path):
    for seed in SEEDS:
        write_rows(tmp_path, "digits", "entropy", seed, [0.4, 0.5, 0.6])
    one_line_error(["report", str(tmp_path), "--metric", "efficiency"], "random")
    assert runner.invoke(app, ["report", str(tmp_path), "--metric", "aubc"]).exit_code == 0


# Oracle folder: accuracy start + gain * round (start 0.40 / 0.42 for seeds 0 / 1), so AUBC = start + 1.5 * gain.
ORACLE_GAINS = {"digits": {"random": 0.05, "entropy": 0.06, "margin": 0.07, "autoal": 0.085, "oracle": 0.09},
                "breastmnist": {"random": 0.05, "entropy": 0.08, "margin": 0.06, "autoal": 0.07, "oracle": 0.04}}


@pytest.fixture(scope="module")
def oracle_folder(tmp_path_factory) -> Path:
    """Two seeds; on digits the oracle beats random, on breastmnist it does not (no share is defined there)."""
    out = tmp_path_factory.mktemp("oracle")
    for dataset, gains in ORACLE_GAINS.items():
        for seed in (0, 1):
            for strategy, gain in gains.items():
                write_rows(out, dataset, strategy, seed, [0.4 + 0.02 * seed + gain * r for r in range(4)])
    return out


def test_oracle_gain_share_is_the_hand_computed_value(oracle_folder):
    summary = load(oracle_folder).summary
    share = summary.assign(share=agg.oracle_gain_share(summary)).set_index(["dataset", "strategy"])["share"]
    # digits AUBC means: random 0.41 + 0.075, margin 0.41 + 0.105, oracle 0.41 + 0.135 -> (0.03) / (0.06)
    assert share["digits", "margin"] == pytest.approx(0.5)
    assert share["digits", "entropy"] == pytest.approx(0.25) and share["digits", "autoal"] == pytest.approx(0.875)
    assert share["digits", "random"] == pytest.approx(0.0) and share["digits", "oracle"] == pytest.approx(1.0)
    assert share.loc["breastmnist"].isna().all()  # the oracle does not beat random there
    assert agg.oracle_not_above_random(summary) == [("breastmnist", "standard", "smoke")]
    csv = runner.invoke(app, ["report", str(oracle_folder), "--format", "csv"])
    assert csv.exit_code == 0, csv.output
    table = pd.read_csv(io.StringIO(csv.stdout)).set_index(["dataset", "strategy"])
    assert table.loc[("digits", "margin"), "oracle_gain_share"] == pytest.approx(0.5)
    assert table.loc[("digits", "oracle (ceiling)"), ["rank", "average_rank"]].isna().all()


def test_oracle_is_never_ranked(oracle_folder):
    an = load(oracle_folder)
    ranked = agg.ranks(an.summary)
    assert "oracle" not in ranked.index and list(ranked.index) == ["autoal", "entropy", "margin", "random"]
    assert "oracle" not in by_gid(plots.rank_bars(an).axes[0], "patches")
    md = runner.invoke(app, ["report", str(oracle_folder)]).stdout
    metric, details, ranks = md.split("\n\n**")
    assert "| oracle (ceiling) | " in metric and "oracle (ceiling)" in details
    assert "oracle" not in ranks.split("\n", 1)[1]  # only its title says that the oracle is not ranked
    oracle_row = next(line for line in metric.splitlines() if line.startswith("| oracle (ceiling)"))
    assert "**" not in oracle_row and oracle_row.endswith("| - |")  # highest AUBC on digits, yet not marked or ranked
    assert "oracle gain share (%)" in details and "none on breastmnist" in details
    margin_digits = next(line for line in details.splitlines() if line.startswith("| digits | margin |"))
    assert margin_digits.split(" | ")[4] == "50"
    latex = runner.invoke(app, ["report", str(oracle_folder), "--format", "latex"]).stdout
    assert "oracle (ceiling)" in latex and "oracle gain share (\\%)" in latex


def test_learning_curves_mark_the_oracle_and_the_best_single_strategy(oracle_folder):
    an = load(oracle_folder)
    fig = plots.learning_curves(an)
    for ax, dataset, best in zip(fig.axes, ("breastmnist", "digits"), ("entropy", "margin")):
        oracle = by_gid(ax)["oracle"]
        assert oracle.get_label() == "oracle (ceiling)" and oracle.get_linestyle() == ":"
        assert oracle.get_color() == "black"
        reference = [line for line in ax.get_lines() if line.get_label().startswith("best single:")]
        assert [line.get_label() for line in reference] == [f"best single: {best}"]  # autoal is a selector
        expected = an.curves.query("dataset == @dataset and strategy == @best")["accuracy_mean"] * 100
        assert reference[0].get_ydata() == pytest.approx(expected.to_numpy())
        assert reference[0].get_linestyle() == "--" and reference[0].get_gid() is None


def cpu_and_wall(wall_train: float):
    """Rows that record CPU time beside wall time; `wall_train`: a training round's wall seconds (1 CPU second)."""
    def extra(r: int) -> dict:
        return {"train_seconds": wall_train, "train_cpu_seconds": 1.0, "eval_cpu_seconds": 0.1,
                "selection_cpu_seconds": 0.2 * (r > 0)}
    return extra


@pytest.fixture
def loaded_folder(tmp_path) -> Path:
    """Entropy ran on a quiet machine; random ran while other work took the cores (3 s of wall time per CPU second
    of training): same CPU cost, not the same wall time."""
    for seed in (0, 1):
        write_rows(tmp_path, "digits", "entropy", seed, [0.4, 0.5, 0.6], extra=cpu_and_wall(1.0))
        write_rows(tmp_path, "digits", "random", seed, [0.4, 0.45, 0.5], extra=cpu_and_wall(3.0))
    return tmp_path


def test_costs_are_in_cpu_time_by_default_and_wall_time_on_request(loaded_folder):
    cpu, wall = load(loaded_folder), load(loaded_folder, cost_clock="wall")
    assert (cpu.clock.name, wall.clock.name) == ("cpu", "wall")
    ratio = {an.clock.name: an.summary.set_index("strategy").loc["random", "cost_ratio_mean"] for an in (cpu, wall)}
    assert ratio["cpu"] == pytest.approx(1.0)
    assert ratio["wall"] == pytest.approx((2 * SELECTION["random"] + 3 * 3.0 + 3 * 0.1) / (2 * 0.1 + 3 * 1.0 + 3 * 0.1))
    fig = plots.cost(cpu)
    assert "CPU time" in fig._suptitle.get_text() and "selection CPU time" in fig.axes[0].get_ylabel()
    assert "job CPU time" in fig.axes[1].get_ylabel()
    assert by_gid(fig.axes[0])["entropy"].get_ydata() == pytest.approx([0.2, 0.2])  # CPU seconds per query
    assert {n: b.get_height() for n, b in by_gid(fig.axes[1], "patches").items()} == pytest.approx(
        {"random": 1.0, "entropy": 1.0})
    assert "wall time" in plots.cost(wall)._suptitle.get_text()


def test_report_names_the_clock_of_its_costs(loaded_folder):
    md = runner.invoke(app, ["report", str(loaded_folder)])
    assert md.exit_code == 0, md.output
    assert "cost / entropy (CPU time)" in md.stdout and "costs in CPU time" in md.stdout
    wall = runner.invoke(app, ["report", str(loaded_folder), "--cost-clock", "wall"]).stdout
    assert "cost / entropy (wall time)" in wall and "selection s / round (wall time)" in wall
    csv = pd.read_csv(io.StringIO(runner.invoke(app, ["report", str(loaded_folder), "--format", "csv"]).stdout))
    assert set(csv["cost_clock"]) == {"cpu"} and csv.set_index("strategy").loc["random", "cost_ratio_mean"] == 1.0


def test_results_without_cpu_time_fall_back_to_wall_time_and_say_so(loaded_folder):
    write_rows(loaded_folder, "digits", "margin", 0, [0.4, 0.5, 0.62], cpu_time=False)  # before CPU time existed
    an = load(loaded_folder)
    assert an.clock.name == "wall" and "1 job(s) have no CPU time recorded" in an.clock.note
    assert an.summary.set_index("strategy").loc["random", "cost_ratio_mean"] > 2  # wall, never mixed with CPU
    assert "1 job(s) have no CPU time recorded" in plots.cost(an)._suptitle.get_text()
    result = runner.invoke(app, ["report", str(loaded_folder)])
    assert "note: costs in wall time: 1 job(s) have no CPU time recorded" in result.stderr
    assert "cost / entropy (wall time)" in result.stdout and "costs in wall time: 1 job(s)" in result.stdout
