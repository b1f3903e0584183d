"""Aggregates of result rows (docs/protocol.md, "Metrics"): the one place where benchmark numbers are computed.

`autoal bench`'s summary, `autoal report`'s tables and `autoal plot`'s figures all take their values from here, so
a figure always shows what a table says. Inputs are result rows as `results.read_results` returns them.

Comparisons pair runs by (dataset, setting, profile, seed): every strategy of one seed starts from the same labeled
set and is scored on the same test set (docs/protocol.md, "Seeds and pairing"), so per-seed differences are paired.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UserError
from ..roles import SELECTORS, SWITCHES, base_name, is_oracle

JOB_KEYS = ["dataset", "setting", "profile", "strategy", "seed"]
PANEL_KEYS = ["dataset", "setting", "profile"]  # one curve panel, one column of a table, one unit of ranking
ARM_KEYS = PANEL_KEYS + ["strategy"]  # one mean over seeds
REFERENCE = "random"  # label efficiency is measured against it
COST_REFERENCE = "entropy"  # cost ratios are measured against it
WEIGHT_PREFIX = "autoal_weight_"  # AutoAL's per-round mean weight of each candidate: autoal_weight_<candidate>
METRICS = ["aubc", "final_accuracy", "label_efficiency", "selection_seconds_per_round", "selection_seconds",
           "job_seconds", "selection_cpu_seconds_per_round", "selection_cpu_seconds", "job_cpu_seconds",
           "cost_ratio", "selection_ratio"]
WALL_COLUMNS = ["selection_seconds", "train_seconds", "eval_seconds"]
CPU_COLUMNS = ["selection_cpu_seconds", "train_cpu_seconds", "eval_cpu_seconds"]  # process CPU seconds, same phases


@dataclass(frozen=True)
class Clock:
    """What cost is measured in: which per-job and per-row columns, and how figures and tables name it."""
    name: str  # "cpu" or "wall"
    label: str
    job_column: str  # per job (`per_job`): selection + training + evaluation
    selection_column: str  # per row: the query that bought the row's batch
    note: str = ""  # why wall time stands in for CPU time, when it does


CPU_CLOCK = Clock("cpu", "CPU time", "job_cpu_seconds", "selection_cpu_seconds")
WALL_CLOCK = Clock("wall", "wall time", "job_seconds", "selection_seconds")
CLOCKS = {clock.name: clock for clock in (CPU_CLOCK, WALL_CLOCK)}


def cost_clock(rows: pd.DataFrame, wanted: str = "cpu") -> Clock:
    """CPU time unless `wanted` is "wall": a job's process CPU seconds are what it costs whatever else shares the
    machine, where wall time grows with the load. Results written before CPU time was recorded have none: then
    every cost is in wall time (never a mix of the two), and the clock's note says why."""
    if wanted not in CLOCKS:
        raise UserError(f"unknown cost clock {wanted!r}; choose one of: {', '.join(CLOCKS)}")
    if wanted == "wall":
        return WALL_CLOCK
    lacking = rows.reindex(columns=CPU_COLUMNS).isna().any(axis=1)
    if not lacking.any():
        return CPU_CLOCK
    jobs = rows.loc[lacking, "job_id"].nunique() if "job_id" in rows else int(lacking.sum())
    return replace(WALL_CLOCK, note=f"wall time: {jobs} job(s) have no CPU time recorded (written before it was)")


def total_seconds(job: pd.DataFrame, columns: list[str]) -> float:
    """The sum of `columns` over a job's rows; NaN when any is missing."""
    return float(job.reindex(columns=columns).to_numpy(float).sum())


def aubc(n_labeled: np.ndarray, accuracy: np.ndarray) -> float:
    """Area under the budget curve: trapezoid of accuracy over labels, divided by the label span (0-1 scale)."""
    order = np.argsort(n_labeled)
    x, y = np.asarray(n_labeled, float)[order], np.asarray(accuracy, float)[order]
    if len(x) < 2 or x[-1] == x[0]:
        return float(y.mean()) if len(y) else float("nan")
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def parse_params(params: str) -> dict | None:
    """A stored `strategy_params` text ('{"temperature":0.5}', JSON) as a dict; None when it is not one."""
    try:
        parsed = json.loads(params)
    except ValueError:
        parsed = parse_legacy_params(params)
    return parsed if isinstance(parsed, dict) else None


def parse_legacy_params(params: str) -> Any:
    """Results written before `strategy_params` held JSON store the parameters' Python repr
    ("{'temperature': 0.5}"); they stay readable. None when the text is neither."""
    try:
        return ast.literal_eval(params)
    except (ValueError, SyntaxError):
        return None


