"""`autoal ablate`: AutoAL variants (candidate subsets, components switched off) run through `bench`'s machinery,
summarised as a table (Markdown, CSV, LaTeX) and a figure.

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
from typing import Any, Callable

import pandas as pd

from .bench import BenchRequest, run_bench
from .errors import UserError
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


def run_ablation(request: AblationRequest, out_dir: Path, data_dir: Path | None = None, download: bool = False,
                 reporter=None, run: Callable = run_bench, **run_options: Any) -> dict[str, list]:
    """Run every variant (and the baselines) with `run_bench`; returns variant name -> its job specs' ids.

    Finished jobs in `out_dir` are skipped, as in `bench`. `run_options` go to `run_bench` unchanged.
    """
    chosen = variants(request)
    base = dict(request.bench.strategy_params.get("autoal", {}))
    base.pop("candidates", None)
    jobs: dict[str, list] = {}
    for variant in chosen:
        sub = replace(request.bench, strategies=("autoal",),
                      strategy_params={"autoal": variant.strategy_params(base)})
        outcome = run(sub, out_dir, data_dir, download, reporter, **run_options)
        jobs[variant.name] = [s.job_id for s in outcome.ran + outcome.skipped]
        if outcome.failed:
            jobs.setdefault("_failed", []).extend(outcome.failed)
    baselines = tuple(s for s in request.bench.strategies if s != "autoal")
    if baselines:
        outcome = run(replace(request.bench, strategies=baselines), out_dir, data_dir, download, reporter,
                      **run_options)
        for spec in outcome.ran + outcome.skipped:
            jobs.setdefault(spec.strategy, []).append(spec.job_id)
        if outcome.failed:
            jobs.setdefault("_failed", []).extend(outcome.failed)
    return jobs


def ablation_table(rows: pd.DataFrame, jobs: dict[str, list], candidates: dict[str, tuple[str, ...]]
                   ) -> pd.DataFrame:
    """One line per dataset x variant: mean and std over seeds of AUBC and final accuracy, mean job seconds."""
    from .metrics import per_job

    arm = {job_id: name for name, ids in jobs.items() if name != "_failed" for job_id in ids}
    rows = rows[rows.job_id.isin(arm)].copy()
    if rows.empty:
        raise UserError("no finished ablation jobs to summarise")
    rows["strategy"] = rows.job_id.map(arm)
    rows["strategy_params"] = ""  # the variant name already says what changed
    per = per_job(rows)
    grouped = per.groupby(["dataset", "strategy"], sort=False)
    table = grouped.agg(seeds=("seed", "nunique"), aubc=("aubc", "mean"), aubc_std=("aubc", "std"),
                        final_accuracy=("final_accuracy", "mean"), final_accuracy_std=("final_accuracy", "std"),
                        job_seconds=("job_seconds", "mean")).reset_index()
    table = table.rename(columns={"strategy": "variant"})
    table.insert(2, "candidates", table.variant.map(lambda v: ",".join(candidates.get(v, ()))))
    order = {name: i for i, name in enumerate(jobs)}
    return table.sort_values(["dataset", "variant"], key=lambda c: c.map(order) if c.name == "variant" else c)


def cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in values) + " |" for values in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def latex(table: pd.DataFrame) -> str:
    esc = lambda s: s.replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")  # noqa: E731
    lines = [r"\begin{tabular}{" + "l" * 3 + "r" * (len(table.columns) - 3) + "}", r"\toprule",
             " & ".join(esc(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(esc(cell(v)) for v in values) + r" \\" for values in table.itertuples(index=False)]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"]) + "\n"


def figure(table: pd.DataFrame):
    """AUBC per variant (error bars: std over seeds), one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    datasets = list(dict.fromkeys(table.dataset))
    fig = Figure(figsize=(5.5 * len(datasets), 0.45 * table.variant.nunique() + 1.5))
    for i, dataset in enumerate(datasets):
        ax = fig.add_subplot(1, len(datasets), i + 1)
        part = table[table.dataset == dataset]
        ax.barh(part.variant, part.aubc, xerr=part.aubc_std.fillna(0), color="tab:blue", alpha=0.8)
        ax.invert_yaxis()
        low = (part.aubc - part.aubc_std.fillna(0)).min()
        ax.set_xlim(max(0.0, low - 0.02), min(1.0, (part.aubc + part.aubc_std.fillna(0)).max() + 0.01))
        ax.set_xlabel("AUBC (accuracy over the label budget)")
        ax.set_title(f"{dataset} ({int(part.seeds.min())}+ seeds)")
    fig.tight_layout()
    return fig


def write_outputs(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """ablation.md, ablation.csv, ablation.tex and ablation.png in `out_dir`."""
    out_dir = Path(out_dir)
    paths = [out_dir / f"ablation.{ext}" for ext in ("md", "csv", "tex", "png")]
    paths[0].write_text(markdown(table))
    table.to_csv(paths[1], index=False)
    paths[2].write_text(latex(table))
    figure(table).savefig(paths[3], dpi=150)
    return paths
