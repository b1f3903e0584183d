"""`autoal bench`: run a grid of datasets x strategies x seeds as one sweep, then print its summary."""

from __future__ import annotations

import json
import shlex
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import typer.main

from alscope_autoal.profiles import DEFAULT_PRECISION

from .errors import EXIT_USAGE, split_list, user_errors
from .options import (DataDir, Datasets, Download, Encoder, ImbalanceFactor, Initial, OpenSetRatio, Plugins,
                      ProfileName, QuerySize, Rounds, Seeds, Threads)

# The options that make up the grid (a BenchRequest): the keys an experiment file's [[sweep]] parts may set.
GRID_OPTIONS = {"datasets", "strategies", "candidates", "seeds", "profile", "rounds", "initial", "query_size",
                "imbalance_factor", "open_set_ratio", "encoder", "strategy_param", "max_pool", "max_test",
                "precision", "subsample"}


def read_config(ctx: typer.Context, value: Optional[Path]) -> Optional[Path]:
    """Eager: the file's values become the defaults of the options the command line does not give."""
    from alscope_autoal.errors import UserError

    from .config import load_experiment

    if value is not None:
        try:
            load_experiment(ctx, value, typing.get_type_hints(bench), GRID_OPTIONS)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_USAGE) from None
    return value


def bench(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option(
        "--config", is_eager=True, callback=read_config,
        help="An experiment file (TOML) whose keys are these options (docs/experiments.md); options given here "
             "override it.", show_default="none")] = None,
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
    max_pool: Annotated[Optional[int], typer.Option(
        help="Cap the unlabeled pool at a seeded subset of N samples; the jobs then name a derived profile, "
             "e.g. cpu(max_pool=5000).", show_default="the profile's (none for cpu, paper, linear)")] = None,
    max_test: Annotated[Optional[int], typer.Option(
        help="Cap the test set at a seeded subset of N samples (a derived profile, as --max-pool).",
        show_default="the profile's")] = None,
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
    plugin: Plugins = None,
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
    precision: Annotated[str, typer.Option(
        help="fp32, or bf16: the CNN's forward passes under bf16 autocast (channels-last on a GPU); part of the "
             "job id when not fp32.")] = DEFAULT_PRECISION,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the jobs to run and those done, and estimate "
                                          "their device-hours from speeds measured earlier; run none.")] = False,
    calibrate: Annotated[bool, typer.Option("--calibrate", help="With --dry-run: time a few training steps here "
                                            "when the results folder holds no measured speed.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Run only jobs missing in OUT (always the case).")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Rerun only the jobs that failed in OUT "
                                               "(the grid options are ignored).")] = False,
) -> None:
    """Run a grid of datasets x strategies x seeds; finished jobs in OUT are skipped, so a rerun resumes."""
    from alscope_autoal.bench import plan_bench, run_bench
    from alscope_autoal.plugins import load_plugins
    from alscope_autoal.errors import UserError
    from alscope_autoal.runner import RunOptions

    from .config import experiment_file
    from .render import ProgressReporter, stderr, stdout, summary_table, warn_if_oversubscribed
    from .status import print_plan, retry_command

    parts = grid_parts(ctx)
    with user_errors():
        plugins = load_plugins(plugin)
        requests = bench_requests(parts)
    effective = {"config": experiment_file(ctx), "options": jsonable(ctx.params), "sweeps": jsonable(parts)}
    options = RunOptions(data_dir=data_dir, download=download, threads=threads, deterministic=deterministic,
                         workers=workers, jobs_per_gpu=jobs_per_gpu, backend=backend, address=address,
                         command=shlex.join(["autoal", *sys.argv[1:]]), settings=json.dumps(effective),
                         plugins=plugins)
    if calibrate and not dry_run:
        with user_errors():
            raise UserError("--calibrate times this device for a cost estimate: add --dry-run")
    if dry_run:
        with user_errors():
            to_run, done = plan_bench(requests, out, options, retry_failed)
            print_plan(out, to_run, done)
            print_user_datasets(to_run + done)
            print_estimate(to_run, out, options, calibrate)
        return
    warn_if_oversubscribed(options)
    with user_errors(f"finished jobs are saved in {out}; rerun the same command to resume"):
        with ProgressReporter() as reporter:
            outcome = run_bench(requests, out, options, reporter, retry_failed)
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
                     f"rerun just them: {retry_command(out, data_dir, plugin)}", highlight=False)
        raise typer.Exit(1)


