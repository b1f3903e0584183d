"""Rich rendering: live progress on stderr (stdout stays clean for tables) and the summary table."""

from __future__ import annotations

import sys
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


class LogConsole(Console):
    """A console that wraps long lines only on a terminal: piped or redirected, each message (and a command to
    copy) stays on one line. Checked at each print, since the stream can be swapped (tests, `contextlib.redirect`)."""

    def print(self, *objects: Any, soft_wrap: bool | None = None, **kwargs: Any) -> None:
        super().print(*objects, soft_wrap=not self.is_terminal if soft_wrap is None else soft_wrap, **kwargs)


stderr = LogConsole(stderr=True)
# Piped or redirected tables get 160 columns instead of 80, so strategy names are not truncated.
stdout = LogConsole(width=None if sys.stdout.isatty() else 160)


def warn_if_oversubscribed(options) -> None:
    """One line on stderr when local workers outnumber the CPU cores (a Ray cluster's cores are not ours to count)."""
    from alscope_autoal.runner.local import oversubscription_warning, usable_cpus

    warning = oversubscription_warning(options.workers, usable_cpus()) if options.backend == "local" else None
    if warning:
        stderr.print(warning, highlight=False, markup=False, soft_wrap=True)


class ProgressReporter:
    """Two bars: jobs of the sweep, and rounds of the current job."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=stderr, transient=False)
        self.jobs = None
        self.rounds: dict[str, Any] = {}  # job id -> its rounds bar; several jobs run at once with --workers

    def __enter__(self) -> "ProgressReporter":
        return self  # the display starts with the sweep, so validation errors print alone

    def __exit__(self, *exc) -> None:
        if self.progress.live.is_started:  # stopping a display never started prints a stray blank line
            self.progress.stop()

    def sweep_started(self, to_run: list, already_done: int) -> None:
        if already_done:
            stderr.print(f"{already_done} job(s) already finished in this folder: skipped")
        self.progress.start()
        self.jobs = self.progress.add_task("jobs", total=len(to_run))

    def job_started(self, spec) -> None:
        self.rounds[spec.job_id] = self.progress.add_task(f"  {spec.label}", total=spec.rounds + 1)

    def round_done(self, spec, row: dict[str, Any]) -> None:
        self.progress.update(self.rounds[spec.job_id], advance=1,
                             description=f"  {spec.label}  labels {row['n_labeled']}  acc {row['accuracy']:.3f}")

    def job_finished(self, spec, error: str | None) -> None:
        if error:
            stderr.print(f"[red]failed[/red] {spec.label}: {error}")
        self.progress.remove_task(self.rounds.pop(spec.job_id))
        self.progress.advance(self.jobs)


def summary_table(summary: pd.DataFrame) -> Table:
    """`analysis.report.bench_summary` drawn for the terminal."""
    from alscope_autoal.analysis.render_tables import column_is_text
    from alscope_autoal.analysis.report import bench_summary

    shown = bench_summary(summary)
    table = Table(title=shown.title)
    for column in shown.cells.columns:
        table.add_column(column, justify="left" if column_is_text(shown, column) else "right")
    for values in shown.cells.itertuples(index=False):
        table.add_row(*values)
    return table
