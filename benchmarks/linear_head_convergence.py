"""How far the linear profile's L-BFGS iterations take the head: for seeded random labeled sets of a few sizes, the
dropout-marginalised training loss, the weight norm and the training accuracy after each iteration budget (the
profile's `epochs`). Where the loss falls towards 0 while the weight norm keeps growing, the labeled set is
linearly separable and the objective has no minimum: the iteration budget is what stops the head. That was the
profile before its L2 term (526ab4a); `--weight-decay 0` runs the head without the term (at today's tolerances).

    OMP_NUM_THREADS=1 python benchmarks/linear_head_convergence.py --datasets trec,mr --encoder minilm \\
        --data-dir ../shared/data --labels 500,1100 --iterations 10,20,40,100,300
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="trec,mr")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--labels", default="500,1100", help="labeled-set sizes, comma-separated")
    parser.add_argument("--iterations", default="10,20,40,100,300", help="L-BFGS iteration budgets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weight-decay", type=float, help="the head's L2 strength instead of the profile's")
    args = parser.parse_args()
    try:
        sizes, budgets = [int(n) for n in args.labels.split(",")], [int(n) for n in args.iterations.split(",")]
    except ValueError:
        parser.error("--labels and --iterations take whole numbers, comma-separated, such as 500,1100")
    torch.set_num_threads(1)
    from alscope_autoal.encoders.cache import embedded_dataset
    from alscope_autoal.loop import image_spec
    from alscope_autoal.prepare import prepare
    from alscope_autoal.profiles import PROFILES
    from alscope_autoal.spec import JobSpec
    from alscope_autoal.training import normalise, train_model

    profile = PROFILES.get("linear")
    if args.weight_decay is not None:
        profile = profile.with_(weight_decay=args.weight_decay)
    print("dataset | labels | L-BFGS iterations | training loss | weight norm | training accuracy")
    for dataset in args.datasets.split(","):
        data = embedded_dataset(dataset, args.encoder, args.data_dir)
        prepared = prepare(data, JobSpec(dataset, "random", 0, "linear", 100, 100, 10, encoder=args.encoder), profile)
        spec = image_spec(data, prepared)
        order = torch.randperm(len(prepared.pool_y), generator=torch.Generator().manual_seed(args.seed))
        for n in sizes:
            x, y = prepared.pool_x[order[:n]], prepared.pool_y[order[:n]]
            for iterations in budgets:
                model = train_model(x, y, spec, profile.with_(epochs=iterations), args.seed, torch.device("cpu"))
                with torch.no_grad():
                    xn = normalise(x, spec)
                    loss = model.marginal_loss(xn, y).item()
                    accuracy = (model(xn).argmax(1) == y).float().mean().item()
                print(f"{dataset} | {n} | {iterations} | {loss:.4f} | {model.classifier.weight.norm():.1f} | "
                      f"{100 * accuracy:.1f} %", flush=True)


if __name__ == "__main__":
    main()
