"""Tables of a results folder as DataFrames, rendered to Markdown, CSV or LaTeX.

Numbers come from the same `Analysis` as the figures. Markdown and LaTeX hold three tables: the chosen metric per
dataset (the paper-style table, with the average rank), every metric per dataset x strategy, and the ranks. CSV
holds one tidy table (one row per dataset x strategy, means and stds as numbers) for further processing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import UserError
from ..roles import display_name, is_oracle
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
}
METRIC_CHOICES = ("aubc", "final", "efficiency")
SHARE = Column("oracle_gain_share", "oracle gain share (%)", 100, "{:.0f}", True)  # per arm, on means over seeds
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
    """Strategies x datasets of one metric (mean ± std over seeds), best per column, then the average rank.
    Oracles follow the ranked strategies, marked as ceilings, unranked and never marked best."""
    column = check_metric(an, metric)
    frame = with_panel(an)
    rank = agg.ranks(an.shown(an.summary), column.metric, an.mixed_profiles)
    order = list(rank.index) + [s for s in an.strategies if is_oracle(s)]
    means = frame.pivot(index="strategy", columns="panel", values=f"{column.metric}_mean").reindex(order)
    stds = frame.pivot(index="strategy", columns="panel", values=f"{column.metric}_std").reindex(order)
    cells = pd.DataFrame({p: [mean_std(m, s, column) for m, s in zip(means[p], stds[p])] for p in means.columns},
                         index=means.index)
    best = means.apply(lambda col: ranked_best(col, column))
    cells["avg. rank"] = rank["average"].reindex(order).map(lambda v: DASH if pd.isna(v) else f"{v:.2f}")
    best["avg. rank"] = best_mask(rank["average"], False).reindex(order, fill_value=False)
    cells.index = best.index = means.index.map(display_name)
    return Table(f"{column.title}: mean ± std over seeds; best per column in bold{ceiling_note(order)}",
                 *labelled(cells, best))


def ranked_best(values: pd.Series, column: Column) -> pd.Series:
    """`best_mask` among the ranked strategies only: an oracle (index entry) is never marked best."""
    ranked = ~values.index.map(is_oracle).to_numpy(bool)
    return best_mask(values[ranked], column.higher_is_better, column).reindex(values.index, fill_value=False)


def ceiling_note(names) -> str:
    oracles = [n for n in names if is_oracle(n)]
    return f"; {', '.join(oracles)}: an oracle (unpaid labels), a ceiling, not ranked" if oracles else ""


def cost_columns(clock: agg.Clock) -> list[Column]:
    """Selection seconds per query round, seconds per job (selection, training and evaluation of every round) and
    the job's cost ratio to entropy's, all measured on `clock`."""
    return [Column(f"{clock.selection_column}_per_round", f"selection s / round ({clock.label})", 1, "{:.3f}", False),
            Column(clock.job_column, f"s / job ({clock.label})", 1, "{:.1f}", False),
            Column("cost_ratio", f"cost / {agg.COST_REFERENCE} ({clock.label})", 1, "{:.2f}", False)]


def clock_note(clock: agg.Clock) -> str:
    return f"; costs in {clock.note or clock.label}"


def details_table(an: Analysis) -> Table:
    """Every metric per dataset x strategy, best per column within each dataset in bold (oracles never). When the
    results hold an oracle, each arm's share of its gain over random (AUBC) follows the AUBC column. Selection time
    and cost are in the analysis's clock (CPU time unless asked for wall time or not recorded)."""
    share = has_oracle(an)
    frame = with_panel(an).assign(oracle_gain_share=agg.oracle_gain_share(an.summary))
    cells, best = [], []
    for _, part in frame.groupby("panel", sort=True):
        part = part.set_index("strategy").reindex([s for s in an.strategies if s in set(part["strategy"])])
        cell = pd.DataFrame({"dataset": part["panel"], "strategy": part.index.map(display_name),
                             "seeds": part["n_seeds"].astype(str)})
        mark = pd.DataFrame(False, index=part.index, columns=cell.columns)
        for c in [*COLUMNS.values(), *cost_columns(an.clock)]:
            cell[c.title] = [mean_std(m, s, c) for m, s in zip(part[f"{c.metric}_mean"], part[f"{c.metric}_std"])]
            mark[c.title] = ranked_best(part[f"{c.metric}_mean"], c)
            if c.metric == "aubc" and share:
                cell[SHARE.title] = [mean_std(v, float("nan"), SHARE) for v in part[SHARE.metric]]
                mark[SHARE.title] = ranked_best(part[SHARE.metric], SHARE)
        cells.append(cell)
        best.append(mark)
    return Table("All metrics: mean ± std over seeds; best per dataset in bold" + clock_note(an.clock)
                 + (share_note(an) if share else ""),
                 pd.concat(cells, ignore_index=True), pd.concat(best, ignore_index=True))


