"""AutoAL against its candidates, `vote`, `vote-random` and `random`, side by side from one run.

Reports, per strategy, AUBC and final accuracy (mean and std over seeds) and the total job time as a ratio to
`entropy`'s job time in the same run (paired by seed), by wall clock and by the process's CPU time (which a
shared, loaded machine disturbs far less), plus AutoAL's per-round diagnostics (mean weight per candidate,
time split, SearchNet's gradient norm).

    python benchmarks/autoal.py --data-dir ../shared/data --seeds 0,1,2 --out /tmp/autoal-bench

Jobs run in this process, one after another, so their times are comparable; a finished job (its Parquet file
reads back) is skipped, so a rerun resumes and `--seeds 1` in a second process can extend a run. `--max-pool N`
caps the unlabeled pool at a seeded subset of N images (and `--max-test` the test set): the results then name a
derived profile (e.g. `cpu-pool5000`), never the plain `cpu` profile.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

STRATEGIES = ("entropy", "autoal", "margin", "least-confidence", "kmeans", "bald", "var-ratio", "mean-std",
              "vote", "vote-random", "random")  # entropy first: it absorbs the process warm-up


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="organamnist")
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds to run in this process")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--max-pool", type=int, default=None, help="cap the pool (a derived profile is named)")
    p.add_argument("--max-test", type=int, default=None, help="cap the test set (with --max-pool)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--param", action="append", default=[], help="NAME.KEY=VALUE strategy parameter")
    p.add_argument("--out", type=Path, default=Path("/tmp/autoal-bench"))
    p.add_argument("--report-only", action="store_true", help="only summarise the finished jobs in --out")
    return p.parse_args(argv)


def profile_name(args: argparse.Namespace) -> str:
    """Register a pool-capped variant of the profile in this process and return its name."""
    from alscope_autoal.profiles import PROFILES

    if args.max_pool is None:
        return args.profile
    name = f"{args.profile}-pool{args.max_pool}" + (f"-test{args.max_test}" if args.max_test else "")
    if name not in PROFILES:
        base = PROFILES.get(args.profile)
        PROFILES.add(name, base.with_(name=name, max_pool=args.max_pool, max_test=args.max_test),
                     f"{args.profile} with the pool capped at {args.max_pool} (benchmarks/autoal.py)")
    return name


def run(args: argparse.Namespace) -> None:
    import torch

    from alscope_autoal.data import load_dataset
    from alscope_autoal.identity import resolve
    from alscope_autoal.loop import pick_device, run_job
    from alscope_autoal.profiles import PROFILES
    from alscope_autoal.results import is_done, provenance, write_job
    from alscope_autoal.spec import JobSpec
    from alscope_autoal.strategies.params import parse_strategy_params

    if args.threads:
        torch.set_num_threads(args.threads)
    strategies = args.strategies.split(",")
    params = parse_strategy_params(args.param, strategies)
    profile = profile_name(args)
    budget = PROFILES.get(profile).budget_for(args.dataset)
    data = load_dataset(args.dataset, args.data_dir)
    device = pick_device()
    for seed in (int(s) for s in args.seeds.split(",")):
        for strategy in strategies:
            spec = resolve(JobSpec(dataset=args.dataset, strategy=strategy, seed=seed, profile=profile,
                                   initial=budget.initial, query_size=budget.query_size, rounds=args.rounds,
                                   strategy_params=tuple(sorted(params.get(strategy, {}).items()))))
            if is_done(args.out, spec):
                continue
            t0, cpu0 = time.perf_counter(), time.process_time()
            rows = run_job(spec, data, device)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            write_job(args.out, spec, rows, provenance(spec, data.fingerprint, {"device": str(device)}))
            with open(args.out / "cpu_seconds.csv", "a") as log:  # CPU time is less load-dependent than wall
                log.write(f"{spec.job_id},{spec.strategy},{spec.seed},{wall:.1f},{cpu:.1f}\n")
            print(f"{spec.label}: {wall:.0f} s wall, {cpu:.0f} s CPU, final accuracy {rows[-1]['accuracy']:.3f}",
                  file=sys.stderr, flush=True)


def markdown(frame) -> str:
    """The frame with its index as a pipe table, floats to 4 decimals."""
    from alscope_autoal.analysis.render_tables import pipe_table

    frame = frame.reset_index()
    cell = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    return pipe_table(list(frame.columns), ([cell(v) for v in values] for values in frame.itertuples(index=False)))


def cpu_seconds(out: Path):
    """Each job's CPU seconds as `run` logged them (the last entry per job; NaN for jobs run elsewhere)."""
    import pandas as pd

    path = out / "cpu_seconds.csv"
    names = ["job_id", "strategy", "seed", "wall", "cpu_seconds"]
    log = pd.read_csv(path, names=names) if path.exists() else pd.DataFrame(columns=names)
    return log.drop_duplicates("job_id", keep="last")[["job_id", "cpu_seconds"]]


def report(out: Path) -> str:
    """The side-by-side table (Markdown) of every finished job in `out`."""
    import pandas as pd

    from alscope_autoal.analysis.aggregate import JOB_KEYS, label_strategies, per_job
    from alscope_autoal.results import read_results

    rows = read_results(out)
    ids = label_strategies(rows).groupby(JOB_KEYS)["job_id"].first().reset_index()
    jobs = per_job(rows).merge(ids, on=JOB_KEYS).merge(cpu_seconds(out), on="job_id", how="left")
    for column, ratio in (("job_seconds", "time_vs_entropy"), ("cpu_seconds", "cpu_vs_entropy")):
        entropy = jobs[jobs.strategy == "entropy"].set_index("seed")[column]
        jobs[ratio] = jobs[column] / jobs.seed.map(entropy)
    table = jobs.groupby("strategy").agg(
        seeds=("seed", "nunique"), aubc=("aubc", "mean"), aubc_std=("aubc", "std"),
        final_acc=("final_accuracy", "mean"), final_acc_std=("final_accuracy", "std"),
        job_s=("job_seconds", "mean"), time_vs_entropy=("time_vs_entropy", "mean"),
        cpu_s=("cpu_seconds", "mean"), cpu_vs_entropy=("cpu_vs_entropy", "mean"))
    table = table.sort_values("aubc", ascending=False)
    lines = [f"profile: {', '.join(rows.profile.unique())}; dataset: {', '.join(rows.dataset.unique())}; "
             f"rounds: {rows['round'].max()}", "", markdown(table), ""]
    auto = rows[rows.strategy == "autoal"]
    if len(auto):
        cols = [c for c in auto.columns if c.startswith("autoal_")]
        per_round = auto[auto["round"] > 0].groupby("round")[cols].mean()
        lines += ["AutoAL per round (mean over seeds; row r = the query that bought round r's batch):", "",
                  markdown(per_round), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.report_only:
        run(args)
    text = report(args.out)
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
