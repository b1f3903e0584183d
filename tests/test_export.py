"""`autoal export`: a results folder as one Parquet file that `report` and `plot` read exactly like the folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.export import read_export
from alscope_autoal.results import read_metadata, result_files

from test_plot_report import synthetic_folder

runner = CliRunner()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return synthetic_folder(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def exported(folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "study.parquet"
    result = runner.invoke(app, ["export", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"({len(result_files(folder))} jobs" in result.stderr
    return out


def test_the_export_holds_every_row_and_footer_of_the_folder(folder, exported):
    export = read_export(exported)
    files = result_files(folder)
    assert set(export.footers) == {path.stem for path in files}
    for path in files:
        assert export.footers[path.stem] == read_metadata(path)
    assert len(export.rows) == sum(pq.read_metadata(path).num_rows for path in files)


@pytest.mark.parametrize("args", [[], ["--format", "csv"], ["--metric", "final", "--table", "details"]])
def test_report_of_the_export_is_the_report_of_the_folder(folder, exported, args):
    of_folder = runner.invoke(app, ["report", str(folder), *args])
    of_export = runner.invoke(app, ["report", str(exported), *args])
    assert of_folder.exit_code == of_export.exit_code == 0
    assert of_export.stdout == of_folder.stdout


def test_report_can_show_one_table(folder):
    whole = runner.invoke(app, ["report", str(folder)]).stdout
    parts = [runner.invoke(app, ["report", str(folder), "--table", name]).stdout.strip()
             for name in ("metric", "details", "ranks")]
    assert whole.strip() == "\n\n".join(parts)


def test_plot_of_an_export_draws_beside_it(exported):
    result = runner.invoke(app, ["plot", str(exported), "--format", "png"])
    assert result.exit_code == 0, result.output
    figures = exported.with_name("study-figures")
    assert len(list(figures.glob("*.png"))) >= 5 and str(figures) in result.stdout


def test_a_damaged_result_file_stops_the_export(folder, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    victim = result_files(broken)[0]
    victim.write_bytes(victim.read_bytes()[:100])
    result = runner.invoke(app, ["export", str(broken), "--out", str(tmp_path / "x.parquet")])
    assert result.exit_code == 1
    assert victim.name in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("case", ["folder as out", "not a study", "no folder", "unwritable out"])
def test_bad_input_is_one_line(case, folder, tmp_path):
    (tmp_path / "notes.parquet").write_bytes(b"PAR1 not really")
    args = {"folder as out": ["export", str(folder), "--out", str(tmp_path)],
            "not a study": ["report", str(tmp_path / "notes.parquet")],
            "no folder": ["export", str(tmp_path / "missing"), "--out", str(tmp_path / "y.parquet")],
            "unwritable out": ["export", str(folder), "--out", str(tmp_path / "notes.parquet" / "z.parquet")]}[case]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")


def test_an_export_beside_an_experiment_file_must_hold_its_jobs(tmp_path):
    """The experiment file plans 4 digits jobs; a folder holding 2 of them is refused, naming both files."""
    experiment = tmp_path / "two.toml"
    experiment.write_text('datasets = ["digits"]\nstrategies = ["random", "margin"]\nseeds = 2\nprofile = "smoke"\n'
                          'rounds = 1\nout = "results"\n')
    partial = tmp_path / "partial"
    ran = runner.invoke(app, ["bench", "--config", str(experiment), "--seeds", "1", "--out", str(partial),
                              "--workers", "1"])
    assert ran.exit_code == 0, ran.output
    refused = runner.invoke(app, ["export", str(partial), "--out", str(tmp_path / "two.parquet")])
    assert refused.exit_code == 2
    line = refused.stderr.strip()
    assert "\n" not in line and "does not match" in line and str(experiment) in line and "2 of the 4" in line
    full = runner.invoke(app, ["bench", "--config", str(experiment), "--out", str(partial), "--workers", "1"])
    assert full.exit_code == 0, full.output
    done = runner.invoke(app, ["export", str(partial), "--out", str(tmp_path / "two.parquet")])
    assert done.exit_code == 0, done.output
    assert runner.invoke(app, ["report", str(tmp_path / "two.parquet")]).exit_code == 0


def test_without_out_the_export_lands_beside_the_folder(folder, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(folder, copy)
    result = runner.invoke(app, ["export", str(copy)])
    assert result.exit_code == 0, result.output
    assert set(read_export(tmp_path / "sweep.parquet").footers) == {p.stem for p in result_files(copy)}
