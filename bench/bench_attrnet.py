"""Attribute network quality on SynthFashion: accuracy, localisation, manipulation search (issue #3).

    # data and model (see docs/benchmarks.md for the exact commands used)
    fashionlab data synth --out data/sf128 --n 20000 --size 128 --seed 0 --region-mix 0.15
    fashionlab data synth --out data/sf128-catalog --n 10000 --size 128 --seed 1 --region-mix 0.15 --split 0,0,1
    fashionlab train attrnet --preset cpu --data data/sf128
    python bench/bench_attrnet.py --model runs/attrnet/run-001 --data data/sf128 --catalog-data data/sf128-catalog

Measures on the held-out test split of --data: per-attribute accuracy, pointing games (on the attribute's
own mask pixels, with a tolerance, and on its exact SynthFashion edit region) and AAM-box IoU.
Builds a catalog from --catalog-data (a separately rendered set; prototypes from --data's train split),
then asks one manipulation query per test image (a random attribute changed to a random other value,
kept when the target combination exists in the catalog) and reports top-k accuracy for FashionSearchNet
representations and for the global-feature baseline, plus NDCG@30. Prints markdown and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from fashionlab.metrics.attributes import evaluate_attributes
from fashionlab.metrics.retrieval import KS, evaluate_manipulation, evaluate_region_queries
from fashionlab.search.build import attribute_labels, build_catalog, embed_dataset, load_model_for_search
from fashionlab.search.catalog import Catalog
from fashionlab.search.query import Searcher


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument(
        "--catalog-data", default=None, help="catalog set for the search part (required unless --attributes-only)"
    )
    ap.add_argument("--attributes-only", action="store_true", help="only accuracy and localisation")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None, help="test images (default: all)")
    ap.add_argument("--json", default=None, help="write results here")
    ap.add_argument("--workers", type=int, default=2, help="processes re-rendering the edit regions")
    args = ap.parse_args()
    if not args.attributes_only and not args.catalog_data:
        ap.error("--catalog-data is required (or give --attributes-only)")

    model = load_model_for_search(args.model)
    t = time.perf_counter()
    rep = evaluate_attributes(model, args.data, args.split, limit=args.limit, workers=args.workers)
    names = model.attribute_names
    print(f"# attrnet bench  ({date.today()}, {platform.machine()}, model {args.model})\n")
    print(f"test images: {rep.n}  ({time.perf_counter() - t:.0f}s)\n")
    print(
        f"| attribute | accuracy | pointing game (mask, strict) | pointing game (mask, {rep.tolerance} px tolerance) "
        "| pointing game (edit region) | AAM box IoU |\n|---|---|---|---|---|---|"
    )
    columns = [rep.accuracy, rep.pointing, rep.pointing_tolerant, rep.pointing_edit, rep.box_iou]
    digits = [4, 3, 3, 3, 3]
    for n in [*names, "mean"]:
        cells = []
        for col, d in zip(columns, digits, strict=True):
            v = col.get(n) if n != "mean" else (np.mean(list(col.values())) if col else None)
            cells.append("-" if v is None else f"{v:.{d}f}")
        print(f"| {n} | " + " | ".join(cells) + " |")
    print()
    if rep.region_accuracy:
        print(
            "region attributes (the sleeves' own values; sleeveless tops skipped): "
            + ", ".join(f"{k} accuracy {v:.4f}" for k, v in rep.region_accuracy.items())
            + "\n"
        )
    if args.attributes_only:
        return

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        cat = build_catalog(
            args.model,
            args.catalog_data,
            Path(d) / "catalog",
            splits=None,
            prototype_data=args.data,
            prototype_split="train",
        )
        build_s = time.perf_counter() - t
        cat = Catalog.open(cat.root)
        searcher = Searcher(cat, model)
        _, q_items, q_vecs = embed_dataset(model, args.data, [args.split], limit=args.limit)
        q_labels = attribute_labels(q_items, model.attributes)
        c_labels = attribute_labels(cat.items(), model.attributes)
        res = evaluate_manipulation(searcher, q_vecs, q_labels, c_labels)
        res2 = evaluate_manipulation(searcher, q_vecs, q_labels, c_labels, changes=2)
        res_region = evaluate_region_queries(searcher, q_vecs, [it.attributes for it in q_items], cat.items())
    print(
        f"catalog: {len(c_labels)} items (built in {build_s:.0f}s incl. prototypes); manipulation queries: "
        f"{res.n_queries} (skipped {res.n_skipped} whose target is not in the catalog)\n"
    )
    print("| method | " + " | ".join(f"top-{k}" for k in KS) + " | NDCG@30 |")
    print("|---|" + "---|" * (len(KS) + 1))
    for m, row in res.topk.items():
        print(f"| {m} | " + " | ".join(f"{row[k]:.3f}" for k in KS) + f" | {res.ndcg[m]:.3f} |")
    print(f"\ntwo attributes changed at once ({res2.n_queries} queries, {res2.n_skipped} skipped):\n")
    print("| method | " + " | ".join(f"top-{k}" for k in KS) + " | NDCG@30 |")
    print("|---|" + "---|" * (len(KS) + 1))
    for m, row in res2.topk.items():
        print(f"| {m} | " + " | ".join(f"{row[k]:.3f}" for k in KS) + f" | {res2.ndcg[m]:.3f} |")
    print(
        f"\nregion-aware: 'this, but with sleeves of colour X' ({res_region.n_queries} queries; hit = sleeves X "
        "and body colour unchanged):\n"
    )
    print("| query | " + " | ".join(f"top-{k}" for k in KS) + " |\n|---|" + "---|" * len(KS))
    for m, row in res_region.topk.items():
        print(f"| {m} | " + " | ".join(f"{row[k]:.3f}" for k in KS) + " |")
    print("\nper attribute changed (top-30):\n")
    print("| method | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for m, row in res.per_attribute.items():
        print(f"| {m} | " + " | ".join(f"{row.get(n, float('nan')):.3f}" for n in names) + " |")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "accuracy": rep.accuracy,
                    "pointing": rep.pointing,
                    "pointing_tolerant": rep.pointing_tolerant,
                    "pointing_edit": rep.pointing_edit,
                    "region_accuracy": rep.region_accuracy,
                    "box_iou": rep.box_iou,
                    "n_test": rep.n,
                    "topk": res.topk,
                    "ndcg": res.ndcg,
                    "per_attribute": res.per_attribute,
                    "n_queries": res.n_queries,
                    "n_skipped": res.n_skipped,
                    "two_changes": {"topk": res2.topk, "ndcg": res2.ndcg, "n_queries": res2.n_queries},
                    "region": {"topk": res_region.topk, "n_queries": res_region.n_queries},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
