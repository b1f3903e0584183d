"""Seconds to embed a text dataset (train + test) with an encoder, one torch thread, nothing written.

    python benchmarks/embedding_time.py --datasets mr,trec --encoder minilm --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mr,trec")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from pathlib import Path

    from alscope_autoal.data import load_dataset
    from alscope_autoal.encoders import ENCODERS

    t0 = time.perf_counter()
    encoder = ENCODERS.get(args.encoder).build(Path(args.data_dir).resolve(), False, None)
    print(f"{args.encoder}: loaded in {time.perf_counter() - t0:.1f} s, {args.threads} torch thread(s)")
    for name in args.datasets.split(","):
        data = load_dataset(name, args.data_dir)
        texts = data.train_texts + data.test_texts
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        encoder.encode(texts)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        print(f"{name}: {len(texts)} texts in {wall:.1f} s wall ({cpu:.1f} s CPU, {len(texts) / wall:.0f} texts/s)")


if __name__ == "__main__":
    main()
