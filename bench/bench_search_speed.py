"""Search and training speed on this machine (issue #3).

    python bench/bench_search_speed.py --model runs/attrnet/run-001 --data data/sf128

1. Query latency (p50/p99, single query, one thread) of the catalog index at 10k and 100k items, for exact
   flat search and for IVF (what `--index auto` picks at >= 50k items), with IVF's recall@30 against
   exact search. Catalog vectors are the model's own global representations of --data's images, tiled
   with small noise to reach 100k (so the distribution is realistic). Also the manipulation query path
   end to end (prototype swap + recompression + search) at 100k.
2. Index build rate: FAISS add/train rate (vectors/s) and the image embedding rate (images/s) that
   dominates `fashionlab index build`.
3. Training throughput of the attribute network (cpu preset model, with the model's region attributes) in
   fp32 and bf16 (images/s).

Also the region-aware query ("red sleeves only") at 100k items, which scores every item exactly.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import date

import numpy as np
import torch

from fashionlab.search.build import embed_dataset, load_model_for_search
from fashionlab.search.catalog import build_index


def percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def time_queries(index, queries: np.ndarray) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None], 30)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--images", type=int, default=4000, help="images embedded for realistic vectors")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(os.cpu_count() or 1)
    print(
        f"# search/training speed ({date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"faiss {faiss.__version__}, {args.threads} search thread(s))\n"
    )
    model = load_model_for_search(args.model)
    t = time.perf_counter()
    _, items, vecs = embed_dataset(model, args.data, None, limit=args.images, progress=False)
    embed_rate = len(items) / (time.perf_counter() - t)
    base = vecs["global"].astype(np.float32)
    rng = np.random.default_rng(0)
    qidx = rng.choice(len(base), args.queries)
    queries = base[qidx] + 0.02 * rng.standard_normal((args.queries, base.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print("| catalog items | index | build (vectors/s) | p50 ms | p99 ms | recall@30 vs flat |")
    print("|---|---|---|---|---|---|")
    for n in (10_000, 100_000):
        reps = -(-n // len(base))
        x = np.tile(base, (reps, 1))[:n] + 0.03 * rng.standard_normal((n, base.shape[1])).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        flat_ids = None
        for kind in ("flat", "ivf"):
            t = time.perf_counter()
            index = build_index(x, kind)
            rate = n / (time.perf_counter() - t)
            ms = time_queries(index, queries)
            p50, p99 = percentiles(ms)
            _, ids = index.search(queries, 30)
            if kind == "flat":
                flat_ids, recall = ids, 1.0
            else:
                recall = float(np.mean([len(set(a) & set(b)) / 30 for a, b in zip(ids, flat_ids, strict=True)]))
            print(
                f"| {n:,} | {kind}{' (nprobe 16)' if kind == 'ivf' else ''} | {rate:,.0f} | {p50:.3f} | "
                f"{p99:.3f} | {recall:.3f} |"
            )
    # end-to-end manipulation query at 100k (prototype swap + recompress + IVF search)
    reps_q = vecs["reps"][qidx[:200]]
    ms = []
    for r in reps_q:
        t = time.perf_counter()
        r2 = r.copy()
        r2[0] = r[0][::-1]  # any replacement vector; the cost is what matters here
        with torch.no_grad():
            g = model.compress_reps(torch.from_numpy(r2[None])).numpy()
        index.search(g, 30)
        ms.append((time.perf_counter() - t) * 1000)
    p50, p99 = percentiles(ms)
    print(
        f"\nmanipulation query end to end at 100k (swap + recompress + IVF search): p50 {p50:.3f} ms, p99 {p99:.3f} ms"
    )
    # region-aware query at 100k: exhaustive scoring (global similarity + region and garment value
    # probabilities over the prototypes), as Searcher.query(region=...) does
    if "region_sleeves" in vecs:
        from fashionlab.search.query import value_probabilities

        n = 100_000
        tile = -(-n // len(base))
        glob = np.tile(base, (tile, 1))[:n]
        region = np.ascontiguousarray(np.tile(vecs["region_sleeves"][:, 0], (tile, 1))[:n])
        body = np.ascontiguousarray(np.tile(vecs["reps"][:, 1], (tile, 1))[:n])
        protos = rng.standard_normal((12, region.shape[1])).astype(np.float32)
        t = time.perf_counter()
        p_region = value_probabilities(region, protos, 20.0)  # once per catalog (Searcher caches them)
        p_body = value_probabilities(body, protos, 20.0)
        prep_ms = (time.perf_counter() - t) * 1000
        ms = []
        for i, q in enumerate(queries[:200]):
            t = time.perf_counter()
            total = glob @ q + p_region[:, i % 12] + p_body[:, (i + 1) % 12]
            top = np.argpartition(-total, 30)[:30]
            top[np.argsort(-total[top])]
            ms.append((time.perf_counter() - t) * 1000)
        p50, p99 = percentiles(ms)
        print(
            f"region-aware query at 100k (exhaustive scoring): p50 {p50:.2f} ms, p99 {p99:.2f} ms "
            f"(after a one-off {prep_ms:.0f} ms computing the items' value probabilities)"
        )
    print(f"image embedding rate (index build): {embed_rate:.0f} images/s\n")

    # training throughput
    from fashionlab.models.attrnet import AttrNet, AttrNetModelConfig, LossWeights, attrnet_losses

    cfg = AttrNetModelConfig(width=0.5, conv67_channels=128)
    net = AttrNet(model.attributes, cfg, model.region_attributes)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x = torch.randn(32, 3, 128, 128)
    y = torch.stack([torch.randint(0, len(v), (32,)) for _, v in model.attributes], 1)
    y_region = torch.stack([torch.randint(0, len(v), (32,)) for _, v in model.region_attributes] or [y[:, 0]], 1)
    print("| precision | training images/s (cpu preset model, batch 32, 128 px) |\n|---|---|")
    for prec in ("fp32", "bf16"):
        times = []
        for _ in range(6):
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
                loss, _ = attrnet_losses(net(x), y, LossWeights(), region_labels=y_region)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t)
        print(f"| {prec} | {32 / np.median(times[1:]):.0f} |")


if __name__ == "__main__":
    main()
