"""At full labels, does the linear profile's head reach scikit-learn's LogisticRegression on the same cached
embeddings? LogisticRegression's inverse regularisation strength C is chosen as a user would choose it: on a
validation split of the training pool (the seeded fifth that benchmarks/linear_head_strength.py holds out), then
refitted on the whole pool. Test accuracies are printed for the head, for LogisticRegression at the chosen C, and
for every C tried (for information: the test set chooses nothing). The head should be within 1 point of the chosen C.

    OMP_NUM_THREADS=1 python benchmarks/linear_sanity.py --datasets trec,mr --encoder minilm --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import time

import torch
from linear_head_strength import validation_split


def logistic_accuracies(prepared, strengths: list[float]) -> tuple[float, dict[float, float], dict[float, float]]:
    """The C with the best validation accuracy, and each C's validation and test accuracy (refitted on the pool)."""
    from sklearn.linear_model import LogisticRegression

    x, y = prepared.pool_x.float().numpy(), prepared.pool_y.numpy()
    test_x, test_y = prepared.test_x.float().numpy(), prepared.test_y.numpy()
    validation, training = (part.numpy() for part in validation_split(len(y)))
    on_validation, on_test = {}, {}
    for c in strengths:
        fitted = LogisticRegression(C=c, max_iter=5000).fit(x[training], y[training])
        on_validation[c] = float((fitted.predict(x[validation]) == y[validation]).mean())
        on_test[c] = float((LogisticRegression(C=c, max_iter=5000).fit(x, y).predict(test_x) == test_y).mean())
    return max(strengths, key=on_validation.get), on_validation, on_test


def compare(dataset: str, encoder: str, data_dir: str, strengths: list[float]) -> str:
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
    chosen, on_validation, on_test = logistic_accuracies(prepared, strengths)
    tried = ", ".join(f"C={c:g} {100 * on_validation[c]:.1f} / {100 * on_test[c]:.1f} %" for c in strengths)
    return (f"{dataset}/{encoder}: linear head {100 * head:.1f} %, LogisticRegression at the validation's C={chosen:g} "
            f"{100 * on_test[chosen]:.1f} % (difference {100 * (head - on_test[chosen]):+.1f} points); "
            f"validation / test accuracy by C: {tried}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="trec,mr")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--C", default="0.1,1,10,100", help="LogisticRegression's C values to choose from")
    args = parser.parse_args()
    try:
        strengths = [float(c) for c in args.C.split(",")]
    except ValueError:
        parser.error(f"--C takes numbers, comma-separated, such as 1,10; not {args.C!r}")
    torch.set_num_threads(1)
    for dataset in args.datasets.split(","):
        t0 = time.perf_counter()
        print(f"{compare(dataset, args.encoder, args.data_dir, strengths)} ({time.perf_counter() - t0:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
