"""Embedding a catalog on Ray Data (issue #17 part 2): images/s for 1 and 2 actors, then searching it.

    python bench/bench_ray_embed.py --n 10000                       # here: local Ray, 1 and 2 actors
    fashionlab data synth --out bench-ray/sf64-protos --n 2000 --size 64 --seed 32
    python bench/bench_ray_embed.py --n 1000000 --actors 2 --catalog-kind milvus --write-batch 20000 \
        --no-baseline --prototype-data bench-ray/sf64-protos
    python bench/bench_ray_embed.py --data /shared/sf64-1000000 --address ray://HEAD:10001 --actors 32 \
        --catalog-kind milvus --write-batch 20000 --no-baseline --prototype-data bench-ray/sf64-protos

1. ``--n`` SynthFashion images (64 px, seed 31) are rendered to disk (``--data`` reuses a dataset), timed.
2. The single-process path (``fashionlab index add``: :func:`fashionlab.search.build.add_to_catalog`, one
   torch thread) embeds them into a catalog, as the baseline (``--no-baseline`` skips it).
3. For each ``--actors`` count, :func:`fashionlab.search.ray_embed.embed_with_ray` embeds them into a new
   catalog (one CPU and one torch thread per actor); images/s counts from the pipeline's start (Ray's
   start-up apart) to the last catalog write.
   With the baseline (folder catalogs), each is compared with its catalog: same ids in the same order, and
   the largest difference of any vector.
4. The last catalog is searched: ``--queries`` catalog images as queries (plain search, k=10: is the image
   itself the first hit, and the latency), and "this, but with long sleeves" (share of hits with long
   sleeves).

The model is the shipped 64 px attribute network (``asset:attrnet-synth64``). Prints one JSON object and
writes it to ``WORK/bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from fashionlab.search.build import add_to_catalog, embed_query, load_model_for_search
from fashionlab.search.query import Searcher
from fashionlab.search.ray_embed import embed_with_ray, prepare_catalog
from fashionlab.search.ray_sources import list_source
from fashionlab.synth.generate import SynthConfig, generate_dataset

MODEL = "asset:attrnet-synth64"


def catalog_location(work: Path, name: str, kind: str) -> Path:
    path = work / (f"{name}.db" if kind == "milvus" else name)
    if path.is_dir():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    return path


def max_difference(cat, single: Path) -> float | None:
    """Largest difference of any vector to the single-process catalog's (``None``: other ids or order)."""
    from fashionlab.search.catalog import Catalog

    ref = Catalog.open(single)
    if [it.id for it in ref.items()] != [it.id for it in cat.items()]:
        return None
    a, b = ref.vectors(), cat.vectors()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def search_checks(cat, model, data: Path, n_queries: int) -> dict:
    """Self-retrieval at rank 1 and latency of plain searches, and the long-sleeve share of a change search,
    with the first ``n_queries`` images of ``data`` (all in the catalog) as queries."""
    searcher = Searcher(cat, model)
    items = list_source(data)[:n_queries]
    self_top, times, long_share = 0, [], []
    for it in items:
        vec = embed_query(model, it.image)
        t = time.perf_counter()
        hits = searcher.query(vec, k=10)
        times.append(time.perf_counter() - t)
        self_top += hits[0].item.id == it.id
        if it.attributes.get("sleeve") != "long":
            changed = searcher.query(vec, {"sleeve": "long"}, k=10)
            long_share.append(np.mean([h.item.attributes.get("sleeve") == "long" for h in changed]))
    return {
        "queries": len(items),
        "self_at_rank_1": self_top / max(1, len(items)),
        "search_ms_p50": float(np.percentile(times, 50) * 1000),
        "search_ms_p99": float(np.percentile(times, 99) * 1000),
        "long_sleeve_share_of_top10_after_change": float(np.mean(long_share)) if long_share else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="SynthFashion images to render and embed")
    p.add_argument("--data", type=Path, help="embed this dataset instead of rendering one")
    p.add_argument(
        "--prototype-data",
        type=Path,
        help="labelled dataset for the value prototypes (default: the data; give a small one at 1M items, as "
        "the prototypes' embedding packs its whole dataset)",
    )
    p.add_argument("--work", type=Path, default=Path("bench-ray"), help="folder for the data and catalogs")
    p.add_argument("--actors", default="1,2", help="comma-separated actor counts, one run each")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    p.add_argument("--write-batch", type=int, default=2048, help="images per catalog add")
    p.add_argument("--catalog-kind", choices=["folder", "milvus"], default="folder", help="milvus: Milvus Lite .db")
    p.add_argument("--address", help="a Ray cluster (auto or ray://HEAD:10001); default a local Ray")
    p.add_argument("--no-baseline", action="store_true", help="skip the single-process run")
    p.add_argument("--queries", type=int, default=100)
    args = p.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    out: dict = {"n": args.n, "model": MODEL, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    data = args.data
    if data is None:
        data = args.work / f"sf64-{args.n}"
        if not (data / "dataset.json").is_file():
            shutil.rmtree(data, ignore_errors=True)
            t = time.perf_counter()
            generate_dataset(data, SynthConfig(n=args.n, size=(64, 64), seed=31, workers=1), progress=True)
            out["render_images_per_s"] = args.n / (time.perf_counter() - t)
    model = load_model_for_search(MODEL)

    def new_catalog(name: str):
        loc = catalog_location(args.work, name, args.catalog_kind)
        return prepare_catalog(
            MODEL, loc, prototype_data=args.prototype_data or data, prototype_limit=2000, progress=False
        )

    if not args.no_baseline:
        cat = new_catalog("catalog-single")
        t = time.perf_counter()
        add_to_catalog(cat, model, data, splits=None, batch_size=args.batch_size, progress=True)
        out["single_process_images_per_s"] = len(cat) / (time.perf_counter() - t)
        cat.close()
    runs = []
    cat = None
    for actors in [int(a) for a in args.actors.split(",")]:
        if cat is not None:
            cat.close()
        cat = new_catalog(f"catalog-ray-{actors}")
        stats = embed_with_ray(
            data,
            model,
            cat,
            batch_size=args.batch_size,
            actors=actors,
            address=args.address,
            write_batch=args.write_batch,
        )
        print(stats.summary(), flush=True)
        runs.append({k: v for k, v in stats.to_dict().items() if k != "errors"})
        if not args.no_baseline and args.catalog_kind == "folder":
            runs[-1]["max_abs_diff_to_single_process"] = max_difference(cat, args.work / "catalog-single")
    out["ray"] = runs
    out["search"] = search_checks(cat, model, data, args.queries)
    cat.close()
    text = json.dumps(out, indent=2)
    print(text)
    (args.work / "bench.json").write_text(text)


if __name__ == "__main__":
    main()
