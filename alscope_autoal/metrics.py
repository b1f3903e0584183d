"""Metrics computed from result rows: kept importable here; they live in `alscope_autoal.analysis.aggregate`,
the one place that plots, reports and the `autoal bench` summary take their numbers from."""

from .analysis.aggregate import JOB_KEYS, aubc, job_metrics, per_job, summary

__all__ = ["JOB_KEYS", "aubc", "job_metrics", "per_job", "summary"]
