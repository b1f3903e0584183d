"""The `autoal` Typer app. Each command parses options, calls one library function and renders the result.

The library (and torch) is imported inside the commands so that `autoal --help` answers at once.
"""

from __future__ import annotations

import typer

from . import ablate, bench, check, export, listing, plot, report, status
from .usage import PlainUsage

app = typer.Typer(name="autoal", help="Benchmark deep active-learning strategies, AutoAL among them.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# Each command lives in its own module.
app.command("bench", cls=PlainUsage)(bench.bench)
app.command("list", cls=PlainUsage)(listing.list_)
app.command("plot", cls=PlainUsage)(plot.plot)
app.command("report", cls=PlainUsage)(report.report)
app.command("status", cls=PlainUsage)(status.status)
app.command("export", cls=PlainUsage)(export.export)
app.command("ablate", cls=PlainUsage)(ablate.ablate)
app.command("check", cls=PlainUsage)(check.check)


def main() -> None:
    app()
