"""Comparisons across strategies: ranks per panel, average rank, and a pairwise win matrix with a paired test.

Pairs are (dataset, setting, profile, seed): every strategy of one seed starts from the same labeled set and is
scored on the same test set (PROTOCOL.md, "Seeds and pairing"), so per-seed differences are paired observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .aggregate import JOB_KEYS, PANEL_KEYS

MIN_WILCOXON = 6  # below this many non-zero differences no two-sided test reaches p < 0.05; use the sign test
HIGHER_IS_BETTER = {"aubc": True, "final_accuracy": True, "label_efficiency": True,
                    "selection_seconds_per_round": False, "cost_ratio": False}


def panel_names(frame: pd.DataFrame, with_profile: bool = False) -> pd.Series:
    """'digits', or 'digits (imbalance=10)' for a non-standard setting, plus '[cpu]' when profiles are mixed."""
    names = frame["dataset"].where(frame["setting"] == "standard", frame["dataset"] + " (" + frame["setting"] + ")")
    return names + " [" + frame["profile"] + "]" if with_profile else names


def ranks(summary: pd.DataFrame, metric: str = "aubc", with_profile: bool = False) -> pd.DataFrame:
    """Rank of each strategy (1 = best, ties share the mean rank) per panel on `metric`'s mean over seeds.

    Rows: strategies sorted by average rank; columns: one per panel, then "average" (over the panels where the
    strategy has results) and "panels" (how many that is).
    """
    frame = summary.assign(panel=panel_names(summary, with_profile))
    table = frame.pivot(index="strategy", columns="panel", values=f"{metric}_mean").sort_index(axis=1)
    ranked = table.rank(axis=0, ascending=not HIGHER_IS_BETTER.get(metric, True), method="average")
    ranked["average"] = ranked.mean(axis=1)
    ranked["panels"] = table.notna().sum(axis=1)
    return ranked.sort_values(["average", "panels"], ascending=[True, False])


def paired_test(a: np.ndarray, b: np.ndarray) -> tuple[float, str]:
    """Two-sided p-value that paired samples a and b differ: Wilcoxon signed-rank, or the sign test when few pairs."""
    diff = np.asarray(a, float) - np.asarray(b, float)
    nonzero = diff[diff != 0]
    if len(nonzero) == 0:
        return 1.0, "none"
    if len(nonzero) >= MIN_WILCOXON:
        return float(stats.wilcoxon(nonzero).pvalue), "wilcoxon"
    return float(stats.binomtest(int((nonzero > 0).sum()), len(nonzero)).pvalue), "sign"


@dataclass(frozen=True)
class WinMatrix:
    """wins[i, j]: fraction of pairs where strategy i beats j (a tie counts half); p: paired test; n: pairs."""
    wins: pd.DataFrame
    p: pd.DataFrame
    n: pd.DataFrame
    test: pd.DataFrame


def win_matrix(jobs: pd.DataFrame, metric: str = "aubc", strategies: list[str] | None = None) -> WinMatrix:
    """Pairwise comparison of per-job `metric` over paired (dataset, setting, profile, seed) cells."""
    pair_keys = [k for k in JOB_KEYS if k != "strategy"]
    wide = jobs.pivot_table(index=pair_keys, columns="strategy", values=metric)
    names = [s for s in (strategies or list(wide.columns)) if s in wide.columns]
    frames = {k: pd.DataFrame(np.nan, index=names, columns=names, dtype=object if k == "test" else float)
              for k in ("wins", "p", "n", "test")}
    sign = 1 if HIGHER_IS_BETTER.get(metric, True) else -1
    for i in names:
        for j in names:
            if i == j:
                continue
            both = wide[[i, j]].dropna()
            a, b = sign * both[i].to_numpy(), sign * both[j].to_numpy()
            frames["n"].loc[i, j] = len(both)
            if len(both):
                frames["wins"].loc[i, j] = ((a > b).sum() + 0.5 * (a == b).sum()) / len(both)
                frames["p"].loc[i, j], frames["test"].loc[i, j] = paired_test(a, b)
    return WinMatrix(**frames)


def panels(frame: pd.DataFrame) -> list[tuple]:
    """The (dataset, setting, profile) panels present, sorted."""
    return sorted(frame[PANEL_KEYS].drop_duplicates().itertuples(index=False, name=None))
