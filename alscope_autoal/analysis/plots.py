"""Figures of a results folder, each a matplotlib Figure built from one `Analysis` (no pyplot, no global state).

Every plotted value is taken from the analysis' aggregates and each strategy's artists carry its name as `gid`,
so tests read the values back and compare them with the tables of `autoal report`. Accuracies are in percent.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..errors import UserError
from ..roles import display_name
from . import aggregate as agg
from .load import Analysis
from .style import BEST_SINGLE, styles

PERCENT = 100  # accuracies are stored on a 0-1 scale and plotted in percent
ALPHA = 0.05  # significance level marked in the win matrix
MAX_BANDS = 4  # more overlapping +-std bands than this make a muddle of the candidate-weight panels


def grid(n: int, width: float = 4.2, height: float = 3.2, ncols: int = 3) -> tuple[Figure, list]:
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    # a lone panel still needs room for the figure title and the shared legend
    fig = Figure(figsize=(max(width * ncols, 6.4), height * nrows + (1.4 if n == 1 else 0.6)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axisbelow(True)  # grid lines behind bars and curves
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def panel_title(an: Analysis, key: tuple) -> str:
    return agg.panel_names(pd.DataFrame([key], columns=agg.PANEL_KEYS), an.mixed_profiles).iloc[0]


def drawn(an: Analysis) -> list[str]:
    """The strategies shown, plus random as the reference wherever it has results."""
    extra = [agg.REFERENCE] if agg.REFERENCE in set(an.rows["strategy"]) - set(an.strategies) else []
    return extra + list(an.strategies)


def look(an: Analysis) -> dict[str, dict]:
    return styles(set(an.rows["strategy"]) | set(agg.candidate_weights(an.rows)["candidate"]))


def shared_legend(fig: Figure, axes: list) -> None:
    """One legend for all panels: below them, or at the right when it would take more than two rows."""
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    longest = max((len(label) for label in handles), default=1)
    ncols = max(1, min(len(handles), int(fig.get_figwidth() / (0.5 + 0.065 * longest))))
    below = len(handles) <= 2 * ncols
    fig.legend(list(handles.values()), list(handles), loc="outside lower center" if below else "outside right center",
               ncols=ncols if below else 1, frameon=False)


def label_bars(ax, bars, tops, fmt: str) -> None:
    """Write each bar's height just above its error bar, where no line crosses the text."""
    for bar, top in zip(bars, tops):
        ax.annotate(fmt.format(bar.get_height()), (bar.get_x() + bar.get_width() / 2, top), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8)


def in_panel(frame: pd.DataFrame, key: tuple) -> pd.DataFrame:
    return frame[(frame[agg.PANEL_KEYS] == pd.Series(key, agg.PANEL_KEYS)).all(axis=1)]


def learning_curves(an: Analysis) -> Figure:
    """Accuracy against labels, one panel per dataset and setting: mean over seeds, band of +-1 std. An oracle is
    a dotted black ceiling; the best single strategy by AUBC (`aggregate.best_single`, shown or not) is repeated
    as a grey dashed reference without a band or a gid."""
    data, style = an.curves[an.curves["strategy"].isin(drawn(an))], look(an)
    keys = agg.panels(data)
    best = agg.best_single(an.summary)
    fig, axes = grid(len(keys))
    for ax, key in zip(axes, keys):
        part = in_panel(data, key)
        for name in drawn(an):
            curve = part[part["strategy"] == name].sort_values("round")
            if curve.empty:
                continue
            x, y, sd = curve["n_labeled"], curve["accuracy_mean"] * PERCENT, curve["accuracy_std"] * PERCENT
            ax.plot(x, y, label=display_name(name), gid=name, markersize=4, **style[name])
            ax.fill_between(x, y - sd.fillna(0), y + sd.fillna(0), color=style[name]["color"], alpha=0.12, lw=0)
        for name in in_panel(best, key)["strategy"]:
            curve = in_panel(an.curves, key)
            curve = curve[curve["strategy"] == name].sort_values("round")
            ax.plot(curve["n_labeled"], curve["accuracy_mean"] * PERCENT, label=f"best single: {name}", zorder=1.5,
                    **BEST_SINGLE)
        low, high = int(part["n_seeds"].min()), int(part["n_seeds"].max())  # they differ while a sweep runs
        seeds = f"{low}" if low == high else f"{low}-{high}"
        ax.set(title=f"{panel_title(an, key)} ({seeds} seed{'s' * (high > 1)})", xlabel="labeled samples",
               ylabel="test accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle("Learning curves (" + ("mean over seeds; band: ±1 std)" if data["n_seeds"].max() > 1
                                        else "one seed, so no spread band)"))
    shared_legend(fig, axes)
    return fig


