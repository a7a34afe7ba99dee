"""FAISS indexes for a 10M-item catalog on one machine, on vectors drawn to match real embeddings (issue #17, part 3).

    OMP_NUM_THREADS=1 python bench/bench_catalog_10m.py --n 10000000 --work bench-10m --out scale-10m.json
    OMP_NUM_THREADS=1 python bench/bench_catalog_10m.py --n 1000000 --nlist 1024 --skip realism,manip \
        --indexes ivfflat,ivfsqfp16,ivfsq8,ivfpq32 --work bench-10m --out scale-1m.json
    # the manipulation check on 1M real embeddings (the catalog bench/bench_ray_embed.py embedded):
    OMP_NUM_THREADS=1 python bench/bench_catalog_10m.py --real-catalog bench-ray/catalog-ray-1 \
        --real-data bench-ray/sf64-1000000 --skip cost,realism,big --manip-drawn 0 --work bench-1m --out manip-1m.json

Five steps, each printed as a markdown table and written to the ``--out`` JSON (``--skip`` leaves some out):

0. **cost**: GFLOP per image and images/s of the shipped 64 px and 128 px attribute networks alone.
1. **Real embeddings.** ``--real`` SynthFashion images (64 px, seed 41, no region mix; split 80/10/10) are
   rendered and embedded with the shipped ``asset:attrnet-synth64`` (``search.build.embed_dataset``), one
   thread; both rates are measured. Kept in ``--work`` for re-runs. Or ``--real-catalog``: the vectors of a
   catalog that embedded a whole dataset (``--real-data``), in the dataset's order.
2. **The draw.** A mixture with one component per attribute combination (sleeve x colour x pattern x collar x
   fastening, 3,456 possible) is fitted to the ``global`` vectors of every other train image: each component's
   mean is its images' mean vector and its weight their share; the within-combination covariance is *shared*
   (pooled over all components, divided by images minus components), because a combination has about seven
   fit images, too few for a 128x128 covariance of its own. A draw picks a component by weight, adds a
   Gaussian with the shared covariance to its mean and L2-normalises (the network's output is normalised).
   Realism check at the size of the held-out real set (the other train images): recall@30 of the same
   indexes (built the same way) on the real vectors, the mixture's draws and one Gaussian's draws (part 1's
   method, for comparison), and the inner products of each query with its 1st and 30th nearest neighbours.
3. **The big collection.** ``--n`` drawn vectors (chunks of 250k, float32, to a file in ``--work``), 200
   drawn queries, exact top-30 by a chunked brute-force pass. Per index: build time (k-means on a sample,
   assignment, encoding), bytes of the written index, process RSS, and a sweep of nprobe / efSearch with
   single-query p50/p99 latency (one thread) and recall@30 against the exact top-30 (also tie-tolerant: the
   share of hits whose exact inner product is within 1e-3 of the exact 30th best). The IVF indexes share
   one coarse quantizer and one assignment pass (their build times include both). HNSW indexes are built on
   the first ``--hnsw-n`` vectors (1M by default, to keep the run within its time budget: one thread builds
   about 15-17k vectors/s at 1M, slower as the graph grows) with their own exact ground truth. The chosen
   index meets recall@30 >= 0.95 at p50 < 20 ms with the fewest bytes.
4. **Manipulation quality.** A folder catalog (``search.catalog``) of the real train+val images is queried
   with "this, but with ATTRIBUTE=VALUE" from test images through ``search.query.Searcher`` and
   ``metrics.retrieval.evaluate_manipulation`` (top-30 accuracy), first with the catalog's exact index, then
   with each of ``--manip-kinds`` (nlist = 4 sqrt(n), the catalog's rule) at each nprobe; also the recall@30 of
   the manipulated queries' hits against exact. The same on a ``--manip-drawn`` catalog of drawn vectors
   (labelled by their component) queried by the real test images.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from faiss.contrib.ivf_tools import add_preassigned
from knn_measure import K, exact_topk, index_bytes, nn_stats, print_table, recall, rss_mb, timed_search
from vector_draw import Collection, ComboMixture  # bench/vector_draw.py (bench/ is first on sys.path)

from fashionlab.data.format import Item, load_dataset
from fashionlab.metrics.retrieval import evaluate_manipulation, plan_queries
from fashionlab.models.attrnet import AttrNet
from fashionlab.search.build import attribute_labels, embed_dataset, labelled_prototypes, load_model_for_search
from fashionlab.search.catalog import Catalog, build_index
from fashionlab.search.query import Searcher, model_identity
from fashionlab.synth.generate import SynthConfig, generate_dataset

MODEL = "asset:attrnet-synth64"
IVF_PROBES = (8, 16, 32, 64, 128, 256)
HNSW_EFS = (32, 64, 128, 256, 512)
TIE = 1e-3  # tie-tolerant recall: a hit within this inner product of the exact 30th counts
SQ_TYPES = {"ivfsq8": faiss.ScalarQuantizer.QT_8bit, "ivfsqfp16": faiss.ScalarQuantizer.QT_fp16}
SLOW_MS = 60.0  # a sweep stops once p50 is above this (the target is 20 ms)


# ---------------------------------------------------------------------------------------------- real vectors
def real_embeddings(work: Path, n: int) -> tuple[list[Item], dict[str, np.ndarray], dict[str, float]]:
    """Items and vectors of ``n`` rendered SynthFashion images (cached in ``work``), with the measured
    rendering and embedding rates (images/s, one thread) of the run that made them."""
    root, cache, rates_file = work / f"real-{n}", work / f"real-{n}-vectors.npz", work / f"real-{n}-rates.json"
    if cache.exists() and rates_file.exists():
        with np.load(cache) as z:
            vecs = {k: z[k] for k in z.files}
        return load_dataset(root).items, vecs, json.loads(rates_file.read_text())
    t = time.perf_counter()
    generate_dataset(root, SynthConfig(n=n, size=(64, 64), seed=41, workers=1))
    render_s = time.perf_counter() - t
    model = load_model_for_search(MODEL)
    t = time.perf_counter()
    _, items, vecs = embed_dataset(model, root, None, batch_size=128)
    embed_s = time.perf_counter() - t
    rates = {"render_per_s": round(n / render_s, 1), "embed_per_s": round(n / embed_s, 1)}
    np.savez(cache, **vecs)
    rates_file.write_text(json.dumps(rates))
    return items, vecs, rates


def catalog_embeddings(catalog: Path, data: Path) -> tuple[list[Item], dict[str, np.ndarray], dict[str, float]]:
    """Items and vectors of a catalog that embedded the dataset ``data`` (e.g. the 1M-image catalog of
    ``bench/bench_ray_embed.py``), in the dataset's order; the rates are those the catalog's run reported."""
    ds = load_dataset(data)
    cat = Catalog.open(catalog)
    ids = [it.id for it in cat.items()]
    pos = {it.id: k for k, it in enumerate(ds.items)}
    prefix = ids[0].split("/", 1)[0] if ids else ""
    try:
        order = np.fromiter((pos[i.split("/", 1)[1]] for i in ids), np.int64, len(ids))
    except KeyError as e:
        raise SystemExit(f"{catalog}: item {e.args[0]} is not in {data}") from None
    if len(ids) != len(ds.items):
        raise SystemExit(f"{catalog} has {len(ids):,} items, {data} {len(ds.items):,}: embed it all first")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    vecs = {k: v[inverse] for k, v in cat.vectors().items()}
    bench = catalog.parent / "bench.json"
    rates = {}
    if bench.is_file():
        runs = json.loads(bench.read_text()).get("ray", [])
        rates = {"embed_per_s": runs[-1].get("images_per_s")} if runs else {}
    print(f"{len(ids):,} vectors of {catalog} ({prefix}) in the order of {data}", flush=True)
    return ds.items, vecs, rates


def network_cost(names: tuple[str, ...] = (MODEL, "asset:attrnet-synth128"), batch: int = 128) -> list[dict]:
    """Per shipped attribute network: GFLOP per image (torch's flop counter, one embedding) and images/s of
    the network alone (random pixels, batches of ``batch``, the process's torch threads)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fashionlab.search.embed import embed_batch

    rows = []
    for name in names:
        model = load_model_for_search(name).eval()
        size = model.preprocess.size
        side = size if isinstance(size, int) else size[0]
        x = torch.randn(batch, 3, side, side)
        with FlopCounterMode(display=False) as counter:
            embed_batch(model, x[:1])
        embed_batch(model, x)
        t = time.perf_counter()
        for _ in range(3):
            embed_batch(model, x)
        rate = 3 * batch / (time.perf_counter() - t)
        rows.append({"model": name, "px": side, "gflop_per_image": round(counter.get_total_flops() / 1e9, 3)})
        rows[-1]["images_per_s"] = round(rate, 1)
    return rows


# ---------------------------------------------------------------------------------------------- indexes
def small_index(kind: str, vecs: np.ndarray) -> faiss.Index:
    """The realism check's indexes at a small size: the folder catalog's IVF and IVF-PQ (nprobe 16), IVF-SQ8
    with the same nlist and nprobe, HNSW32 flat (efSearch 64)."""
    if kind in ("ivf", "ivfpq"):
        return build_index(vecs, kind)
    d, nlist = vecs.shape[1], max(16, int(4 * np.sqrt(len(vecs))))
    if kind in SQ_TYPES:
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(d), d, nlist, SQ_TYPES[kind], faiss.METRIC_INNER_PRODUCT, False
        )
        index.train(vecs)
        index.nprobe = 16
    else:
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 64
    index.add(vecs)
    return index


def realism(real: np.ndarray, real_q: np.ndarray, mix: ComboMixture, gauss: ComboMixture, n_queries: int) -> list[dict]:
    """Recall@30 of the same indexes and nearest-neighbour statistics on real vectors and on draws."""
    rows = []
    rng = np.random.default_rng(7)
    sets = {"real": (real, real_q[:n_queries])}
    for name, m in (("mixture", mix), ("one Gaussian", gauss)):
        sets[name] = (m.draw(len(real), rng)[0], m.draw(n_queries, rng)[0])
    for name, (vecs, queries) in sets.items():
        exact = exact_topk(lambda v=vecs: iter([v]), queries)[0]
        row = {"vectors": name, "n": len(vecs)}
        for kind in ("ivf", "ivfsq8", "ivfpq", "hnsw"):
            row[f"recall_{kind}"] = round(recall(small_index(kind, vecs).search(queries, K)[1], exact), 4)
        rows.append(row | nn_stats(vecs, queries))
    return rows


def sweep(
    index: faiss.Index, queries: np.ndarray, exact: tuple[np.ndarray, np.ndarray], coll: Collection, hnsw: bool
) -> list[dict]:
    """Recall@30 (exact and tie-tolerant) and single-query latency at each nprobe (IVF) or efSearch (HNSW),
    until recall >= 0.995 or p50 > SLOW_MS."""
    exact_ids, exact_s = exact
    out = []
    for value in HNSW_EFS if hnsw else IVF_PROBES:
        if hnsw:
            faiss.downcast_index(index).hnsw.efSearch = value
        else:
            faiss.extract_index_ivf(index).nprobe = value
        ids, p50, p99 = timed_search(index, queries)
        true_s = np.einsum("qkd,qd->qk", coll.rows(np.maximum(ids, 0)), queries)
        tol = float(np.mean((true_s >= exact_s[:, -1:] - TIE) & (ids >= 0)))
        out.append({"param": f"{'efSearch' if hnsw else 'nprobe'} {value}", "value": value})
        out[-1] |= {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "recall@30": round(recall(ids, exact_ids), 4)}
        out[-1]["recall@30_tol"] = round(tol, 4)
        print(f"  {out[-1]}", flush=True)
        if out[-1]["recall@30"] >= 0.995 or p50 > SLOW_MS:
            break
    return out


def big_indexes(args: argparse.Namespace, coll: Collection, queries: np.ndarray, work: Path) -> list[dict]:
    """Build and sweep each configured index over the collection."""
    d = coll.d
    hnsw_n = min(args.hnsw_n, coll.n)
    exact_by_n = {}
    for n in sorted({coll.n, hnsw_n}):
        exact_by_n[n] = exact_topk(lambda n=n: coll.chunks(n, desc=f"exact top-{K} over {n:,}"), queries)
    rows: list[dict] = []
    base_rss = rss_mb()[0]
    kinds = args.indexes.split(",")
    ivf_kinds = [k for k in kinds if k.startswith("ivf")]
    assign, ivf_common = None, {}
    if ivf_kinds:
        sample = coll.sample(max(args.nlist * 64, 100_000), seed=3)
        t = time.perf_counter()
        km = faiss.Kmeans(d, args.nlist, niter=10, spherical=True, seed=1, max_points_per_centroid=64)
        km.train(sample)
        quantizer = faiss.IndexFlatIP(d)
        quantizer.add(km.centroids)
        ivf_common["kmeans_s"] = time.perf_counter() - t
        t = time.perf_counter()
        assign = np.concatenate([quantizer.search(x, 1)[1][:, 0] for x in coll.chunks(desc="assigning to lists")])
        ivf_common["assign_s"] = time.perf_counter() - t
    for kind in kinds:
        gc.collect()
        before = rss_mb()[0]
        n = hnsw_n if kind.startswith("hnsw") else coll.n
        t = time.perf_counter()
        if kind.startswith("ivf"):
            q = faiss.clone_index(quantizer)
            if kind in SQ_TYPES:
                index = faiss.IndexIVFScalarQuantizer(
                    q, d, args.nlist, SQ_TYPES[kind], faiss.METRIC_INNER_PRODUCT, False
                )
            elif kind == "ivfflat":
                index = faiss.IndexIVFFlat(q, d, args.nlist, faiss.METRIC_INNER_PRODUCT)
            elif kind.startswith("ivfpq"):
                index = faiss.IndexIVFPQ(q, d, args.nlist, int(kind[5:]), 8, faiss.METRIC_INNER_PRODUCT)
            else:
                raise SystemExit(f"unknown index {kind!r}")
            index.train(sample[:200_000])
            start = 0
            for x in coll.chunks(desc=f"adding ({kind})"):
                add_preassigned(index, x, assign[start : start + len(x)])
                start += len(x)
            build = time.perf_counter() - t + ivf_common["kmeans_s"] + ivf_common["assign_s"]
            label = f"{kind.upper()} nlist {args.nlist}"
        else:
            m = args.hnsw_m
            if kind == "hnswsq8":
                index = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, m, faiss.METRIC_INNER_PRODUCT)
                index.train(coll.sample(200_000, seed=3))
            elif kind == "hnswflat":
                index = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
            else:
                raise SystemExit(f"unknown index {kind!r}")
            index.hnsw.efConstruction = args.ef_construction
            for x in coll.chunks(n, desc=f"adding ({kind})"):
                index.add(x)
            build = time.perf_counter() - t
            label = f"{'HNSW-SQ8' if kind == 'hnswsq8' else 'HNSW flat'} M {m} efC {args.ef_construction}"
        after, peak = rss_mb()
        size = index_bytes(index, work)
        print(f"{label}: {n:,} vectors, built in {build:.0f}s, {size / 1e9:.2f} GB", flush=True)
        common = {"index": label, "kind": kind, "items": n, "build_s": round(build, 1)}
        common |= {"index_gb": round(size / 1e9, 3), "rss_gb": round(after / 1024, 2)}
        common |= {"rss_added_gb": round((after - before) / 1024, 2), "peak_rss_gb": round(peak / 1024, 2)}
        common |= {k: round(v, 1) for k, v in ivf_common.items()} if kind.startswith("ivf") else {}
        common["base_rss_gb"] = round(base_rss / 1024, 2)
        for r in sweep(index, queries, exact_by_n[n], coll, kind.startswith("hnsw")):
            rows.append(common | r)
        del index
    return rows