def has_oracle(an: Analysis) -> bool:
    return bool(an.summary["strategy"].map(is_oracle).any())


def share_note(an: Analysis) -> str:
    """How the oracle gain share is defined, and the panels where it is not, because the oracle does not beat
    random there."""
    note = (f"; {SHARE.title}: (AUBC - random's) / (the oracle's - random's) on means over seeds "
            f"({DASH} where a dataset lacks either)")
    flat = agg.oracle_not_above_random(an.summary)
    if flat:
        names = agg.panel_names(pd.DataFrame(flat, columns=agg.PANEL_KEYS), an.mixed_profiles)
        note += f"; none on {', '.join(names)}: the oracle does not beat random there"
    return note


def ranks_table(an: Analysis, metric: str) -> Table:
    """Rank (1 = best) of each strategy per dataset on `metric`, average over datasets, best per column in bold."""
    column = check_metric(an, metric)
    rank = agg.ranks(an.shown(an.summary), column.metric, an.mixed_profiles)
    cells = rank.drop(columns="panels").map(lambda v: DASH if pd.isna(v) else f"{v:.2f}".rstrip("0").rstrip("."))
    best = rank.drop(columns="panels").apply(lambda col: best_mask(col, False))
    cells["panels"] = rank["panels"].astype(str)
    best["panels"] = False
    return Table(f"Ranks by {column.title} (1 = best; ties share the mean rank){ceiling_note(an.strategies)}",
                 *labelled(cells, best))


def labelled(cells: pd.DataFrame, best: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move the strategy index into a first column."""
    cells = cells.reset_index(names="strategy")
    best = best.reset_index(names="strategy").assign(strategy=False)
    return cells, best.astype(bool)


def tidy(an: Analysis, metric: str) -> pd.DataFrame:
    """One row per dataset x strategy with numeric means and stds, the rank on `metric`, the average rank, the
    share of the oracle's gain (AUBC, 0-1) and the clock of the cost ratios (cpu or wall). Oracles are named as
    ceilings and have no rank."""
    column = check_metric(an, metric)
    frame = an.shown(an.summary).copy()
    rank = agg.ranks(frame, column.metric, an.mixed_profiles)
    panel = agg.panel_names(frame, an.mixed_profiles)
    frame["rank"] = [rank.loc[s, p] if s in rank.index and p in rank.columns else float("nan")
                     for s, p in zip(frame["strategy"], panel)]
    frame["average_rank"] = frame["strategy"].map(rank["average"])
    frame["oracle_gain_share"] = agg.oracle_gain_share(an.summary)  # aligned on the summary's index
    frame["cost_clock"] = an.clock.name  # what cost_ratio and selection_ratio are measured in
    frame["strategy"] = frame["strategy"].map(display_name)
    return frame


def bench_summary(summary: pd.DataFrame) -> Table:
    """The table `autoal bench` prints after a sweep, from `aggregate.summary` of its jobs: final accuracy and AUBC
    (%, mean ± std over seeds) and selection seconds per job, one line per dataset x setting x profile x strategy."""
    cells = pd.DataFrame([[r.dataset, r.setting, r.profile, display_name(r.strategy), str(r.n_seeds),
                           mean_std(r.final_accuracy_mean, r.final_accuracy_std, COLUMNS["final"]),
                           mean_std(r.aubc_mean, r.aubc_std, COLUMNS["aubc"]), f"{r.selection_seconds_mean:.2f}"]
                          for r in summary.itertuples()], columns=BENCH_SUMMARY_COLUMNS)
    best = pd.DataFrame(False, index=cells.index, columns=cells.columns)  # nothing marked: a record, not a ranking
    return Table("Summary (accuracy in %, mean ± std over seeds)", cells, best)


BENCH_SUMMARY_COLUMNS = ["dataset", "setting", "profile", "strategy", "seeds", "final accuracy", "AUBC",
                         "selection s per job"]


TABLES = ("metric", "details", "ranks")  # the Markdown and LaTeX reports' tables, in order


def render(an: Analysis, fmt: str = "md", metric: str = "aubc", table: str = "all") -> str:
    """The report as text in `fmt` (md, csv or latex): every table, or only `table` (one of `TABLES`)."""
    if fmt == "csv":
        return tidy(an, metric).to_csv(index=False, float_format="%.6g")
    if table != "all" and table not in TABLES:
        raise UserError(f"unknown table {table!r}; choose one of: all, {', '.join(TABLES)}")
    makers = {"metric": lambda: metric_table(an, metric), "details": lambda: details_table(an),
              "ranks": lambda: ranks_table(an, metric)}
    tables = [makers[name]() for name in TABLES if table in ("all", name)]
    if fmt == "md":
        return "\n\n".join(markdown(t) for t in tables) + "\n"
    if fmt == "latex":
        return "\n\n".join(latex(t) for t in tables) + "\n"
    raise UserError(f"unknown format {fmt!r}; choose one of: md, csv, latex")
