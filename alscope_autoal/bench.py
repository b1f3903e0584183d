"""`autoal bench` as a library call: turn a request into validated job specs, then run them."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import torch

from .data import DATASETS, ImageDataset, TextDataset, load_dataset
from .data.user_sets import looks_like_path, parse_entry, register, sources_of, user_source
from .encoders import ENCODERS
from .encoders.cache import cache_embeddings, check_pair
from .errors import UserError
from .identity import resolve
from .prepare import prepare
from .profiles import DEFAULT_PRECISION, PROFILES, with_overrides
from .runner import Reporter, RunOptions, SweepOutcome, failed_specs, run_sweep, split_done
from .spec import JobSpec
from .strategies import STRATEGIES, make_strategy

DEFAULT_DATASETS = ("digits",)
DEFAULT_STRATEGIES = ("random", "entropy", "margin", "least-confidence")


@dataclass(frozen=True)
class BenchRequest:
    datasets: tuple[str, ...] = DEFAULT_DATASETS
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    seeds: int = 1
    profile: str = "cpu"
    rounds: int | None = None  # None: the profile's budget for each dataset
    initial: int | None = None
    query_size: int | None = None
    imbalance_factor: float = 1.0
    open_set_ratio: float = 0.0
    strategy_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # strategy -> its parameters
    encoder: str | None = None  # frozen encoder for the linear profile
    max_pool: int | None = None  # caps on the pool and the test set; None: the profile's. Set, they derive a
    max_test: int | None = None  # profile named by them (profiles.derived_name), part of the job identity
    precision: str = DEFAULT_PRECISION  # training.PRECISIONS; part of the job id when not fp32

    subsample: int | None = None  # unlabeled samples each strategy sees per round; None: the whole pool

    @property
    def job_profile(self) -> str:
        """The profile the jobs name: `profile`, or the one derived from it by the caps."""
        return with_overrides(self.profile, {"max_pool": self.max_pool, "max_test": self.max_test})


def check_counts(request: BenchRequest) -> None:
    for flag, value in [("--seeds", request.seeds), ("--rounds", request.rounds), ("--initial", request.initial),
                        ("--query-size", request.query_size), ("--max-pool", request.max_pool),
                        ("--max-test", request.max_test), ("--subsample", request.subsample)]:
        if value is not None and value < 1:
            raise UserError(f"{flag} must be a positive number, got {value}")
    if request.imbalance_factor < 1:
        raise UserError(f"--imbalance-factor must be at least 1 (1 = no imbalance), got {request.imbalance_factor}")
    if not 0 <= request.open_set_ratio < 1:
        raise UserError(f"--open-set-ratio must be in [0, 1), got {request.open_set_ratio}")
    for kind, names in [("dataset", request.datasets), ("strategy", request.strategies)]:
        if not names:
            raise UserError(f"no {kind} given: name at least one (see 'autoal list {kind.replace('y', 'ie')}s')")


def job_specs(request: BenchRequest, dataset: str) -> list[JobSpec]:
    """The dataset's jobs, resolved: their ids cover the profile's values and the strategies' defaults now."""
    budget = PROFILES.get(request.profile).budget_for(dataset)
    return [
        resolve(JobSpec(dataset=dataset, strategy=strategy, seed=seed, profile=request.job_profile,
                initial=request.initial or budget.initial, query_size=request.query_size or budget.query_size,
                rounds=request.rounds or budget.rounds, imbalance_factor=request.imbalance_factor,
                open_set_ratio=request.open_set_ratio, encoder=request.encoder or "", precision=request.precision,
                subsample=request.subsample or 0,
                strategy_params=tuple(sorted(request.strategy_params.get(strategy, {}).items()))))
        for seed in range(request.seeds) for strategy in request.strategies
    ]


def reserved_pool(spec: JobSpec) -> int:
    """Pool samples the job's strategy sets aside and never queries (the oracle's held-out split): those that
    define `reserved_pool()` say how many; others reserve none."""
    if not hasattr(STRATEGIES.get(spec.strategy), "reserved_pool"):
        return 0
    return int(make_strategy(spec.strategy, spec.params).reserved_pool())


def reserved_by_strategy(specs: list[JobSpec]) -> dict[str, int]:
    return {spec.strategy: count for spec in specs if (count := reserved_pool(spec))}


