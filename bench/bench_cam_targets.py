"""How well candidate attention targets cover each attribute's exact edit region (SynthFashion).

For the first ``--n`` test images and each attribute, the frozen classifier's CAM (min-max normalised, at
image size) of the image's *source* value, of a random other *target* value (AMGAN's paper form), their
pixelwise *union* and their *contrast* (CAM(source) - CAM(target), the CAM of the logit difference) are
compared with the exact edit region (``synth.ground_truth``): mean map value
inside and outside the region, and IoU of the map above 0.5 with the region.

    python bench/bench_cam_targets.py --classifier asset:attrnet-synth64 --data sf64 --n 48
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import fashionlab
from fashionlab.data.loader import FashionDataset
from fashionlab.models.editing.cams import contrast_cams, target_cams
from fashionlab.synth.ground_truth import item_edit_regions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classifier", default="asset:attrnet-synth64")
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    clf = fashionlab.load(args.classifier)
    size = clf.preprocess.size
    ds = FashionDataset(args.data, split="test", size=size, resize=clf.preprocess.resize, progress=False)
    n = min(args.n, len(ds))
    x = torch.stack([ds[i]["image"] for i in range(n)])
    labels = torch.from_numpy(ds.labels[:n])
    rng = np.random.default_rng(args.seed)
    native = tuple(ds.schema.image_size)
    if native != size:
        raise SystemExit(f"use a dataset rendered at the classifier's size {size}, not {native}")
    print("| attribute | map | mean inside | mean outside | IoU (map > 0.5) |")
    print("|---|---|---|---|---|")
    for a, name in enumerate(ds.attribute_names):
        regions = np.stack([item_edit_regions(ds.items[i], native, [name])[name] for i in range(n)])
        k = len(ds.specs[a].values)
        src = labels[:, a]
        tgt = torch.tensor([(int(v) + 1 + int(rng.integers(k - 1))) % k for v in src])
        attr = torch.full((n,), a)
        with torch.no_grad():
            cam_s = target_cams(clf, x, attr, src)[:, 0].numpy()
            cam_t = target_cams(clf, x, attr, tgt)[:, 0].numpy()
            cam_c = contrast_cams(clf, x, attr, src, tgt)[:, 0].numpy()
        maps = (("source", cam_s), ("target", cam_t), ("union", np.maximum(cam_s, cam_t)), ("contrast", cam_c))
        for label, cam in maps:
            inside = (cam * regions).sum() / regions.sum()
            outside = (cam * ~regions).sum() / (~regions).sum()
            iou = ((cam > 0.5) & regions).sum() / ((cam > 0.5) | regions).sum()
            print(f"| {name} | {label} | {inside:.3f} | {outside:.3f} | {iou:.3f} |")


if __name__ == "__main__":
    main()
