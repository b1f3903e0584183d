"""CPU seconds per job by phase (training, evaluation, selection), read from the rows that `autoal bench` wrote: the
mean over each dataset x strategy's jobs. Given two result folders (or exports), it prints the second's phases as
a fraction of the first's, to compare two versions of the code on the same plan, run one after the other on the
same machine. The linear head's training per job, at 8fa3975 (the mini-batch Adam head) against today's:

    git worktree add /tmp/at-8fa3975 8fa3975
    python -m venv --system-site-packages /tmp/venv-8fa3975
    /tmp/venv-8fa3975/bin/pip install --no-deps /tmp/at-8fa3975
    PLAN="--datasets trec,mr --strategies random --seeds 3 --profile linear --encoder minilm --workers 1 --threads 1"
    /tmp/venv-8fa3975/bin/autoal bench $PLAN --data-dir DIR --out /tmp/head-8fa3975
    autoal bench $PLAN --data-dir DIR --out /tmp/head-now
    python benchmarks/job_phase_seconds.py /tmp/head-8fa3975 /tmp/head-now

DIR holds the text datasets (a copy of ../shared/data/text as DIR/text): each version embeds them into its own
cache there, and the embedding is not a job's phase.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

PHASES = {"train_cpu_seconds": "training", "eval_cpu_seconds": "evaluation", "selection_cpu_seconds": "selection"}


def per_job(source: Path) -> pd.DataFrame:
    """Mean CPU seconds per job of each phase, and the job count, by dataset x strategy."""
    from alscope_autoal.analysis.load import read_source

    rows, _, _ = read_source(source, skip_damaged=False)
    jobs = rows.groupby(["dataset", "strategy", "job_id"])[list(PHASES)].sum()
    means = jobs.groupby(["dataset", "strategy"]).mean().rename(columns=PHASES)
    return means.assign(jobs=jobs.groupby(["dataset", "strategy"]).size())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="one or two result folders or exports")
    args = parser.parse_args()
    if len(args.sources) > 2:
        parser.error("give one result folder, or two to compare")
    from alscope_autoal.errors import UserError

    try:
        tables = [per_job(source) for source in args.sources]
    except UserError as error:
        parser.error(str(error))
    for source, table in zip(args.sources, tables):
        print(f"{source}: CPU s per job (mean)\n{table.round(3).to_string()}\n")
    if len(tables) == 2:
        ratio = tables[0][list(PHASES.values())] / tables[1][list(PHASES.values())]
        print(f"{args.sources[0]} / {args.sources[1]}, per phase (10.0 means the second takes 1/10 of the first):\n"
              f"{ratio.dropna(how='all').round(1).to_string()}")


if __name__ == "__main__":
    main()
