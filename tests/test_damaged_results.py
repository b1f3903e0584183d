"""Damaged result files (a `jobs/*.parquet` that does not read back) are never silent and never deleted.

`plot` and `report` name them and exit 1 (or leave them out with --skip-damaged, still naming them), `status`
counts their jobs as not done, and the next `bench` moves them to `jobs/damaged/` and reruns their jobs.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.identity import resolve
from alscope_autoal.results import DAMAGED_DIR, is_done, read_results, write_job
from alscope_autoal.runner import sweep_status
from alscope_autoal.spec import JobSpec

from test_plot_report import write_rows

SMOKE = ["bench", "--profile", "smoke", "--strategies", "random,entropy", "--rounds", "1"]
runner = CliRunner()


def synthetic(out: Path) -> Path:
    for strategy in ("random", "entropy"):
        for seed in (0, 1):
            write_rows(out, "digits", strategy, seed, [0.4, 0.5 + 0.05 * (strategy == "entropy"), 0.6])
    return out


def truncate(path: Path) -> bytes:
    damaged = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(damaged)
    return damaged


def some_file(out: Path, strategy: str = "entropy", seed: int = 1) -> Path:
    return next(p for p in (out / "jobs").glob("*.parquet")
                if pd.read_parquet(p)[["strategy", "seed"]].iloc[0].tolist() == [strategy, seed])


@pytest.fixture
def truncated(tmp_path) -> tuple[Path, Path]:
    out = synthetic(tmp_path / "results")
    victim = some_file(out)
    truncate(victim)
    return out, victim


@pytest.fixture
def text_named_parquet(tmp_path) -> tuple[Path, Path]:
    out = synthetic(tmp_path / "results")
    victim = out / "jobs" / "0123456789abcdef.parquet"
    victim.write_text("these are notes, not a result\n")
    return out, victim


@pytest.mark.parametrize("case", ["truncated", "text_named_parquet"])
@pytest.mark.parametrize("command", ["plot", "report"])
def test_damaged_files_stop_plot_and_report_with_exit_1_naming_them(case, command, request, tmp_path):
    out, victim = request.getfixturevalue(case)
    result = runner.invoke(app, [command, str(out), *(["--out", str(tmp_path / "fig")] if command == "plot" else [])])
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: 1 damaged result file(s)") and victim.name in result.stderr
    assert "--skip-damaged" in result.stderr and "autoal bench" in result.stderr
    assert victim.exists()  # never deleted by a reader


@pytest.mark.parametrize("case", ["truncated", "text_named_parquet"])
def test_skip_damaged_uses_the_others_and_still_names_the_damaged(case, request):
    out, victim = request.getfixturevalue(case)
    result = runner.invoke(app, ["report", str(out), "--format", "csv", "--skip-damaged"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("warning: 1 damaged result file(s)")
    assert victim.name in result.stderr
    seeds = pd.read_csv(io.StringIO(result.stdout)).set_index("strategy")["n_seeds"].to_dict()
    assert seeds == ({"random": 2, "entropy": 1} if case == "truncated" else {"random": 2, "entropy": 2})


def test_skip_damaged_on_a_clean_folder_says_so_in_one_line(tmp_path):
    out = synthetic(tmp_path)
    for command in ("report", "plot"):
        extra = ["--out", str(tmp_path / "fig"), "--format", "svg"] if command == "plot" else []
        result = runner.invoke(app, [command, str(out), "--skip-damaged", *extra])
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines()[0] == f"--skip-damaged: no damaged result files in {out / 'jobs'}"
        assert "damaged" not in "".join(result.stderr.splitlines()[1:])


@pytest.mark.parametrize("skip", [[], ["--skip-damaged"]])
@pytest.mark.parametrize("command", ["plot", "report"])
def test_a_folder_with_only_a_damaged_file_says_damaged(command, skip, tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "abc.parquet").write_text("not parquet")
    result = runner.invoke(app, [command, str(tmp_path), *skip])
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and "1 damaged result file(s)" in result.stderr
    assert "abc.parquet" in result.stderr and "nothing else to read" in result.stderr
    assert "no result files" not in result.stderr


def test_read_results_raises_on_damage_unless_skipping(truncated):
    from alscope_autoal.errors import DamagedResults

    out, victim = truncated
    with pytest.raises(DamagedResults, match=victim.name):
        read_results(out)
    assert len(read_results(out, skip_damaged=True)) == 3 * 3


def test_status_counts_a_damaged_job_as_not_done_and_names_the_file(tmp_path):
    specs = [resolve(JobSpec("digits", name, 0, "smoke", 20, 10, 1)) for name in ("random", "entropy", "margin")]
    out = tmp_path / "results"
    for spec in specs[:2]:
        write_job(out, spec, [{"job_id": spec.job_id, "round": 0}], {"spec": json.loads(spec.canonical())})
    (out / "sweeps").mkdir()
    (out / "sweeps" / "s.json").write_text(json.dumps({"command": "autoal bench --out x",
                                                        "jobs": [json.loads(s.canonical()) for s in specs]}))
    victim = out / "jobs" / f"{specs[1].job_id}.parquet"
    truncate(victim)
    orphan = out / "jobs" / "feedfacefeedface.parquet"  # a damaged file no sweep knows about
    orphan.write_bytes(b"PAR1")
    (out / "jobs" / f".{specs[2].job_id}.x1y2z3.tmp").write_bytes(b"PAR1 half")  # a write in progress

    state = sweep_status(out)
    assert [s.job_id for s in state.done] == [specs[0].job_id] and [s.job_id for s in state.damaged] == [
        specs[1].job_id]
    assert [s.job_id for s in state.pending] == [specs[2].job_id] and state.damaged_files == [victim, orphan]
    text = runner.invoke(app, ["status", str(out)])
    assert text.exit_code == 0
    assert "3 job(s): 1 done, 0 failed, 1 pending, 1 damaged" in text.output
    damage_line = next(line for line in text.output.splitlines() if line.startswith("damaged "))
    assert "2 damaged result file(s)" in damage_line and victim.name in damage_line and orphan.name in damage_line
    assert ".tmp" not in text.output
    as_json = json.loads(runner.invoke(app, ["status", str(out), "--json"]).output)
    assert (as_json["done"], as_json["damaged"], as_json["damaged_files"]) == (1, 1, [str(victim), str(orphan)])
    assert {job["state"] for job in as_json["jobs"] if job["job_id"] == specs[1].job_id} == {"damaged"}


@pytest.mark.slow
def test_bench_moves_a_damaged_file_aside_and_reruns_its_job(tmp_path):
    out = tmp_path / "results"
    assert runner.invoke(app, [*SMOKE, "--out", str(out)]).exit_code == 0
    victim, untouched = some_file(out, "entropy", 0), some_file(out, "random", 0)
    before = untouched.stat().st_mtime_ns
    first = truncate(victim)

    dry = runner.invoke(app, [*SMOKE, "--out", str(out), "--dry-run"])
    assert "1 job(s) to run, 1 already done" in dry.output and victim.read_bytes() == first  # a plan moves nothing

    rerun = runner.invoke(app, [*SMOKE, "--out", str(out)])
    assert rerun.exit_code == 0, rerun.output
    said = " ".join(rerun.output.split())  # rich wraps long lines at the terminal width
    assert f"moved 1 damaged result file(s) to {out / 'jobs' / DAMAGED_DIR}" in said and victim.name in said
    assert "1 run, 1 already there" in said
    aside = out / "jobs" / DAMAGED_DIR
    assert (aside / victim.name).read_bytes() == first
    assert pd.read_parquet(victim)["round"].tolist() == [0, 1] and untouched.stat().st_mtime_ns == before

    victim.write_text("damaged again")  # the second copy gets its own name: nothing is overwritten
    assert runner.invoke(app, [*SMOKE, "--out", str(out)]).exit_code == 0
    assert (aside / victim.name).read_bytes() == first
    assert (aside / f"{victim.stem}.1.parquet").read_text() == "damaged again"
    assert {p.name for p in aside.iterdir()} == {victim.name, f"{victim.stem}.1.parquet"}
    state = sweep_status(out)
    assert len(state.done) == 2 and not state.damaged_files  # set-aside files are not results


def test_write_job_never_replaces_a_damaged_file_without_keeping_it(tmp_path):
    spec = JobSpec("digits", "random", 0, "smoke", 20, 10, 1)
    path = tmp_path / "jobs" / f"{spec.job_id}.parquet"
    path.parent.mkdir()
    path.write_bytes(b"half")
    assert not is_done(tmp_path, spec)
    write_job(tmp_path, spec, [{"job_id": spec.job_id, "round": 0}], {})
    assert is_done(tmp_path, spec) and (path.parent / DAMAGED_DIR / path.name).read_bytes() == b"half"


def whole_result(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"job_id": ["x"], "round": [0]}), path)


def test_a_whole_result_written_between_the_check_and_the_move_is_never_set_aside(tmp_path, monkeypatch):
    """Another sweep replaces the damaged file right after this one looked at it: the new file stays in place."""
    import alscope_autoal.results as results

    path = tmp_path / "jobs" / "0123.parquet"
    path.parent.mkdir()
    path.write_bytes(b"half")
    real, calls = results.reads_back, []

    def another_sweep_writes_after_the_first_look(file):
        calls.append(file)
        if len(calls) == 1:
            looked = real(file)
            whole_result(path)
            return looked
        return real(file)

    monkeypatch.setattr(results, "reads_back", another_sweep_writes_after_the_first_look)
    assert results.set_aside_if_damaged(path) is None
    assert real(path)
    aside = path.parent / DAMAGED_DIR
    assert not aside.exists() or not any(real(file) for file in aside.iterdir())
    assert [file.name for file in path.parent.iterdir() if file.is_file()] == [path.name]  # nothing left behind


def test_a_check_cut_short_by_a_kill_is_undone_by_the_next_sweep(tmp_path):
    """A sweep killed while holding a file under its private name: the next clean-up puts it back or aside."""
    import time

    from alscope_autoal.runner.store import remove_stale_temporaries

    jobs = tmp_path / "jobs"
    jobs.mkdir()
    whole_result(jobs / ".0123.abcd.checking")
    (jobs / ".4567.abcd.checking").write_bytes(b"half")
    remove_stale_temporaries(tmp_path, older_than=0)
    assert sorted(file.name for file in jobs.iterdir() if file.is_file()) == ["0123.parquet"]
    assert (jobs / DAMAGED_DIR / "4567.parquet").read_bytes() == b"half"