def arm_name(strategy: str, params: str, variant: str = "") -> str:
    """'autoal' with params '{"temperature":0.5}' -> 'autoal(temperature=0.5)'; an ablation variant's job is
    named by its variant instead: 'autoal(K=3)'."""
    if variant:
        return f"{strategy}({variant})"
    parsed = parse_params(params)
    if parsed is None:
        return f"{strategy}({params})"
    return f"{strategy}({','.join(f'{k}={v}' for k, v in sorted(parsed.items()))})"


def text_column(rows: pd.DataFrame, column: str) -> pd.Series:
    """A text column, "" where absent or missing (results of other sweeps lack `variant`)."""
    return (rows[column] if column in rows else pd.Series("", index=rows.index)).fillna("").astype(str)


def subsample_column(rows: pd.DataFrame) -> pd.Series:
    """`--subsample` of each row's job, 0 where it saw the whole pool (results of other sweeps lack the column)."""
    if "subsample" not in rows:
        return pd.Series(0, index=rows.index)
    return rows["subsample"].fillna(0).astype(int)


def with_subsample(arm: str, subsample: int) -> str:
    """'margin' -> 'margin(subsample=10000)', 'autoal(K=3)' -> 'autoal(K=3,subsample=10000)': a job that saw part of
    the pool is its own arm, never pooled with the whole pool's."""
    if not subsample:
        return arm
    return f"{arm[:-1]},subsample={subsample})" if arm.endswith(")") else f"{arm}(subsample={subsample})"


def label_strategies(rows: pd.DataFrame) -> pd.DataFrame:
    """Name each strategy with its parameters (or its ablation variant), so two variants of one strategy are never
    pooled. The parameters move to `arm_params`, which marks the rows as labelled (so this is idempotent)."""
    if "arm_params" in rows:
        return rows
    params, variant = text_column(rows, "strategy_params"), text_column(rows, "variant")
    subsample = subsample_column(rows)
    has = (params != "") | (variant != "") | (subsample > 0)
    if not has.any():
        return rows
    rows = rows.copy()
    rows.loc[has, "strategy"] = [with_subsample(arm_name(s, p, v) if p or v else s, n) for s, p, v, n in
                                 zip(rows.loc[has, "strategy"], params[has], variant[has], subsample[has])]
    rows["arm_params"] = params
    rows["strategy_params"] = ""
    return rows


