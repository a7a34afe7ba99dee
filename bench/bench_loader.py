"""Loader throughput: packing (decode PNG -> memory-mapped array) and iterating batches for training.

    .venv/bin/python bench/bench_loader.py --n 4000 --size 128

Renders a SynthFashion dataset of --n images into a temporary folder, then times (1) `fashionlab data
pack` in one process and with 2 processes, (2) reading every training item through FashionDataset +
make_loader (batch 64, no worker processes), i.e. what the trainer sees per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

from fashionlab.data.loader import FashionDataset, make_loader
from fashionlab.data.pack import pack_dataset
from fashionlab.synth.generate import SynthConfig, generate_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, date {date.today()}, {args.n} images at {args.size}px"
    )
    with tempfile.TemporaryDirectory() as d:
        root = generate_dataset(
            Path(d) / "ds", SynthConfig(n=args.n, size=(args.size, args.size), seed=0), progress=False
        )
        rows = []
        for workers in (1, 2):
            t = time.perf_counter()
            pack_dataset(root, workers=workers, progress=False, force=True)
            rows.append((f"pack ({workers} process{'es' if workers > 1 else ''})", args.n / (time.perf_counter() - t)))
        ds = FashionDataset(root, split="train", progress=False)
        loader = make_loader(ds, 64, seed=0)
        it = iter(loader)
        steps = len(ds) // 64
        t = time.perf_counter()
        for _ in range(steps):
            next(it)
        rows.append(("iterate batches of 64 (training reads)", steps * 64 / (time.perf_counter() - t)))
    print("| stage | images/s |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
