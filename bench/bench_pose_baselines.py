"""How hard a pose dataset is for PCKh, and how good the keypoint estimator is on it:

    python bench/bench_pose_baselines.py DATA [--model asset:keypoints-synth128x64] [--size 128x64]

Prints the PCKh (official calPCKH rules) of (1) always answering the training split's mean pose and (2) the
keypoint estimator, on the test split's real images.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import fashionlab
from fashionlab.data.loader import FashionDataset
from fashionlab.metrics.pose import pckh


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--model", default="asset:keypoints-synth128x64")
    ap.add_argument("--size", default="128x64")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    splits = {
        s: FashionDataset(args.data, split=s, size=size, with_keypoints=True, progress=False) for s in ("train", "test")
    }
    kps = {s: np.stack([ds[k]["keypoints"].numpy() for k in range(len(ds))]) for s, ds in splits.items()}
    visible = (kps["train"] >= 0).all(-1)
    mean = np.stack([kps["train"][:, j][visible[:, j]].mean(0) for j in range(18)])
    print("mean pose:", pckh(np.broadcast_to(mean, kps["test"].shape), kps["test"]))
    net = fashionlab.load(args.model)
    test = splits["test"]
    images = torch.stack([test[k]["image"] for k in range(len(test))])
    pred = torch.cat([net.predict(images[i : i + 128]) for i in range(0, len(images), 128)]).numpy()
    print(f"{args.model}:", pckh(pred, kps["test"]))


if __name__ == "__main__":
    main()
