"""`autoal bench`: run a grid of datasets x strategies x seeds as one sweep, then print its summary."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import split_list, user_errors
from .options import (DataDir, Datasets, Download, Encoder, ImbalanceFactor, Initial, OpenSetRatio, ProfileName,
                      QuerySize, Rounds, Seeds, Threads)


def bench(
    datasets: Datasets = None,
    strategies: Annotated[Optional[str], typer.Option(
        help="Comma-separated strategy names.", show_default="random,entropy,margin,least-confidence")] = None,
    candidates: Annotated[Optional[str], typer.Option(
        help="The candidate strategies of every selector (autoal, autoal-lookahead, vote, vote-random, albl, "
             "tailor, oracle), comma-separated.",
        show_default="the paper's seven: entropy,margin,least-confidence,kmeans,bald,var-ratio,mean-std")] = None,
    seeds: Seeds = 1,
    profile: ProfileName = "cpu",
    rounds: Rounds = None,
    initial: Initial = None,
    query_size: QuerySize = None,
    imbalance_factor: ImbalanceFactor = 1.0,
    open_set_ratio: OpenSetRatio = 0.0,
    encoder: Encoder = None,
    subsample: Annotated[Optional[int], typer.Option(
        help="Each round, show every strategy a seeded random subset of this many unlabeled samples (and the "
             "labeled set) instead of the whole pool: faster rounds on large pools (docs/cpu-performance.md).",
        show_default="the whole pool")] = None,
    out: Annotated[Path, typer.Option(help="Output folder for the Parquet results.")] = Path("results"),
    data_dir: DataDir = None,
    download: Download = False,
    strategy_param: Annotated[Optional[list[str]], typer.Option(
        help="NAME.KEY=VALUE, repeatable, e.g. bald.passes=20 (see the strategy's docs).",
        show_default="each strategy's own values")] = None,
    workers: Annotated[Optional[int], typer.Option(
        help="Jobs run at once (never more than there are jobs).",
        show_default="one per CPU core; on a GPU machine, one per GPU times --jobs-per-gpu")] = None,
    jobs_per_gpu: Annotated[int, typer.Option(help="Jobs sharing one GPU.")] = 1,
    threads: Threads = None,
    deterministic: Annotated[bool, typer.Option(
        "--deterministic/--no-deterministic",
        help="Deterministic torch algorithms, cuDNN and cuBLAS in every job, so a GPU run repeats exactly; "
             "recorded in each result file. No effect on CPU numbers.")] = True,
    backend: Annotated[str, typer.Option(help="local (worker processes here) or ray (a Ray cluster).")] = "local",
    address: Annotated[Optional[str], typer.Option(
        help="Ray cluster address, e.g. HEAD_IP:6379.", show_default="a local Ray instance")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the jobs to run and those done; run none.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Run only jobs missing in OUT (always the case).")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Rerun only the jobs that failed in OUT "
                                               "(the grid options are ignored).")] = False,
) -> None:
    """Run a grid of datasets x strategies x seeds; finished jobs in OUT are skipped, so a rerun resumes."""
    from dataclasses import replace

    from alscope_autoal.bench import BenchRequest, plan_bench, run_bench
    from alscope_autoal.runner import RunOptions
    from alscope_autoal.strategies.params import parse_strategy_params, with_candidates

    from .render import ProgressReporter, stderr, stdout, summary_table, warn_if_oversubscribed
    from .status import print_plan, retry_command

    request = BenchRequest(
        **{k: v for k, v in {"datasets": split_list(datasets), "strategies": split_list(strategies)}.items()
           if v is not None},
        seeds=seeds, profile=profile, rounds=rounds, initial=initial, query_size=query_size,
        imbalance_factor=imbalance_factor, open_set_ratio=open_set_ratio, encoder=encoder, subsample=subsample)
    with user_errors():
        params = parse_strategy_params(strategy_param, request.strategies)
        request = replace(request, strategy_params=with_candidates(params, request.strategies, candidates))
    options = RunOptions(data_dir=data_dir, download=download, threads=threads, deterministic=deterministic,
                         workers=workers, jobs_per_gpu=jobs_per_gpu, backend=backend, address=address,
                         command=shlex.join(["autoal", *sys.argv[1:]]))
    if dry_run:
        with user_errors():
            print_plan(out, *plan_bench(request, out, options, retry_failed))
        return
    warn_if_oversubscribed(options)
    with user_errors(f"finished jobs are saved in {out}; rerun the same command to resume"):
        with ProgressReporter() as reporter:
            outcome = run_bench(request, out, options, reporter, retry_failed)
        if retry_failed and not outcome.ran:
            stderr.print(f"no failed jobs recorded in {out}: nothing to retry")
            return
        stdout.print(summary_table(sweep_summary(out, outcome)))
    for reason, paths in set_aside_by_folder(outcome.set_aside).items():
        stderr.print(f"moved {len(paths)} {reason} result file(s) to {paths[0].parent} (kept, not deleted) and "
                     f"reran their jobs: {', '.join(p.name for p in paths)}", highlight=False, soft_wrap=True)
    elsewhere = f", {len(outcome.elsewhere)} of them finished by another sweep meanwhile" if outcome.elsewhere else ""
    stderr.print(f"results: {out / 'jobs'} ({len(outcome.ran)} run, {len(outcome.skipped)} already there{elsewhere})")
    if outcome.failed:
        stderr.print(f"[red]{len(outcome.failed)} job(s) failed[/red]; details in {out / 'failures'}; "
                     f"rerun just them: {retry_command(out, data_dir)}", highlight=False)
        raise typer.Exit(1)


def set_aside_by_folder(paths: list[Path]) -> dict[str, list[Path]]:
    """Files a sweep moved aside, by why: "damaged" (did not read back) or "stale" (written under other settings)."""
    found: dict[str, list[Path]] = {}
    for path in paths:
        found.setdefault(path.parent.name, []).append(path)
    return found


def sweep_summary(out: Path, outcome):
    """The summary of this sweep's jobs only, read back from their files."""
    import pandas as pd

    from alscope_autoal.analysis.aggregate import summary
    from alscope_autoal.results import job_path

    frames = [pd.read_parquet(job_path(out, spec)) for spec in outcome.ran + outcome.skipped
              if spec.job_id not in outcome.failed]
    return summary(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()
