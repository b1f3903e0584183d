"""`autoal ablate`: AutoAL variants (candidate subsets, components switched off) planned with `bench`'s machinery
and run as one sweep. Each variant's jobs carry its name (`JobSpec.variant`, stored in every row), so the table and
figure are drawn from the results folder alone, by `analysis.ablation`.

Subsets of K candidates are the first K of the candidate order (default: the paper's order, PAPER_CANDIDATES:
entropy, margin, least-confidence, kmeans, bald, var-ratio, mean-std), or subsets the user names. Component
variants use the whole order with one component changed:

- no-loss-head: the loss-prediction head is neither trained nor part of the final score;
- no-pretrain:  FitNet is not pre-trained on L_fit before the alternation;
- hard-mask:    the released code's sigmoid(1e11 * (s - theta)), which gives SearchNet no gradient;
- per-strategy-thresholds: SearchNet weighs each candidate's continuous score above its own threshold instead
                of its 0/1 picks (AutoAL's `thresholds` parameter).

The changes that make `autoal-lookahead` (docs/autoal-lookahead.md), one at a time on the paper's formulation:

- frozen-fitnet:     FitNet stops learning after pre-training (`fitnet_updates=frozen`);
- fitnet-val-model:  the candidates pick on L_val with that FitNet, for which L_val is unseen (`val_model=fitnet`);
- lookahead:         the one-step look-ahead objective on a held-out third of L (`objective=lookahead`);
- softmax-mixing:    softmax(Theta) with its own optimiser (`mixing=softmax`);
- running-threshold: a moving average of the batch thresholds (`threshold=running`);
- query-ratio:       candidates pick, and the mask selects, the query's own fraction b/|U| (`ratio=query`);
- all-lookahead:     every one of them together with per-strategy thresholds and no loss head: the
                     `autoal-lookahead` strategy, run as an `autoal` variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .bench import BenchRequest, plan, run_specs
from .errors import UserError
from .runner import Reporter, RunOptions, SweepOutcome
from .spec import JobSpec
from .strategies.autoal import AutoAL, AutoALLookahead
from .strategies.autoal.candidates import PAPER_CANDIDATES, parse_candidates

COMPONENTS: dict[str, dict[str, Any]] = {
    "no-loss-head": {"use_loss_head": False},
    "no-pretrain": {"pretrain": False},
    "hard-mask": {"hard_mask": True},
    "per-strategy-thresholds": {"thresholds": "per-strategy"},
    "frozen-fitnet": {"fitnet_updates": "frozen"},
    "fitnet-val-model": {"val_model": "fitnet"},
    "lookahead": {"objective": "lookahead"},
    "softmax-mixing": {"mixing": "softmax"},
    "running-threshold": {"threshold": "running"},
    "query-ratio": {"ratio": "query"},
    "all-lookahead": {k: v for k, v in AutoALLookahead.DEFAULTS.items() if AutoAL.DEFAULTS[k] != v},
}


@dataclass(frozen=True)
class Variant:
    name: str
    candidates: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)  # AutoAL parameters besides the candidates

    def strategy_params(self, base: dict[str, Any]) -> dict[str, Any]:
        return {**base, **self.params, "candidates": ",".join(self.candidates)}


@dataclass(frozen=True)
class AblationRequest:
    bench: BenchRequest  # datasets, seeds, profile, budget, setting; its strategies are the baselines
    num_candidates: tuple[int, ...] = ()
    components: tuple[str, ...] = ()
    subsets: tuple[tuple[str, ...], ...] = ()  # user-given candidate subsets
    order: tuple[str, ...] = PAPER_CANDIDATES


def variants(request: AblationRequest) -> list[Variant]:
    """The variants to run: first-K subsets, user subsets, then components (with the full set as reference)."""
    order = parse_candidates(request.order)
    out: list[Variant] = []
    for k in request.num_candidates:
        if not 1 <= k <= len(order):
            raise UserError(f"--num-candidates {k} is out of range: the candidate order holds {len(order)} "
                            f"({','.join(order)})")
        out.append(Variant(f"K={k}", order[:k]))
    out += [Variant("+".join(parse_candidates(s)), parse_candidates(s)) for s in request.subsets]
    for name in request.components:
        if name not in COMPONENTS:
            raise UserError(f"unknown component {name!r}; choose from {', '.join(COMPONENTS)}")
        out.append(Variant(f"K={len(order)} {name}", order, COMPONENTS[name]))
    if request.components and len(order) not in request.num_candidates:
        out.insert(0, Variant(f"K={len(order)}", order))
    if not out:
        raise UserError("nothing to ablate: give --num-candidates (e.g. 3,5,7), --components or --subset")
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        raise UserError(f"the ablation names a variant twice: {', '.join(names)}")
    return out


def ablation_specs(request: AblationRequest, options: RunOptions = RunOptions()) -> list[JobSpec]:
    """Every job of the ablation, validated: each variant's `autoal` jobs (named by the variant), then the
    baselines'."""
    base = dict(request.bench.strategy_params.get("autoal", {}))
    base.pop("candidates", None)
    specs = []
    for variant in variants(request):
        sub = replace(request.bench, strategies=("autoal",), strategy_params={"autoal": variant.strategy_params(base)})
        specs += [replace(spec, variant=variant.name) for spec in plan(sub, options)]
    baselines = tuple(s for s in request.bench.strategies if s != "autoal")
    if baselines:
        specs += plan(replace(request.bench, strategies=baselines), options)
    return specs


