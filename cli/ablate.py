"""`autoal ablate`: AutoAL with fewer candidates or a component switched off, run like `bench`, then tabulated."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import split_list, user_errors
from .options import (DataDir, Datasets, Download, Encoder, ImbalanceFactor, Initial, OpenSetRatio, Plugins,
                      ProfileName, QuerySize, Rounds, Seeds, Threads)


def ablate(
    num_candidates: Annotated[Optional[str], typer.Option(
        help="Comma-separated K values: AutoAL with the first K candidates of --candidates, e.g. 3,5,7.",
        show_default="none")] = None,
    components: Annotated[Optional[str], typer.Option(
        help="Comma-separated: no-loss-head, no-pretrain, hard-mask (the released code's mask), "
             "per-strategy-thresholds, and autoal-lookahead's changes one at a time: frozen-fitnet, "
             "fitnet-val-model, lookahead, softmax-mixing, running-threshold, query-ratio, or all-lookahead.",
        show_default="none")] = None,
    subset: Annotated[Optional[list[str]], typer.Option(
        help="A candidate subset to run, comma-separated; repeatable.", show_default="none")] = None,
    candidates: Annotated[Optional[str], typer.Option(
        help="Candidate order that K counts along.",
        show_default="the paper's: entropy,margin,least-confidence,kmeans,bald,var-ratio,mean-std")] = None,
    baselines: Annotated[str, typer.Option(help="Comma-separated strategies run beside the variants.")] = "random",
    datasets: Datasets = None,
    seeds: Seeds = 1,
    profile: ProfileName = "cpu",
    rounds: Rounds = None,
    initial: Initial = None,
    query_size: QuerySize = None,
    imbalance_factor: ImbalanceFactor = 1.0,
    open_set_ratio: OpenSetRatio = 0.0,
    encoder: Encoder = None,
    strategy_param: Annotated[Optional[list[str]], typer.Option(
        help="autoal.KEY=VALUE for every variant (or BASELINE.KEY=VALUE), repeatable.",
        show_default="each strategy's own values")] = None,
    plugin: Plugins = None,
    workers: Annotated[Optional[int], typer.Option(help="Jobs run at once.", show_default="as bench")] = None,
    threads: Threads = None,
    out: Annotated[Path, typer.Option(help="Output folder: Parquet results and the ablation table/figure.")]
    = Path("results-ablation"),
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the variants, the job count and an estimated time, then stop: nothing runs.")] = False,
    data_dir: DataDir = None,
    download: Download = False,
) -> None:
    """Run AutoAL ablations (candidate subsets, components off) as one sweep and write ablation.{md,csv,tex,png}
    into OUT ('autoal report OUT --ablation' and 'autoal plot OUT --ablation' rebuild them from OUT alone)."""
    from alscope_autoal.ablation import AblationRequest, ablation_specs, run_ablation, variants
    from alscope_autoal.bench import BenchRequest
    from alscope_autoal.plugins import load_plugins
    from alscope_autoal.runner import RunOptions
    from alscope_autoal.strategies.autoal import PAPER_CANDIDATES
    from alscope_autoal.strategies.params import parse_strategy_params

    from .render import ProgressReporter, stderr, warn_if_oversubscribed

    with user_errors():
        plugins = load_plugins(plugin)
        names = split_list(baselines) or ()
        bench = BenchRequest(**({"datasets": split_list(datasets)} if datasets else {}), strategies=names,
                             seeds=seeds, profile=profile, rounds=rounds, initial=initial, query_size=query_size,
                             imbalance_factor=imbalance_factor, open_set_ratio=open_set_ratio, encoder=encoder,
                             strategy_params=parse_strategy_params(strategy_param, ("autoal", *names)))
        request = AblationRequest(bench, counts(num_candidates),
                                  split_list(components) or (), tuple(split_list(s) for s in subset or ()),
                                  split_list(candidates) or PAPER_CANDIDATES)
        chosen = variants(request)
        options = RunOptions(data_dir=data_dir, download=download, threads=threads, workers=workers,
                             command=shlex.join(["autoal", *sys.argv[1:]]), plugins=plugins)
        specs = ablation_specs(request, options)
        options.check()
    if dry_run:
        with user_errors():
            print_plan(chosen, names, specs, out, options)
        return
    for variant in chosen:
        stderr.print(f"{variant.name}: {describe(variant)}", highlight=False)
    warn_if_oversubscribed(options)
    with user_errors(f"finished jobs are saved in {out}; rerun the same command to resume"):
        with ProgressReporter() as reporter:
            outcome = run_ablation(specs, out, options, reporter)
        if any(spec.variant and spec.job_id not in outcome.failed for spec in specs):
            write_tables(out, profile)
    if outcome.failed:
        stderr.print(f"[red]{len(outcome.failed)} job(s) failed[/red]; details in {out / 'failures'}")
        raise typer.Exit(1)


def describe(variant) -> str:
    changed = ", ".join(f"{k}={v}" for k, v in sorted(variant.params.items()))
    return f"candidates {','.join(variant.candidates)}" + (f"; {changed}" if changed else "")


def write_tables(out: Path, profile: str) -> None:
    """Render the ablation from OUT's result files alone, as 'autoal report OUT --ablation' does."""
    from alscope_autoal.analysis import ablation
    from alscope_autoal.analysis.load import load

    from .render import stderr, stdout

    analysis = load(out, profile=profile)
    paths = ablation.write(analysis, out)
    stdout.print(paths[0].read_text(encoding="utf-8"), highlight=False, markup=False, soft_wrap=True, end="")
    stderr.print(f"ablation table and figure: {', '.join(str(p) for p in paths)}", highlight=False)


def print_plan(chosen: list, baselines: tuple[str, ...], specs: list, out: Path, options) -> None:
    """The dry run: each variant and its candidates, the jobs to run and those done, and the time they should take."""
    from alscope_autoal.analysis.ablation import estimate
    from alscope_autoal.runner import split_done
    from alscope_autoal.runner.local import local_slots

    from .render import stdout

    to_run, done = split_done(specs, out)
    lines = [f"ablation plan for {out}: {len(chosen)} variant(s)"]
    lines += [f"  {variant.name}: {describe(variant)}" for variant in chosen]
    lines.append(f"  baselines: {', '.join(baselines) or 'none'}")
    lines.append(f"{len(specs)} job(s): {len(to_run)} to run, {len(done)} already done")
    if to_run:
        guess = estimate(to_run, out, len(local_slots(options, len(to_run))))
        lines.append(estimate_line(guess))
    lines.append("dry run: nothing was run")
    for line in lines:
        stdout.print(line, highlight=False, markup=False, soft_wrap=True)


def estimate_line(guess) -> str:
    if guess.unknown == guess.jobs:
        return f"estimated time: unknown, based on {guess.basis}"
    text = (f"estimated time: about {duration(guess.wall_seconds)} on {guess.workers} worker(s) "
            f"({duration(guess.cpu_seconds)} of CPU time), based on {guess.basis}")
    return text + (f"; {guess.unknown} job(s) without an estimate are not counted" if guess.unknown else "")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def counts(text: str | None) -> tuple[int, ...]:
    from alscope_autoal.errors import UserError

    try:
        return tuple(int(k) for k in split_list(text) or ())
    except ValueError:
        raise UserError(f"--num-candidates takes comma-separated whole numbers, e.g. 3,5,7, not {text!r}") from None
