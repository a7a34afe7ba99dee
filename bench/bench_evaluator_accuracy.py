"""Per-attribute accuracy of an attribute evaluator (attrnet or attrclf export) on a dataset split:

    python bench/bench_evaluator_accuracy.py --model asset:attrclf-synth64-eval --data sf64 [--split test]

How model cards measure an evaluator: the ceiling of any editor's manipulation accuracy it can certify.
Prints one markdown row (and ``--json`` writes the figures)."""

from __future__ import annotations

import argparse
import json

import torch
from tqdm import tqdm

import fashionlab
from fashionlab.data.loader import FashionDataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    model = fashionlab.load(args.model)
    ds = FashionDataset(args.data, split=args.split, size=model.preprocess.size, resize=model.preprocess.resize)
    names = ds.attribute_names
    right = torch.zeros(len(names))
    count = torch.zeros(len(names))
    with torch.no_grad():
        for s in tqdm(range(0, len(ds), args.batch_size), desc=args.split):
            items = [ds[i] for i in range(s, min(s + args.batch_size, len(ds)))]
            x = torch.stack([it["image"] for it in items])
            labels = torch.stack([it["attributes"] for it in items])
            preds = torch.stack([p.argmax(1) for p in model.predict(model.preprocess.fit_batch(x))], 1)
            known = labels >= 0
            right += ((preds == labels) & known).sum(0).float()
            count += known.sum(0).float()
    acc = {n: float(right[a] / count[a].clamp_min(1)) for a, n in enumerate(names)}
    print(
        f"| {args.model} on {args.data} {args.split} ({len(ds)}) | " + " | ".join(f"{acc[n]:.4f}" for n in names) + " |"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "data": args.data, "split": args.split, "accuracy": acc}, f, indent=2)


if __name__ == "__main__":
    main()
