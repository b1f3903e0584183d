"""`autoal bench` and `autoal list` through Typer's CliRunner: results, resume, and one-line errors."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.data.presence import expand_braces
from alscope_autoal.results import read_metadata, read_results

SMOKE = ["bench", "--profile", "smoke", "--strategies", "random,entropy", "--rounds", "2"]
runner = CliRunner()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    result = runner.invoke(app, [*SMOKE, "--out", str(out)])
    return out, result


@pytest.mark.slow
def test_bench_writes_one_file_per_job_with_protocol_columns(smoke_run):
    out, result = smoke_run
    assert result.exit_code == 0, result.output
    files = sorted((out / "jobs").glob("*.parquet"))
    assert len(files) == 2
    assert all(f.stat().st_mode & 0o044 == 0o044 for f in files)  # readable by the team on shared storage
    rows = read_results(out)
    assert len(rows) == 2 * 3
    for column in ["dataset", "setting", "imbalance_factor", "open_set_ratio", "profile", "model", "strategy",
                   "seed", "round", "n_labeled", "n_queried", "accuracy", "balanced_accuracy", "macro_f1",
                   "selection_seconds", "train_seconds", "eval_seconds", "device", "n_queried_unknown"]:
        assert column in rows.columns, column
    assert "Summary" in result.output and "entropy" in result.output


@pytest.mark.slow
def test_provenance_is_in_the_footer(smoke_run):
    out, _ = smoke_run
    meta = read_metadata(next((out / "jobs").glob("*.parquet")))
    assert meta["spec"]["profile"] == "smoke" and meta["job_id"] in meta.get("job_id", "")
    assert "torch" in meta["packages"] and "digits.csv.gz" in meta["dataset_files"]
    assert meta["git_commit"]
    assert meta["torch_threads"] >= 1  # CPU results are bit-identical only under the same thread count


@pytest.mark.slow
def test_rerun_skips_finished_jobs(smoke_run):
    out, _ = smoke_run
    before = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.parquet")}
    result = runner.invoke(app, [*SMOKE, "--out", str(out)])
    assert result.exit_code == 0
    assert "already finished" in result.output
    assert {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.parquet")} == before


@pytest.mark.slow
def test_a_corrupt_result_file_is_redone(smoke_run, tmp_path):
    out, _ = smoke_run
    victim = next((out / "jobs").glob("*.parquet"))
    good = pq.read_table(victim).to_pandas()
    victim.write_bytes(b"half a file")
    assert runner.invoke(app, [*SMOKE, "--out", str(out)]).exit_code == 0
    redone = pq.read_table(victim).to_pandas()
    pd.testing.assert_frame_equal(redone.drop(columns=[c for c in redone if c.endswith("seconds")]),
                                  good.drop(columns=[c for c in good if c.endswith("seconds")]))


@pytest.mark.parametrize("args, expected", [
    (["--datasets", "cifra10"], "did you mean 'cifar10'"),
    (["--strategies", "entropi"], "did you mean 'entropy'"),
    (["--profile", "fast"], "unknown profile 'fast'"),
    (["--query-size", "5000"], "lower --rounds, --query-size or --initial"),
    (["--initial", "2000"], "larger than the 300 labelable samples"),
    (["--initial", "0"], "--initial must be a positive number"),
    (["--query-size", "-3"], "--query-size must be a positive number"),
    (["--seeds", "0"], "--seeds must be a positive number"),
    (["--rounds", "0"], "--rounds must be a positive number"),
    (["--datasets", "svhn"], "--download"),
    (["--imbalance-factor", "0.5"], "--imbalance-factor must be at least 1"),
    (["--open-set-ratio", "0.99"], "--open-set-ratio 0.99 leaves 0 of the 10 classes of digits known, but an "
                                   "open-set pool needs 2: choose --open-set-ratio 0.8 or less"),
    (["--open-set-ratio", "0.9"], "leaves 1 of the 10 classes"),
    (["--strategies", ","], "no strategy given"),
    (["--candidates", "entropy,margin"], "add one of them to --strategies"),
    (["--strategies", "vote", "--candidates", "entropy,margn"], "did you mean 'margin'"),
    (["--strategies", "albl", "--candidates", "entropy"], "albl needs at least 2 candidate strategies"),
    (["--strategies", "tailor", "--candidates", "entropy,albl"], "cannot be a candidate of a selector"),
])
def test_bad_input_is_one_line_exit_2(args, expected, tmp_path):
    result = runner.invoke(app, ["bench", "--profile", "smoke", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_candidates_reach_every_candidate_mixer_and_a_strategy_param_wins(tmp_path):
    result = runner.invoke(app, ["bench", "--profile", "smoke", "--rounds", "1", "--strategies", "vote,autoal",
                                 "--candidates", "entropy,margin", "--strategy-param",
                                 "autoal.candidates=entropy,kmeans", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path)
    params = dict(zip(rows.strategy, rows.strategy_params))
    assert "entropy,margin" in params["vote"] and "entropy,kmeans" in params["autoal"]
    assert {"autoal_weight_entropy", "autoal_weight_kmeans"} <= set(rows.columns)
    assert "autoal_weight_margin" not in rows.columns


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = runner.invoke(app, ["bench", "--profile", "smoke", "--out", str(blocker / "sub")])
    assert result.exit_code == 2 and "choose another with --out" in result.output


def test_missing_data_dir_for_shared_dataset(tmp_path):
    result = runner.invoke(app, ["bench", "--datasets", "organamnist", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "medmnist/organamnist.npz" in result.output


@pytest.mark.slow
def test_shared_organamnist_runs_from_the_command_line(shared_data, tmp_path):
    result = runner.invoke(app, ["bench", "--datasets", "organamnist", "--data-dir", str(shared_data),
                                 "--profile", "smoke", "--strategies", "margin", "--rounds", "1",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path)
    assert rows["dataset"].unique().tolist() == ["organamnist"] and len(rows) == 2


@pytest.mark.parametrize("what, expected", [("datasets", "organamnist"), ("strategies", "least-confidence"),
                                            ("profiles", "paper"), ("backends", "ray")])
def test_list(what, expected):
    result = runner.invoke(app, ["list", what])
    assert result.exit_code == 0 and expected in result.output
    assert all(len(line.split(maxsplit=1)) == 2 for line in result.output.strip().splitlines())


def test_list_datasets_marks_those_present_under_the_data_dir(tmp_path):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    for stem in ["train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"]:
        (tmp_path / "MNIST" / "raw" / f"{stem}-ubyte").write_bytes(b"")
    (tmp_path / "medmnist").mkdir()
    (tmp_path / "medmnist" / "breastmnist.npz").write_bytes(b"")
    (tmp_path / "cifar-100-python").write_bytes(b"")  # a file where the layout wants a folder
    result = runner.invoke(app, ["list", "datasets", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    marks = {line.split()[0]: line.split()[1] for line in result.output.splitlines()}
    assert (marks["digits"], marks["mnist"], marks["breastmnist"]) == ("bundled", "present", "present")
    assert (marks["fashionmnist"], marks["cifar10"], marks["cifar100"]) == ("missing", "missing", "missing")
    assert f"present: the dataset's files are under {tmp_path} (--data-dir)" in result.output


def test_a_layout_with_braces_names_every_path():
    assert expand_braces("text/aclImdb/{train,test}/{neg,pos}/") == [
        "text/aclImdb/train/neg/", "text/aclImdb/train/pos/", "text/aclImdb/test/neg/", "text/aclImdb/test/pos/"]
    assert expand_braces("svhn/*_32x32.mat") == ["svhn/*_32x32.mat"]
