"""Experiment files (`autoal bench --config FILE.toml`, docs/experiments.md) and the profile overrides
`--max-pool`/`--max-test`: the same jobs as the command line, precedence, relative paths, one-line errors, the
sweep record, workers, and every file in experiments/ planned on the offline data."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from alscope_autoal.cli.app import app
from alscope_autoal.data import DATASETS
from alscope_autoal.data.presence import MISSING, availability
from alscope_autoal.profiles import PROFILES
from alscope_autoal.results import read_metadata, read_results

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((REPO / "experiments").glob("*.toml"))
runner = CliRunner()
JOB_LINE = re.compile(r"^\s+(run |done)\s+([0-9a-f]{16})\s+(\S+)\s+\[(.*)\]$", re.M)


def plan(*args: str) -> dict[str, str]:
    """`autoal bench ... --dry-run`: job id -> 'label [profile; budget]'."""
    result = runner.invoke(app, ["bench", *args, "--dry-run"])
    assert result.exit_code == 0, result.output
    return {m.group(2): f"{m.group(3)} [{m.group(4)}]" for m in JOB_LINE.finditer(result.stdout)}


def write(folder: Path, text: str, name: str = "exp.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_file_gives_the_job_ids_of_the_same_command_line(tmp_path):
    config = write(tmp_path, """
datasets = "digits"
strategies = ["random", "bald", "autoal"]
seeds = 2
profile = "smoke"
rounds = 1
query-size = 5
max_pool = 250
candidates = ["entropy", "margin"]
[strategy_params.bald]
passes = 4
""")
    from_file = plan("--config", str(config), "--out", str(tmp_path / "a"))
    from_command = plan("--datasets", "digits", "--strategies", "random,bald,autoal", "--seeds", "2", "--profile",
                        "smoke", "--rounds", "1", "--query-size", "5", "--max-pool", "250", "--candidates",
                        "entropy,margin", "--strategy-param", "bald.passes=4", "--out", str(tmp_path / "a"))
    assert len(from_file) == 6 and from_file == from_command
    assert all("smoke(max_pool=250)" in line for line in from_file.values())


def test_the_command_line_overrides_the_file_and_every_sweep_part(tmp_path):
    config = write(tmp_path, """
