"""`autoal plot`: publication figures from a results folder (reads the Parquet files only, never reruns)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import split_list, user_errors

ResultsDir = Annotated[Path, typer.Argument(help="A folder written by 'autoal bench --out', or the file 'autoal "
                                            "export' made of one.", show_default=False)]
Datasets = Annotated[Optional[str], typer.Option(help="Comma-separated datasets to show.", show_default="all")]
Strategies = Annotated[Optional[str], typer.Option(
    help="Comma-separated strategies to show (random and entropy still serve as references).", show_default="all")]
Profile = Annotated[Optional[str], typer.Option(help="Use only this profile's results.",
                                                show_default="the only one")]
AllowMixed = Annotated[bool, typer.Option("--allow-mixed-profiles", help="Show several profiles side by side (never pooled).")]
AllowStale = Annotated[bool, typer.Option("--allow-stale", help="Pool results written under different settings "
                                          "(an edited profile or AutoAL schedule) instead of refusing.")]


class Clock(str, Enum):
    cpu = "cpu"
    wall = "wall"


CostClock = Annotated[Clock, typer.Option(
    "--cost-clock", help="What cost is measured in: cpu (each job's process CPU seconds: what it costs whatever "
    "else runs on the machine) or wall (elapsed seconds, which grow with the load). Results without CPU time "
    "fall back to wall, and say so.")]
Ablation = Annotated[bool, typer.Option(
    "--ablation", help="The ablation of a folder written by 'autoal ablate': its table (report) or figure "
    "(plot, ablation.png/.pdf), as 'autoal ablate' wrote them.")]
SkipDamaged = Annotated[bool, typer.Option("--skip-damaged", help="Leave out result files that do not read back "
                                           "(they are still named on stderr) instead of stopping with exit code 1.")]


def print_load_notes(results_dir: Path, analysis, skip_damaged: bool) -> None:
    """One line on stderr each: results pooled across settings (--allow-stale), costs in wall time because some
    results recorded no CPU time, jobs run on different compute (processor, instruction set, GPU), and with --skip-damaged the damaged files left out, or that there were none."""
    from alscope_autoal.results import JOBS_DIR, damage_message

    if analysis.pooled_settings:
        typer.echo(f"warning: pooling results written under different settings ({analysis.pooled_settings}; "
                   "--allow-stale)", err=True)
    if analysis.clock.note:
        typer.echo(f"note: costs in {analysis.clock.note}", err=True)
    if analysis.mixed_compute:
        typer.echo(f"warning: these results pool jobs run on different compute ({analysis.mixed_compute}); float "
                   "results can differ between processors, so compare jobs of one kind ('compute' in each result "
                   "file's footer)", err=True)
    if analysis.damaged:
        typer.echo("warning: " + damage_message(results_dir, list(analysis.damaged),
                                                hint="left out (--skip-damaged)"), err=True)
    elif skip_damaged:
        where = results_dir if results_dir.is_file() else results_dir / JOBS_DIR
        typer.echo(f"--skip-damaged: no damaged result files in {where}", err=True)


def plot(
    results_dir: ResultsDir,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the figures.",
                                                show_default="RESULTS_DIR/figures; NAME-figures beside an export "
                                                "NAME.parquet")] = None,
    format: Annotated[str, typer.Option("--format", help="Comma-separated file formats: png, pdf, svg.")] = "png,pdf",
    datasets: Datasets = None,
    strategies: Strategies = None,
    profile: Profile = None,
    allow_mixed_profiles: AllowMixed = False,
    skip_damaged: SkipDamaged = False,
    allow_stale: AllowStale = False,
    cost_clock: CostClock = Clock.cpu,
    dpi: Annotated[int, typer.Option(help="Resolution of raster formats.")] = 200,
    ablation: Ablation = False,
) -> None:
    """Draw learning curves, AUBC bars, average ranks, cost, AutoAL's candidate weights and the win matrix."""
    import matplotlib

    matplotlib.use("Agg")
    from alscope_autoal.analysis import ablation as ablation_figures
    from alscope_autoal.analysis.load import load
    from alscope_autoal.analysis.plots import all_figures, save_figures

    from .export import check_study_file

    with user_errors():
        check_study_file(results_dir)
        analysis = load(results_dir, split_list(datasets), split_list(strategies), profile, allow_mixed_profiles,
                        skip_damaged, allow_stale, cost_clock.value)
        written, skipped = save_figures(analysis, out or figures_folder(results_dir), split_list(format) or (), dpi,
                                        ablation_figures.figures if ablation else all_figures)
    print_load_notes(results_dir, analysis, skip_damaged)
    for path in written:
        print(path)
    for note in skipped:
        typer.echo(f"skipped {note}", err=True)


def figures_folder(results: Path) -> Path:
    """Where figures go by default: inside a results folder, or beside an export file."""
    return results.with_name(f"{results.stem}-figures") if results.is_file() else results / "figures"
