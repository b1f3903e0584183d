"""`autoal plot`: publication figures from a results folder (reads the Parquet files only, never reruns)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import split_list, user_errors

ResultsDir = Annotated[Path, typer.Argument(help="A folder written by 'autoal bench --out'.", show_default=False)]
Datasets = Annotated[Optional[str], typer.Option(help="Comma-separated datasets to show. [default: all]",
                                                 show_default=False)]
Strategies = Annotated[Optional[str], typer.Option(
    help="Comma-separated strategies to show (random and entropy still serve as references). [default: all]",
    show_default=False)]
Profile = Annotated[Optional[str], typer.Option(help="Use only this profile's results. [default: the only one]",
                                                show_default=False)]
AllowMixed = Annotated[bool, typer.Option("--allow-mixed-profiles", help="Show several profiles side by side (never pooled).")]


def plot(
    results_dir: ResultsDir,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the figures. [default: RESULTS_DIR/figures]",
                                                show_default=False)] = None,
    format: Annotated[str, typer.Option("--format", help="Comma-separated file formats: png, pdf, svg.")] = "png,pdf",
    datasets: Datasets = None,
    strategies: Strategies = None,
    profile: Profile = None,
    allow_mixed_profiles: AllowMixed = False,
    dpi: Annotated[int, typer.Option(help="Resolution of raster formats.")] = 200,
) -> None:
    """Draw learning curves, AUBC bars, average ranks, cost, AutoAL's candidate weights and the win matrix."""
    import matplotlib

    matplotlib.use("Agg")
    from alscope_autoal.analysis.load import load
    from alscope_autoal.analysis.plots import save_figures

    with user_errors():
        analysis = load(results_dir, split_list(datasets), split_list(strategies), profile, allow_mixed_profiles)
        written, skipped = save_figures(analysis, out or results_dir / "figures", split_list(format) or (), dpi)
    for path in written:
        print(path)
    for note in skipped:
        typer.echo(f"skipped {note}", err=True)