def check_budget(spec: JobSpec, options: RunOptions, reserved: dict[str, int] | None = None) -> None:
    """Refuse budgets the pool cannot pay, before any job runs; `reserved`: strategy -> pool samples it sets
    aside from labelable ones besides the budget (see `reserved_pool`)."""
    data = load_dataset(spec.dataset, data_dir=options.data_dir, download=options.download)
    prepared = prepare(labels_only(data), replace(spec, seed=0), PROFILES.get(spec.profile))
    known = int((~prepared.is_unknown).sum())
    pool = len(prepared.is_unknown)
    if spec.initial > known:
        raise UserError(f"--initial {spec.initial} is larger than the {known} labelable samples of {spec.dataset} "
                        f"({spec.setting}); choose at most {known}")
    needed = spec.initial + spec.rounds * spec.query_size
    if needed > pool:
        raise UserError(f"the budget needs {needed} labels ({spec.initial} + {spec.rounds} rounds x "
                        f"{spec.query_size}) but the {spec.dataset} pool holds {pool}; lower --rounds, "
                        f"--query-size or --initial")
    check_subsample(spec, pool - spec.initial)
    room = min(pool - needed, known - spec.initial)  # reserved samples are labelable ones beside the budget
    for strategy, count in (reserved or {}).items():
        if count > room:
            raise UserError(f"{strategy} sets {count} pool samples aside that it never queries, but beside the "
                            f"budget's {needed} labels the {spec.dataset} pool ({spec.setting}) can spare at most "
                            f"{room}; lower its held-out split or the budget")


def check_subsample(spec: JobSpec, unlabeled: int) -> None:
    """A candidate subset must hold a query's worth of samples and fit in the unlabeled pool of round 0."""
    size = spec.subsample
    if size and size < spec.query_size:
        raise UserError(f"--subsample {size} is smaller than the query size {spec.query_size}: a round could "
                        f"not fill its batch; choose at least {spec.query_size}")
    if size > unlabeled:
        raise UserError(f"--subsample {size} is larger than the {unlabeled} unlabeled samples of {spec.dataset} "
                        f"({spec.setting}); choose at most {unlabeled}, or leave it out to use the whole pool")


def labels_only(data: ImageDataset | TextDataset) -> ImageDataset:
    """The dataset's labels with empty features: all a budget check reads, so no text set is embedded for it."""
    return ImageDataset(data.name, torch.empty(len(data.train_y), 0), data.train_y, torch.empty(len(data.test_y), 0),
                        data.test_y, list(data.classes))


def check_encoder(request: BenchRequest) -> None:
    """The linear profile learns on an encoder's embeddings (or a user's precomputed ones), the CNN profiles on raw
    images."""
    on_embeddings = PROFILES.get(request.profile).model == "linear"
    if request.encoder:
        ENCODERS.check(request.encoder)
        if not on_embeddings:
            raise UserError(f"--encoder needs --profile linear (the {request.profile} profile trains its CNN on "
                            "raw images)")
    for dataset in request.datasets:
        DATASETS.check(dataset)
        precomputed = DATASETS.get(dataset).modality == "embeddings"
        if precomputed and not on_embeddings:
            raise UserError(f"{dataset!r} holds precomputed embeddings: run it with --profile linear (the "
                            f"{request.profile} profile trains a CNN on images)")
        if on_embeddings and not request.encoder and not precomputed:
            raise UserError(f"the {request.profile} profile learns on frozen embeddings: name an encoder with "
                            "--encoder (see 'autoal list encoders')")
        check_pair(dataset, request.encoder)


def with_dataset_names(request: BenchRequest, base: Path | str | None = None) -> BenchRequest:
    """The request with each user dataset entry ([NAME=]PATH, relative to `base`, the current folder by default)
    read, checked and registered, and replaced by its name."""
    names = tuple(dataset_name(entry, base) for entry in request.datasets)
    twice = sorted({name for name in names if names.count(name) > 1 and user_source(name)})
    if twice:
        raise UserError(f"two of --datasets are named {twice[0]!r}: name each with NAME=PATH")
    return replace(request, datasets=names)


def dataset_name(entry: str, base: Path | str | None = None) -> str:
    if entry in DATASETS:
        return entry
    if not looks_like_path(entry):
        try:
            DATASETS.check(entry)
        except UserError as exc:
            raise UserError(f"{exc}; or give the path of your own dataset (docs/own-dataset.md)") from None
    source = parse_entry(entry, base)
    register(source)
    load_dataset(source.name)  # every check on its content, now, before any job runs
    return source.name


