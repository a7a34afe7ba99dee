"""Measuring nearest-neighbour search for bench/bench_catalog_10m.py: the exact top-k by brute force over
chunks, recall against it, single-query latency, neighbour statistics, memory and index size."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import faiss
import numpy as np

K = 30  # the retrieval depth of every figure (top-30, AMGAN's and FashionSearchNet's largest k)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    status = Path("/proc/self/status").read_text()
    cur = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return cur / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def exact_topk(
    chunks: Callable[[], Iterator[np.ndarray]], queries: np.ndarray, k: int = K
) -> tuple[np.ndarray, np.ndarray]:
    """(Q, k) ids and inner products of the exact top-k, best first, one brute-force pass over the chunks."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    start = 0
    for x in chunks():
        s = queries @ x.T
        part = np.argpartition(-s, k, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], 1)
        cand_i = np.concatenate([best_i, part + start], 1)
        top = np.argsort(-cand_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, top, 1), np.take_along_axis(cand_i, top, 1)
        start += len(x)
    return best_i, best_s


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k found."""
    return float(np.mean([len(set(f) & set(e)) / exact.shape[1] for f, e in zip(found, exact, strict=True)]))


def timed_search(index: faiss.Index, queries: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(ids, p50 ms, p99 ms) of single queries, one at a time."""
    for q in queries[:5]:
        index.search(q[None], K)
    ids, lat = [], []
    for q in queries:
        t = time.perf_counter()
        ids.append(index.search(q[None], K)[1][0])
        lat.append((time.perf_counter() - t) * 1000)
    return np.stack(ids), float(np.percentile(lat, 50)), float(np.percentile(lat, 99))


def nn_stats(vecs: np.ndarray, queries: np.ndarray) -> dict[str, float]:
    """Inner product of each query with its 1st and 30th nearest neighbour: mean and 5/50/95th percentiles."""
    s = np.sort(queries @ vecs.T, axis=1)[:, ::-1]
    out = {}
    for name, col in (("nn1", s[:, 0]), ("nn30", s[:, K - 1])):
        out |= {f"{name}_mean": float(col.mean())}
        out |= {f"{name}_p{p}": float(np.percentile(col, p)) for p in (5, 50, 95)}
    return {k: round(v, 4) for k, v in out.items()}


def print_table(rows: list[dict], cols: list[str]) -> None:
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |", flush=True)


def index_bytes(index: faiss.Index, work: Path) -> int:
    """Bytes of the index as ``faiss.write_index`` writes it (a temporary file in ``work``)."""
    path = work / "index.tmp"
    faiss.write_index(index, str(path))
    size = path.stat().st_size
    path.unlink()
    return size
