"""`autoal ablate`: AutoAL with fewer candidates or a component switched off, run like `bench`, then tabulated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import split_list, user_errors
from .options import (DataDir, Datasets, Download, ImbalanceFactor, Initial, OpenSetRatio, ProfileName, QuerySize,
                      Rounds, Seeds, Threads)


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
    strategy_param: Annotated[Optional[list[str]], typer.Option(
        help="autoal.KEY=VALUE for every variant (or BASELINE.KEY=VALUE), repeatable.",
        show_default="each strategy's own values")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Jobs run at once.", show_default="as bench")] = None,
    threads: Threads = None,
    out: Annotated[Path, typer.Option(help="Output folder: Parquet results and the ablation table/figure.")]
    = Path("results-ablation"),
    data_dir: DataDir = None,
    download: Download = False,
) -> None:
    """Run AutoAL ablations (candidate subsets, components off) and write ablation.{md,csv,tex,png} into OUT."""
    from alscope_autoal.ablation import AblationRequest, ablation_table, run_ablation, variants, write_outputs
    from alscope_autoal.bench import BenchRequest
    from alscope_autoal.results import read_results
    from alscope_autoal.strategies.autoal import PAPER_CANDIDATES
    from alscope_autoal.strategies.params import parse_strategy_params

    from .render import ProgressReporter, stderr, stdout, warn_if_oversubscribed

    with user_errors():
        names = split_list(baselines) or ()
        bench = BenchRequest(**({"datasets": split_list(datasets)} if datasets else {}), strategies=names,
                             seeds=seeds, profile=profile, rounds=rounds, initial=initial, query_size=query_size,
                             imbalance_factor=imbalance_factor, open_set_ratio=open_set_ratio,
                             strategy_params=parse_strategy_params(strategy_param, ("autoal", *names)))
        request = AblationRequest(bench, counts(num_candidates),
                                  split_list(components) or (), tuple(split_list(s) for s in subset or ()),
                                  split_list(candidates) or PAPER_CANDIDATES)
        chosen = variants(request)
    for variant in chosen:
        stderr.print(f"{variant.name}: candidates {','.join(variant.candidates)}", highlight=False)
    options = {}
    if workers is not None or threads is not None:
        from alscope_autoal.runner import RunOptions

        options["options"] = RunOptions(workers=workers, threads=threads)
        warn_if_oversubscribed(options["options"])
    with user_errors(f"finished jobs are saved in {out}; rerun the same command to resume"):
        with ProgressReporter() as reporter:
            jobs = run_ablation(request, out, data_dir, download, reporter, **options)
        cands = {v.name: v.candidates for v in chosen}
        table = ablation_table(read_results(out), jobs, cands)
        paths = write_outputs(table, out)
    stdout.print(table.to_string(index=False), highlight=False, soft_wrap=True)
    stderr.print(f"ablation table and figure: {', '.join(str(p) for p in paths)}", highlight=False)
    if jobs.get("_failed"):
        stderr.print(f"[red]{len(jobs['_failed'])} job(s) failed[/red]; details in {out / 'failures'}")
        raise typer.Exit(1)


def counts(text: str | None) -> tuple[int, ...]:
    from alscope_autoal.errors import UserError

    try:
        return tuple(int(k) for k in split_list(text) or ())
    except ValueError:
        raise UserError(f"--num-candidates takes comma-separated whole numbers, e.g. 3,5,7, not {text!r}") from None
