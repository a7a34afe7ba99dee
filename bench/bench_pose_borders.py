"""Outliers along the picture's sides of re-posed people (the Deformable GAN's border speckle, issue #16):

    python bench/bench_pose_borders.py MODEL [MODEL ...] --data sfpose128-s95 --pairs 128

For each model, on the first ``--pairs`` of the eval's fixed sample of test pairs: the share of pixels whose
worst channel is off the exact target by more than ``--threshold`` grey levels, in the ``--border``-pixel
strips at the left and right sides and in the middle (``2 x --border`` pixels in from each side), and the mean
absolute error in the strips."""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="re-posing exports, runs or asset:NAME")
    ap.add_argument("--data", required=True)
    ap.add_argument("--pairs", type=int, default=128)
    ap.add_argument("--border", type=int, default=6)
    ap.add_argument("--threshold", type=float, default=64)
    a = ap.parse_args()

    from fashionlab.data.imaging import denormalise
    from fashionlab.data.loader import collate
    from fashionlab.metrics.pose_eval import PoseEvaluation, reposer_method
    from fashionlab.models.registry import load

    models = [(m, load(m)) for m in a.models]
    size = tuple(models[0][1].preprocess.size)
    ev = PoseEvaluation(a.data, size, load("asset:keypoints-synth128x64-eval"), None, pairs=a.pairs, progress=False)
    batch = collate([ev.dataset[int(i)] for i in ev.order[: a.pairs]])
    truth = denormalise(batch["target_image"]).astype(float)
    k = a.border
    print(f"{len(truth)} test pairs of {a.data}; > {a.threshold:g} grey levels off, worst channel")
    print("| model | side strips (outliers) | middle (outliers) | side strips mean error |")
    print("|---|---|---|---|")
    for name, model in models:
        out = denormalise(reposer_method(model, "annotated")(batch).float().cpu()).astype(float)
        err = np.abs(out - truth)
        worst = err.max(axis=3)
        sides = np.concatenate([worst[:, :, :k], worst[:, :, -k:]], axis=2)
        middle = worst[:, :, 2 * k : -2 * k]
        mean_sides = np.concatenate([err[:, :, :k], err[:, :, -k:]], axis=2).mean()
        print(
            f"| {name} | {100 * (sides > a.threshold).mean():.2f}% | {100 * (middle > a.threshold).mean():.2f}% "
            f"| {mean_sides:.1f} |"
        )


if __name__ == "__main__":
    main()
