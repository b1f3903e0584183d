"""At full labels, does the linear profile's head reach scikit-learn's LogisticRegression on the same cached
embeddings? The test accuracies are printed, LogisticRegression's at each inverse regularisation strength C
(default 1, scikit-learn's own default, and 10); the head should be within 1 point.

    python benchmarks/linear_sanity.py --datasets trec,mr --encoder minilm --data-dir ../shared/data --C 1,10
"""

from __future__ import annotations

import argparse
import time

import torch


def compare(dataset: str, encoder: str, data_dir: str, strengths: list[float]) -> tuple[float, dict[float, float]]:
    from sklearn.linear_model import LogisticRegression

    from alscope_autoal.encoders.cache import embedded_dataset
    from alscope_autoal.loop import evaluate, image_spec
    from alscope_autoal.prepare import prepare
    from alscope_autoal.profiles import PROFILES
    from alscope_autoal.spec import JobSpec
    from alscope_autoal.training import train_model

    data = embedded_dataset(dataset, encoder, data_dir)
    profile = PROFILES.get("linear")
    spec = JobSpec(dataset, "random", 0, "linear", 1, 1, 1, encoder=encoder)
    prepared = prepare(data, spec, profile)
    device = torch.device("cpu")
    model = train_model(prepared.pool_x, prepared.pool_y, image_spec(data, prepared), profile, 0, device)
    head = evaluate(model, prepared, image_spec(data, prepared), profile, device)["accuracy"]
    logistic = {}
    for c in strengths:
        fitted = LogisticRegression(C=c, max_iter=5000).fit(prepared.pool_x.numpy(), prepared.pool_y.numpy())
        logistic[c] = float((fitted.predict(prepared.test_x.numpy()) == prepared.test_y.numpy()).mean())
    return head, logistic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="trec,mr")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--C", default="1,10", help="LogisticRegression's C values, comma-separated")
    args = parser.parse_args()
    try:
        strengths = [float(c) for c in args.C.split(",")]
    except ValueError:
        parser.error(f"--C takes numbers, comma-separated, such as 1,10; not {args.C!r}")
    torch.set_num_threads(1)
    for dataset in args.datasets.split(","):
        t0 = time.perf_counter()
        head, logistic = compare(dataset, args.encoder, args.data_dir, strengths)
        others = ", ".join(f"LogisticRegression(C={c:g}) {100 * accuracy:.1f} %" for c, accuracy in logistic.items())
        print(f"{dataset}/{args.encoder}: linear head {100 * head:.1f} %, {others} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