def run_ablation(specs: list[JobSpec], out_dir: Path, options: RunOptions = RunOptions(),
                 reporter: Reporter | None = None) -> SweepOutcome:
    """Run the ablation's jobs as one sweep: finished jobs in `out_dir` are skipped, as in `bench`."""
    options.check()
    return run_specs(specs, out_dir, options, reporter)


# CPU seconds per trained round (a job trains rounds + 1 times) of one job on digits at the profile's budget, one
# torch thread: autoal (the paper's 7 candidates) and, for every other strategy, the mean of random and entropy.
# Measured on the project's 2-core development machine under load (CPU time is what a job costs whatever else runs;
# its wall time is that divided by the share of a core it gets):
#   smoke: autoal bench --datasets digits --strategies random,entropy,autoal --profile smoke --threads 1
#          --workers 1 --out OUT, then the rows' *_cpu_seconds summed per job (1 seed, 2 rounds: autoal 1.13 s per
#          job, random 0.55 s, entropy 0.65 s);
#   cpu:   python benchmarks/autoal.py --dataset digits --data-dir ../shared/data --seeds 0,1,2 --threads 1
#          --strategies (random, entropy, autoal and others) --out OUT, its OUT/cpu_seconds.csv (3 seeds, 11 rounds:
#          autoal 75.7 s per job, random 29.3 s, entropy 31.9 s).
# Fewer candidates cost autoal less, so the autoal figure errs long for small K.
MEASURED_ROUND_CPU_SECONDS = {
    "smoke": {"autoal": 0.38, "other": 0.20},
    "cpu": {"autoal": 6.9, "other": 2.8},
}
MEASURED_ON = "digits"


@dataclass(frozen=True)
class Estimate:
    """How long the unfinished jobs should take: summed CPU seconds, and wall seconds on `workers` workers."""
    jobs: int
    cpu_seconds: float
    wall_seconds: float
    workers: int
    basis: str  # what the figures come from, in words
    unknown: int = 0  # jobs with nothing to base an estimate on (left out of the sums)


def estimate(to_run: list[JobSpec], out_dir: Path, workers: int) -> Estimate:
    """Per job: CPU seconds per round of finished jobs of the same arm (else strategy) and dataset in `out_dir`,
    else the measured figure of its profile; times its rounds + 1. Wall time assumes the workers stay busy."""
    recorded = recorded_round_seconds(Path(out_dir))
    per_job, sources = [], set()
    for spec in to_run:
        seconds, source = round_seconds(spec, recorded)
        per_job.append(None if seconds is None else seconds * (spec.rounds + 1))
        sources.add(source)
    known = [s for s in per_job if s is not None]
    workers = max(1, min(workers, len(to_run)))
    return Estimate(len(to_run), sum(known), sum(known) / workers, workers, basis_text(sources - {None}, out_dir),
                    len(per_job) - len(known))


def round_seconds(spec: JobSpec, recorded: dict[str, dict[tuple, float]]) -> tuple[float | None, str | None]:
    for by, name in [("arm", spec.arm), ("strategy", spec.strategy)]:
        seconds = recorded.get(by, {}).get((spec.dataset, spec.profile, name))
        if seconds is not None:
            return seconds, "recorded"
    measured = MEASURED_ROUND_CPU_SECONDS.get(spec.profile)
    if measured is None:
        return None, None
    return measured["autoal" if spec.strategy == "autoal" else "other"], "measured"


def recorded_round_seconds(out_dir: Path) -> dict[str, dict[tuple, float]]:
    """Mean CPU seconds per round of the finished jobs in `out_dir`, by (dataset, profile, arm) under "arm" and
    by (dataset, profile, strategy) under "strategy"; empty when none finished (or none recorded CPU time)."""
    from .analysis.aggregate import CPU_COLUMNS, text_column
    from .results import JOBS_DIR, read_results_and_damage

    if not any((out_dir / JOBS_DIR).glob("*.parquet")):
        return {}
    rows = read_results_and_damage(out_dir, skip_damaged=True)[0]
    rows = rows.assign(arm=[f"{s}({v})" if v else s for s, v in zip(rows["strategy"], text_column(rows, "variant"))],
                       cpu=rows.reindex(columns=CPU_COLUMNS).sum(axis=1, min_count=len(CPU_COLUMNS)))
    jobs = rows.groupby("job_id").agg(dataset=("dataset", "first"), profile=("profile", "first"),
                                      strategy=("strategy", "first"), arm=("arm", "first"),
                                      cpu=("cpu", lambda c: c.sum(min_count=len(c))), rounds=("round", "size"))
    jobs = jobs.dropna(subset=["cpu"]).assign(per_round=lambda j: j.cpu / j.rounds)
    return {by: jobs.groupby(["dataset", "profile", by])["per_round"].mean().to_dict() for by in ("arm", "strategy")}


def basis_text(sources: set[str], out_dir: Path) -> str:
    parts = []
    if "recorded" in sources:
        parts.append(f"the CPU time of finished jobs in {out_dir}")
    if "measured" in sources:
        parts.append(f"CPU time per round measured on {MEASURED_ON} on a 2-core machine, one thread per job "
                     "(other datasets and machines differ: the first finished jobs give a better estimate)")
    return " and ".join(parts) or "nothing: no measured figure for this profile and no finished jobs to go by"
