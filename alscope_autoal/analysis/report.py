"""Tables of a results folder as DataFrames, rendered to Markdown, CSV or LaTeX.

Numbers come from the same `Analysis` as the figures. Markdown and LaTeX hold three tables: the chosen metric per
dataset (the paper-style table, with the average rank), every metric per dataset x strategy, and the ranks. CSV
holds one tidy table (one row per dataset x strategy, means and stds as numbers) for further processing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import UserError
from . import aggregate as agg
from .load import Analysis
from .render_tables import latex, markdown


@dataclass(frozen=True)
class Column:
    metric: str  # a per-job metric of `aggregate.job_metrics`
    title: str
    scale: float
    fmt: str
    higher_is_better: bool


COLUMNS = {
    "aubc": Column("aubc", "AUBC (%)", 100, "{:.1f}", True),
    "final": Column("final_accuracy", "final accuracy (%)", 100, "{:.1f}", True),
    "efficiency": Column("label_efficiency", "label efficiency (x random)", 1, "{:.2f}", True),
    "selection": Column("selection_seconds_per_round", "selection s / round", 1, "{:.3f}", False),
    "cost": Column("cost_ratio", f"cost / {agg.COST_REFERENCE}", 1, "{:.2f}", False),
}
METRIC_CHOICES = ("aubc", "final", "efficiency")
DASH = "-"


@dataclass(frozen=True)
class Table:
    """Display cells (strings) and which cells are the best of their column."""
    title: str
    cells: pd.DataFrame
    best: pd.DataFrame


def mean_std(mean: float, std: float, column: Column) -> str:
    if pd.isna(mean):
        return DASH
    text = column.fmt.format(mean * column.scale)
    return text if pd.isna(std) else f"{text} ± {column.fmt.format(std * column.scale)}"


def best_mask(values: pd.Series, higher_is_better: bool, column: Column | None = None) -> pd.Series:
    """The best values; compared as displayed, so two cells that read the same are both marked."""
    if column is not None:
        values = values.map(lambda v: float(column.fmt.format(v * column.scale)) if pd.notna(v) else v)
    target = values.max() if higher_is_better else values.min()
    return values.eq(target) & values.notna()


def check_metric(an: Analysis, metric: str) -> Column:
    if metric not in METRIC_CHOICES:
        raise UserError(f"unknown metric {metric!r}; choose one of: {', '.join(METRIC_CHOICES)}")
    column = COLUMNS[metric]
    if an.shown(an.summary)[f"{column.metric}_mean"].isna().all():
        raise UserError(f"no {column.title} in these results: label efficiency needs random-sampling runs in the "
                        "same folder (add 'random' to --strategies of 'autoal bench'), or pick --metric aubc")
    return column


def with_panel(an: Analysis) -> pd.DataFrame:
    frame = an.shown(an.summary)
    return frame.assign(panel=agg.panel_names(frame, an.mixed_profiles))


def metric_table(an: Analysis, metric: str) -> Table:
    """Strategies x datasets of one metric (mean ± std over seeds), best per column, then the average rank."""
    column = check_metric(an, metric)
    frame = with_panel(an)
    rank = agg.ranks(an.shown(an.summary), column.metric, an.mixed_profiles)
    means = frame.pivot(index="strategy", columns="panel", values=f"{column.metric}_mean").reindex(rank.index)
    stds = frame.pivot(index="strategy", columns="panel", values=f"{column.metric}_std").reindex(rank.index)
    cells = pd.DataFrame({p: [mean_std(m, s, column) for m, s in zip(means[p], stds[p])] for p in means.columns},
                         index=means.index)
    best = means.apply(lambda col: best_mask(col, column.higher_is_better, column))
    cells["avg. rank"] = rank["average"].map("{:.2f}".format)
    best["avg. rank"] = best_mask(rank["average"], False)
    return Table(f"{column.title}: mean ± std over seeds; best per column in bold", *labelled(cells, best))


def details_table(an: Analysis) -> Table:
    """Every metric per dataset x strategy; best per column within each dataset in bold."""
    frame = with_panel(an)
    cells, best = [], []
    for _, part in frame.groupby("panel", sort=True):
        part = part.set_index("strategy").reindex([s for s in an.strategies if s in set(part["strategy"])])
        cell = pd.DataFrame({"dataset": part["panel"], "strategy": part.index, "seeds": part["n_seeds"].astype(str)})
        mark = pd.DataFrame(False, index=part.index, columns=cell.columns)
        for c in COLUMNS.values():
            cell[c.title] = [mean_std(m, s, c) for m, s in zip(part[f"{c.metric}_mean"], part[f"{c.metric}_std"])]
            mark[c.title] = best_mask(part[f"{c.metric}_mean"], c.higher_is_better, c)
        cells.append(cell)
        best.append(mark)
    return Table("All metrics: mean ± std over seeds; best per dataset in bold",
                 pd.concat(cells, ignore_index=True), pd.concat(best, ignore_index=True))


def ranks_table(an: Analysis, metric: str) -> Table:
    """Rank (1 = best) of each strategy per dataset on `metric`, average over datasets, best per column in bold."""
    column = check_metric(an, metric)
    rank = agg.ranks(an.shown(an.summary), column.metric, an.mixed_profiles)
    cells = rank.drop(columns="panels").map(lambda v: DASH if pd.isna(v) else f"{v:.2f}".rstrip("0").rstrip("."))
    best = rank.drop(columns="panels").apply(lambda col: best_mask(col, False))
    cells["panels"] = rank["panels"].astype(str)
    best["panels"] = False
    return Table(f"Ranks by {column.title} (1 = best; ties share the mean rank)", *labelled(cells, best))


def labelled(cells: pd.DataFrame, best: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move the strategy index into a first column."""
    cells = cells.reset_index(names="strategy")
    best = best.reset_index(names="strategy").assign(strategy=False)
    return cells, best.astype(bool)


def tidy(an: Analysis, metric: str) -> pd.DataFrame:
    """One row per dataset x strategy with numeric means and stds, the rank on `metric` and the average rank."""
    column = check_metric(an, metric)
    frame = an.shown(an.summary).copy()
    rank = agg.ranks(frame, column.metric, an.mixed_profiles)
    panel = agg.panel_names(frame, an.mixed_profiles)
    frame["rank"] = [rank.loc[s, p] for s, p in zip(frame["strategy"], panel)]
    frame["average_rank"] = frame["strategy"].map(rank["average"])
    return frame


def render(an: Analysis, fmt: str = "md", metric: str = "aubc") -> str:
    """The report as text in `fmt` (md, csv or latex)."""
    if fmt == "csv":
        return tidy(an, metric).to_csv(index=False, float_format="%.6g")
    tables = [metric_table(an, metric), details_table(an), ranks_table(an, metric)]
    if fmt == "md":
        return "\n\n".join(markdown(t) for t in tables) + "\n"
    if fmt == "latex":
        return "\n\n".join(latex(t) for t in tables) + "\n"
    raise UserError(f"unknown format {fmt!r}; choose one of: md, csv, latex")
