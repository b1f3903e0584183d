"""What a sweep costs before it runs: the planned jobs' work counted from their profile, over a measured speed.

A job's work is its training image-steps (every round's training: `training.image_steps` of the labels it holds)
and its inference images (a test pass per round and a pass over the unlabeled pool per query round). The speed
comes from measurement only: jobs already finished in the results folder (each result's footer and rows record
image-steps, images and seconds) with the same profile, dataset, precision and device type, or a short calibration
(`calibrate`: a few training steps of the profile's model on random images on this device). Without either there
is no estimate, only the way to get one (`no_rate_message`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .profiles import PROFILES
from .spec import JobSpec

CALIBRATION_STEPS = 20  # timed training steps after warm-up: a few seconds on a GPU, a minute at most on a CPU
WARMUP_STEPS = 3


@dataclass(frozen=True)
class Rates:
    train: float  # training image-steps per second
    infer: float  # inference images per second
    source: str  # where the rates come from, in words
    selection: dict[str, float] = field(default_factory=dict)  # strategy -> seconds per query round
    overhead: float = 0.0  # seconds per job outside training, inference and selection (data loading, start)


@dataclass(frozen=True)
class Work:
    train_image_steps: int
    infer_images: int
    query_rounds: int


@dataclass(frozen=True)
class Estimate:
    seconds: float
    train_seconds: float
    infer_seconds: float
    selection_seconds: float
    overhead_seconds: float
    unmeasured_selection: tuple[str, ...]  # strategies whose selection time is not in the estimate


def job_work(spec: JobSpec, pool_size: int, test_size: int) -> Work:
    """The job's training image-steps and inference images (labels counted as trainable: open-set jobs train on
    fewer, so this is their upper bound)."""
    from .loop import job_profile
    from .training import image_steps

    profile = job_profile(spec)
    labeled = [spec.initial + r * spec.query_size for r in range(spec.rounds + 1)]
    train = sum(image_steps(n, profile) for n in labeled)
    infer = (spec.rounds + 1) * test_size + sum(pool_size - n for n in labeled[:-1])
    return Work(train, infer, spec.rounds)


def rate_key(spec: JobSpec, device: str) -> tuple[str, str, str, str]:
    return spec.profile, spec.dataset, spec.precision, device.split(":")[0]


def stored_rates(out_dir: Path, key: tuple[str, str, str, str]) -> Rates | None:
    """Rates measured by the finished jobs in `out_dir` that share the key (profile, dataset, precision, device
    type); None when there are none."""
    import json

    import pandas as pd

    from .results import read_metadata, result_files

    totals: dict[str, float] = defaultdict(float)
    selection: dict[str, list[float]] = defaultdict(list)
    overheads = []
    for path in result_files(Path(out_dir)) if Path(out_dir).is_dir() else []:
        try:
            meta = read_metadata(path)
            spec = JobSpec.from_json(json.dumps(meta["spec"]))
            if rate_key(spec, meta.get("device", "")) != key or "job_seconds" not in meta:
                continue
            rows = pd.read_parquet(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # damaged or foreign files are reported by the commands that read results
        for column in ("train_image_steps", "train_seconds", "eval_images", "eval_seconds"):
            totals[column] += float(rows[column].sum())
        selection[spec.strategy] += rows.loc[rows["n_queried"] > 0, "selection_seconds"].tolist()
        spent = rows[["train_seconds", "eval_seconds", "selection_seconds"]].to_numpy().sum()
        overheads.append(meta["job_seconds"] - spent)
    if not overheads or totals["train_seconds"] <= 0 or totals["eval_seconds"] <= 0:
        return None
    return Rates(totals["train_image_steps"] / totals["train_seconds"], totals["eval_images"] / totals["eval_seconds"],
                 f"{len(overheads)} finished job(s) in {out_dir}",
                 {s: float(np.mean(v)) for s, v in selection.items() if v}, max(float(np.mean(overheads)), 0.0))


def calibrate(spec: JobSpec, image_shape: tuple[int, ...], n_classes: int, device) -> Rates:
    """Train the job's model for a few steps on random images of the dataset's shape on `device`, and time it
    (after warm-up) and a few inference batches: training and inference only, no selection."""
    import torch

    from .loop import job_profile
    from .training import ImageSpec, forward_pool, train_model

    profile = job_profile(spec).with_(min_steps=WARMUP_STEPS, epochs=1)
    channels = image_shape[0]
    img = ImageSpec(channels, n_classes, torch.full((channels,), 0.5), torch.full((channels,), 0.25), True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (profile.batch_size * WARMUP_STEPS, *image_shape), generator=gen,
                      dtype=torch.uint8).to(device)
    y = torch.arange(len(x)) % n_classes
    train_model(x, y, img, profile, 0, device)  # warm-up: allocator, kernels, cuDNN plans
    timed = profile.with_(min_steps=CALIBRATION_STEPS)
    start = _synced_clock(device)
    model = train_model(x, y, img, timed, 0, device)
    train_seconds = _synced_clock(device) - start
    pool = x.repeat(max(1, 4 * profile.eval_batch_size // len(x)), 1, 1, 1)
    forward_pool(model, pool[:profile.eval_batch_size], img, device, profile.eval_batch_size)
    start = _synced_clock(device)
    forward_pool(model, pool, img, device, profile.eval_batch_size)
    infer_seconds = _synced_clock(device) - start
    return Rates(CALIBRATION_STEPS * profile.batch_size / train_seconds, len(pool) / infer_seconds,
                 f"a {CALIBRATION_STEPS}-step calibration on {device}")


def _synced_clock(device) -> float:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def estimate(jobs: list[tuple[JobSpec, Work]], rates: Rates) -> Estimate:
    train = sum(work.train_image_steps for _, work in jobs) / rates.train
    infer = sum(work.infer_images for _, work in jobs) / rates.infer
    selection = sum(rates.selection.get(spec.strategy, 0.0) * work.query_rounds for spec, work in jobs)
    unmeasured = tuple(sorted({spec.strategy for spec, _ in jobs if spec.strategy not in rates.selection}))
    overhead = rates.overhead * len(jobs)
    return Estimate(train + infer + selection + overhead, train, infer, selection, overhead, unmeasured)


def no_rate_message(command: str, key: tuple[str, str, str, str]) -> str:
    profile, dataset, precision, device = key
    return (f"no measured speed for {profile} on {dataset} in {precision} on {device}: add --calibrate "
            f"({command} --dry-run --calibrate) to time a few training steps here, or finish one job of that kind in "
            "the results folder first")


def sweep_estimate(specs: list[JobSpec], out_dir: Path, options, command: str, calibrate_here: bool = False
                   ) -> list[str]:
    """One line per (profile, dataset, precision, device) group of the jobs to run: its device-hours (one job at
    a time) and where the speed comes from, or how to measure one."""
    from .loop import pick_device

    device = pick_device(options.device)
    groups: dict[tuple, list[JobSpec]] = defaultdict(list)
    for spec in specs:
        groups[rate_key(spec, str(device))].append(spec)
    return [group_line(key, members, out_dir, options, device, command, calibrate_here)
            for key, members in groups.items()]


def group_line(key, specs: list[JobSpec], out_dir: Path, options, device, command: str, calibrate_here: bool) -> str:
    from .bench import labels_only
    from .encoders.cache import job_data
    from .prepare import prepare

    data = job_data(specs[0], data_dir=options.data_dir, download=options.download)
    prepared = prepare(labels_only(data), specs[0], PROFILES.get(specs[0].profile))
    rates = stored_rates(out_dir, key)
    if rates is None and calibrate_here:
        rates = calibrate(specs[0], tuple(data.train_x.shape[1:]), len(prepared.classes), device)
    if rates is None:
        return no_rate_message(command, key)
    jobs = [(spec, job_work(spec, len(prepared.is_unknown), len(prepared.test_y))) for spec in specs]
    est = estimate(jobs, rates)
    profile, dataset, precision, device_type = key
    steps = sum(work.train_image_steps for _, work in jobs)
    missing = f"; selection of {', '.join(est.unmeasured_selection)} not measured, not included" \
        if est.unmeasured_selection else ""
    return (f"{profile} on {dataset}, {precision}, {device_type}: {len(jobs)} job(s), about {hours(est.seconds)} "
            f"device-hours one job at a time (training {hours(est.train_seconds)} h: {steps:,} image-steps at "
            f"{rates.train:,.0f}/s; inference {hours(est.infer_seconds)} h at {rates.infer:,.0f} images/s; "
            f"selection {hours(est.selection_seconds)} h; job start {hours(est.overhead_seconds)} h{missing}); "
            f"speed from {rates.source}")


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g}"
