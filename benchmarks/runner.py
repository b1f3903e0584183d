"""Runner speed: the default against --threads 1 and --workers 2, quiet or beside N busy processes.

Also per-job overhead, and the speedup of 2 workers (local and Ray) over 1.

Each variant runs the same sweep of small CPU jobs (digits, N seeds of one strategy) into a fresh folder, in a
fresh Python process, so each pays its own start-up (imports, worker processes, Ray) as a user would:

    python benchmarks/runner.py                      # 8 jobs: the default, the old default, one job at a time
    python benchmarks/runner.py --background-load 2  # the same beside 2 busy processes (a machine shared with others)
    python benchmarks/runner.py --variants default,threads1,workers2   # the default against its explicit options
    python benchmarks/runner.py --variants local1,local1-1t,local2,ray2   # 1 worker on all cores or 1 thread, Ray
    python benchmarks/runner.py --jobs 4 --profile smoke --rounds 8 --variants local1-1t,local2

`--background-load N` starts N processes that spin on one core each for the whole run (all variants), as other
work on a laptop, CI runner or cluster node would; the table then reports each variant's wall time as a ratio to
the fastest, which is what the default should stay close to.

Per-job overhead is what the runner adds to a job beyond the job's own work: the driver's dispatch-to-written
time (from when a worker was ready) minus the seconds the job spent loading data and training where it ran
(`SweepOutcome.overhead_seconds`). Start-up (worker processes importing torch, Ray connecting) is paid once per
sweep and reported apart; Ray starts its worker processes lazily, so their start-up lands in the first jobs' max.
Timings on a shared machine are noisy: compare the ratios printed by one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# name: the runner options it stands for (`RunOptions` fields; left out: autoal bench's default)
VARIANTS = {
    "default": {},  # autoal bench with no runner options: on CPU, one worker per core, one torch thread each
    "threads1": {"threads": 1},  # --threads 1 (on CPU the same as the default)
    "workers2": {"workers": 2},  # --workers 2 (on a 2-core CPU the same as the default)
    "local1": {"workers": 1, "threads": os.cpu_count()},  # one job at a time on every core: the old default
    "local1-1t": {"workers": 1, "threads": 1},
    "local2": {"workers": 2},  # the same as workers2: the name earlier README figures were measured under
    "ray2": {"workers": 2, "backend": "ray"},
}
DEFAULT_VARIANTS = "default,local1,local1-1t"


def sweep(args: argparse.Namespace) -> list:
    from alscope_autoal.profiles import PROFILES
    from alscope_autoal.spec import JobSpec

    budget = PROFILES.get(args.profile).budget_for("digits")
    return [JobSpec("digits", args.strategy, seed, args.profile, budget.initial, budget.query_size, args.rounds)
            for seed in range(args.jobs)]


def run_variant(args: argparse.Namespace) -> dict:
    """One variant, in this process: the sweep's wall time and per-job overhead."""
    started = time.perf_counter()
    from alscope_autoal.runner import RunOptions, run_sweep

    with tempfile.TemporaryDirectory() as out:
        outcome = run_sweep(sweep(args), Path(out), options=RunOptions(**VARIANTS[args.variant]))
    overhead = list(outcome.overhead_seconds().values())
    return {"variant": args.variant, "wall_s": time.perf_counter() - started, "failed": len(outcome.failed),
            "jobs": len(outcome.ran), "startup_s": outcome.startup_seconds,
            "work_s_mean": statistics.mean(outcome.work_seconds.values()),
            "overhead_s_mean": statistics.mean(overhead), "overhead_s_median": statistics.median(overhead),
            "overhead_s_max": max(overhead)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--strategy", default="entropy")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all variants, interleaved")
    parser.add_argument("--background-load", type=int, default=0, metavar="N",
                        help="N busy processes (one core each) running for the duration")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # set when the script runs one variant in a child
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    results: dict[str, list[dict]] = {name: [] for name in args.variants.split(",")}
    unknown = [name for name in results if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    with background_load(args.background_load):
        for _ in range(args.repeats):
            for variant in results:  # interleaved, so a change in the machine's load hits every variant alike
                results[variant].append(run_child(variant))
                print(json.dumps(results[variant][-1]), flush=True)
        report(results, args)


@contextlib.contextmanager
def background_load(processes: int):
    """`processes` busy loops in their own interpreters for the duration. They are reaped only at the end, so
    their CPU time never enters a variant's RUSAGE_CHILDREN difference; each also stops once orphaned, should this
    process be killed outright."""
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(processes)]
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # run the cleanup
    try:
        yield
    finally:
        for process in busy:
            process.kill()
        for process in busy:
            process.wait()
        signal.signal(signal.SIGTERM, previous)


def run_child(variant: str) -> dict:
    """Run one variant in a fresh process; add the CPU seconds it and its (joined) worker processes used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--variant", variant], capture_output=True,
                           text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    # Ray's workers are children of its raylet, not of this variant's process: their CPU time is not counted.
    result["cpu_s"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return result


def report(results: dict[str, list[dict]], args: argparse.Namespace) -> None:
    print(f"\n{args.jobs} jobs: digits, profile {args.profile}, {args.rounds} rounds, {args.strategy}; "
          f"{os.cpu_count()} cores, {args.background_load} busy background process(es), load average now "
          f"{os.getloadavg()[0]:.1f}; medians of {args.repeats} run(s)")
    print(f"{'variant':<10} {'wall s':>7} {'/ best':>6} {'cpu s':>7} {'start-up s':>10} {'work/job s':>10}  "
          "overhead/job s: mean  median  max")
    med = {name: {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "variant"}
           for name, runs in results.items()}
    best = min(r["wall_s"] for r in med.values())
    for name, r in med.items():
        print(f"{name:<10} {r['wall_s']:7.1f} {r['wall_s'] / best:5.2f}x {r['cpu_s']:7.1f} {r['startup_s']:10.2f} "
              f"{r['work_s_mean']:10.2f} {r['overhead_s_mean']:21.3f} {r['overhead_s_median']:7.3f} "
              f"{r['overhead_s_max']:5.3f}")
    if "default" in med and len(med) > 1:
        fastest = min(med, key=lambda name: med[name]["wall_s"])
        print(f"default / fastest ({fastest}): {med['default']['wall_s'] / best:.2f}x (the target: at most 1.2x)")
    for base in ("local1", "local1-1t"):
        for name in ("local2", "ray2"):
            if base in results and name in results:
                each = [b["wall_s"] / n["wall_s"] for b, n in zip(results[base], results[name])]
                print(f"speedup {name} over {base}: {med[base]['wall_s'] / med[name]['wall_s']:.2f}x (medians); "
                      f"per repeat: {', '.join(f'{x:.2f}x' for x in each)}")


if __name__ == "__main__":
    main()
