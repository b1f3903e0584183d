"""The active-learning loop: train, evaluate, query, label, until the round count is reached.

Row r of a job's record describes the model trained after r queries: how many labels it saw, its test scores,
and the cost of the query that bought the r-th batch (zero for the initial round); the columns are listed in
docs/protocol.md, "Per-round record".
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .allocator import release_free_memory
from .data import ImageDataset
from .identity import check_current
from .pool import LabelState
from .prepare import PreparedData, initial_indices, prepare
from .profiles import PROFILES, Profile
from .seeds import derive_seed, rng_for
from .spec import JobSpec
from .strategies import QueryContext, Selection, Strategy, checked_select, make_strategy
from .training import ImageSpec, check_precision, classification_metrics, forward_pool, image_steps, train_model

RoundCallback = Callable[[dict[str, Any]], None]


def pick_device(preferred: str | None = None) -> torch.device:
    if preferred:
        return torch.device(preferred)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def clocks() -> tuple[float, float]:
    """(wall, process CPU) seconds now. CPU time adds up every thread of this process, so it is what the job
    itself used, whatever else runs on the machine; wall time also counts the waits when other work takes the cores."""
    return time.perf_counter(), time.process_time()


def seconds_since(start: tuple[float, float], phase: str) -> dict[str, float]:
    """`<phase>_seconds` (wall) and `<phase>_cpu_seconds` since `start` (from `clocks`)."""
    wall, cpu = clocks()
    return {f"{phase}_seconds": wall - start[0], f"{phase}_cpu_seconds": cpu - start[1]}


def image_spec(data: ImageDataset, prepared: PreparedData) -> ImageSpec:
    mean, std = data.channel_stats()
    return ImageSpec(data.n_channels, len(prepared.classes), mean, std, data.flips_ok)


def job_profile(spec: JobSpec) -> Profile:
    """The profile a job trains under: its dataset's training values, and the job's precision."""
    return PROFILES.get(spec.profile).for_dataset(spec.dataset).with_(precision=spec.precision)


def pretrained_weights(profile: Profile, data_dir: Path | str | None) -> dict | None:
    """The ImageNet weights the profile's model starts from (read from `DATA_DIR/weights/`), else None."""
    from .data import default_data_dir
    from .models import MODELS, needs_weights
    from .models.pretrained import check_weights, load_weights

    cls = MODELS.get(profile.model)
    if not needs_weights(cls):
        return None
    return load_weights(check_weights(Path(data_dir) if data_dir else default_data_dir(), False, cls.weights_file))


def evaluate(model, prepared: PreparedData, spec: ImageSpec, profile: Profile, device) -> dict[str, float]:
    logits, _ = forward_pool(model, prepared.test_x, spec, device, profile.eval_batch_size)
    return classification_metrics(prepared.test_y.numpy(), logits.argmax(1).numpy(), spec.n_classes)


def query(strategy: Strategy, ctx: QueryContext, budget: int, rng: np.random.Generator
          ) -> tuple[Selection, dict[str, float]]:
    """The strategy's selection and its selection seconds. A budget that covers every unlabeled sample leaves
    nothing to choose: all of them, without asking the strategy, at no cost and with no extras. A selection that
    breaks the contract (`strategies.selection_problems`) fails the job with the rule it broke."""
    unlabeled = ctx.pool.unlabeled_indices()
    if budget >= len(unlabeled):
        return Selection(unlabeled), {"selection_seconds": 0.0, "selection_cpu_seconds": 0.0}
    start = clocks()
    selection = checked_select(strategy, ctx, budget, rng)
    return selection, seconds_since(start, "selection")


def visible_rows(pool: LabelState, size: int, seed: int) -> np.ndarray | None:
    """`--subsample`: the labeled samples and a seeded random `size` of the unlabeled ones (sorted pool indices),
    what the round's strategy sees; None when `size` is 0 or covers every unlabeled sample (the whole pool).

    The seed depends on (seed, dataset, setting, round), not on the strategy: in round 0, where every strategy has
    the same labeled set, every strategy sees the same candidates, so comparisons stay paired."""
    unlabeled = pool.unlabeled_indices()
    if not size or size >= len(unlabeled):
        return None
    drawn = np.random.default_rng(seed).choice(unlabeled, size, replace=False)
    return np.sort(np.concatenate([pool.labeled_indices(), drawn]))


