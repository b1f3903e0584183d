"""Options shared by `autoal bench` and `autoal ablate`, declared once so both commands read the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Datasets = Annotated[Optional[str], typer.Option(
    help="Comma-separated dataset names (see 'autoal list datasets'), or paths of your own: a .npz of images or "
         "embeddings, an image folder tree, a folder with train.csv and test.csv; NAME=PATH names one "
         "(docs/own-dataset.md).", show_default="digits")]
Seeds = Annotated[int, typer.Option(help="Repetitions (seeds 0..N-1).")]
ProfileName = Annotated[str, typer.Option("--profile",
                                          help="smoke, cpu, paper, released or linear (see 'autoal list profiles').")]
Rounds = Annotated[Optional[int], typer.Option(help="Query rounds.", show_default="the profile's")]
Initial = Annotated[Optional[int], typer.Option(help="Initial labeled-set size.", show_default="the profile's")]
QuerySize = Annotated[Optional[int], typer.Option(help="Labels bought per round.", show_default="the profile's")]
ImbalanceFactor = Annotated[float, typer.Option(help="Long-tailed pool: largest/smallest class size.")]
OpenSetRatio = Annotated[float, typer.Option(help="Fraction of classes held out as unknown.")]
Encoder = Annotated[Optional[str], typer.Option(
    help="Frozen encoder for --profile linear (see 'autoal list encoders'); text datasets need one.",
    show_default="none: the CNN profiles train on raw images")]
DataDir = Annotated[Optional[Path], typer.Option(
    "--data-dir", envvar="AUTOAL_DATA_DIR", help="Root holding the official dataset layouts (like ../shared/data).",
    show_default="~/.cache/alscope-autoal/data")]
Download = Annotated[bool, typer.Option(help="Fetch missing datasets (needs a network).")]
Threads = Annotated[Optional[int], typer.Option(
    help="Torch CPU threads per job. On CPU the thread count changes the floating-point result, so fix it to "
         "reproduce a run exactly.", show_default="1 on CPU; on a GPU, the CPU cores divided among the workers")]
Plugins = Annotated[Optional[list[str]], typer.Option(
    "--plugin", help="A .py file or module that registers strategies (docs/own-strategy.md); repeatable. Every "
                     "job's process imports it too.", show_default="none")]
