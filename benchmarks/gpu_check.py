"""What to run the day a GPU is available: the paper profile end to end on a CIFAR-10-sized synthetic pool, every
registered strategy, one round, twice, with `--deterministic` on; the two runs must give the same picks and the
same accuracies.

    python benchmarks/gpu_check.py                  # one GPU: 50,000 x 3 x 32 x 32 pool, budget 1,000 + 1,000
    python benchmarks/gpu_check.py --tiny           # CPU, seconds: what CI runs
    python benchmarks/gpu_check.py --strategies batchbald,probcover --json out.json
    python benchmarks/gpu_check.py --precision bf16 # the same check with bf16 autocast (channels-last on a GPU)

One round: the task model (ResNet-18, the paper profile's optimiser, batch size and augmentation) is trained on the
initial labels once per run (the two runs are set up first, then go side by side, strategy by strategy, and the
`--json` report is rewritten after each one, so a run cut short by a time limit still says which strategies
repeated); each strategy picks a batch from the same trained model and pool, and a fresh model
trained on the initial labels plus that batch is scored on the test set. The training schedules are cut to
`--epochs` (the task model, the ensemble members, VAAL, learning loss) and AutoAL's and the oracle's own training
to the same number of epochs, so the check costs minutes, not a day: it checks that every strategy runs at the
paper's pool and budget sizes on the GPU and repeats exactly, not what accuracy the paper's schedule reaches.
It prints each strategy's selection and training seconds, which size a real sweep.

The images are class-dependent patterns plus noise (seeded), so models learn something and strategies have
structure to find. Exit code 0 when both runs agree, 1 otherwise (the differing strategies are named).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from alscope_autoal.determinism import numerics
from alscope_autoal.errors import UserError
from alscope_autoal.loop import pick_device
from alscope_autoal.pool import LabelState
from alscope_autoal.profiles import DEFAULT_PRECISION, PROFILES
from alscope_autoal.seeds import derive_seed, rng_for
from alscope_autoal.strategies import STRATEGIES, QueryContext, make_strategy
from alscope_autoal.strategies.params import accepted
from alscope_autoal.training import ImageSpec, check_precision, classification_metrics, forward_pool, train_model

FULL = dict(pool=50_000, test=10_000, side=32, initial=1_000, query=1_000, epochs=10)
TINY = dict(pool=300, test=100, side=8, initial=20, query=10, epochs=1)
SCHEDULE_PARAMS = ("pretrain_epochs", "search_epochs", "retrain_epochs")  # AutoAL's and the oracle's own training
SPEC = ImageSpec(3, 10, torch.full((3,), 0.5), torch.full((3,), 0.25), True)
TINY_PARAMS = {"noise-stability": {"samples": 3}, "ensemble-var-ratio": {"members": 2}}  # ResNet-18 copies on a CPU


def synthetic_images(n: int, side: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (n, 3, side, side): a fixed random pattern per class plus pixel noise; labels balanced."""
    gen = torch.Generator().manual_seed(seed)
    patterns = torch.randn(classes, 3, side, side, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % classes
    labels = labels[torch.randperm(n, generator=gen)]
    images = 128 + 40 * patterns[labels] + 50 * torch.randn(n, 3, side, side, generator=gen)
    return images.clamp(0, 255).to(torch.uint8), labels


def strategy_params(name: str, epochs: int, tiny: bool) -> dict:
    """Each strategy's defaults, with its own training schedule cut to `epochs`; in --tiny fewer model copies."""
    keys = accepted(STRATEGIES.get(name))
    params = {key: epochs for key in SCHEDULE_PARAMS if key in keys}
    return params | (TINY_PARAMS.get(name, {}) if tiny else {})


@dataclass
class Run:
    """One of the two runs: its pool on the device, its test set and its task model trained on the initial labels."""
    pool: LabelState
    pool_x: torch.Tensor
    pool_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    model: torch.nn.Module
    cache: dict = field(default_factory=dict)  # one round's forward passes, shared by every strategy as AutoAL's
    #                                            candidates share them


def start_run(sizes: dict, device: torch.device) -> tuple[Run, dict]:
    """Everything seeded: the pool, the initial labels, and the task model trained on them."""
    pool_x, pool_y = synthetic_images(sizes["pool"], sizes["side"], 10, seed=1)
    test_x, test_y = synthetic_images(sizes["test"], sizes["side"], 10, seed=2)
    pool = LabelState(len(pool_y))
    pool.label(np.sort(np.random.default_rng(3).choice(len(pool_y), sizes["initial"], replace=False)), 0)
    pool_x = pool_x.to(device)
    started = time.perf_counter()
    labeled = torch.as_tensor(pool.trainable_indices(), device=device)
    model = train_model(pool_x[labeled], pool_y[labeled.cpu()], SPEC, profile_for(sizes), seed=4, device=device)
    run = Run(pool, pool_x, pool_y, test_x, test_y, model)
    return run, {"train_seconds": time.perf_counter() - started, "accuracy": accuracy(run, sizes, device)}


def profile_for(sizes: dict):
    return PROFILES.get("paper").with_(epochs=sizes["epochs"], precision=sizes.get("precision", DEFAULT_PRECISION))


def accuracy(run: Run, sizes: dict, device, model=None) -> float:
    profile = profile_for(sizes)
    logits, _ = forward_pool(model or run.model, run.test_x, SPEC, device, profile.eval_batch_size)
    return classification_metrics(run.test_y.numpy(), logits.argmax(1).numpy(), SPEC.n_classes)["accuracy"]


def run_strategy(run: Run, name: str, sizes: dict, device: torch.device, tiny: bool) -> dict:
    """Pick one batch with `name` from the run's trained model, retrain on the initial labels plus it, score."""
    profile = profile_for(sizes)
    ctx = QueryContext(run.model, run.pool.copy(), run.pool_x, run.pool_y, SPEC, profile, device, 0,
                       derive_seed(0, name, "strategy"), next_model_seed=5, _cache=run.cache)
    strategy = make_strategy(name, strategy_params(name, sizes["epochs"], tiny))
    started = time.perf_counter()
    picked = np.sort(np.asarray(strategy.select(ctx, sizes["query"], rng_for(0, name, "query", 0)).indices))
    selected = time.perf_counter()
    rows = torch.as_tensor(np.concatenate([run.pool.trainable_indices(), picked]), device=device)
    retrained = train_model(run.pool_x[rows], run.pool_y[rows.cpu()], SPEC, profile, seed=5, device=device)
    return {"picks": picked.tolist(), "selection_seconds": selected - started,
            "train_seconds": time.perf_counter() - selected, "accuracy": accuracy(run, sizes, device, retrained)}


def same(first: dict, second: dict) -> bool:
    """The runs agree on everything but the clock."""
    return ({k: v for k, v in first.items() if "seconds" not in k}
            == {k: v for k, v in second.items() if "seconds" not in k})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a few hundred 8x8 images on the CPU (CI)")
    parser.add_argument("--strategies", help="comma-separated subset (default: every registered strategy)")
    parser.add_argument("--epochs", type=int, help="training epochs of every model trained (default: 10; tiny 1)")
    parser.add_argument("--json", type=Path, help="write the report here as well")
    parser.add_argument("--precision", default=DEFAULT_PRECISION, help="fp32 or bf16: every model trained and "
                        f"every forward pass in it (default: the suite's, {DEFAULT_PRECISION})")
    parser.add_argument("--no-deterministic", dest="deterministic", action="store_false",
                        help="let cuDNN autotune (to time what --deterministic costs; the runs may then differ)")
    args = parser.parse_args(argv)
    sizes = dict(TINY if args.tiny else FULL) | ({"epochs": args.epochs} if args.epochs else {}) | {
        "precision": args.precision}
    names = args.strategies.split(",") if args.strategies else list(STRATEGIES)
    for name in names:
        STRATEGIES.check(name)
    device = torch.device("cpu") if args.tiny else pick_device()
    if device.type != "cuda" and not args.tiny:
        print("no GPU visible: the full check is meant for one; use --tiny on a CPU", file=sys.stderr)
        return 2
    try:
        check_precision(args.precision, device)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started, cpu_started = time.perf_counter(), time.process_time()
    report = {"device": device.type, "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
              "precision": args.precision,
              "deterministic": args.deterministic, "sizes": sizes, "strategies": [], "identical": True,
              "differing": [], "per_strategy": {}}
    with numerics(args.deterministic):
        runs = [start_run(sizes, device) for _ in range(2)]
        report["per_strategy"]["_initial"] = runs[0][1] | {"second_run": runs[1][1]}
        report["differing"] += [] if same(runs[0][1], runs[1][1]) else ["_initial"]
        for name in names:
            first, second = (run_strategy(run, name, sizes, device, args.tiny) for run, _ in runs)
            report["strategies"].append(name)
            report["differing"] += [] if same(first, second) else [name]
            report["per_strategy"][name] = {k: v for k, v in first.items() if k != "picks"} | {
                "second_run_selection_seconds": second["selection_seconds"]}
            report |= {"identical": not report["differing"], "total_seconds": time.perf_counter() - started,
                       "cpu_seconds": time.process_time() - cpu_started}
            print(f"  {name}: selection {first['selection_seconds']:.1f} s and {second['selection_seconds']:.1f} s,"
                  f" {'same' if same(first, second) else 'DIFFERENT'}", file=sys.stderr, flush=True)
            if args.json:  # after every strategy, so a run stopped by a time limit still leaves its verdicts
                args.json.write_text(json.dumps(report, indent=1))
    print_report(report)
    return 0 if not report["differing"] else 1


def print_report(report: dict) -> None:
    print(f"{report['device']} {report['gpu'] or ''}: pool {report['sizes']['pool']}, budget "
          f"{report['sizes']['initial']} + {report['sizes']['query']}, {report['sizes']['epochs']} epoch(s)")
    print(f"{'strategy':<20} {'select s':>9} {'train s':>8} {'accuracy':>9}")
    for name, row in report["per_strategy"].items():
        print(f"{name:<20} {row.get('selection_seconds', 0):>9.2f} {row['train_seconds']:>8.2f} "
              f"{row['accuracy']:>9.3f}")
    verdict = "identical" if report["identical"] else f"DIFFERENT: {', '.join(report['differing'])}"
    print(f"two runs: {verdict}; {report['total_seconds']:.0f} s in all ({report['cpu_seconds']:.0f} CPU s)")


if __name__ == "__main__":
    sys.exit(main())