def require_known_datasets(specs: list[JobSpec]) -> None:
    """A job planned on a user dataset needs its file: refuse, naming the option, when this process lacks it."""
    for spec in specs:
        if any(key.startswith("dataset.") for key, _ in spec.resolved) and spec.dataset not in DATASETS:
            raise UserError(f"{spec.label} reads your dataset {spec.dataset!r}, whose file this command was not "
                            f"given: add --datasets {spec.dataset}=PATH")


def check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise UserError(f"cannot write to the output folder {out_dir} ({exc.strerror}); choose another with --out")
    if not os.access(out_dir, os.W_OK):
        raise UserError(f"cannot write to the output folder {out_dir}; choose another with --out")


def check_compute(request: BenchRequest, options: RunOptions) -> None:
    """The precision runs on the jobs' device, and the profile's pretrained weights are there (or fetched now)."""
    from .data import default_data_dir
    from .loop import pick_device
    from .models import MODELS, needs_weights
    from .models.pretrained import check_weights
    from .training import check_precision

    profile = PROFILES.get(request.profile)
    check_precision(request.precision, pick_device(options.device), initialised_here=False)
    if request.precision != "fp32" and profile.model == "linear":
        raise UserError(f"--precision {request.precision} is for the CNN profiles; the {request.profile} profile "
                        "trains its linear head in fp32")
    model = MODELS.get(profile.model)
    if needs_weights(model):
        check_weights(Path(options.data_dir) if options.data_dir else default_data_dir(), options.download,
                      model.weights_file)


def plan(request: BenchRequest, options: RunOptions = RunOptions()) -> list[JobSpec]:
    """Validate a request (names, counts, budgets, data files under the options' data dir) and expand it into job
    specs."""
    check_counts(request)
    request = with_dataset_names(request)
    PROFILES.check(request.profile)
    for name in request.strategies:
        STRATEGIES.check(name)
    check_encoder(request)
    check_compute(request, options)
    specs = []
    for dataset in request.datasets:
        DATASETS.check(dataset)
        dataset_specs = job_specs(request, dataset)
        check_budget(dataset_specs[0], options, reserved_by_strategy(dataset_specs))
        specs += dataset_specs
    return specs


def sweep_specs(request: BenchRequest | Sequence[BenchRequest], out_dir: Path, options: RunOptions = RunOptions(),
                retry_failed: bool = False) -> list[JobSpec]:
    """The grid's jobs (of every request, when given several: the parts of an experiment file, each job once),
    or with `retry_failed` the jobs recorded as failed in `out_dir` (the grid is ignored), resolved under the
    settings as they are now."""
    requests = [request] if isinstance(request, BenchRequest) else list(request)
    if retry_failed:
        for part in requests:
            with_dataset_names(part)  # the files of the failed jobs' user datasets
        specs = [resolve(spec) for spec in failed_specs(Path(out_dir))] if Path(out_dir).is_dir() else []
        require_known_datasets(specs)
        return specs
    specs = {spec.job_id: spec for part in requests for spec in plan(part, options)}
    return list(specs.values())


def plan_bench(request: BenchRequest | Sequence[BenchRequest], out_dir: Path, options: RunOptions = RunOptions(),
               retry_failed: bool = False) -> tuple[list[JobSpec], list[JobSpec]]:
    """What `run_bench` would do: (jobs to run, jobs already finished). Nothing is run or written."""
    return split_done(sweep_specs(request, out_dir, options, retry_failed), Path(out_dir))


def run_bench(request: BenchRequest | Sequence[BenchRequest], out_dir: Path, options: RunOptions = RunOptions(),
              reporter: Reporter | None = None, retry_failed: bool = False) -> SweepOutcome:
    options.check()
    return run_specs(sweep_specs(request, out_dir, options, retry_failed), out_dir, options, reporter)


def run_specs(specs: list[JobSpec], out_dir: Path, options: RunOptions = RunOptions(),
              reporter: Reporter | None = None) -> SweepOutcome:
    """Run planned jobs as one sweep (one progress display, one manifest), their embeddings cached first."""
    if not specs:
        return SweepOutcome()
    check_writable(Path(out_dir))
    require_known_datasets(specs)
    options = replace(options, datasets=sources_of(spec.dataset for spec in specs))
    cache_embeddings({(spec.dataset, spec.encoder) for spec in split_done(specs, Path(out_dir))[0] if spec.encoder},
                     data_dir=options.data_dir, download=options.download, sources=options.datasets)
    return run_sweep(specs, Path(out_dir), options, reporter)
