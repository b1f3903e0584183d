"""`autoal report`: benchmark tables from a results folder as Markdown, CSV or LaTeX."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import split_list, user_errors
from .plot import (Ablation, AllowMixed, AllowStale, Clock, CostClock, Datasets, Profile, ResultsDir, SkipDamaged,
                   Strategies, print_load_notes)


class Format(str, Enum):
    md = "md"
    csv = "csv"
    latex = "latex"


class Which(str, Enum):
    all = "all"
    metric = "metric"
    details = "details"
    ranks = "ranks"


class Metric(str, Enum):
    aubc = "aubc"
    final = "final"
    efficiency = "efficiency"


def report(
    results_dir: ResultsDir,
    format: Annotated[Format, typer.Option("--format", help="md: Markdown tables; csv: one tidy table; "
                                           "latex: booktabs tables.")] = Format.md,
    metric: Annotated[Metric, typer.Option(help="What the main table and the ranks show: aubc, final (accuracy) "
                                           "or efficiency (labels saved against random).")] = Metric.aubc,
    table: Annotated[Which, typer.Option("--table", help="md and latex: every table, or only one: metric (the chosen "
                                         "metric per dataset, with the average rank), details (every metric per "
                                         "dataset x strategy) or ranks.")] = Which.all,
    out: Annotated[Optional[Path], typer.Option(help="Write to this file instead of standard output.",
                                                show_default="standard output")] = None,
    datasets: Datasets = None,
    strategies: Strategies = None,
    profile: Profile = None,
    allow_mixed_profiles: AllowMixed = False,
    skip_damaged: SkipDamaged = False,
    allow_stale: AllowStale = False,
    cost_clock: CostClock = Clock.cpu,
    ablation: Ablation = False,
) -> None:
    """Tables of mean ± std over seeds per dataset x strategy, the best per column marked, and ranks."""
    from alscope_autoal.analysis import ablation as ablation_table
    from alscope_autoal.analysis.load import load
    from alscope_autoal.analysis.report import render

    from .export import check_study_file

    with user_errors():
        check_study_file(results_dir)
        analysis = load(results_dir, split_list(datasets), split_list(strategies), profile, allow_mixed_profiles,
                        skip_damaged, allow_stale, cost_clock.value)
        text = ablation_table.render(analysis, format.value) if ablation else render(analysis, format.value,
                                                                                     metric.value, table.value)
    print_load_notes(results_dir, analysis, skip_damaged)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"report: {out}", err=True)
