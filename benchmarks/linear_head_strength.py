"""Which L2 strength should the linear profile's head use? For each candidate C (in units of the embeddings' mean
squared norm: the profile's `weight_decay` is 1/C, `training.head_l2_weight`), the head's accuracy on a validation
split of the training pool (a seeded fifth; the test set is never read), at a few labeled-set sizes drawn from the
rest, averaged over three draws (one at the largest size), with the L-BFGS iterations each training took. Beside
them, "no L2, 20 it.": the head without the L2 term, stopped after at most 20 iterations (the profile before
526ab4a, but stopping at this profile's tolerances).

    OMP_NUM_THREADS=1 python benchmarks/linear_head_strength.py --datasets trec,mr --encoder minilm \\
        --data-dir ../shared/data --labels 100,300,1100,100000 --C 3,10,30,100

`--tolerances GRAD,CHANGE` replaces L-BFGS's stopping tolerances (`training.HEAD_TOLERANCES`) in every arm, to see
what the profile's looser ones cost in accuracy (torch's defaults are 1e-7,1e-9). A size above the training part
of the pool means all of it.
"""

from __future__ import annotations

import argparse
import statistics

import torch

VALIDATION_SEED = 123


def validation_split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(VALIDATION_SEED))
    return order[: n // 5], order[n // 5:]


def count_iterations() -> list[int]:
    """Record each L-BFGS run's iteration count (torch keeps it in the optimiser's state)."""
    counts: list[int] = []
    step = torch.optim.LBFGS.step

    def counted(self, closure):
        loss = step(self, closure)
        counts.append(self.state[self._params[0]]["n_iter"])
        return loss

    torch.optim.LBFGS.step = counted
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="trec,mr")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--labels", default="100,300,1100,4355", help="labeled-set sizes, comma-separated")
    parser.add_argument("--C", default="3,10,30,100", help="strengths, comma-separated (weight_decay = 1/C)")
    parser.add_argument("--tolerances", help="GRAD,CHANGE: L-BFGS's stopping tolerances instead of the profile's")
    args = parser.parse_args()
    try:
        sizes, strengths = [int(n) for n in args.labels.split(",")], [float(c) for c in args.C.split(",")]
        grad, change = (float(t) for t in args.tolerances.split(",")) if args.tolerances else (None, None)
    except ValueError:
        parser.error("--labels takes whole numbers, --C numbers, --tolerances two numbers, comma-separated, such as "
                     "100,300, 10,30 and 1e-7,1e-9")
    torch.set_num_threads(1)
    from alscope_autoal.encoders.cache import embedded_dataset
    from alscope_autoal.loop import image_spec
    from alscope_autoal.prepare import prepare
    from alscope_autoal.profiles import PROFILES
    from alscope_autoal.spec import JobSpec
    from alscope_autoal import training
    from alscope_autoal.training import train_model

    if args.tolerances:
        training.HEAD_TOLERANCES = {"tolerance_grad": grad, "tolerance_change": change}

    profile, iterations = PROFILES.get("linear"), count_iterations()
    arms = {"no L2, 20 it.": profile.with_(weight_decay=0.0, epochs=20)}
    arms |= {f"C={c:g}": profile.with_(weight_decay=1 / c) for c in strengths}
    print("dataset | labels | " + " | ".join(f"{name}: accuracy, iterations" for name in arms))
    for dataset in args.datasets.split(","):
        data = embedded_dataset(dataset, args.encoder, args.data_dir)
        prepared = prepare(data, JobSpec(dataset, "random", 0, "linear", 100, 100, 10, encoder=args.encoder),
                           profile)
        spec, x, y = image_spec(data, prepared), prepared.pool_x.float(), prepared.pool_y
        validation, training = validation_split(len(y))
        for n in sizes:
            n = min(n, len(training))
            draws = [training[torch.randperm(len(training), generator=torch.Generator().manual_seed(draw))[:n]]
                     for draw in range(3 if n < len(training) else 1)]
            cells = []
            for arm in arms.values():
                accuracies, iterations[:] = [], []
                for draw, labeled in enumerate(draws):
                    head = train_model(x[labeled], y[labeled], spec, arm, draw, torch.device("cpu"))
                    with torch.no_grad():
                        accuracies.append(float((head(x[validation]).argmax(1) == y[validation]).float().mean()))
                cells.append(f"{100 * statistics.mean(accuracies):.1f} %, {statistics.mean(iterations):.0f}")
            print(f"{dataset} | {n} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
