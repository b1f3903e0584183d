"""Is `efficientnet-lite0` the real network? A linear probe (scikit-learn LogisticRegression) on its CIFAR-10
features, with the packaged ImageNet weights against the same architecture with random weights, at several input
resolutions: embedding CPU seconds per image and probe test accuracy for each.

    python ../shared/data/cifar10-jpeg/build.py /tmp/cifar        # CIFAR-10's pickles, about 10 s
    OMP_NUM_THREADS=1 python benchmarks/efficientnet_probe.py --data-dir /tmp/cifar --train 400 --test 200 \\
        --sides 224,160,128,96
    OMP_NUM_THREADS=1 python benchmarks/efficientnet_probe.py --data-dir /tmp/cifar --train 2000 --test 1000 \\
        --sides 224 --weights imagenet,random

The images are the first `--train` of a seeded permutation of the training set and the first `--test` of the
test set's; both arms see the same ones.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

WEIGHT_SEEDS = {"imagenet": None, "random": 0}  # None: the packaged ImageNet weights; an int: random weights


def probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(max_iter=3000).fit(scaler.transform(train_x), train_y)
    return float((model.predict(scaler.transform(test_x)) == test_y).mean())


def embed(images: torch.Tensor, side: int, random_seed: int | None) -> tuple[np.ndarray, float]:
    from alscope_autoal.allocator import tune_allocator
    from alscope_autoal.encoders import ENCODERS, efficientnet

    tune_allocator()  # as the embedding cache does (AUTOAL_MALLOC_TUNING=off: the platform's allocator)

    efficientnet.SIDE = side
    encoder = ENCODERS.get("efficientnet-lite0").build(Path("."), False, random_seed)
    start = time.process_time()
    features = encoder.encode(images)
    return features, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/tmp/cifar")
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--sides", default="224,160,128,96")
    parser.add_argument("--weights", default="imagenet", help="imagenet, random (seed 0) or both, comma-separated")
    args = parser.parse_args()
    unknown = set(args.weights.split(",")) - set(WEIGHT_SEEDS)
    if unknown:
        parser.error(f"--weights takes {' or '.join(WEIGHT_SEEDS)}, comma-separated; not {', '.join(sorted(unknown))}")
    torch.set_num_threads(1)
    from alscope_autoal.data import load_dataset

    data = load_dataset("cifar10", args.data_dir)
    pick = lambda n, size: np.random.default_rng(0).permutation(size)[:n]  # noqa: E731
    train, test = pick(args.train, len(data.train_y)), pick(args.test, len(data.test_y))
    images = torch.cat([data.train_x[train], data.test_x[test]])
    for side in map(int, args.sides.split(",")):
        for weights in args.weights.split(","):
            seed = WEIGHT_SEEDS[weights]
            features, cpu = embed(images, side, seed)
            accuracy = probe(features[:args.train], data.train_y[train].numpy(), features[args.train:],
                             data.test_y[test].numpy())
            print(f"{side} px, {weights} weights: {1000 * cpu / len(images):.1f} CPU ms per image, probe accuracy "
                  f"{100 * accuracy:.1f} % ({args.train} train / {args.test} test images)", flush=True)


if __name__ == "__main__":
    main()
