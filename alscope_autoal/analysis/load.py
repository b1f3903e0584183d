"""Load a results folder (or its export) for plots and reports: validate it, pick one profile, filter, and
aggregate once.

Everything a figure or table shows comes from one `Analysis`, built here from the Parquet files only: a folder's
job files, or the single file `autoal export` made of them (`export.py`), which reads the same.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from pyarrow import ArrowException

from ..errors import UserError
from ..export import read_export
from ..hardware import COMPUTE_KEYS, compute_label
from ..results import JOBS_DIR, read_metadata, read_results_and_damage
from ..roles import is_oracle
from . import aggregate as agg

REQUIRED = ["job_id", "dataset", "setting", "profile", "strategy", "seed", "round", "n_labeled", "accuracy",
            "selection_seconds", "train_seconds", "eval_seconds"]


@dataclass(frozen=True)
class Analysis:
    """The aggregates of one results folder. `strategies` are the ones to show, in display order; references
    (random for label efficiency, entropy for cost) stay in `rows` and `jobs` even when not shown."""
    rows: pd.DataFrame
    jobs: pd.DataFrame
    summary: pd.DataFrame
    curves: pd.DataFrame
    strategies: tuple[str, ...]
    mixed_profiles: bool
    damaged: tuple[Path, ...] = ()  # damaged result files left out (only when asked to skip them)
    pooled_settings: str = ""  # which results were pooled across settings (only when allowed); "" if none
    clock: agg.Clock = agg.CPU_CLOCK  # what costs are measured in (`aggregate.cost_clock`)
    mixed_compute: str = ""  # the kinds of compute the shown jobs ran on, when more than one; "" if one

    def shown(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["strategy"].isin(self.strategies)]


def load(results_dir: Path, datasets: tuple[str, ...] | None = None, strategies: tuple[str, ...] | None = None,
         profile: str | None = None, allow_mixed_profiles: bool = False, skip_damaged: bool = False,
         allow_stale: bool = False, cost_clock: str = "cpu") -> Analysis:
    """Read RESULTS_DIR/jobs/*.parquet (finished jobs only, so a running sweep is fine), or the file `autoal export`
    wrote of such a folder when RESULTS_DIR is a file, and aggregate. Damaged
    result files raise `DamagedResults` unless `skip_damaged` (they are then listed in `damaged`); results of one
    panel or strategy written under different settings are refused unless `allow_stale`. Costs are in CPU time, or
    in wall time with `cost_clock="wall"` or where some results recorded no CPU time."""
    raw, damaged, footer = read_source(Path(results_dir), skip_damaged)
    rows = agg.label_strategies(raw)
    pooled = settings_mix(rows)
    if pooled and not allow_stale:
        raise UserError(f"{Path(results_dir) / JOBS_DIR} pools results written under different settings ({pooled}); "
                        f"'autoal status {results_dir}' shows the stale jobs and rerunning the sweep's 'autoal bench' "
                        "redoes them (moving the old files to jobs/stale/), or pass --allow-stale to pool them")
    rows = checked(rows, Path(results_dir))
    rows = pick_profile(rows, profile, allow_mixed_profiles)
    if datasets:
        rows = rows[rows["dataset"].isin(known(rows, "dataset", datasets))]
    shown = known(rows, "strategy", strategies) if strategies else sorted(rows["strategy"].unique(), key=order)
    clock = agg.cost_clock(rows, cost_clock)
    jobs = agg.job_metrics(rows, clock)
    return Analysis(rows, jobs, agg.arm_summary(jobs), agg.curves(rows), tuple(shown),
                    rows["profile"].nunique() > 1, tuple(damaged), pooled, clock,
                    compute_mix(footer, rows[rows["strategy"].isin(shown)]["job_id"].unique()))


Footer = Callable[[str], "dict[str, Any] | None"]  # a job's footer by job id; None when it cannot be read


def read_source(source: Path, skip_damaged: bool) -> tuple[pd.DataFrame, list[Path], Footer]:
    """(every job's rows, the damaged files skipped, a job's footer by id) of a results folder or an export."""
    if source.is_file():
        export = read_export(source)
        return export.rows, [], export.footers.get
    raw, damaged = read_results_and_damage(source, skip_damaged)
    return raw, damaged, lambda job_id: folder_footer(source, job_id)


def folder_footer(results_dir: Path, job_id: str) -> dict[str, Any] | None:
    try:
        return read_metadata(results_dir / JOBS_DIR / f"{job_id}.parquet")
    except (OSError, ValueError, KeyError, TypeError, ArrowException):
        return None


def compute_mix(footer: Footer, job_ids) -> str:
    """The kinds of compute (processor, its instruction set, GPU) these jobs recorded in their footers, with their
    job counts, when there is more than one kind; "" otherwise. Jobs from before footers recorded it are left out."""
    kinds: Counter[str] = Counter()
    for job_id in job_ids:
        compute = (footer(job_id) or {}).get("compute")
        if compute:
            kinds[compute_label({key: compute.get(key) for key in COMPUTE_KEYS})] += 1
    if len(kinds) < 2:
        return ""
    return ", ".join(f"{kind}: {count} job(s)" for kind, count in kinds.most_common())


def checked(rows: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """Refuse foreign files and folders that hold two different jobs for one dataset/setting/strategy/seed."""
    missing = [c for c in REQUIRED if c not in rows]
    if missing or rows[REQUIRED].isna().any().any():
        what = f"missing column(s) {', '.join(missing)}" if missing else "rows without " + ", ".join(
            c for c in REQUIRED if rows[c].isna().any())
        raise UserError(f"{results_dir / JOBS_DIR} holds files that are not autoal results ({what}); "
                        "point at a folder written by 'autoal bench'")
    clash = rows.groupby(agg.JOB_KEYS)["job_id"].nunique()
    if (clash > 1).any():
        dataset, setting, profile, strategy, seed = clash[clash > 1].index[0]
        raise UserError(f"{results_dir} holds several jobs for {dataset}/{setting}/{strategy}/seed{seed} "
                        f"(profile {profile}) with different budgets or settings; keep one sweep per results folder")
    return rows


def settings_mix(rows: pd.DataFrame) -> str:
    """Where results that must share their settings do not: the profile's resolved values within a panel
    (dataset, setting, profile), the strategy's within each strategy of a panel. Files from before results recorded
    their settings count as one setting of their own. "" when all agree, else the first clash, named."""
    if not {"dataset", "setting", "profile", "strategy"} <= set(rows.columns):
        return ""  # not autoal results: `checked` says so
    panel = ["dataset", "setting", "profile"]
    for keys, column in [(panel, "profile_config"), (panel + ["strategy"], "strategy_config")]:
        configs = (rows[column] if column in rows else pd.Series("", index=rows.index)).fillna("")
        counts = configs.replace("", "unrecorded").groupby([rows[k] for k in keys]).nunique()
        if (counts > 1).any():
            clashes = counts[counts > 1]
            where = "/".join(str(v) for v in clashes.index[0])
            return f"{where}: {clashes.iloc[0]} different {column.split('_')[0]} settings"
    return ""


def pick_profile(rows: pd.DataFrame, profile: str | None, allow_mixed: bool) -> pd.DataFrame:
    present = sorted(rows["profile"].unique())
    if profile is not None:
        if profile not in present:
            raise UserError(f"no results for profile {profile!r}; this folder has: {', '.join(present)}")
        return rows[rows["profile"] == profile]
    if len(present) > 1 and not allow_mixed:
        raise UserError(f"these results mix profiles ({', '.join(present)}) and numbers from different profiles "
                        "never share a table: pick one with --profile NAME, or pass --allow-mixed-profiles")
    return rows


def known(rows: pd.DataFrame, column: str, wanted: tuple[str, ...]) -> list[str]:
    """The requested names that have results; a bare strategy name also picks its parameter variants."""
    present = sorted(rows[column].unique())
    found = {w: [p for p in present if p == w or p.startswith(w + "(")] for w in wanted}
    unknown = [w for w, matches in found.items() if not matches]
    if unknown:
        raise UserError(f"no results for {column} {', '.join(unknown)}; available: {', '.join(present)}")
    return list(dict.fromkeys(name for matches in found.values() for name in matches))


def order(strategy: str) -> tuple:
    """Display order: the reference first, then alphabetical, oracles (ceilings) last."""
    return (strategy != agg.REFERENCE, is_oracle(strategy), strategy)