def per_job(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per job: AUBC, final accuracy, selection seconds (total and per query round) and job seconds
    (selection + training + evaluation), each in wall time and in process CPU time (NaN where not recorded)."""
    def one(job: pd.DataFrame) -> pd.Series:
        job = job.sort_values("round")
        queries = max(1, int((job["round"] > 0).sum()))
        selection, selection_cpu = total_seconds(job, WALL_COLUMNS[:1]), total_seconds(job, CPU_COLUMNS[:1])
        return pd.Series({
            "aubc": aubc(job["n_labeled"].to_numpy(), job["accuracy"].to_numpy()),
            "final_accuracy": job["accuracy"].iloc[-1],
            "final_n_labeled": job["n_labeled"].iloc[-1],
            "selection_seconds": selection,
            "selection_seconds_per_round": selection / queries,
            "job_seconds": total_seconds(job, WALL_COLUMNS),
            "selection_cpu_seconds": selection_cpu,
            "selection_cpu_seconds_per_round": selection_cpu / queries,
            "job_cpu_seconds": total_seconds(job, CPU_COLUMNS),
        })

    rows = label_strategies(rows)
    return rows.groupby(JOB_KEYS, sort=True).apply(one, include_groups=False).reset_index()


def curves(rows: pd.DataFrame) -> pd.DataFrame:
    """Learning curves: per arm and round, mean labels and mean/std/count of test accuracy over seeds."""
    rows = label_strategies(rows)
    grouped = rows.groupby(ARM_KEYS + ["round"], sort=True)
    out = grouped.agg(n_labeled=("n_labeled", "mean"), accuracy_mean=("accuracy", "mean"),
                      accuracy_std=("accuracy", "std"), n_seeds=("accuracy", "size"))
    return out.reset_index()


def labels_to_reach(n_labeled: np.ndarray, accuracy: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Labels a curve needs to first reach each target accuracy, linearly interpolated.

    The curve's running maximum is used, so "reach" means the first crossing. Targets below the curve's start
    give its first label count, targets above its best give its last one (the ratio is then a lower bound).
    """
    order = np.argsort(n_labeled)
    n, best = np.asarray(n_labeled, float)[order], np.maximum.accumulate(np.asarray(accuracy, float)[order])
    target = np.asarray(target, float)
    if len(n) == 1:
        return np.full(len(target), n[0])
    i = np.clip(np.searchsorted(best, target, side="left"), 1, len(n) - 1)  # best[i-1] < target <= best[i]
    step = best[i] - best[i - 1]
    reached = n[i - 1] + (target - best[i - 1]) / np.where(step > 0, step, 1) * (n[i] - n[i - 1])
    return np.where(target <= best[0], n[0], np.where(target > best[-1], n[-1], reached))


def label_efficiency(rows: pd.DataFrame) -> pd.DataFrame:
    """Per job: mean over its query rounds (round >= 1) of N_random(acc_r) / n_r.

    acc_r and n_r are the job's accuracy and label count after round r; N_random(a) is `labels_to_reach` on random
    sampling's mean curve over seeds in the same dataset, setting and profile. Above 1: the strategy reaches its
    accuracies with fewer labels than random. NaN where the panel has no random-sampling results.
    """
    rows = label_strategies(rows)
    mean = curves(rows)
    refs = {key: part for key, part in mean[mean["strategy"] == REFERENCE].groupby(PANEL_KEYS)}
    out = []
    for key, job in rows[rows["round"] > 0].groupby(JOB_KEYS, sort=True):
        ref = refs.get(key[:3])
        value = np.nan
        if ref is not None:
            needed = labels_to_reach(ref["n_labeled"].to_numpy(), ref["accuracy_mean"].to_numpy(),
                                     job["accuracy"].to_numpy(float))
            value = float(np.mean(needed / job["n_labeled"].to_numpy(float)))
        out.append((*key, value))
    return pd.DataFrame(out, columns=JOB_KEYS + ["label_efficiency"])


def ratio_to_reference(jobs: pd.DataFrame, column: str, reference: str = COST_REFERENCE) -> pd.Series:
    """Each job's `column` divided by the reference strategy's mean over seeds in the same panel (NaN without)."""
    ref = jobs[jobs["strategy"] == reference].groupby(PANEL_KEYS)[column].mean().rename("ref")
    merged = jobs.join(ref, on=PANEL_KEYS)
    return merged[column] / merged["ref"].where(merged["ref"] > 0)


def job_metrics(rows: pd.DataFrame, clock: Clock | None = None) -> pd.DataFrame:
    """`per_job` plus label efficiency against random and cost ratios to entropy, on `clock` (by default
    `cost_clock(rows)`: CPU time where every job recorded it)."""
    rows = label_strategies(rows)
    clock = clock or cost_clock(rows)
    jobs = per_job(rows).merge(label_efficiency(rows), on=JOB_KEYS, how="left")
    jobs["cost_ratio"] = ratio_to_reference(jobs, clock.job_column)
    jobs["selection_ratio"] = ratio_to_reference(jobs, clock.selection_column)
    return jobs


def arm_summary(jobs: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Mean and standard deviation (ddof 1) over seeds of per-job metrics, per dataset x setting x strategy."""
    metrics = [m for m in (metrics or METRICS) if m in jobs]
    grouped = jobs.groupby(ARM_KEYS, sort=True)
    out = grouped[metrics].agg(["mean", "std"])
    out.columns = [f"{metric}_{stat}" for metric, stat in out.columns]
    out["n_seeds"] = grouped.size()
    return out.reset_index()


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of AUBC, final accuracy, selection and job seconds (the `autoal bench` table)."""
    return arm_summary(per_job(rows), ["aubc", "final_accuracy", "selection_seconds", "job_seconds"])


def selection_per_round(rows: pd.DataFrame, column: str = "selection_seconds") -> pd.DataFrame:
    """Mean and std over seeds of the selection seconds (`column`: wall or CPU) of each query round (round >= 1),
    per arm."""
    rows = label_strategies(rows)
    grouped = rows[rows["round"] > 0].groupby(ARM_KEYS + ["round"], sort=True)[column]
    return grouped.agg(seconds_mean="mean", seconds_std="std").reset_index()


def weight_columns(rows: pd.DataFrame) -> list[str]:
    return [c for c in rows.columns if c.startswith(WEIGHT_PREFIX)]


def candidate_weights(rows: pd.DataFrame) -> pd.DataFrame:
    """AutoAL's per-candidate mean weights across rounds: mean/std over seeds per arm, round and candidate.

    Reads the columns `autoal_weight_<candidate>`; rows without weights (other strategies, round 0) are left out.
    """
    columns = weight_columns(rows)
    if not columns:
        return pd.DataFrame(columns=ARM_KEYS + ["round", "candidate", "weight_mean", "weight_std"])
    long = label_strategies(rows).melt(id_vars=ARM_KEYS + ["round", "seed"], value_vars=columns,
                                       var_name="candidate", value_name="weight").dropna(subset=["weight"])
    long["candidate"] = long["candidate"].str.removeprefix(WEIGHT_PREFIX)
    grouped = long.groupby(ARM_KEYS + ["round", "candidate"], sort=True)["weight"]
    return grouped.agg(weight_mean="mean", weight_std="std").reset_index()


MIN_WILCOXON = 6  # below this many non-zero differences no two-sided test reaches p < 0.05; use the sign test
HIGHER_IS_BETTER = {"aubc": True, "final_accuracy": True, "label_efficiency": True,
                    "selection_seconds_per_round": False, "selection_cpu_seconds_per_round": False,
                    "cost_ratio": False}


def panel_names(frame: pd.DataFrame, with_profile: bool = False) -> pd.Series:
    """'digits', or 'digits (imbalance=10)' for a non-standard setting, plus '[cpu]' when profiles are mixed."""
    names = frame["dataset"].where(frame["setting"] == "standard", frame["dataset"] + " (" + frame["setting"] + ")")
    return names + " [" + frame["profile"] + "]" if with_profile else names


def ranks(summary: pd.DataFrame, metric: str = "aubc", with_profile: bool = False) -> pd.DataFrame:
    """Rank of each strategy (1 = best, ties share the mean rank) per panel on `metric`'s mean over seeds.

    Rows: strategies sorted by average rank; columns: one per panel, then "average" (over the panels where the
    strategy has results) and "panels" (how many that is). Oracles are never ranked (`roles.ORACLES`).
    """
    frame = summary[~summary["strategy"].map(is_oracle)]  # a ceiling, not a competitor
    frame = frame.assign(panel=panel_names(frame, with_profile))
    table = frame.pivot(index="strategy", columns="panel", values=f"{metric}_mean").sort_index(axis=1)
    ranked = table.rank(axis=0, ascending=not HIGHER_IS_BETTER.get(metric, True), method="average")
    ranked["average"] = ranked.mean(axis=1)
    ranked["panels"] = table.notna().sum(axis=1)
    return ranked.sort_values(["average", "panels"], ascending=[True, False])


def oracle_gain_share(summary: pd.DataFrame, metric: str = "aubc") -> pd.Series:
    """Each arm's share of the oracle's gain over random, per panel on means over seeds:
    (m_s - m_random) / (m_oracle - m_random), with m the `metric` (AUBC by default). Random scores 0 and the
    oracle 1. With several oracle arms in a panel the best one is the ceiling. NaN where the panel has no oracle
    or no random run, and where the oracle does not beat random (there is no gain to share; such panels are
    listed by `oracle_not_above_random`).
    """
    floor, ceiling = random_and_oracle(summary, f"{metric}_mean")
    span = (ceiling - floor).where(ceiling > floor)
    return ((summary[f"{metric}_mean"] - floor) / span).rename("oracle_gain_share")


def oracle_not_above_random(summary: pd.DataFrame, metric: str = "aubc") -> list[tuple]:
    """Panels holding an oracle and random where the oracle does not beat random: no share is defined there."""
    floor, ceiling = random_and_oracle(summary, f"{metric}_mean")
    flat = summary[(ceiling <= floor).to_numpy()]
    return sorted(flat[PANEL_KEYS].drop_duplicates().itertuples(index=False, name=None))


def random_and_oracle(summary: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """For each row of `summary`: random's `column` in its panel, and the best oracle's (NaN without one)."""
    def best_of(chosen: pd.Series) -> pd.Series:
        best = summary[chosen].groupby(PANEL_KEYS)[column].max().rename("reference")
        return summary.join(best, on=PANEL_KEYS)["reference"]

    return best_of(summary["strategy"] == REFERENCE), best_of(summary["strategy"].map(is_oracle))


def is_single(arm: str) -> bool:
    """A single strategy: not random, not an oracle, not a selector among candidate strategies nor a switch."""
    return base_name(arm) not in {REFERENCE, *SELECTORS, *SWITCHES} and not is_oracle(arm)


def best_single(summary: pd.DataFrame, metric: str = "aubc") -> pd.DataFrame:
    """Per panel, the single strategy (`is_single`) with the best `metric` mean over seeds: the reference a
    selector or an oracle should beat. Columns: the panel keys, strategy, and the metric's mean."""
    column = f"{metric}_mean"
    singles = summary[summary["strategy"].map(is_single)].dropna(subset=[column])
    best = singles.loc[singles.groupby(PANEL_KEYS)[column].idxmax()] if len(singles) else singles
    return best[PANEL_KEYS + ["strategy", column]].reset_index(drop=True)


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
