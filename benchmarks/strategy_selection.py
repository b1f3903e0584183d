"""Strategy selection that earns its cost: AutoAL, the look-ahead search and the rival selectors against their
candidates, random and the look-ahead oracle, on four datasets (issue 10).

Per dataset: AUBC (mean ± std over seeds, and per seed), the share of the oracle's gain over random that each
arm captures, CPU seconds per job and their ratio to entropy's (paired by seed), then the issue's targets,
each checked on the same seeds.

    python benchmarks/strategy_selection.py --data-dir ../shared/data --out /tmp/sel            # run, then report
    python benchmarks/strategy_selection.py --out /tmp/sel --report-only                         # report what is done
    python benchmarks/strategy_selection.py --datasets digits --strategies oracle --out /tmp/sel # extend a run

Each dataset has its own folder under --out; jobs run one after another in this process through
benchmarks/autoal.py (finished jobs are skipped, CPU seconds logged per job), so two processes given disjoint
--strategies can share the machine's cores. The budgets, stated in the README: digits and BreastMNIST use the
`cpu` profile's budget (digits 30 + 10 x 30 labels, BreastMNIST 20 + 5 x 20: 5 rounds); OrganAMNIST and
FashionMNIST cap the pool at 5,000 and the test set at 2,000 images (profile `cpu-pool5000-test2000`) and stop
after 3 rounds of 100 (100 to 400 labels), so that the whole grid fits in about 2.5 hours on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import autoal as autoal_bench  # noqa: E402  (benchmarks/autoal.py: the job runner and CPU-time log)

CANDIDATES = ("entropy", "margin", "least-confidence", "kmeans", "bald", "var-ratio", "mean-std")
SELECTORS = ("autoal", "autoal-lookahead", "albl", "tailor", "tcm", "vote")
ARMS = CANDIDATES + ("random",) + SELECTORS + ("oracle",)
SETTINGS = {  # dataset -> benchmarks/autoal.py options
    "digits": dict(rounds=10, max_pool=None, max_test=None),
    "breastmnist": dict(rounds=5, max_pool=None, max_test=None),
    "organamnist": dict(rounds=3, max_pool=5000, max_test=2000),
    "fashionmnist": dict(rounds=3, max_pool=5000, max_test=2000),
}
COST_LIMIT = 3.0  # the new search's job may cost at most this many times entropy's, in CPU time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--datasets", default=",".join(SETTINGS))
    p.add_argument("--strategies", default=",".join(ARMS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", type=Path, default=Path("/tmp/selectors-bench"))
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--mark", default="", help="DATASET:ARM,ARM;... arms flagged with † in the tables (e.g. rows "
                   "kept from an older run; the README says why)")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    for dataset in args.datasets.split(","):
        setting = SETTINGS[dataset]
        autoal_bench.run(argparse.Namespace(
            dataset=dataset, data_dir=args.data_dir, profile="cpu", seeds=args.seeds, strategies=args.strategies,
            threads=1, param=[], out=args.out / dataset, **setting))


def job_table(folder: Path):
    """One line per job: AUBC, seed, CPU seconds (from the run's log)."""
    from alscope_autoal.analysis.aggregate import JOB_KEYS, label_strategies, per_job
    from alscope_autoal.results import read_results

    rows = read_results(folder)
    ids = label_strategies(rows).groupby(JOB_KEYS)["job_id"].first().reset_index()
    jobs = per_job(rows).merge(ids, on=JOB_KEYS).merge(autoal_bench.cpu_seconds(folder), on="job_id", how="left")
    jobs = jobs[jobs.seed.isin(paired_seeds(jobs))]  # every figure on the same seeds
    entropy = jobs[jobs.strategy == "entropy"].set_index("seed")["cpu_seconds"]
    jobs["cpu_vs_entropy"] = jobs.cpu_seconds / jobs.seed.map(entropy)
    return rows[rows.seed.isin(jobs.seed)], jobs


def paired_seeds(jobs) -> list[int]:
    """The seeds on which every arm present has finished (a run still going has fewer for some arms)."""
    arms = set(jobs.strategy)
    return sorted(seed for seed, part in jobs.groupby("seed") if set(part.strategy) == arms)


def arm_table(jobs):
    """Per arm: AUBC mean, std and per seed (in %), share of the oracle's gain, CPU seconds and ratio."""
    from alscope_autoal.analysis.aggregate import ARM_KEYS, arm_summary, oracle_gain_share

    summary = arm_summary(jobs, ["aubc", "cpu_seconds", "cpu_vs_entropy"])
    summary["oracle_share"] = oracle_gain_share(summary)
    table = summary.set_index("strategy").drop(columns=[k for k in ARM_KEYS if k != "strategy"])
    by_arm = jobs.groupby("strategy")
    table["per_seed"] = by_arm.apply(lambda g: " / ".join(f"{100 * a:.1f}" for a in g.sort_values("seed").aubc),
                                     include_groups=False)
    table = table.rename(columns={"aubc_mean": "aubc", "cpu_seconds_mean": "cpu_s",
                                  "cpu_vs_entropy_mean": "cpu_vs_entropy"})
    return table.sort_values("aubc", ascending=False)


def marked_arms(mark: str) -> dict[str, set[str]]:
    """'digits:bald,vote;breastmnist:bald' -> {'digits': {'bald', 'vote'}, 'breastmnist': {'bald'}}."""
    marks: dict[str, set[str]] = {}
    for part in filter(None, mark.split(";")):
        dataset, _, arms = part.partition(":")
        marks[dataset] = set(filter(None, arms.split(",")))
    return marks


def render(dataset: str, rows, table, marked: set[str] = frozenset()) -> list[str]:
    from alscope_autoal.analysis.render_tables import pipe_table

    profile = ", ".join(sorted(rows.profile.unique()))
    budget = rows.groupby("round").n_labeled.mean()
    seeds = ", ".join(str(s) for s in sorted(rows.seed.unique()))
    lines = [f"### {dataset} (profile {profile}; {int(budget.iloc[0])} to {int(budget.iloc[-1])} labels, "
             f"{rows['round'].max()} rounds; seeds {seeds})", ""]
    cells = []
    for name, r in table.iterrows():
        shown = "**oracle** (ceiling)" if name == "oracle" else name
        shown += " †" if name in marked else ""
        share = "" if name == "oracle" or r.oracle_share != r.oracle_share else f"{100 * r.oracle_share:.0f}"
        cells.append([shown, f"{100 * r.aubc:.1f} ± {100 * r.aubc_std:.1f}", r.per_seed, share, f"{r.cpu_s:.0f}",
                      f"{r.cpu_vs_entropy:.2f}"])
    header = ["strategy", "AUBC (%)", "AUBC per seed", "share of oracle gain (%)", "CPU s per job", "CPU vs entropy"]
    return lines + [pipe_table(header, cells), ""]


def targets(tables: dict) -> list[str]:
    """The issue's targets, each judged on the mean over the same seeds."""
    lines, above_best = ["### Targets", ""], 0
    for dataset, table in tables.items():
        singles = table.loc[[c for c in CANDIDATES if c in table.index]]
        best = singles.aubc.idxmax()
        get = lambda name: table.aubc.get(name, float("nan"))  # noqa: E731
        oracle, new, paper = get("oracle"), get("autoal-lookahead"), get("autoal")
        above_best += new >= table.aubc[best]
        lines.append(f"- {dataset}: best single candidate {best} {100 * table.aubc[best]:.1f}; oracle "
                     f"{100 * oracle:.1f} ({'above' if oracle > table.aubc[best] else 'NOT above'} it); "
                     f"autoal-lookahead {100 * new:.1f} vs autoal {100 * paper:.1f} "
                     f"({'above' if new > paper else 'NOT above'}), vs best single "
                     f"{100 * (new - table.aubc[best]):+.1f}; CPU {table.cpu_vs_entropy.get('autoal-lookahead'):.2f}x "
                     f"entropy's (limit {COST_LIMIT:g}x)")
    lines.append(f"- autoal-lookahead at or above the best single candidate on {above_best} of {len(tables)} "
                 "datasets (target: at least 2)")
    return lines


def report(out: Path, datasets: list[str], mark: str = "") -> str:
    lines, tables, marks = [], {}, marked_arms(mark)
    for dataset in datasets:
        if not (out / dataset / "jobs").is_dir():
            continue
        rows, jobs = job_table(out / dataset)
        tables[dataset] = arm_table(jobs)
        lines += render(dataset, rows, tables[dataset], marks.get(dataset, set()))
    return "\n".join(lines + targets(tables)) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.report_only:
        run(args)
    text = report(args.out, args.datasets.split(","), args.mark)
    (args.out / "strategy_selection.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