strategies = "random,entropy"
profile = "smoke"
seeds = 3
[[sweep]]
datasets = ["digits"]
rounds = 1
[[sweep]]
datasets = ["digits"]
rounds = 2
max_pool = 250
""")
    jobs = plan("--config", str(config), "--out", str(tmp_path / "a"))
    assert len(jobs) == 2 * 3 * 2
    assert {line.split("[")[1] for line in jobs.values()} == {"smoke; 20 + 1 x 10]",
                                                              "smoke(max_pool=250); 20 + 2 x 10]"}
    overridden = plan("--config", str(config), "--out", str(tmp_path / "a"), "--seeds", "1", "--rounds", "3",
                      "--strategies", "margin")
    assert {line.split("[")[1] for line in overridden.values()} == {"smoke; 20 + 3 x 10]",
                                                                   "smoke(max_pool=250); 20 + 3 x 10]"}
    assert all("/margin/seed0" in line for line in overridden.values()) and len(overridden) == 2


def test_unknown_key_answers_did_you_mean_in_one_line(tmp_path):
    config = write(tmp_path, 'stratgies = "random"\n')
    result = runner.invoke(app, ["bench", "--config", str(config), "--dry-run"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "did you mean 'strategies'" in result.output
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("text, expected", [
    ("seeds = 3\nrounds = [\n", "is not valid TOML"),
    ('seeds = "three"\n', "seeds must be a whole number, got 'three'"),
    ("dry_run = 1\n", "dry_run must be true or false"),
    ("[[sweep]]\nworkers = 2\n", "workers applies to the whole sweep"),
    ('profile = "cpu(max_pool=x)"\n', "is not KEY=N"),
])
def test_bad_files_are_one_line_errors(tmp_path, text, expected):
    result = runner.invoke(app, ["bench", "--config", str(write(tmp_path, text)), "--dry-run"])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and expected in result.output and "Traceback" not in result.output


def test_a_missing_file_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["bench", "--config", str(tmp_path / "none.toml"), "--dry-run"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "does not exist" in result.output


def test_relative_paths_are_read_from_the_files_folder(tmp_path, monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    config = write(folder, 'profile = "smoke"\nstrategies = "random"\nout = "../results/study"\n'
                           'data_dir = "./data"\n')
    monkeypatch.chdir(tmp_path.parent)  # anywhere but the file's folder
    result = runner.invoke(app, ["bench", "--config", str(config), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"plan for {tmp_path / 'results' / 'study'}:" in result.output


def test_relative_dataset_and_plugin_entries_resolve_against_the_file():
    from alscope_autoal.cli.config import raw_value

    folder = Path("/lab/studies")
    assert raw_value("datasets", ["digits", "./mine.npz", "../shared/x"], str, folder, "f") == \
        "digits,/lab/studies/mine.npz,/lab/shared/x"
    assert raw_value("plugin", ["my_strategy.py", "pkg.module", "../p/s.py"], list, folder, "f") == \
        ["/lab/studies/my_strategy.py", "pkg.module", "/lab/p/s.py"]


def test_max_pool_and_max_test_name_a_derived_profile_in_the_job_identity(tmp_path):
    plain = plan("--profile", "cpu", "--strategies", "random", "--out", str(tmp_path))
    capped = plan("--profile", "cpu", "--strategies", "random", "--max-pool", "500", "--max-test", "300",
                  "--out", str(tmp_path))
    assert set(plain).isdisjoint(capped)
    assert "[cpu(max_pool=500,max_test=300); 30 + 10 x 30]" in next(iter(capped.values()))
    profile = PROFILES.get("cpu(max_pool=500,max_test=300)")
    assert (profile.max_pool, profile.max_test, profile.epochs) == (500, 300, PROFILES.get("cpu").epochs)
    same_as_smoke = plan("--profile", "smoke", "--strategies", "random", "--max-pool", "300", "--out", str(tmp_path))
    assert same_as_smoke == plan("--profile", "smoke", "--strategies", "random", "--out", str(tmp_path))


@pytest.mark.slow
def test_caps_reach_spawned_workers_and_the_sweep_record_keeps_the_file(tmp_path, monkeypatch):
    from alscope_autoal.runner.core import compute_job
    from alscope_autoal.spec import JobSpec

    config = write(tmp_path, 'profile = "smoke"\nstrategies = ["random", "entropy"]\nrounds = 1\nmax_test = 60\n'
                             'out = "./out"\n')
    args = ["bench", "--config", str(config), "--max-pool", "150", "--workers", "2"]
    monkeypatch.setattr(sys, "argv", ["autoal", *args])  # what the record keeps as the command line
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path / "out")
    assert set(rows["profile"]) == {"smoke(max_pool=150,max_test=60)"} and rows["job_id"].nunique() == 2
    assert ((rows["accuracy"] * 60).round(6) % 1 == 0).all()  # scored on the 60-image test set
    path = next((tmp_path / "out" / "jobs").glob("*.parquet"))
    meta = read_metadata(path)
    resolved = dict(meta["spec"]["resolved"])
    assert (resolved["profile.max_pool"], resolved["profile.max_test"]) == (150, 60)
    spec = JobSpec.from_json(json.dumps(meta["spec"]))
    in_process, _ = compute_job(spec)
    assert [r["accuracy"] for r in in_process] == list(rows[rows.job_id == spec.job_id].sort_values("round").accuracy)
    record = json.loads(next((tmp_path / "out" / "sweeps").glob("*.json")).read_text())
    assert record["settings"]["config"] == str(config)
    assert record["settings"]["options"]["max_pool"] == 150 and record["settings"]["options"]["max_test"] == 60
    assert "--max-pool 150" in record["command"]


def datasets_of(path: Path) -> set[str]:
    table = tomllib.loads(path.read_text())
    names = set()
    for part in [table, *table.get("sweep", [])]:
        value = part.get("datasets", [])
        names |= set(value.split(",") if isinstance(value, str) else value)
    return names or {"digits"}


def test_the_studies_have_experiment_files():
    assert {p.stem for p in EXPERIMENTS} >= {"default", "strategy-selection", "autoal-organamnist", "text-linear"}


@pytest.mark.slow
@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_experiment_file_plans_on_the_offline_data(path, shared_data, tmp_path):
    absent = [name for name in datasets_of(path) if availability(DATASETS.get(name), shared_data) == MISSING]
    if absent:
        pytest.skip(f"{', '.join(absent)} not under {shared_data}")
    jobs = plan("--config", str(path), "--data-dir", str(shared_data), "--out", str(tmp_path))
    assert jobs and all(line.split("/")[0] in datasets_of(path) for line in jobs.values())


@pytest.mark.slow
def test_the_strategy_selection_file_plans_the_readme_grid(shared_data, tmp_path):
    path = REPO / "experiments" / "strategy-selection.toml"
    if any(availability(DATASETS.get(n), shared_data) == MISSING for n in datasets_of(path)):
        pytest.skip("needs digits, BreastMNIST, OrganAMNIST and FashionMNIST offline")
    jobs = plan("--config", str(path), "--data-dir", str(shared_data), "--out", str(tmp_path))
    assert len(jobs) == 4 * 15 * 3
    per_dataset = {line.split("/")[0]: line.split("[")[1] for line in jobs.values()}
    assert per_dataset == {"digits": "cpu; 30 + 10 x 30]", "breastmnist": "cpu; 20 + 5 x 20]",
                           "organamnist": "cpu(max_pool=5000,max_test=2000); 100 + 3 x 100]",
                           "fashionmnist": "cpu(max_pool=5000,max_test=2000); 100 + 3 x 100]"}
    arms = {line.split("/")[2] for line in jobs.values()}
    assert "oracle" in arms and "autoal-lookahead" in arms and len(arms) == 15


def test_an_experiment_files_requests_give_its_job_ids_without_running(tmp_path):
    from alscope_autoal.bench import job_specs
    from alscope_autoal.cli.bench import experiment_requests

    path = REPO / "experiments" / "strategy-selection.toml"
    requests = experiment_requests(path, "--seeds", "1")
    ids = {spec.job_id for request in requests for dataset in request.datasets
           for spec in job_specs(request, dataset)}
    assert len(requests) == 3 and len(ids) == 4 * 15
    assert {r.job_profile for r in requests} == {"cpu", "cpu(max_pool=5000,max_test=2000)"}


@pytest.mark.slow
def test_a_study_file_runs_small_and_reports_its_oracle_share_and_cpu_columns(tmp_path):
    path = REPO / "experiments" / "strategy-selection.toml"
    out = tmp_path / "selection"
    result = runner.invoke(app, ["bench", "--config", str(path), "--datasets", "digits", "--profile", "smoke",
                                 "--rounds", "1", "--seeds", "1", "--strategies", "random,entropy,oracle",
                                 "--workers", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert set(read_results(out)["profile"]) == {"smoke", "smoke(max_pool=5000,max_test=2000)"}
    report = runner.invoke(app, ["report", str(out), "--allow-mixed-profiles"])
    assert report.exit_code == 0, report.output
    header = next(line for line in report.stdout.splitlines() if line.startswith("| dataset | strategy"))
    for column in ("oracle gain share (%)", "s / job (CPU time)", "cost / entropy (CPU time)"):
        assert column in header
    entropy_rows = [line for line in report.stdout.splitlines() if "| entropy |" in line and "digits [" in line]
    assert len(entropy_rows) == 2 and all("1.00" in line.split("|")[-2] for line in entropy_rows)  # the reference


@pytest.mark.slow
def test_a_file_with_your_own_dataset_and_strategy_runs_from_any_folder(tmp_path, monkeypatch, plugin_free):
    """The three ways in meet: an experiment file naming a user dataset (NAME=./file) and a plugin file, both
    beside it, run through bench from another folder and reported."""
    import shutil

    from test_own_datasets import digits_splits, write_npz

    folder = tmp_path / "study"
    folder.mkdir()
    write_npz(folder / "digits.npz", **digits_splits())
    shutil.copy(REPO / "examples" / "my_strategy.py", folder)
    config = write(folder, 'datasets = ["mine=./digits.npz"]\nstrategies = ["far-margin", "margin"]\n'
                           'plugin = ["./my_strategy.py"]\nprofile = "smoke"\nrounds = 1\nout = "./results"\n'
                           'workers = 1\n')
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["bench", "--config", str(config)])
    assert result.exit_code == 0, result.output
    rows = read_results(folder / "results")
    assert set(rows.dataset) == {"mine"} and set(rows.strategy) == {"far-margin", "margin"}
    assert runner.invoke(app, ["report", str(folder / "results")]).exit_code == 0