def choose(rows: list[dict], n: int) -> dict | None:
    """The setting meeting recall@30 >= 0.95 at p50 < 20 ms over ``n`` items with the fewest index bytes
    (then the lowest p50)."""
    ok = [r for r in rows if r["items"] == n and r["recall@30"] >= 0.95 and r["p50_ms"] < 20]
    return min(ok, key=lambda r: (r["index_gb"], r["p50_ms"])) if ok else None


# ---------------------------------------------------------------------------------------------- manipulation
def manipulation(
    name: str,
    model: AttrNet,
    protos: dict[str, np.ndarray],
    cat_vecs: np.ndarray,
    cat_labels: np.ndarray,
    query_vecs: dict[str, np.ndarray],
    query_labels: np.ndarray,
    kinds: list[str],
    probes: list[int],
    work: Path,
) -> list[dict]:
    """Top-30 manipulation accuracy through a folder catalog's Searcher, exact and with each of ``kinds``
    (the catalog's nlist rule) at each nprobe, with the recall@30 of the manipulated queries against exact."""
    root = Path(tempfile.mkdtemp(prefix="manip-", dir=work)) / "catalog"
    cat = Catalog.create(
        root,
        model_path=MODEL,
        attributes=model.attributes,
        prototypes=protos,
        index_kind="flat",
        extra={"model_id": model_identity(model)},
    )
    attrs = model.attributes
    ids = [f"item-{i:08d}" for i in range(len(cat_vecs))]
    item_attrs = [{a: vals[v] for (a, vals), v in zip(attrs, row, strict=True)} for row in cat_labels.tolist()]
    t = time.perf_counter()
    cat.add(ids, [f"{i}.png" for i in ids], item_attrs, [None] * len(ids), {"global": cat_vecs})
    print(f"{name}: catalog of {len(ids):,} built in {time.perf_counter() - t:.0f}s", flush=True)
    index_file = root / cat.segments[0].index  # one add: one segment, whose index the runs below replace
    searcher = Searcher(Catalog.open(root), model)
    plan, _ = plan_queries(query_labels, cat_labels, [len(v) for _, v in attrs], seed=0)
    manip_q = np.stack([searcher.manipulated_global(query_vecs["reps"][q], list(ch)) for q, ch in plan])
    flat = faiss.IndexFlatIP(cat_vecs.shape[1])
    flat.add(cat_vecs)
    exact = flat.search(manip_q, K)[1]

    def run(label: str, index: faiss.Index | None) -> dict:
        """One evaluation with ``index`` as the catalog's index (None: the exact one it was built with)."""
        if index is not None:  # the catalog's documented layout: its segment's index file
            faiss.write_index(index, str(index_file))
        s = Searcher(Catalog.open(root), model)
        rep = evaluate_manipulation(s, query_vecs, query_labels, cat_labels, methods=("fsn",), progress=False)
        got = flat.search(manip_q, K)[1] if index is None else index.search(manip_q, K)[1]
        lat = np.percentile(rep.latency_ms["fsn"], 50)
        return {"catalog": name, "items": len(ids), "index": label, "queries": rep.n_queries} | {
            "top1": round(rep.topk["fsn"][1] * 100, 2),
            "top30": round(rep.topk["fsn"][30] * 100, 2),
            "recall@30": round(recall(got, exact), 4),
            "search_p50_ms": round(float(lat), 3),
        }

    rows = [run("exact (flat)", None)]
    for kind in kinds:
        index = small_index(kind, cat_vecs)
        ivf = faiss.extract_index_ivf(index)
        for nprobe in probes:
            ivf.nprobe = nprobe
            rows.append(run(f"{kind} nlist {ivf.nlist} nprobe {nprobe}", index))
            rows[-1]["top30_minus_exact"] = round(rows[-1]["top30"] - rows[0]["top30"], 2)
            print(f"  {rows[-1]}", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    """Parse the options, run the steps, print the tables and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000, help="drawn vectors in the big collection")
    ap.add_argument("--real", type=int, default=60_000, help="SynthFashion images rendered and embedded")
    ap.add_argument(
        "--real-catalog",
        help="take the real embeddings from this catalog (with --real-data, the dataset it embedded) instead "
        "of rendering --real images: e.g. the 1M-image catalog of bench/bench_ray_embed.py",
    )
    ap.add_argument("--real-data", help="the dataset --real-catalog embedded")
    ap.add_argument("--queries", type=int, default=200, help="queries of the big collection")
    ap.add_argument(
        "--indexes",
        default="ivfflat,ivfsqfp16,ivfsq8,ivfpq32,hnswsq8,hnswflat",
        help="of ivfflat, ivfsqfp16, ivfsq8, ivfpqM, hnswsq8, hnswflat",
    )
    ap.add_argument("--nlist", type=int, default=4096, help="inverted lists of the IVF indexes")
    ap.add_argument("--hnsw-n", type=int, default=1_000_000, help="vectors the HNSW indexes are built on")
    ap.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node")
    ap.add_argument("--ef-construction", type=int, default=40, help="HNSW efConstruction")
    ap.add_argument("--manip-kinds", default="ivf,ivfsqfp16,ivfsq8", help="index kinds of the manipulation check")
    ap.add_argument("--manip-probes", default="2,8,32", help="its nprobe values")
    ap.add_argument("--manip-queries", type=int, default=2000, help="test images asked (one change each)")
    ap.add_argument("--manip-drawn", type=int, default=1_000_000, help="drawn catalog of the check (0: none)")
    ap.add_argument("--skip", default="", help="steps to skip: cost, realism, big, manip")
    ap.add_argument("--work", required=True, help="working folder (real images, the drawn vectors; kept)")
    ap.add_argument("--out", required=True, help="results JSON")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("warning: OMP_NUM_THREADS is not 1", flush=True)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    skip = set(args.skip.split(","))
    result: dict = {"args": vars(args), "faiss": faiss.__version__}

    if args.real_catalog:
        items, vecs, rates = catalog_embeddings(Path(args.real_catalog), Path(args.real_data))
    else:
        items, vecs, rates = real_embeddings(work, args.real)
    result["real_rates"] = rates
    model = load_model_for_search(MODEL)
    labels = attribute_labels(items, model.attributes)
    split = np.array([it.split for it in items])
    train = np.flatnonzero(split == "train")
    fit_rows, held_rows, test_rows = train[::2], train[1::2], np.flatnonzero(split == "test")
    g = vecs["global"]
    mix = ComboMixture.fit(g[fit_rows], labels[fit_rows])
    gauss = ComboMixture.fit(g[fit_rows], labels[fit_rows], by_combination=False)
    result["mixture"] = {"fit_images": len(fit_rows), "components": len(mix.weights)}
    print(f"rates {rates}; mixture of {len(mix.weights)} components fitted on {len(fit_rows):,}", flush=True)

    if "cost" not in skip:
        result["network_cost"] = network_cost()
        print_table(result["network_cost"], list(result["network_cost"][0]))
    if "realism" not in skip:
        result["realism"] = realism(g[held_rows], g[test_rows], mix, gauss, 500)
        print_table(result["realism"], list(result["realism"][0]))
    if "big" not in skip:
        coll = Collection(work / f"draws-{args.n}.f32", args.n, g.shape[1])
        result["draw_s"] = round(coll.make(mix, seed=11), 1)
        queries = mix.draw(args.queries, np.random.default_rng(12))[0]
        result["big"] = big_indexes(args, coll, queries, work)
        result["chosen"] = choose(result["big"], args.n)
        cols = ["index", "items", "build_s", "index_gb", "rss_added_gb", "param", "p50_ms", "p99_ms", "recall@30"]
        print_table(result["big"], cols)
        print(f"\nchosen: {result['chosen']}", flush=True)
    if "manip" not in skip:
        rows = np.concatenate([train, np.flatnonzero(split == "val")])
        protos = labelled_prototypes(model, [items[i] for i in train], {k: v[train] for k, v in vecs.items()})
        q_rows = test_rows[: args.manip_queries]
        qv = {k: v[q_rows] for k, v in vecs.items()}
        probes = [int(p) for p in args.manip_probes.split(",")]
        kind = args.manip_kinds.split(",")
        out = manipulation("real", model, protos, g[rows], labels[rows], qv, labels[q_rows], kind, probes, work)
        if args.manip_drawn:
            drawn, comp = mix.draw(args.manip_drawn, np.random.default_rng(13))
            out += manipulation("drawn", model, protos, drawn, mix.labels[comp], qv, labels[q_rows], kind, probes, work)
        result["manipulation"] = out
        print_table(out, list(out[1]))
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"peak RSS {rss_mb()[1] / 1024:.2f} GB; results in {args.out}", flush=True)


if __name__ == "__main__":
    main()
