"""The `autoal` Typer app. Each command parses options, calls one library function and renders the result.

The library (and torch) is imported inside the commands so that `autoal --help` answers at once.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import split_list, user_errors

app = typer.Typer(name="autoal", help="Benchmark deep active-learning strategies, AutoAL among them.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

DataDir = Annotated[Optional[Path], typer.Option(
    "--data-dir", envvar="AUTOAL_DATA_DIR", help="Root holding the official dataset layouts (like ../shared/data). "
    "Default: ~/.cache/alscope-autoal/data.", show_default=False)]


class Catalog(str, Enum):
    datasets = "datasets"
    strategies = "strategies"
    profiles = "profiles"


@app.command()
def bench(
    datasets: Annotated[Optional[str], typer.Option(help="Comma-separated dataset names. [default: digits]",
                                                    show_default=False)] = None,
    strategies: Annotated[Optional[str], typer.Option(
        help="Comma-separated strategy names. [default: random,entropy,margin,least-confidence]",
        show_default=False)] = None,
    seeds: Annotated[int, typer.Option(help="Repetitions (seeds 0..N-1).")] = 1,
    profile: Annotated[str, typer.Option(help="smoke, cpu or paper (see 'autoal list profiles').")] = "cpu",
    rounds: Annotated[Optional[int], typer.Option(help="Query rounds. [default: the profile's]",
                                                  show_default=False)] = None,
    initial: Annotated[Optional[int], typer.Option(help="Initial labeled-set size. [default: the profile's]",
                                                   show_default=False)] = None,
    query_size: Annotated[Optional[int], typer.Option(help="Labels bought per round. [default: the profile's]",
                                                      show_default=False)] = None,
    imbalance_factor: Annotated[float, typer.Option(help="Long-tailed pool: largest/smallest class size.")] = 1.0,
    open_set_ratio: Annotated[float, typer.Option(help="Fraction of classes held out as unknown.")] = 0.0,
    out: Annotated[Path, typer.Option(help="Output folder for the Parquet results.")] = Path("results"),
    data_dir: DataDir = None,
    download: Annotated[bool, typer.Option(help="Fetch missing datasets (needs a network).")] = False,
    strategy_param: Annotated[Optional[list[str]], typer.Option(
        help="NAME.KEY=VALUE, repeatable, e.g. bald.passes=20 (see the strategy's docs).")] = None,
) -> None:
    """Run a grid of datasets x strategies x seeds; finished jobs in OUT are skipped, so a rerun resumes."""
    from dataclasses import replace

    from alscope_autoal.bench import BenchRequest, run_bench
    from alscope_autoal.strategies.params import parse_strategy_params

    from .render import ProgressReporter, stderr, stdout, summary_table

    request = BenchRequest(
        **{k: v for k, v in {"datasets": split_list(datasets), "strategies": split_list(strategies)}.items()
           if v is not None},
        seeds=seeds, profile=profile, rounds=rounds, initial=initial, query_size=query_size,
        imbalance_factor=imbalance_factor, open_set_ratio=open_set_ratio)
    with user_errors():
        request = replace(request, strategy_params=parse_strategy_params(strategy_param, request.strategies))
    with user_errors(f"finished jobs are saved in {out}; rerun the same command to resume"):
        with ProgressReporter() as reporter:
            outcome = run_bench(request, out, data_dir, download, reporter)
        stdout.print(summary_table(sweep_summary(out, outcome)))
    stderr.print(f"results: {out / 'jobs'} ({len(outcome.ran)} run, {len(outcome.skipped)} already there)")
    if outcome.failed:
        stderr.print(f"[red]{len(outcome.failed)} job(s) failed[/red]; details in {out / 'failures'}")
        raise typer.Exit(1)


def sweep_summary(out: Path, outcome):
    """The summary of this sweep's jobs only, read back from their files."""
    import pandas as pd

    from alscope_autoal.metrics import summary
    from alscope_autoal.results import job_path

    frames = [pd.read_parquet(job_path(out, spec)) for spec in outcome.ran + outcome.skipped
              if spec.job_id not in outcome.failed]
    return summary(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()


@app.command("list")
def list_(what: Annotated[Catalog, typer.Argument(help="What to list.")]) -> None:
    """List the registered datasets, strategies or profiles, one line each."""
    from .render import stdout

    registry = catalog(what)
    width = max(len(name) for name in registry)
    for name in registry:
        stdout.print(f"{name:<{width}}  {registry.describe(name)}", highlight=False, soft_wrap=True)


def catalog(what: Catalog):
    if what is Catalog.datasets:
        from alscope_autoal.data import DATASETS
        return DATASETS
    if what is Catalog.strategies:
        from alscope_autoal.strategies import STRATEGIES
        return STRATEGIES
    from alscope_autoal.profiles import PROFILES
    return PROFILES


from . import plot as _plot, report as _report  # noqa: E402  (each command lives in its own module)
app.command("plot")(_plot.plot), app.command("report")(_report.report)


def main() -> None:
    app()
