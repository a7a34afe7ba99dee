"""Renderer throughput: SynthFashion images per second in ONE process, masks and keypoints included.

    .venv/bin/python bench/bench_synth.py                 # all sizes, prints a markdown table
    .venv/bin/python bench/bench_synth.py --n 3000 --sizes 64 128

Each size is warmed up (numba's compiled kernels load from cache or compile once), then timed over
``--n`` images with random garments, each render producing the image, the region masks, the exact
support bits and the 18 keypoints. Also times dataset writing (render + PNG encode of image and mask),
still in one process. Goals (issue #2): >= 1000 img/s at 64 px, >= 300 img/s at 128 px.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from fashionlab.data.imaging import save_png  # noqa: E402
from fashionlab.synth.attributes import sample_attributes  # noqa: E402
from fashionlab.synth.render import render  # noqa: E402


def parse_size(s: str) -> tuple[int, int]:
    h, _, w = s.partition("x")
    return int(h), int(w or h)


def bench_render(size: tuple[int, int], n: int, repeats: int = 3) -> float:
    attrs = [sample_attributes(np.random.default_rng(i)) for i in range(n)]
    for i in range(50):  # warm-up
        render(i, attrs[i % n], size=size)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(n):
            r = render(1000 + i, attrs[i], size=size)
            assert r.mask is not None and r.keypoints.shape == (18, 2)
        best = max(best, n / (time.perf_counter() - t))
    return best


def bench_write(size: tuple[int, int], n: int) -> float:
    attrs = [sample_attributes(np.random.default_rng(i)) for i in range(n)]
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        for i in range(n):
            r = render(5000 + i, attrs[i], size=size)
            save_png(Path(d) / f"{i}.png", r.image)
            save_png(Path(d) / f"{i}.m.png", r.mask)
        return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="images per timing")
    ap.add_argument("--sizes", nargs="+", default=["64", "128", "256", "128x64"])
    args = ap.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, date {date.today()}"
    )
    print("| size | render img/s (1 process) | render + PNG write img/s (1 process) |")
    print("|---|---|---|")
    for s in args.sizes:
        size = parse_size(s)
        n = args.n if size[0] * size[1] <= 128 * 128 else max(200, args.n // 4)
        print(
            f"| {size[0]}x{size[1]} | {bench_render(size, n):.0f} | {bench_write(size, max(200, n // 2)):.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
