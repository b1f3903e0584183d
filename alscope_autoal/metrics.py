"""Metrics computed from result rows (PROTOCOL.md, "Metrics"). Plots, reports and the CLI summary use these."""

from __future__ import annotations

import numpy as np
import pandas as pd

JOB_KEYS = ["dataset", "setting", "profile", "strategy", "seed"]


def aubc(n_labeled: np.ndarray, accuracy: np.ndarray) -> float:
    """Area under the budget curve: trapezoid of accuracy over labels, divided by the label span (0-1 scale)."""
    order = np.argsort(n_labeled)
    x, y = np.asarray(n_labeled, float)[order], np.asarray(accuracy, float)[order]
    if len(x) < 2 or x[-1] == x[0]:
        return float(y.mean()) if len(y) else float("nan")
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def per_job(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per job: AUBC, final accuracy, total selection and job seconds."""
    def one(job: pd.DataFrame) -> pd.Series:
        job = job.sort_values("round")
        return pd.Series({
            "aubc": aubc(job["n_labeled"].to_numpy(), job["accuracy"].to_numpy()),
            "final_accuracy": job["accuracy"].iloc[-1],
            "final_n_labeled": job["n_labeled"].iloc[-1],
            "selection_seconds": job["selection_seconds"].sum(),
            "job_seconds": (job["selection_seconds"] + job["train_seconds"] + job["eval_seconds"]).sum(),
        })

    return rows.groupby(JOB_KEYS, sort=True).apply(one, include_groups=False).reset_index()


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of the per-job metrics, per dataset x setting x strategy."""
    jobs = per_job(rows)
    keys = [k for k in JOB_KEYS if k != "seed"]
    grouped = jobs.groupby(keys, sort=True)
    out = grouped[["aubc", "final_accuracy", "selection_seconds", "job_seconds"]].agg(["mean", "std"])
    out.columns = [f"{metric}_{stat}" for metric, stat in out.columns]
    out["n_seeds"] = grouped.size()
    return out.reset_index()
