"""Soak: three sweeps share one results folder while drivers and workers are SIGKILLed at random moments.

    python benchmarks/soak.py                          # 300 smoke jobs, 30 kills: worker pool, in-process, Ray
    python benchmarks/soak.py --jobs 24 --kills 4 --no-ray   # the small version the test suite runs
    python benchmarks/soak.py --check-only --out DIR   # only check a folder a soak left

The grid is digits on the smoke profile, one query round, four cheap strategies x enough seeds for `--jobs`. Three
`autoal bench` sweeps of that grid run into one folder at once: a worker pool (`--workers 2`), one job at a time in
the driver (`--workers 1`) and `--backend ray` (left out with `--no-ray`). At seeded random moments (`--seed`) one
process is SIGKILLed: a sweep's driver (alone, so its pool workers are orphaned; for Ray with its whole process
tree), or one worker (a pool worker or a Ray worker). A sweep that exits (killed, or done with failed jobs) is
started again until one exits 0, which it only does when every job of the grid is done. Only a driver that holds
claims (is running jobs) is killed, never one still starting up; a worker may be killed at any time, start-up
included. Where killed writers left temporaries or takeover files, one more sweep is started at the end once they
are older than the runner's leftover age (60 s): it finds every job done and clears them, as any later sweep would.

At the end it checks, and exits 1 naming each violation:
- every job of the grid is exactly one file jobs/<id>.parquet that reads back, and there is no other result file;
- the rows are the grid's: one per job and round, none lost, none doubled;
- nothing is left in claims/, no temporary or half-checked file in jobs/, failures/, sweeps/, nothing in
  jobs/damaged/ or jobs/stale/;
- `autoal status --json` says every job is done (no pending, failed, running, damaged, stale or orphaned);
- the whole run took less than `--timeout` (else: stuck).
It prints the counts: jobs, kills (drivers, workers), claims left by killed drivers (each one taken over for its
job to finish), jobs failed by a killed worker (rerun), result files written twice (the same job run by two sweeps:
work repeated, never a row), sweep starts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

STRATEGIES = ("random", "entropy", "margin", "least-confidence")
LEFTOVER_SECONDS = 61  # past the runner's 60-s age for temporaries and takeover files of killed writers
MODES = {"pool": ["--workers", "2"], "here": ["--workers", "1"], "ray": ["--backend", "ray"]}


def grid_args(seeds: int, out: Path) -> list[str]:
    return ["bench", "--profile", "smoke", "--rounds", "1", "--strategies", ",".join(STRATEGIES), "--seeds",
            str(seeds), "--threads", "1", "--out", str(out)]


def grid_job_ids(seeds: int) -> set[str]:
    from alscope_autoal.bench import BenchRequest, plan

    return {spec.job_id for spec in plan(BenchRequest(strategies=STRATEGIES, seeds=seeds, profile="smoke", rounds=1))}


@dataclass
class Sweep:
    """One of the three sweeps: its mode, its current process, and how often it was started."""
    mode: str
    name: str = ""  # for its log files; default: the mode
    process: subprocess.Popen | None = None
    starts: int = 0
    finished: bool = False  # a run of it exited 0: the grid is done


@dataclass
class Counts:
    jobs: int = 0
    driver_kills: int = 0
    worker_kills: int = 0
    claims_left: int = 0  # claim files of killed drivers, found right after the kill
    worker_died: set = field(default_factory=set)  # (job id, record time) of WorkerDied failure records seen
    written: dict = field(default_factory=dict)  # job id -> the inodes its result file has had
    starts: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        twice = sum(len(inodes) - 1 for inodes in self.written.values())
        return (f"jobs {self.jobs}; kills {self.driver_kills + self.worker_kills} ({self.driver_kills} drivers, "
                f"{self.worker_kills} workers); takeovers {self.claims_left} (claims left by killed drivers); reruns "
                f"{len(self.worker_died)} (jobs failed by a killed worker) + {twice} result files written twice; "
                f"sweep starts {self.starts}; {self.seconds:.0f} s")


def start(sweep: Sweep, seeds: int, out: Path, logs: Path) -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    sweep.starts += 1
    log = (logs / f"{sweep.name or sweep.mode}-{sweep.starts}.txt").open("w")
    sweep.process = subprocess.Popen(
        [sys.executable, "-c", "from alscope_autoal.cli.app import main; main()", *grid_args(seeds, out),
         *MODES[sweep.mode]], stdout=subprocess.DEVNULL, stderr=log, start_new_session=True, env=env)
    log.close()


def children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    found: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        found.setdefault(int(text[text.rindex(")") + 2:].split()[1]), []).append(int(stat.parent.name))
    return found


def descendants(pid: int) -> list[int]:
    tree, found, todo = children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def workers_of(sweep: Sweep) -> list[int]:
    """The pids of a live sweep's job-running workers: spawned pool workers, or Ray worker processes."""
    if sweep.process is None or sweep.process.poll() is not None:
        return []
    found = []
    for pid in descendants(sweep.process.pid):
        line = command_line(pid)
        if ("spawn_main" in line and "resource_tracker" not in line) or line.startswith("ray::"):
            found.append(pid)
    return found


def kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def claims_of(out: Path, pid: int) -> int:
    count = 0
    for path in (out / "claims").glob("*.json"):
        try:
            count += json.loads(path.read_text()).get("pid") == pid
        except (OSError, ValueError):
            continue
    return count


def kill_one(rng: random.Random, sweeps: list[Sweep], out: Path, counts: Counts) -> bool:
    """SIGKILL a random worker, or the driver of a sweep that holds claims (is running jobs); False when there is
    neither yet (every sweep still starting up)."""
    live = [sweep for sweep in sweeps if sweep.process is not None and sweep.process.poll() is None]
    workers = [pid for sweep in live for pid in workers_of(sweep)]
    busy = [sweep for sweep in live if claims_of(out, sweep.process.pid)]
    if workers and (not busy or rng.random() < 0.5):
        counts.worker_kills += kill(rng.choice(workers))
        return True
    if not busy:
        return False
    sweep = rng.choice(busy)
    pid = sweep.process.pid
    tree = descendants(pid) if sweep.mode == "ray" else []  # Ray's workers and services die with their driver
    held = claims_of(out, pid)
    if kill(pid):
        counts.driver_kills += 1
        for child in tree:
            kill(child)
        sweep.process.wait()
        counts.claims_left += min(held, claims_of(out, pid))
    return True


def observe(out: Path, counts: Counts) -> None:
    """Note result files rewritten (a new inode) and WorkerDied failure records."""
    for path in (out / "jobs").glob("*.parquet"):
        try:
            counts.written.setdefault(path.stem, set()).add(path.stat().st_ino)
        except OSError:
            continue
    for path in (out / "failures").glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("error", "").startswith("WorkerDied"):
            counts.worker_died.add((record["job_id"], record.get("time")))


def soak(seeds: int, kills: int, out: Path, modes: list[str], seed: int, timeout: float, logs: Path) -> Counts:
    rng, counts = random.Random(seed), Counts(jobs=len(STRATEGIES) * seeds)
    sweeps = [Sweep(mode) for mode in modes]
    began = time.monotonic()
    next_kill = began + rng.uniform(2.0, 6.0)
    while not any(sweep.finished for sweep in sweeps) and time.monotonic() - began < timeout:
        for sweep in sweeps:
            if sweep.process is None or sweep.process.poll() is not None:
                if sweep.process is not None and sweep.process.returncode == 0:
                    sweep.finished = True
                else:
                    start(sweep, seeds, out, logs)
        observe(out, counts)
        if counts.driver_kills + counts.worker_kills < kills and time.monotonic() >= next_kill:
            if kill_one(rng, sweeps, out, counts):
                next_kill = time.monotonic() + rng.uniform(1.0, 5.0)
        time.sleep(0.2)
    for sweep in sweeps:  # the others finish what they hold (or wait on nothing) and exit
        if sweep.process is not None:
            try:
                sweep.process.wait(timeout=max(1.0, timeout - (time.monotonic() - began)))
            except subprocess.TimeoutExpired:
                os.killpg(sweep.process.pid, signal.SIGKILL)
    observe(out, counts)
    clean_up = Sweep("here", name="clean-up")
    if leftovers(out):
        wait_until_leftovers_are_old(out)
        start(clean_up, seeds, out, logs)  # finds every job done; clears what the killed writers left
        clean_up.process.wait(timeout=300)
    counts.starts = sum(sweep.starts for sweep in sweeps + [clean_up])
    counts.seconds = time.monotonic() - began
    return counts


