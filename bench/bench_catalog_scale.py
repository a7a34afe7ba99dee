"""Catalog backends at scale: a folder (SQLite + FAISS) against Milvus (Lite here; a server by --milvus-uri).

    python bench/bench_catalog_scale.py                       # 10k and 100k items, both backends
    python bench/bench_catalog_scale.py --sizes 10000 --backends milvus-flat --milvus-uri http://HOST:19530
    python bench/bench_catalog_scale.py --with-1m             # adds the 1M-item row (hours on 2 cores)
    python bench/bench_catalog_scale.py --backends folder --sizes 10000,100000 --with-1m   # the folder alone
    python bench/bench_catalog_scale.py --backends folder --sizes 100000 --folder-build-batch 1000

Per catalog size and backend: the time to build the catalog, to add 1,000 items to it (and, on Milvus, to
delete them again), single-query latency p50/p99 (k=30, one thread) of a plain search (``global`` field),
a filtered one (two colours of twelve) and a region one ("red sleeves": the ``score`` field), and
recall@30 of the plain search against exact search (numpy over the same vectors). A folder catalog is built
in one add (``--folder-build-batch``: in adds of that many items, so with several segments) and, after the
1,000-item add, merged into one segment (``merge_all_s``: ``Catalog.compact``, the cost of the merge
policy's worst case, a cascade that rewrites every item); its ``segments`` column counts the segments the
queries ran over. After the add: the time of the first search (what a catalog re-reads after a change) and
the plain search's p50 again.

Vectors: real embeddings are few, so the catalogs are drawn to match them. ``--fit-images`` SynthFashion
renders (128 px, seed 21) are embedded with the shipped attribute network; the catalog's vectors are drawn
from the Gaussian with the mean and covariance of those embeddings (all kinds jointly: global 128, attribute
representations 5x64, baseline 128, sleeve representations 2x64), then each vector is L2-normalised per
representation as the network does. Item attributes are those of a random fitted image. The prototypes are
the real ones. Nothing of this depends on the backend.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from fashionlab.cli.demo import SHIPPED_ATTRNET
from fashionlab.search.build import embed_dataset, labelled_prototypes, load_model_for_search
from fashionlab.search.locations import create_catalog
from fashionlab.search.query import model_identity
from fashionlab.search.scoring import region_query, score_dim, score_layout
from fashionlab.synth.generate import SynthConfig, generate_dataset

BACKENDS = {"folder": ("folder", "auto"), "milvus-flat": ("milvus", "flat"), "milvus-hnsw": ("milvus", "hnsw")}


def fit(n_images: int, work: Path):
    """(model, prototypes, embeddings, items) of ``n_images`` SynthFashion renders."""
    data = generate_dataset(
        work / "fit-data", SynthConfig(n=n_images, size=(128, 128), seed=21, workers=1, region_mix=0.5), progress=False
    )
    model = load_model_for_search(SHIPPED_ATTRNET)
    _, items, vecs = embed_dataset(model, data, None, progress=False)
    return model, labelled_prototypes(model, items, vecs), vecs, items


class Sampler:
    """Draws vectors from the Gaussian of the fitted embeddings (exact mean and covariance: the centred
    embeddings times standard normal weights), re-normalised per representation."""

    def __init__(self, vecs: dict[str, np.ndarray], items, seed: int = 0):
        self.shapes = {k: v.shape[1:] for k, v in vecs.items()}
        flat = np.concatenate([v.reshape(len(v), -1) for v in vecs.values()], axis=1).astype(np.float64)
        self.mean = flat.mean(0)
        self.centred = (flat - self.mean) / np.sqrt(len(flat) - 1)
        self.items = items
        self.rng = np.random.default_rng(seed)

    def draw(self, n: int) -> dict[str, np.ndarray]:
        flat = np.concatenate(  # float32 chunk by chunk: 1M items would take 5.6 GB in float64
            [
                (self.mean + self.rng.standard_normal((min(10_000, n - i), len(self.centred))) @ self.centred).astype(
                    np.float32
                )
                for i in range(0, n, 10_000)
            ]
        )
        out, start = {}, 0
        for k, shape in self.shapes.items():
            size = int(np.prod(shape))
            v = flat[:, start : start + size].reshape(n, *shape)
            out[k] = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
            start += size
        return out

    def fields(self, prefix: str, n: int):
        picks = self.rng.integers(0, len(self.items), n)
        its = [self.items[i] for i in picks]
        return (
            [f"{prefix}{i:08d}" for i in range(n)],
            [f"synthetic/{prefix}{i:08d}.png" for i in range(n)],
            [it.attributes for it in its],
            [it.region_attributes for it in its],
        )


def percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def timed_queries(cat, field: str, queries: np.ndarray, k: int, where=None) -> tuple[list[float], list[list[str]]]:
    lat, ids = [], []
    for q in queries:
        t = time.perf_counter()
        hits = cat.search(field, q, k, where)
        lat.append((time.perf_counter() - t) * 1000)
        ids.append([it.id for _, it in hits])
    return lat, ids


def run_one(backend: str, n: int, args, model, protos, sampler: Sampler, work: Path) -> dict:
    kind, index = BACKENDS[backend]
    if kind == "folder":
        location = str(work / f"folder-{n}")
    else:
        location = f"{args.milvus_uri or work / f'milvus-{n}.db'}#bench_{backend.replace('-', '_')}_{n}"
    sampler.rng = np.random.default_rng(n)  # the same catalog for every backend
    vectors = sampler.draw(n)
    fields = sampler.fields("item-", n)
    extra = {"model_id": model_identity(model)}
    t = time.perf_counter()
    cat = create_catalog(
        location,
        model_path=str(SHIPPED_ATTRNET),
        attributes=model.attributes,
        prototypes=protos,
        index_kind=index,
        extra=extra,
    )
    step = (args.folder_build_batch or n) if kind == "folder" else args.build_batch
    for i in range(0, n, step):
        part = [f[i : i + step] for f in fields]
        cat.add(*part, {k: v[i : i + step] for k, v in vectors.items()})
    build_s = time.perf_counter() - t
    row = {"backend": backend, "items": n, "index": cat.meta.get("index"), "build_s": round(build_s, 1)}
    if kind == "folder" and hasattr(cat, "segments"):  # (a folder catalog of format version 1 has none)
        row["segments"] = len(cat.segments)

    queries = sampler.draw(args.queries)
    cat.search("global", queries["global"][0], 30)  # warm: a folder reads its files on the first search
    cat.search("score", np.zeros(score_dim(model.attributes, protos, queries["global"].shape[1]), np.float32), 30)
    lat, got = timed_queries(cat, "global", queries["global"], 30)
    exact = np.argsort(-(vectors["global"] @ queries["global"].T), axis=0)[:30].T
    ids = fields[0]
    recall = np.mean([len({ids[j] for j in e} & set(g)) / 30 for e, g in zip(exact, got, strict=True)])
    row |= dict(zip(("p50_ms", "p99_ms"), percentiles(lat), strict=True)) | {"recall@30": round(float(recall), 4)}
    lat, _ = timed_queries(cat, "global", queries["global"], 30, {"color": ["red", "blue"]})
    row["filtered_p50_ms"] = percentiles(lat)[0]
    layout = score_layout(model.attributes, protos, queries["global"].shape[1])
    red = dict(model.attributes)["color"].index("red")
    region_q = [
        region_query(q, layout, [("region__sleeves.color", red)], [("rep__color", 0)], 1.0) for q in queries["global"]
    ]
    lat, _ = timed_queries(cat, "score", np.stack(region_q), 30)
    row["region_p50_ms"] = percentiles(lat)[0]

    extra_vecs = sampler.draw(1000)
    t = time.perf_counter()
    cat.add(*sampler.fields("added-", 1000), extra_vecs)
    row["add_1000_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    cat.search("global", queries["global"][0], 30)  # the first search after an add: what it has to (re)read
    row["first_search_after_add_ms"] = (time.perf_counter() - t) * 1000
    row["p50_after_add_ms"] = percentiles(timed_queries(cat, "global", queries["global"], 30)[0])[0]
    if kind == "milvus":
        t = time.perf_counter()
        cat.delete([f"added-{i:08d}" for i in range(1000)])
        row["delete_1000_s"] = round(time.perf_counter() - t, 2)
    elif hasattr(cat, "compact"):
        row["segments_after_add"] = len(cat.segments)
        t = time.perf_counter()
        cat.compact()
        row["merge_all_s"] = round(time.perf_counter() - t, 2)
    cat.close()
    if kind == "folder":
        shutil.rmtree(location, ignore_errors=True)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="catalog sizes (comma-separated)")
    ap.add_argument("--with-1m", action="store_true", help="also 1,000,000 items")
    ap.add_argument("--backends", default=",".join(BACKENDS), help=f"of {', '.join(BACKENDS)}")
    ap.add_argument("--milvus-uri", default=None, help="a Milvus server (default: a Milvus Lite file per size)")
    ap.add_argument("--fit-images", type=int, default=400, help="real embeddings the vectors are drawn to match")
    ap.add_argument("--queries", type=int, default=200, help="queries per measurement")
    ap.add_argument("--build-batch", type=int, default=50_000, help="items per add when building a Milvus catalog")
    ap.add_argument("--folder-build-batch", type=int, default=0, help="items per add building a folder (0: one add)")
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one, removed)")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    work = Path(args.work or tempfile.mkdtemp(prefix="catalog-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    model, protos, vecs, items = fit(args.fit_images, work)
    sampler = Sampler(vecs, items)
    print(f"fitted on {len(items)} embeddings in {time.perf_counter() - t:.0f}s", flush=True)
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.with_1m else [])
    rows = []
    cols = ["backend", "items", "index", "segments", "build_s", "add_1000_s", "delete_1000_s", "merge_all_s"]
    cols += ["p50_ms", "p99_ms", "recall@30", "filtered_p50_ms", "region_p50_ms"]
    cols += ["first_search_after_add_ms", "p50_after_add_ms"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols), flush=True)
    for n in sizes:
        for backend in args.backends.split(","):
            row = run_one(backend, n, args, model, protos, sampler, work)
            rows.append(row)
            print("| " + " | ".join(str(row.get(c, "-")) for c in cols) + " |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
