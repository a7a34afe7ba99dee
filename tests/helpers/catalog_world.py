"""A folder catalog and the truth beside it (every vector and item it was given), for the catalog tests:
random items, one exact search over all vectors to compare with, and the checks that a catalog folder holds
nothing but what it lists."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import faiss
import numpy as np

from fashionlab.search import catalog as catalog_mod
from fashionlab.search import segments as seg_mod
from fashionlab.search.catalog import Catalog
from fashionlab.search.scoring import score_dim, score_vectors
from fashionlab.search.store import item_value

ATTRS = [("color", ["red", "blue", "green", "black"]), ("sleeve", ["long", "short", "none"])]
COLORS = ATTRS[0][1]


def unit(rng, *shape: int) -> np.ndarray:
    """Random L2-normalised float32 vectors (along the last axis)."""
    x = rng.standard_normal(shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def random_vectors(rng, n: int) -> dict[str, np.ndarray]:
    """Every kind of vector of ``n`` items, shaped as an attribute network's (small)."""
    return {
        "global": unit(rng, n, 16),
        "reps": unit(rng, n, 2, 8),
        "baseline": unit(rng, n, 16),
        "region_sleeves": unit(rng, n, 1, 8),
    }


def prototypes(rng) -> dict[str, np.ndarray]:
    return {
        "rep__color": unit(rng, 4, 8),
        "rep__sleeve": unit(rng, 3, 8),
        "baseline__color": unit(rng, 4, 16),
        "baseline__sleeve": unit(rng, 3, 16),
        "region__sleeves.color": unit(rng, 4, 8),
    }


class World:
    """A catalog and the truth: every vector and item it was given, in order."""

    def __init__(self, root: Path, seed: int = 0, index_kind: str = "auto"):
        self.rng = np.random.default_rng(seed)
        self.protos = prototypes(self.rng)
        self.cat = Catalog.create(root, model_path="m", attributes=ATTRS, prototypes=self.protos, index_kind=index_kind)
        self.vectors: dict[str, list[np.ndarray]] = {}
        self.ids: list[str] = []
        self.attrs: list[dict] = []
        self.regions: list[dict | None] = []

    def batch(self, n: int, prefix: str):
        """(ids, images, attributes, region attributes, vectors) of ``n`` new random items."""
        rng = self.rng
        ids = [f"{prefix}-{i}" for i in range(n)]
        attrs = [{"color": COLORS[rng.integers(4)], "sleeve": ATTRS[1][1][rng.integers(3)]} for _ in range(n)]
        regions = [{"sleeves": {"color": COLORS[rng.integers(4)]}} if rng.random() < 0.5 else None for _ in range(n)]
        vecs = random_vectors(rng, n)
        return ids, [f"{i}.png" for i in ids], attrs, regions, vecs

    def add(self, n: int, prefix: str) -> int:
        ids, images, attrs, regions, vecs = self.batch(n, prefix)
        gen = self.cat.add(ids, images, attrs, regions, vecs)
        self.remember(ids, attrs, regions, vecs)
        return gen

    def remember(self, ids, attrs, regions, vecs) -> None:
        for k, v in vecs.items():
            self.vectors.setdefault(k, []).append(v)
        self.ids += ids
        self.attrs += attrs
        self.regions += regions

    def all(self, kind: str) -> np.ndarray:
        return np.concatenate(self.vectors[kind])

    def exact(self, field: str, q: np.ndarray, k: int, where=None, temperature: float = 20.0):
        """(id, score) of the ``k`` best by one exhaustive search over every vector (ties: lower position)."""
        vec = {kind: self.all(kind) for kind in self.vectors}
        if field == "score":
            matrix = score_vectors(vec, ATTRS, self.protos, temperature)
        else:
            matrix = vec[field].reshape(len(vec[field]), -1)
        scores = matrix @ q
        if where:
            for name, allowed in where.items():
                values = [item_value(a, r, name) for a, r in zip(self.attrs, self.regions, strict=True)]
                scores[~np.isin(values, allowed)] = -np.inf
        order = np.lexsort((np.arange(len(scores)), -scores))
        return [(self.ids[i], float(scores[i])) for i in order[:k] if np.isfinite(scores[i])]


QUERY_DIMS = {"global": 16, "baseline": 16, "reps": 16}
WHERES = [None, {"color": ["red", "blue"]}, {"sleeves.color": ["green"]}, {"color": ["black"], "sleeve": ["long"]}]


def assert_same_as_exact(world: World, cat: Catalog, n_queries: int = 3, k: int = 12) -> None:
    """Every field, with and without filters, equals one exact search over all vectors."""
    rng = np.random.default_rng(99)
    dims = QUERY_DIMS | {"score": score_dim(ATTRS, world.protos, 16)}
    for field, dim in dims.items():
        for _ in range(n_queries):
            q = rng.standard_normal(dim).astype(np.float32)
            for where in WHERES:
                got = [(it.id, s) for s, it in cat.search(field, q, k, where)]
                want = world.exact(field, q, k, where)
                assert [i for i, _ in got] == [i for i, _ in want], (field, where)
                np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5, atol=1e-5)
    # the global field against one FAISS flat index over every vector
    flat = faiss.IndexFlatIP(16)
    flat.add(world.all("global"))
    q = rng.standard_normal((4, 16)).astype(np.float32)
    _, idx = flat.search(q, 20)
    for row, query in zip(idx, q, strict=True):
        assert [it.id for _, it in cat.search("global", query, 20)] == [world.ids[i] for i in row]


def listed_files(cat: Catalog) -> set[str]:
    return {name for s in cat.segments for name in (s.vectors, s.index)}


def assert_no_debris(cat: Catalog) -> None:
    """The folder holds the listed segment files only, and SQLite the committed rows only."""
    names = {p.name for p in cat.root.iterdir()}
    assert {n for n in names if n.startswith(seg_mod.SEGMENT_PREFIXES)} == listed_files(cat)
    assert not [n for n in names if ".tmp" in n]
    with sqlite3.connect(cat.root / catalog_mod.DB_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == len(cat)


def answers(cat: Catalog) -> list:
    q = np.random.default_rng(3).standard_normal(16).astype(np.float32)
    return [it.id for _, it in cat.search("global", q, 10)] + [it.id for _, it in cat.search("reps", q, 10)]
