"""Targets for the processes that runner tests spawn, in a small module so that a spawned child starts fast."""

from __future__ import annotations

import os
from pathlib import Path

from alscope_autoal.results import write_job
from alscope_autoal.spec import JobSpec


def write_many(out: str, specs: list[str]) -> None:
    for text in specs:
        spec = JobSpec.from_json(text)
        write_job(Path(out), spec, [{"job_id": spec.job_id, "seed": spec.seed, "round": 0}], {"spec": text})


def report_environment(answers) -> None:
    """What a worker started under `local.environment` sees: its GPU list and torch's thread count."""
    import torch

    answers.put((os.environ["CUDA_VISIBLE_DEVICES"], torch.get_num_threads()))