def params_text(params: dict[str, Any]) -> str:
    """A job's strategy parameters as its rows store them: canonical JSON (sorted keys), "" when there are none."""
    return json.dumps(params, sort_keys=True, separators=(",", ":")) if params else ""


def round_row(spec: JobSpec, profile: Profile, pool: LabelState, round_: int, n_classes: int) -> dict[str, Any]:
    trainable = pool.trainable_indices()
    return {
        "job_id": spec.job_id, "dataset": spec.dataset, "setting": spec.setting,
        "imbalance_factor": spec.imbalance_factor, "open_set_ratio": spec.open_set_ratio,
        "profile": spec.profile, "model": profile.model, "strategy": spec.strategy,
        "strategy_params": params_text(spec.params), "seed": spec.seed, "round": round_,
        "n_labeled": int(pool.labeled_mask.sum()), "n_trainable": len(trainable),
        "profile_config": spec.config_hash("profile"), "strategy_config": spec.config_hash("strategy"),
        **({"variant": spec.variant} if spec.variant else {}),
        **({"subsample": spec.subsample} if spec.subsample else {}),
    }


def run_job(spec: JobSpec, data: ImageDataset, device: torch.device | None = None,
            on_round: RoundCallback | None = None, data_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """Run one job and return its rows (one per round); `data_dir` holds the pretrained weights, where the
    profile's model starts from them."""
    device = device or pick_device()
    check_current(spec)
    profile = job_profile(spec)
    check_precision(profile.precision, device)
    prepared = prepare(data, spec, profile)
    img = replace(image_spec(data, prepared), pretrained=pretrained_weights(profile, data_dir))
    pool_x = prepared.pool_x.to(device)
    pool = LabelState(len(prepared.pool_y), prepared.is_unknown)
    added = initial_indices(prepared, spec)  # pool rows labeled since the last row: the initial set, then each batch
    pool.label(added, 0)
    strategy = make_strategy(spec.strategy, spec.params)
    query_cost: dict[str, Any] = {"n_queried": 0, "n_queried_unknown": 0, "selection_seconds": 0.0,
                                  "selection_cpu_seconds": 0.0}
    rows = []
    for round_ in range(spec.rounds + 1):
        trainable = pool.trainable_indices()
        start = clocks()
        model = train_model(pool_x[torch.as_tensor(trainable, device=device)], prepared.pool_y[trainable], img,
                            profile, derive_seed(spec.seed, spec.dataset, "model-init", round_), device)
        trained, start = seconds_since(start, "train"), clocks()
        scores = evaluate(model, prepared, img, profile, device)
        evaluated = seconds_since(start, "eval")
        row = round_row(spec, profile, pool, round_, img.n_classes) | scores | query_cost | trained | evaluated | {
            "device": str(device), "precision": profile.precision,
            "train_image_steps": image_steps(len(trainable), profile), "eval_images": len(prepared.test_y),
            "labeled_class_counts": np.bincount(prepared.pool_y[trainable].numpy(), minlength=img.n_classes)
            .tolist(),
            "labeled_ids_added": prepared.train_index[added].tolist(),
        }
        rows.append(row)
        if on_round:
            on_round(row)
        if round_ == spec.rounds:
            break
        ctx = QueryContext(model, pool.copy(), pool_x, prepared.pool_y, img, profile, device, round_,
                           derive_seed(spec.seed, spec.strategy, "strategy"),
                           next_model_seed=derive_seed(spec.seed, spec.dataset, "model-init", round_ + 1),
                           rounds=spec.rounds)
        shown = visible_rows(pool, spec.subsample, derive_seed(spec.seed, spec.dataset, spec.setting, "subsample",
                                                                round_))
        ctx = ctx if shown is None else ctx.view(shown)
        rng = rng_for(spec.seed, spec.dataset, spec.setting, spec.strategy, "query", round_)
        selection, seconds = query(strategy, ctx, spec.query_size, rng)
        picked = ctx.pool_ids(selection.indices)
        query_cost = {"n_queried": len(picked), "n_queried_unknown": int(pool.is_unknown[picked].sum()),
                      **seconds, **selection.extras}
        pool.label(picked, round_ + 1)
        added = picked
        del ctx, model
        release_free_memory()
    return rows
