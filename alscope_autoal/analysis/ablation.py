"""The ablation table and figure of a results folder: what `autoal ablate` writes, and what `autoal report
--ablation` and `autoal plot --ablation` rebuild from the Parquet files alone.

Each row of an ablation variant's job carries the variant's name (`variant`), so its arm is 'autoal(K=3)'; its
candidates and any other AutoAL parameters are read back from the stored `strategy_params`. Arms without a variant
(the baselines) follow the variants. The numbers come from the same `Analysis` as every other table and figure, and
the table is written by the report's writers (`render_tables`).

`autoal ablate --dry-run` takes its time estimate from here too: the CPU time per round of the folder's finished
jobs, else figures measured on digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from ..errors import UserError
from ..results import JOBS_DIR, read_results_and_damage
from . import aggregate as agg
from .load import Analysis
from .render_tables import latex, markdown
from .report import COLUMNS, Column, Table, clock_note, mean_std, ranked_best, with_panel

if TYPE_CHECKING:
    from ..spec import JobSpec

PERCENT = 100
FILE_STEM = "ablation"  # `autoal ablate` writes ablation.md, .csv, .tex and .png into its --out folder
TABLE_FORMATS = {"md": "md", "csv": "csv", "latex": "tex"}  # report format -> file extension


def arms(an: Analysis) -> pd.DataFrame:
    """The shown arms in table order, indexed by arm name: `variant` (a baseline's own name), `candidates` and
    `parameters` (the other stored strategy parameters, as key=value)."""
    rows = an.shown(an.rows).drop_duplicates("strategy").set_index("strategy")
    variant, stored = agg.text_column(rows, "variant"), agg.text_column(rows, "arm_params")
    if not (variant != "").any():
        raise UserError("these results hold no 'autoal ablate' variants (no row names a variant): point at the "
                        "folder of 'autoal ablate --out', or leave out --ablation")
    params = stored.map(lambda text: agg.parse_params(text) or {})
    frame = pd.DataFrame({
        "variant": variant.where(variant != "", rows.index.to_series()),
        "candidates": params.map(lambda p: str(p.get("candidates", ""))),
        "parameters": params.map(lambda p: ", ".join(f"{k}={v}" for k, v in sorted(p.items()) if k != "candidates")),
        "is_variant": variant != "",
    }, index=rows.index)
    return frame.loc[sorted(frame.index, key=lambda arm: table_order(frame.loc[arm], an.strategies.index(arm)))]


def table_order(arm: pd.Series, shown_at: int) -> tuple:
    """Variants first: plain candidate sets by size, then those with parameters changed (fewest first); baselines
    after, in the report's order. Only stored values decide, so every rebuild orders alike."""
    if not arm["is_variant"]:
        return (1, 0, 0, "", shown_at)
    changed = len(arm["parameters"].split(", ")) if arm["parameters"] else 0
    return (0, changed, len(arm["candidates"].split(",")), arm["variant"], shown_at)


def job_time(an: Analysis) -> Column:
    return Column(an.clock.job_column, f"job s ({an.clock.label})", 1, "{:.1f}", False)


def single_seed_cell(mean: float, std: float, seeds: int, column: Column) -> str:
    """`report.mean_std`, with 'n = 1' written where one seed leaves no spread to show."""
    text = mean_std(mean, std, column)
    return f"{text} (n = 1)" if seeds == 1 and not pd.isna(mean) else text


def summary(an: Analysis) -> pd.DataFrame:
    """The arms' per-panel means and stds (`Analysis.summary`) with their variant, candidates and parameters."""
    table = arms(an)
    frame = with_panel(an)
    frame = frame[frame["strategy"].isin(table.index)].join(table, on="strategy")
    frame["order"] = frame["strategy"].map({arm: i for i, arm in enumerate(table.index)})
    return frame.sort_values(["panel", "order"]).reset_index(drop=True)


def ablation_table(an: Analysis) -> Table:
    """One line per dataset x arm: AUBC and final accuracy (%), mean ± std over seeds, best per dataset in bold,
    and the mean job time; the profile in the title."""
    frame = summary(an)
    show_parameters = bool((frame["parameters"] != "").any())
    panels = [panel_lines(an, part, show_parameters) for _, part in frame.groupby("panel", sort=True)]
    return Table(title(an, frame), pd.concat([cells for cells, _ in panels], ignore_index=True),
                 pd.concat([best for _, best in panels], ignore_index=True))


def panel_lines(an: Analysis, part: pd.DataFrame, show_parameters: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One panel's display cells and best-cell mask."""
    cells = part[["panel", "variant", "candidates"] + ["parameters"] * show_parameters].rename(
        columns={"panel": "dataset"})
    cells["seeds"] = part["n_seeds"].astype(str)
    best = pd.DataFrame(False, index=part.index, columns=cells.columns)
    for column in [COLUMNS["aubc"], COLUMNS["final"]]:
        mean, std = part[f"{column.metric}_mean"], part[f"{column.metric}_std"]
        cells[column.title] = [single_seed_cell(m, s, n, column) for m, s, n in zip(mean, std, part["n_seeds"])]
        best[column.title] = ranked_best(mean.set_axis(part["strategy"]), column).to_numpy()
    time = job_time(an)
    cells[time.title] = [mean_std(m, s, time) for m, s in zip(part[f"{time.metric}_mean"], part[f"{time.metric}_std"])]
    best[time.title] = False  # the fastest job is no result to mark
    return cells, best


def profiles(an: Analysis) -> str:
    names = sorted(an.rows["profile"].unique())
    return f"{names[0]} profile" if len(names) == 1 else f"profiles {', '.join(names)}"


def title(an: Analysis, frame: pd.DataFrame) -> str:
    single = " (n = 1: a single seed, no spread)" if (frame["n_seeds"] == 1).any() else ""
    return (f"AutoAL ablation, {profiles(an)}: AUBC and final accuracy in %, mean ± std over seeds{single}; "
            f"best per dataset in bold{clock_note(an.clock)}")


def tidy(an: Analysis) -> pd.DataFrame:
    """One row per dataset x arm with numeric means and stds (0-1 scale, like the report's CSV) and the clock."""
    frame = summary(an)
    clock = an.clock.job_column
    columns = ["dataset", "setting", "profile", "variant", "candidates", "parameters", "n_seeds", "aubc_mean",
               "aubc_std", "final_accuracy_mean", "final_accuracy_std", f"{clock}_mean", f"{clock}_std"]
    return frame[columns].assign(cost_clock=an.clock.name)


def render(an: Analysis, fmt: str = "md") -> str:
    """The ablation table as text in `fmt` (md, csv or latex)."""
    if fmt == "csv":
        return tidy(an).to_csv(index=False, float_format="%.6g")
    if fmt == "md":
        return markdown(ablation_table(an)) + "\n"
    if fmt == "latex":
        return latex(ablation_table(an)) + "\n"
    raise UserError(f"unknown format {fmt!r}; choose one of: {', '.join(TABLE_FORMATS)}")


def figure(an: Analysis) -> Figure:
    """AUBC (%) per arm, one panel per dataset: the mean over seeds, error bars ±1 std where there are several."""
    frame = summary(an)
    panels = list(dict.fromkeys(frame["panel"]))
    fig = Figure(figsize=(5.5 * len(panels), 0.45 * frame["variant"].nunique() + 1.8), layout="constrained")
    for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        part = frame[frame["panel"] == panel]
        mean, spread = part["aubc_mean"] * PERCENT, part["aubc_std"].fillna(0) * PERCENT
        bars = ax.barh(part["variant"], mean, xerr=spread, alpha=0.8,
                       color=["tab:blue" if v else "0.55" for v in part["is_variant"]])
        for bar, arm in zip(bars, part["strategy"]):
            bar.set_gid(arm)
        ax.invert_yaxis()
        ax.set_axisbelow(True)  # grid lines behind the bars
        ax.set_xlim(max(0.0, (mean - spread).min() - 2), min(100.0, (mean + spread).max() + 1))
        ax.set(xlabel="AUBC (%): accuracy over the label budget", title=f"{panel} ({seed_count(part['n_seeds'])})")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"AutoAL ablation, {profiles(an)}: " + ("mean over seeds, error bars ±1 std"
                                                         if frame["n_seeds"].max() > 1 else "one seed, no error bars"))
    return fig


def figures(an: Analysis) -> dict[str, Figure]:
    """The ablation figure by file stem, as `plots.save_figures` takes it."""
    return {FILE_STEM: figure(an)}


def seed_count(seeds: pd.Series) -> str:
    low, high = int(seeds.min()), int(seeds.max())  # they differ while a sweep runs
    return f"n = {low}" if low == high else f"n = {low}-{high}"


def write(an: Analysis, out_dir: Path, dpi: int = 200) -> list[Path]:
    """ablation.md, ablation.csv, ablation.tex and ablation.png in `out_dir`, as `autoal ablate` leaves them (the
    png at `autoal plot`'s default resolution, so 'autoal plot DIR --ablation --out DIR' redraws it alike)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt, ext in TABLE_FORMATS.items():
        paths.append(out_dir / f"{FILE_STEM}.{ext}")
        paths[-1].write_text(render(an, fmt), encoding="utf-8")
    paths.append(out_dir / f"{FILE_STEM}.png")
    figure(an).savefig(paths[-1], dpi=dpi)
    return paths


# CPU seconds per trained round (a job trains rounds + 1 times) of one job on digits at the profile's budget, one
# torch thread: autoal (the paper's 7 candidates) and, for every other strategy, the mean of random and entropy.
# Measured on the project's 2-core development machine under load (CPU time is what a job costs whatever else runs;
# its wall time is that divided by the share of a core it gets):
#   smoke: autoal bench --datasets digits --strategies random,entropy,autoal --profile smoke --threads 1
#          --workers 1 --out OUT, then the rows' *_cpu_seconds summed per job (1 seed, 2 rounds: autoal 1.13 s per
#          job, random 0.55 s, entropy 0.65 s);
#   cpu:   the same jobs as `autoal bench --datasets digits --seeds 3 --threads 1 --strategies random,entropy,autoal
#          --out OUT`, run by the former benchmarks/autoal.py (since removed), which logged each job's process CPU
#          time (3 seeds, 11 rounds: autoal 75.7 s per job, random 29.3 s, entropy 31.9 s).
# Fewer candidates cost autoal less, so the autoal figure errs long for small K.
MEASURED_ROUND_CPU_SECONDS = {
    "smoke": {"autoal": 0.38, "other": 0.20},
    "cpu": {"autoal": 6.9, "other": 2.8},
}
MEASURED_ON = "digits"


@dataclass(frozen=True)
class Estimate:
    """How long the unfinished jobs should take: summed CPU seconds, and wall seconds on `workers` workers."""
    jobs: int
    cpu_seconds: float
    wall_seconds: float
    workers: int
    basis: str  # what the figures come from, in words
    unknown: int = 0  # jobs with nothing to base an estimate on (left out of the sums)


def estimate(to_run: list[JobSpec], out_dir: Path, workers: int) -> Estimate:
    """Per job: CPU seconds per round of finished jobs of the same arm (else strategy) and dataset in `out_dir`,
    else the measured figure of its profile; times its rounds + 1. Wall time assumes the workers stay busy."""
    recorded = recorded_round_seconds(Path(out_dir))
    per_job, sources = [], set()
    for spec in to_run:
        seconds, source = round_seconds(spec, recorded)
        per_job.append(None if seconds is None else seconds * (spec.rounds + 1))
        sources.add(source)
    known = [s for s in per_job if s is not None]
    workers = max(1, min(workers, len(to_run)))
    return Estimate(len(to_run), sum(known), sum(known) / workers, workers, basis_text(sources - {None}, out_dir),
                    len(per_job) - len(known))


def round_seconds(spec: JobSpec, recorded: dict[str, dict[tuple, float]]) -> tuple[float | None, str | None]:
    for by, name in [("arm", spec.arm), ("strategy", spec.strategy)]:
        seconds = recorded.get(by, {}).get((spec.dataset, spec.profile, name))
        if seconds is not None:
            return seconds, "recorded"
    measured = MEASURED_ROUND_CPU_SECONDS.get(spec.profile)
    if measured is None:
        return None, None
    return measured["autoal" if spec.strategy == "autoal" else "other"], "measured"


def recorded_round_seconds(out_dir: Path) -> dict[str, dict[tuple, float]]:
    """Mean CPU seconds per round of the finished jobs in `out_dir`, by (dataset, profile, arm) under "arm" and
    by (dataset, profile, strategy) under "strategy"; empty when none finished (or none recorded CPU time)."""
    if not any((out_dir / JOBS_DIR).glob("*.parquet")):
        return {}
    rows = read_results_and_damage(out_dir, skip_damaged=True)[0]
    variant = agg.text_column(rows, "variant")
    rows = rows.assign(arm=[f"{s}({v})" if v else s for s, v in zip(rows["strategy"], variant)],
                       cpu=rows.reindex(columns=agg.CPU_COLUMNS).sum(axis=1, min_count=len(agg.CPU_COLUMNS)))
    jobs = rows.groupby("job_id").agg(dataset=("dataset", "first"), profile=("profile", "first"),
                                      strategy=("strategy", "first"), arm=("arm", "first"),
                                      cpu=("cpu", lambda c: c.sum(min_count=len(c))), rounds=("round", "size"))
    jobs = jobs.dropna(subset=["cpu"]).assign(per_round=lambda j: j.cpu / j.rounds)
    return {by: jobs.groupby(["dataset", "profile", by])["per_round"].mean().to_dict() for by in ("arm", "strategy")}


def basis_text(sources: set[str], out_dir: Path) -> str:
    parts = []
    if "recorded" in sources:
        parts.append(f"the CPU time of finished jobs in {out_dir}")
    if "measured" in sources:
        parts.append(f"CPU time per round measured on {MEASURED_ON} on a 2-core machine, one thread per job "
                     "(other datasets and machines differ: the first finished jobs give a better estimate)")
    return " and ".join(parts) or "nothing: no measured figure for this profile and no finished jobs to go by"
