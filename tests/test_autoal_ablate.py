"""`autoal ablate` on digits (smoke profile): plans every variant with bench's machinery and runs them as one sweep
(one progress total), writes the table (Markdown, CSV, LaTeX, in %, the profile named) and the figure, which
`autoal report --ablation` and `autoal plot --ablation` rebuild from the results folder alone; `--dry-run` prints
the plan and an estimate and runs nothing."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from alscope_autoal.ablation import AblationRequest, variants
from alscope_autoal.bench import BenchRequest
from alscope_autoal.errors import UserError
from alscope_autoal.results import JOBS_DIR
from cli import render
from cli.app import app

ABLATE = ["ablate", "--num-candidates", "1,2", "--components", "hard-mask", "--candidates", "entropy,margin",
          "--datasets", "digits", "--profile", "smoke", "--rounds", "1", "--baselines", "random", "--workers", "1"]
VARIANTS = ["K=1", "K=2", "K=2 hard-mask", "random"]


class CountingReporter(render.ProgressReporter):
    totals: list[int] = []

    def sweep_started(self, to_run, already_done):
        CountingReporter.totals.append(len(to_run))
        super().sweep_started(to_run, already_done)


@pytest.fixture(scope="module")
def ablated(tmp_path_factory):
    """One finished ablation folder (one seed), and what `autoal ablate` printed while making it."""
    out = tmp_path_factory.mktemp("ablate") / "results-ablation"
    CountingReporter.totals = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render, "ProgressReporter", CountingReporter)
        result = CliRunner().invoke(app, [*ABLATE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output, list(CountingReporter.totals)


@pytest.mark.slow
def test_ablate_writes_table_and_figure(ablated):
    out, output, _ = ablated
    for ext in ("md", "csv", "tex", "png"):
        assert (out / f"ablation.{ext}").stat().st_size > 0
    table = pd.read_csv(out / "ablation.csv", keep_default_na=False)
    assert list(table.variant) == VARIANTS
    assert list(table.candidates) == ["entropy", "entropy,margin", "entropy,margin", ""]
    assert list(table.parameters) == ["", "", "hard_mask=True", ""]
    assert table.aubc_mean.between(0, 1).all() and (table.n_seeds == 1).all()
    assert "K=2 hard-mask: candidates entropy,margin; hard_mask=True" in output


@pytest.mark.slow
def test_all_variants_run_as_one_sweep_with_one_progress_total(ablated):
    assert ablated[2] == [len(VARIANTS)]  # one sweep_started call, for every job of every variant


@pytest.mark.slow
def test_table_is_in_percent_names_the_profile_and_writes_n_1(ablated):
    out = ablated[0]
    text = (out / "ablation.md").read_text()
    table = pd.read_csv(out / "ablation.csv")
    assert "smoke profile" in text.splitlines()[0] and "nan" not in text.lower()
    cells = [line.split(" | ") for line in text.splitlines() if line.startswith("| digits")]
    assert [c[1] for c in cells] == VARIANTS
    for cell, aubc in zip(cells, table.aubc_mean):  # the AUBC column: the CSV's fraction, in %, and n = 1
        assert re.fullmatch(r"(\*\*)?\d+\.\d \(n = 1\)(\*\*)?", cell[5]), cell
        assert float(cell[5].strip("*").split()[0]) == pytest.approx(100 * aubc, abs=0.05)
    assert "smoke profile" in (out / "ablation.tex").read_text()


@pytest.mark.parametrize("fmt, ext", [("md", "md"), ("csv", "csv"), ("latex", "tex")])
@pytest.mark.slow
def test_report_ablation_rebuilds_the_table_from_the_folder(ablated, fmt, ext):
    out = ablated[0]
    result = CliRunner().invoke(app, ["report", str(out), "--ablation", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.stdout == (out / f"ablation.{ext}").read_text()


@pytest.mark.slow
def test_plot_ablation_redraws_the_figure_from_the_folder(ablated, tmp_path):
    result = CliRunner().invoke(app, ["plot", str(ablated[0]), "--ablation", "--format", "png", "--out",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ablation.png").read_bytes() == (ablated[0] / "ablation.png").read_bytes()


@pytest.mark.slow
def test_two_seeds_show_the_spread_instead_of_n_1(ablated, tmp_path):
    out = tmp_path / "two-seeds"
    shutil.copytree(ablated[0] / JOBS_DIR, out / JOBS_DIR)
    for path in list((out / JOBS_DIR).glob("*.parquet")):  # a second seed, 2 points lower
        rows = pq.read_table(path).to_pandas()
        rows = rows.assign(seed=1, job_id=rows.job_id + "-seed1", accuracy=rows.accuracy - 0.02)
        rows.to_parquet(path.with_name(f"{path.stem}-seed1.parquet"))
    result = CliRunner().invoke(app, ["report", str(out), "--ablation"])
    assert result.exit_code == 0, result.output
    assert "n = 1" not in result.stdout and result.stdout.count(" ± ") >= 3 * len(VARIANTS)


@pytest.mark.slow
def test_report_ablation_refuses_a_folder_without_variants(ablated, tmp_path):
    out = tmp_path / "baseline-only"
    (out / JOBS_DIR).mkdir(parents=True)
    for path in (ablated[0] / JOBS_DIR).glob("*.parquet"):
        if pq.read_table(path).to_pandas().strategy.iloc[0] == "random":
            shutil.copy(path, out / JOBS_DIR)
    result = CliRunner().invoke(app, ["report", str(out), "--ablation"])
    assert result.exit_code == 2
    assert "no 'autoal ablate' variants" in result.output and "Traceback" not in result.output


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path):
    out = tmp_path / "planned"
    result = CliRunner().invoke(app, [*ABLATE, "--out", str(out), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "K=2 hard-mask: candidates entropy,margin; hard_mask=True" in result.stdout
    assert "4 job(s): 4 to run, 0 already done" in result.stdout
    assert re.search(r"estimated time: about [\d.]+ (s|min|h) on 1 worker\(s\) .*CPU time per round measured on digits",
                     result.stdout), result.stdout
    assert not (out / JOBS_DIR).exists()


@pytest.mark.slow
def test_dry_run_estimates_from_the_finished_jobs_of_the_folder(ablated):
    result = CliRunner().invoke(app, [*ABLATE, "--out", str(ablated[0]), "--seeds", "2", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "8 job(s): 4 to run, 4 already done" in result.stdout
    assert f"based on the CPU time of finished jobs in {ablated[0]}" in result.stdout
    assert len(list((ablated[0] / JOBS_DIR).glob("*.parquet"))) == 4


def test_default_order_is_the_papers_and_components_get_a_reference():
    chosen = variants(AblationRequest(BenchRequest(), num_candidates=(3,), components=("no-loss-head",)))
    assert [(v.name, v.candidates) for v in chosen] == [
        ("K=7", ("entropy", "margin", "least-confidence", "kmeans", "bald", "var-ratio", "mean-std")),
        ("K=3", ("entropy", "margin", "least-confidence")),
        ("K=7 no-loss-head", ("entropy", "margin", "least-confidence", "kmeans", "bald", "var-ratio",
                              "mean-std")),
    ]
    assert chosen[2].params == {"use_loss_head": False}


def test_every_component_names_a_real_autoal_parameter():
    from alscope_autoal.ablation import COMPONENTS
    from alscope_autoal.strategies.autoal import AutoAL

    for name, params in COMPONENTS.items():
        strategy = AutoAL(candidates="entropy,margin", **params)
        assert all(strategy.options.get(k, getattr(strategy, k, None)) == v for k, v in params.items()), name


@pytest.mark.parametrize("request_, message", [
    (AblationRequest(BenchRequest(), num_candidates=(9,)), "out of range"),
    (AblationRequest(BenchRequest(), components=("no-fitnet",)), "unknown component"),
    (AblationRequest(BenchRequest()), "nothing to ablate"),
])
def test_bad_ablations_are_user_errors(request_, message):
    with pytest.raises(UserError, match=message):
        variants(request_)


@pytest.mark.parametrize("args, message", [
    (["--num-candidates", "x"], "comma-separated whole numbers"),
    (["--num-candidates", "9"], "out of range"),
    (["--components", "foo"], "unknown component"),
])
def test_ablate_cli_refuses_bad_options_in_one_line(args, message):
    result = CliRunner().invoke(app, ["ablate", *args, "--datasets", "digits", "--profile", "smoke"])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_lookahead_components_each_change_one_autoal_parameter():
    from alscope_autoal.ablation import COMPONENTS
    from alscope_autoal.strategies.autoal import AutoAL, AutoALLookahead

    single = ["frozen-fitnet", "fitnet-val-model", "lookahead", "softmax-mixing", "running-threshold", "query-ratio"]
    for name in single:
        (key, value), = COMPONENTS[name].items()
        assert AutoAL.DEFAULTS[key] != value == AutoALLookahead.DEFAULTS[key]
    whole, strategy = AutoAL(**COMPONENTS["all-lookahead"]), AutoALLookahead()
    for attribute in ("options", "thresholds", "val_model", "loss_weight"):  # all-lookahead is autoal-lookahead
        assert getattr(whole, attribute) == getattr(strategy, attribute)