def wait_until_leftovers_are_old(out: Path) -> None:
    """Sleep until what killed writers left (temporaries, takeover files) is old enough for a sweep to remove."""
    ages = []
    for name in (name for name in leftovers(out) if Path(name).name.startswith(".")):  # claims need no age
        try:
            ages.append((out / name).stat().st_ctime)  # ctime: a rename sets it, so never younger than the file
        except OSError:
            continue
    if ages:
        time.sleep(max(0.0, max(ages) + LEFTOVER_SECONDS - time.time()))


def leftovers(out: Path) -> list[str]:
    found = [f"claims/{path.name}" for path in (out / "claims").glob("*")] if (out / "claims").is_dir() else []
    for folder in ("jobs", "failures", "sweeps"):
        found += [f"{folder}/{path.name}" for path in (out / folder).glob(".*")]
    for folder in ("damaged", "stale"):
        found += [f"jobs/{folder}/{path.name}" for path in (out / "jobs" / folder).glob("*")]
    return found


def check(out: Path, expected: set[str]) -> list[str]:
    """The violations found in a soaked folder (module docstring); [] when it is whole."""
    from alscope_autoal.results import read_results, reads_back

    violations = []
    files = {path.stem: path for path in (out / "jobs").glob("*.parquet")}
    if missing := expected - files.keys():
        violations.append(f"{len(missing)} job(s) without a result file, e.g. {sorted(missing)[0]}")
    if extra := files.keys() - expected:
        violations.append(f"{len(extra)} result file(s) of jobs outside the grid, e.g. {sorted(extra)[0]}")
    if unreadable := [name for name, path in files.items() if not reads_back(path)]:
        violations.append(f"{len(unreadable)} result file(s) that do not read back, e.g. {unreadable[0]}")
    violations += row_violations(read_results(out, skip_damaged=True) if files else None, expected)
    if left := leftovers(out):
        violations.append(f"{len(left)} file(s) left over: {', '.join(left[:5])}")
    violations += status_violations(out, len(expected))
    return violations


def row_violations(rows, expected: set[str]) -> list[str]:
    if rows is None:
        return ["no rows"]
    found = []
    if doubled := int(rows.duplicated(["job_id", "round"]).sum()):
        found.append(f"{doubled} row(s) doubled")
    per_job = rows.groupby("job_id")["round"].nunique()
    if short := int((per_job.reindex(sorted(expected), fill_value=0) < 2).sum()):
        found.append(f"{short} job(s) missing rows (2 rounds each: 0 and 1)")
    return found


def status_violations(out: Path, jobs: int) -> list[str]:
    from typer.testing import CliRunner

    from alscope_autoal.cli.app import app

    answer = CliRunner().invoke(app, ["status", str(out), "--json"])
    if answer.exit_code != 0:
        return [f"autoal status exited {answer.exit_code}: {answer.output.strip()[-300:]}"]
    state = json.loads(answer.stdout)
    bad = {key: state[key] for key in ("failed", "pending", "damaged", "stale", "running") if state[key]}
    if state["orphaned_claims"]:
        bad["orphaned claims"] = len(state["orphaned_claims"])
    if state["done"] != jobs or bad:
        return [f"autoal status: {state['done']} of {jobs} done" + (f", {bad}" if bad else "")]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300, help="at least this many jobs (4 strategies x seeds)")
    parser.add_argument("--kills", type=int, default=30, help="SIGKILLs of drivers and workers")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments and targets")
    parser.add_argument("--no-ray", action="store_true", help="two sweeps: worker pool and in-process")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: a new temporary one)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before the soak counts as stuck")
    parser.add_argument("--check-only", action="store_true", help="check --out as a soak left it; run nothing")
    args = parser.parse_args()
    seeds = math.ceil(args.jobs / len(STRATEGIES))
    out = args.out or Path(tempfile.mkdtemp(prefix="autoal-soak-")) / "results"
    expected = grid_job_ids(seeds)
    if args.check_only:
        counts = None
    else:
        logs = out.parent / f"{out.name}-logs"
        logs.mkdir(parents=True, exist_ok=True)
        modes = [mode for mode in MODES if not (args.no_ray and mode == "ray")]
        counts = soak(seeds, args.kills, out, modes, args.seed, args.timeout, logs)
        print(counts.line())
    violations = check(out, expected)
    if counts is not None and counts.seconds >= args.timeout:
        violations.append(f"stuck: not done after {args.timeout:.0f} s")
    for violation in violations:
        print(f"VIOLATION: {violation}")
    print(f"{out}: " + ("whole" if not violations else f"{len(violations)} violation(s)"))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