def aubc_bars(an: Analysis) -> Figure:
    """AUBC per strategy (mean, error bar +-1 std over seeds), one panel per dataset and setting."""
    data, style = an.shown(an.summary), look(an)
    keys = agg.panels(data)
    width = max(3.2, 0.45 * len(an.strategies) + 1.5)
    fig, axes = grid(len(keys), width=width, ncols=max(1, min(3, int(16 // width))))
    for ax, key in zip(axes, keys):
        part = in_panel(data, key)
        part = part.set_index("strategy").reindex([s for s in an.strategies if s in set(part["strategy"])])
        mean, sd = part["aubc_mean"] * PERCENT, part["aubc_std"].fillna(0) * PERCENT
        bars = ax.bar(range(len(part)), mean, yerr=sd, capsize=3, color=[style[s]["color"] for s in part.index])
        for bar, name in zip(bars, part.index):
            bar.set_gid(name)
        label_bars(ax, bars, mean + sd, "{:.1f}")
        ax.set_xticks(range(len(part)), part.index.map(display_name), rotation=30, ha="right")
        low, high = (mean - sd).min(), (mean + sd).max()
        pad = max(high - low, 1.0) * 0.4
        ax.set_ylim(max(0.0, low - pad), min(100.0, high + pad))
        ax.set(title=panel_title(an, key), ylabel="AUBC (% accuracy)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("AUBC: area under the budget curve\n(mean ± std over seeds; the y axis does not start at 0)")
    return fig


def rank_bars(an: Analysis, metric: str = "aubc") -> Figure:
    """Average rank over datasets and settings (1 = best), best at the top."""
    table = agg.ranks(an.shown(an.summary), metric, an.mixed_profiles)
    style = look(an)
    fig = Figure(figsize=(6, 0.45 * len(table) + 1.4), layout="constrained")
    ax = fig.subplots()
    ax.set_axisbelow(True)
    y = np.arange(len(table))[::-1]
    bars = ax.barh(y, table["average"], color=[style[s]["color"] for s in table.index])
    for bar, name in zip(bars, table.index):
        bar.set_gid(name)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in table["average"]], padding=3, fontsize=8)
    ax.set_yticks(y, table.index)
    ax.set_xlim(0, len(table) + 0.5)
    n = len(table.columns) - 2
    ax.set(xlabel=f"average rank by {metric.upper() if metric == 'aubc' else metric} (1 = best)",
           title=f"Average rank over {n} dataset/setting panel{'s' * (n > 1)}")
    ax.grid(axis="x", alpha=0.3)
    return fig


def cost(an: Analysis) -> Figure:
    """Per panel: selection seconds per query round (log scale), and total job time as a ratio to entropy's, both
    in the analysis's clock (CPU time unless asked for wall time or not recorded), named in the titles."""
    clock = an.clock
    per_round, style = an.shown(agg.selection_per_round(an.rows, clock.selection_column)), look(an)
    summary = an.shown(an.summary)
    keys = agg.panels(summary)
    fig = Figure(figsize=(10, 3.4 * len(keys) + 0.6), layout="constrained")
    axes = fig.subplots(len(keys), 2, squeeze=False)
    for ax in axes.ravel():
        ax.set_axisbelow(True)
    for (left, right), key in zip(axes, keys):
        title = panel_title(an, key)
        part = in_panel(per_round, key)
        for name in an.strategies:
            line = part[(part["strategy"] == name) & (part["seconds_mean"] > 0)]
            if not line.empty:
                left.plot(line["round"], line["seconds_mean"], label=display_name(name), gid=name, markersize=4,
                          **style[name])
        left.set_yscale("log")
        left.set(title=f"{title}: selection {clock.label}", xlabel="query round",
                 ylabel=f"selection {clock.label} per round (s, log scale)")
        left.xaxis.get_major_locator().set_params(integer=True)
        left.grid(alpha=0.3)
        cost_ratio_bars(right, summary, key, an.strategies, style, title, clock)
    fig.suptitle(f"Cost in {clock.note or clock.label} (mean over seeds)")
    shared_legend(fig, [ax for row in axes for ax in row[:1]])
    return fig


def cost_ratio_bars(ax, summary: pd.DataFrame, key: tuple, order: tuple, style: dict, title: str,
                    clock: agg.Clock) -> None:
    part = in_panel(summary, key).set_index("strategy")
    part = part.reindex([s for s in order if s in part.index]).dropna(subset=["cost_ratio_mean"])
    ax.set(title=f"{title}: total cost", ylabel=f"job {clock.label} / {agg.COST_REFERENCE}'s")
    if part.empty:
        ax.text(0.5, 0.5, f"no {agg.COST_REFERENCE} results here:\nno ratio to show", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_xticks([])
        return
    bars = ax.bar(range(len(part)), part["cost_ratio_mean"], yerr=part["cost_ratio_std"].fillna(0), capsize=3,
                  color=[style[s]["color"] for s in part.index])
    for bar, name in zip(bars, part.index):
        bar.set_gid(name)
    label_bars(ax, bars, part["cost_ratio_mean"] + part["cost_ratio_std"].fillna(0), "{:.2f}")
    ax.axhline(1.0, color="black", lw=0.8, ls=":")
    ax.set_xticks(range(len(part)), part.index.map(display_name), rotation=30, ha="right")
    ax.set_ylim(0, (part["cost_ratio_mean"] + part["cost_ratio_std"].fillna(0)).max() * 1.2)
    ax.grid(axis="y", alpha=0.3)


def candidate_weights(an: Analysis) -> Figure | None:
    """AutoAL's mean weight per candidate across rounds (mean over seeds, band +-1 std); None without weights."""
    data = an.shown(agg.candidate_weights(an.rows))
    if data.empty:
        return None
    style = look(an)
    keys = sorted(data[agg.ARM_KEYS].drop_duplicates().itertuples(index=False, name=None))
    fig, axes = grid(len(keys))
    for ax, key in zip(axes, keys):
        part = data[(data[agg.ARM_KEYS] == pd.Series(key, agg.ARM_KEYS)).all(axis=1)]
        banded = part["candidate"].nunique() <= MAX_BANDS
        for name, line in part.groupby("candidate", sort=True):
            y, sd = line["weight_mean"], line["weight_std"].fillna(0)
            ax.plot(line["round"], y, label=name, gid=name, markersize=4, **style[name])
            if banded:
                ax.fill_between(line["round"], y - sd, y + sd, color=style[name]["color"], alpha=0.12, lw=0)
        ax.set(title=f"{display_name(key[3])} on {panel_title(an, key[:3])}", xlabel="query round",
               ylabel="mean weight of the candidate")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    fig.suptitle("AutoAL's candidate weights across rounds\n(mean over seeds"
                 + (", band: ±1 std)" if data.groupby(agg.ARM_KEYS)["candidate"].nunique().max() <= MAX_BANDS
                    else "; bands left out: too many candidates to read them)"))
    shared_legend(fig, axes)
    return fig


def win_heatmap(an: Analysis, metric: str = "aubc") -> Figure:
    """How often the row strategy beats the column strategy on paired runs; * marks p < ALPHA."""
    wm = agg.win_matrix(an.jobs, metric, list(an.strategies))
    names = list(wm.wins.index)
    size = max(4.5, 0.75 * len(names) + 2.5)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["RdBu"].with_extremes(bad="0.88")  # the diagonal (and pairs without runs) in grey
    image = ax.imshow(np.ma.masked_invalid(wm.wins.to_numpy(float)), cmap=cmap, vmin=0, vmax=1)
    for i, row in enumerate(names):
        for j, col in enumerate(names):
            if i != j and wm.n.loc[row, col] > 0:
                star = "*" if wm.p.loc[row, col] < ALPHA else ""
                value = wm.wins.loc[row, col]
                ax.text(j, i, f"{value:.2f}{star}", ha="center", va="center", fontsize=9,
                        color="white" if abs(value - 0.5) > 0.3 else "black")
    ax.set_xticks(range(len(names)), [display_name(n) for n in names], rotation=35, ha="right")
    ax.set_yticks(range(len(names)), [display_name(n) for n in names])
    ax.set(xlabel="... beats this strategy", ylabel="this strategy ...")
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of paired runs won (tie = ½)")
    n = int(np.nanmax(wm.n.to_numpy(float), initial=0))
    test = (f"* p < {ALPHA}, two-sided Wilcoxon signed-rank; sign test under {agg.MIN_WILCOXON} pairs"
            if n >= agg.MIN_WILCOXON else f"under {agg.MIN_WILCOXON} pairs no two-sided test can reach p < {ALPHA}")
    ax.set_title(f"Pairwise wins on {metric.upper()} over up to {n} paired runs\n({test})", fontsize=10)
    return fig


def all_figures(an: Analysis) -> dict[str, Figure | str]:
    """Every figure by file stem; where the results hold nothing to draw, the reason instead of a figure."""
    figures: dict[str, Figure | str] = {"learning_curves": learning_curves(an), "aubc": aubc_bars(an),
                                        "ranks": rank_bars(an), "cost": cost(an)}
    weights = candidate_weights(an)
    figures["autoal_weights"] = weights or f"no {agg.WEIGHT_PREFIX}<candidate> columns for the strategies shown"
    figures["win_matrix"] = win_heatmap(an) if len(an.strategies) > 1 else "needs two strategies or more"
    return figures


FORMATS = ("png", "pdf", "svg")


def save_figures(an: Analysis, out_dir: Path, formats: tuple[str, ...] = ("png", "pdf"), dpi: int = 200,
                 figures: Callable[[Analysis], dict[str, Figure | str]] = all_figures
                 ) -> tuple[list[Path], list[str]]:
    """Write every figure of `figures` (by default all of them) in every format to OUT_DIR; returns the files
    written and what was skipped, and why."""
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserError(f"unknown figure format {', '.join(bad) or '(none)'}; choose from: {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for name, fig in figures(an).items():
        if isinstance(fig, str):
            skipped.append(f"{name}: {fig}")
            continue
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            fig.savefig(path, dpi=dpi)
            written.append(path)
    return written, skipped