def grid_parts(ctx: typer.Context) -> list[dict[str, Any]]:
    """The grid options of each part of the sweep (one part without [[sweep]] tables), command line applied."""
    from .config import sweep_parts

    grid = {name: value for name, value in ctx.params.items() if name in GRID_OPTIONS}
    return [grid | part for part in sweep_parts(ctx)]


def bench_requests(parts: list[dict[str, Any]]) -> list:
    everywhere = {name for part in parts for name in part_strategies(part)}
    return [bench_request(part, everywhere) for part in parts]


def experiment_requests(path: Path, *args: str) -> list:
    """The BenchRequests that `autoal bench --config PATH ARGS` plans, read without running anything or reading
    data (their job ids: `alscope_autoal.bench.job_specs`): for tools that check results against the experiment
    file that made them. A bad file raises `typer.Exit` after its one-line error, as the command does."""
    from .app import app

    command = typer.main.get_command(app).commands["bench"]
    with command.make_context("bench", ["--config", str(path), *args]) as ctx:
        return bench_requests(grid_parts(ctx))


def part_strategies(values: dict[str, Any]) -> tuple[str, ...]:
    from alscope_autoal.bench import DEFAULT_STRATEGIES

    return split_list(values["strategies"]) or DEFAULT_STRATEGIES


def bench_request(values: dict[str, Any], everywhere: set[str] = frozenset()):
    """One part of the grid as a validated request: its strategies' parameters parsed, candidates given. A
    parameter of a strategy that only other parts of the sweep run (`everywhere`) is left to them."""
    from dataclasses import replace

    from alscope_autoal.bench import BenchRequest
    from alscope_autoal.roles import SELECTORS
    from alscope_autoal.strategies.params import parse_strategy_params, with_candidates

    request = BenchRequest(
        **{k: v for k, v in {"datasets": split_list(values["datasets"]),
                             "strategies": split_list(values["strategies"])}.items() if v is not None},
        seeds=values["seeds"], profile=values["profile"], rounds=values["rounds"], initial=values["initial"],
        query_size=values["query_size"], imbalance_factor=values["imbalance_factor"],
        open_set_ratio=values["open_set_ratio"], encoder=values["encoder"], max_pool=values["max_pool"],
        max_test=values["max_test"], precision=values["precision"],
        subsample=values["subsample"])
    mine = [item for item in values["strategy_param"] or []
            if item.partition("=")[0].rpartition(".")[0] in set(request.strategies) or
            item.partition("=")[0].rpartition(".")[0] not in everywhere]
    params = parse_strategy_params(mine, request.strategies)
    mixers_elsewhere = set(SELECTORS) & everywhere and not set(SELECTORS) & set(request.strategies)
    candidates = None if mixers_elsewhere else values["candidates"]
    return replace(request, strategy_params=with_candidates(params, request.strategies, candidates))


def jsonable(values: Any) -> Any:
    """Option values as JSON (paths as strings, tuples as lists), for the sweep record."""
    return json.loads(json.dumps(values, default=str))


def print_user_datasets(specs: list) -> None:
    """One line per user dataset of the plan: what was read, its size and its content hash."""
    from alscope_autoal.data import load_dataset
    from alscope_autoal.data.user_sets import sources_of, summary

    from .render import stdout

    for source in sources_of(spec.dataset for spec in specs):
        stdout.print(f"  your dataset {summary(source, load_dataset(source.name))}", highlight=False,
                     soft_wrap=True, markup=False)


def print_estimate(to_run: list, out: Path, options, calibrate: bool) -> None:
    from alscope_autoal.cost import sweep_estimate

    from .render import stdout

    command = shlex.join(["autoal", *[arg for arg in sys.argv[1:] if arg not in ("--dry-run", "--calibrate")]])
    for line in sweep_estimate(to_run, out, options, command, calibrate):
        stdout.print(f"estimate: {line}", highlight=False, soft_wrap=True)


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
