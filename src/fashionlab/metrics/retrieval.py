"""Manipulation retrieval: top-k accuracy of "this, but with ATTRIBUTE=VALUE" queries.

Protocol (FashionSearchNet / AMGAN): for each query image and a change of one attribute to another
value, the target is the query's attributes with that change. A query scores 1 at k if any of its top-k
results has exactly the target attributes. Only (query, change) pairs whose target exists in the
catalog are asked (otherwise no method could score); how many were skipped is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ..data.regions import has_region, region_value
from ..search.query import Searcher

KS = (1, 5, 10, 20, 30)


@dataclass
class RetrievalReport:
    topk: dict[str, dict[int, float]] = field(default_factory=dict)  # method -> k -> accuracy
    per_attribute: dict[str, dict[str, float]] = field(default_factory=dict)  # method -> attr -> top-30
    ndcg: dict[str, float] = field(default_factory=dict)  # method -> NDCG@30 (binary relevance)
    n_queries: int = 0
    n_skipped: int = 0
    latency_ms: dict[str, list[float]] = field(default_factory=dict)


def plan_queries(
    query_labels: np.ndarray,
    catalog_labels: np.ndarray,
    n_values: list[int],
    *,
    per_query: int = 1,
    changes: int = 1,
    seed: int = 0,
) -> tuple[list[tuple[int, tuple[tuple[int, int], ...]]], int]:
    """(query index, ((attribute, new value), ...)) plans changing ``changes`` distinct attributes, kept
    when the target exists in the catalog; also returns how many drawn plans were skipped. Queries with
    an unknown label are not used."""
    rng = np.random.default_rng(seed)
    present = {tuple(r) for r in catalog_labels.tolist()}
    plan, skipped = [], 0
    for q in range(len(query_labels)):
        if (query_labels[q] < 0).any():
            continue
        for _ in range(per_query):
            target = query_labels[q].copy()
            change = []
            for a in rng.choice(len(n_values), size=changes, replace=False):
                v = int(rng.choice([v for v in range(n_values[a]) if v != query_labels[q, a]]))
                target[a] = v
                change.append((int(a), v))
            if tuple(target.tolist()) not in present:
                skipped += 1
                continue
            plan.append((q, tuple(change)))
    return plan, skipped


def evaluate_manipulation(
    searcher: Searcher,
    query_vectors: dict[str, np.ndarray],
    query_labels: np.ndarray,
    catalog_labels: np.ndarray,
    *,
    methods=("fsn", "baseline"),
    per_query: int = 1,
    changes: int = 1,
    ks=KS,
    seed: int = 0,
    progress: bool = True,
) -> RetrievalReport:
    """Top-k manipulation retrieval accuracy of each method over the same planned queries, each query
    changing ``changes`` attributes at once."""
    attrs = searcher.attributes
    plan, skipped = plan_queries(
        query_labels, catalog_labels, [len(v) for _, v in attrs], per_query=per_query, changes=changes, seed=seed
    )
    kmax = max(ks)
    rep = RetrievalReport(n_queries=len(plan), n_skipped=skipped)
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    for method in methods:
        hits = np.zeros((len(plan), kmax), bool)
        n_rel = np.zeros(len(plan))
        per_attr: dict[str, list[float]] = {}
        lat = []
        for i, (q, change) in enumerate(tqdm(plan, desc=f"queries ({method})", disable=not progress)):
            vec = {k: x[q] for k, x in query_vectors.items()}
            res = searcher.query(vec, {attrs[a][0]: attrs[a][1][v] for a, v in change}, k=kmax, method=method)
            lat.append(searcher.last_latency_ms)
            target = query_labels[q].copy()
            for a, v in change:
                target[a] = v
            got = catalog_labels[[h.item.position for h in res]]
            match = (got == target).all(1)
            n_rel[i] = (catalog_labels == target).all(1).sum()
            hits[i, : len(match)] = match
            key = "+".join(attrs[a][0] for a, _ in change)
            per_attr.setdefault(key if changes == 1 else f"{changes} changes", []).append(float(match[:30].any()))
        rep.topk[method] = {k: float(hits[:, :k].any(1).mean()) if len(plan) else 0.0 for k in ks}
        rep.per_attribute[method] = {k: float(np.mean(v)) for k, v in per_attr.items()}
        dcg = (hits * discount).sum(1)
        ideal = np.array([discount[: min(kmax, int(n))].sum() for n in np.maximum(n_rel, 1)])
        rep.ndcg[method] = float(np.mean(dcg / ideal)) if len(plan) else 0.0
        rep.latency_ms[method] = lat
    return rep


@dataclass
class RegionReport:
    topk: dict[str, dict[int, float]] = field(default_factory=dict)  # "region" / "whole garment" -> k -> acc
    n_queries: int = 0


def evaluate_region_queries(
    searcher: Searcher,
    query_vectors: dict[str, np.ndarray],
    query_attributes: list[dict[str, str]],
    catalog_items: list,
    *,
    attribute: str = "color",
    region: str = "sleeves",
    ks=KS,
    seed: int = 0,
    progress: bool = True,
) -> RegionReport:
    """ "This, but with red sleeves": for each query with sleeves, a random other value of ``attribute``
    for the ``region`` only. A result is a hit when its region has the wanted value while the rest of the
    garment keeps the query's value (``region_attributes`` of the catalog items give the truth). Compared
    with the same change applied to the whole garment (a non-region query)."""
    rng = np.random.default_rng(seed)
    values = dict(searcher.attributes)[attribute]

    cat_body = np.array([it.attributes.get(attribute) for it in catalog_items])
    cat_region = np.array([region_value(it, region, attribute) for it in catalog_items])  # unknown: no region
    plan = []
    for q, attrs in enumerate(query_attributes):
        if not has_region(attrs, region) or attrs.get(attribute) not in values:
            continue
        want = str(rng.choice([v for v in values if v != attrs[attribute]]))
        if ((cat_body == attrs[attribute]) & (cat_region == want)).any():
            plan.append((q, want))
    rep = RegionReport(n_queries=len(plan))
    kmax = max(ks)
    for name, reg in (("region", region), ("whole garment", None)):
        hits = np.zeros((len(plan), kmax), bool)
        for i, (q, want) in enumerate(tqdm(plan, desc=f"region queries ({name})", disable=not progress)):
            vec = {k: x[q] for k, x in query_vectors.items()}
            res = searcher.query(vec, {attribute: want}, k=kmax, region=reg)
            pos = np.array([h.item.position for h in res])
            ok = (cat_body[pos] == query_attributes[q][attribute]) & (cat_region[pos] == want)
            hits[i, : len(ok)] = ok
        rep.topk[name] = {k: float(hits[:, :k].any(1).mean()) if len(plan) else 0.0 for k in ks}
    return rep
