"""A searchable catalog: metadata in SQLite, vectors in FAISS, written so a crash never serves half a write.

Layout of a catalog folder::

    CATALOG/
      catalog.json            model, attributes, dims, index kind, and the CURRENT generation
      meta.sqlite             items (position, id, image path, attributes, region attributes, generation)
      vectors-GGGGGG.npz      all vectors of generation G: global, attribute reps, region reps, baseline
      index-GGGGGG.faiss      the FAISS index of generation G (global representations)
      prototypes.npz          per attribute value: mean representation of training images

An ``add`` writes the new generation's vectors and index files first, then inserts its rows (tagged with
the new generation) in one SQLite transaction, and only then switches ``catalog.json`` to the new
generation with an atomic rename. Readers only see rows and files of the current generation, so a crash
at any point leaves the previous catalog fully usable; the next ``add`` removes the debris.

Searches (:meth:`Catalog.search`): the ``global`` field through the FAISS index (exact below
:data:`IVF_THRESHOLD` items), the other fields exhaustively over the vectors; an attribute filter restricts
both to the matching items (FAISS's ID selector), so a filtered search over a flat index stays exact.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..errors import InputError, OutputExistsError
from ..fileio import atomic_write, atomic_write_bytes, atomic_write_text
from .scoring import score_vectors
from .store import REGION_TEMPERATURE, CatalogItem, Where, check_lengths, check_new_ids, item_value, top_k

CATALOG_FILE = "catalog.json"
DB_FILE = "meta.sqlite"
PROTO_FILE = "prototypes.npz"
#: Above this many items the default index is IVF (approximate) instead of exact flat search.
IVF_THRESHOLD = 50_000


def _vec_file(gen: int) -> str:
    return f"vectors-{gen:06d}.npz"


def _index_file(gen: int) -> str:
    return f"index-{gen:06d}.faiss"


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2))


def _atomic_npz(path: Path, **arrays: np.ndarray) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def build_index(vectors: np.ndarray, kind: str = "auto", nprobe: int = 16) -> faiss.Index:
    """Inner-product index over L2-normalised ``vectors``: ``flat`` (exact), ``ivf`` (IVF-Flat) or
    ``ivfpq``; ``auto`` is flat below :data:`IVF_THRESHOLD` items, IVF above."""
    n, d = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if kind == "auto":
        kind = "ivf" if n >= IVF_THRESHOLD else "flat"
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind in ("ivf", "ivfpq"):
        nlist = max(16, int(4 * np.sqrt(n)))
        quant = faiss.IndexFlatIP(d)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            m = next(m for m in (16, 8, 4, 2, 1) if d % m == 0)
            index = faiss.IndexIVFPQ(quant, d, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        train = vectors if n <= 100_000 else vectors[np.random.default_rng(0).choice(n, 100_000, replace=False)]
        index.train(train)
        index.nprobe = nprobe
    else:
        raise InputError(f"unknown index kind {kind!r}; valid: auto, flat, ivf, ivfpq", field="index")
    index.add(vectors)
    return index


class Catalog:
    """A folder catalog (a :class:`.store.CatalogStore`). Open with :meth:`create` (new folder) or
    :meth:`open` (existing)."""

    def __init__(self, root: Path, meta: dict[str, Any]):
        self.root = root
        self.location = str(root)
        self.meta = meta
        self.generation = int(meta["generation"])
        self._reset()

    def _reset(self) -> None:
        """Forget what was read of the previous generation."""
        self._index = None
        self._vectors = None
        self._items: list[CatalogItem] | None = None
        self._by_id: dict[str, CatalogItem] | None = None
        self._derived: dict[tuple, np.ndarray] = {}  # search matrices and filter columns of this generation

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(
        cls,
        root: str | Path,
        *,
        model_path: str,
        attributes: list[tuple[str, list[str]]],
        prototypes: dict[str, np.ndarray],
        index_kind: str = "auto",
        extra: dict | None = None,
    ) -> Catalog:
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise OutputExistsError(
                f"{root} exists and is not empty; choose a new --out (or use `fashionlab index add` to grow a catalog)"
            )
        root.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(root / DB_FILE) as db:
            db.execute(
                "CREATE TABLE items (position INTEGER PRIMARY KEY, id TEXT NOT NULL, image TEXT NOT NULL, "
                "attributes TEXT NOT NULL, region_attributes TEXT, generation INTEGER NOT NULL)"
            )
            db.execute("CREATE INDEX items_gen ON items(generation)")
        _atomic_npz(root / PROTO_FILE, **prototypes)
        meta = {
            "format": "fashionlab-catalog",
            "version": 1,
            "model": str(model_path),
            "attributes": [[n, v] for n, v in attributes],
            "index_kind": index_kind,
            "generation": 0,
            "count": 0,
            **(extra or {}),
        }
        _atomic_json(root / CATALOG_FILE, meta)
        return cls(root, meta)

    @classmethod
    def open(cls, root: str | Path) -> Catalog:
        root = Path(root)
        path = root / CATALOG_FILE
        if not path.is_file():
            raise InputError(
                f"not a fashionlab catalog (no {CATALOG_FILE}); build one with `fashionlab index build`", path=root
            )
        try:
            meta = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON ({e.msg})", path=path, line=e.lineno) from None
        return cls(root, meta)

    @property
    def attributes(self) -> list[tuple[str, list[str]]]:
        return [(n, list(v)) for n, v in self.meta["attributes"]]

    def __len__(self) -> int:
        return int(self.meta["count"])

    # ------------------------------------------------------------------ writing
    def add(
        self,
        ids: list[str],
        images: list[str],
        attributes: list[dict[str, str]],
        region_attributes: list[dict | None],
        vectors: dict[str, np.ndarray],
    ) -> int:
        """Append items with their vectors (``global`` (n, D) required; others stored alongside).
        Returns the new generation."""
        n = check_lengths(ids, images, attributes, region_attributes, vectors)
        self._cleanup()
        old = self.vectors() if self.generation > 0 else {}
        new = {k: np.concatenate([old[k], v]) if k in old else v for k, v in vectors.items()}
        if old and set(old) != set(new):
            raise InputError(
                f"vector kinds differ from the catalog's: {sorted(old)} vs {sorted(new)} "
                "(the model changed since the catalog was built; build a new catalog)",
                path=self.root,
            )
        check_new_ids(ids, self.get(ids), self.location)
        gen = self.generation + 1
        _atomic_npz(self.root / _vec_file(gen), **new)
        index = build_index(new["global"], self.meta["index_kind"])
        atomic_write_bytes(self.root / _index_file(gen), faiss.serialize_index(index).tobytes())
        start = len(self)
        rows = [
            (
                start + i,
                ids[i],
                images[i],
                json.dumps(attributes[i]),
                json.dumps(region_attributes[i]) if region_attributes[i] else None,
                gen,
            )
            for i in range(n)
        ]
        with sqlite3.connect(self.root / DB_FILE) as db:  # one transaction
            db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", rows)
        meta = {**self.meta, "generation": gen, "count": start + n, "index": type(index).__name__}
        _atomic_json(self.root / CATALOG_FILE, meta)  # the switch
        old_gen = self.generation
        self.meta, self.generation = meta, gen
        self._reset()
        for f in (_vec_file(old_gen), _index_file(old_gen)):
            (self.root / f).unlink(missing_ok=True)
        return gen

    def _cleanup(self) -> None:
        """Remove what a crashed add left behind (rows and files of generations after the current)."""
        with sqlite3.connect(self.root / DB_FILE) as db:
            db.execute("DELETE FROM items WHERE generation > ?", (self.generation,))
        for p in self.root.iterdir():
            stem = p.name.split(".")[0]
            if p.name.endswith(".tmp") or ".tmp." in p.name:
                p.unlink(missing_ok=True)
            elif stem.startswith(("vectors-", "index-")):
                gen = int(stem.split("-")[1])
                if gen != self.generation:
                    p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ reading
    def vectors(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            if self.generation == 0:
                return {}
            with np.load(self.root / _vec_file(self.generation)) as z:
                self._vectors = {k: z[k] for k in z.files}
        return self._vectors

    def index(self) -> faiss.Index:
        if self._index is None:
            self._index = faiss.read_index(str(self.root / _index_file(self.generation)))
        return self._index

    def items(self) -> list[CatalogItem]:
        if self._items is None:
            with sqlite3.connect(self.root / DB_FILE) as db:
                rows = db.execute(
                    "SELECT position, id, image, attributes, region_attributes FROM items "
                    "WHERE generation <= ? ORDER BY position",
                    (self.generation,),
                ).fetchall()
            self._items = [
                CatalogItem(p, i, im, json.loads(a), json.loads(r) if r else None) for p, i, im, a, r in rows
            ]
        return self._items

    def prototypes(self) -> dict[str, np.ndarray]:
        with np.load(self.root / PROTO_FILE) as z:
            return {k: z[k] for k in z.files}

    def get(self, ids: list[str]) -> list[CatalogItem]:
        """The items with these ids that the catalog has."""
        if self._by_id is None:
            self._by_id = {it.id: it for it in (self.items() if self.generation > 0 else [])}
        return [self._by_id[i] for i in ids if i in self._by_id]

    def delete(self, ids: list[str]) -> int:
        """Not offered by folder catalogs (every change rewrites the catalog); a Milvus catalog deletes."""
        raise InputError(
            "a folder catalog cannot delete items (rebuild it without them, or use a Milvus catalog)",
            path=self.root,
        )

    def vector_kinds(self) -> set[str]:
        """The kinds of vectors stored per item (read from the vectors file's listing, not loaded)."""
        if self.generation == 0:
            return set()
        with np.load(self.root / _vec_file(self.generation)) as z:
            return set(z.files)

    def close(self) -> None:
        """Nothing to release: every read opens and closes its files."""

    # ------------------------------------------------------------------ searching
    def search(
        self,
        field: str,
        query: np.ndarray,
        k: int,
        where: Where | None = None,
        *,
        temperature: float = REGION_TEMPERATURE,
    ) -> list[tuple[float, CatalogItem]]:
        """The ``k`` best items by inner product with ``query`` over ``field`` (see :mod:`.store`), among
        those matching ``where``: ``global`` through the FAISS index, the others exhaustively."""
        if self.generation == 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32)
        mask = self._where_mask(where) if where else None
        items = self.items()
        if field == "global":
            params = None
            if mask is not None:
                selector = faiss.IDSelectorBatch(np.flatnonzero(mask).astype(np.int64))
                index = self.index()
                if isinstance(index, faiss.IndexIVF):
                    params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
                else:
                    params = faiss.SearchParameters(sel=selector)
            scores, idx = self.index().search(query[None], min(k, len(items)), params=params)
            return [(float(s), items[int(i)]) for s, i in zip(scores[0], idx[0], strict=True) if i >= 0]
        scores = self._matrix(field, temperature) @ query
        if mask is not None:
            scores[~mask] = -np.inf
        return [(float(scores[i]), items[int(i)]) for i in top_k(scores, k)]

    def _matrix(self, field: str, temperature: float) -> np.ndarray:
        """The (N, D) vectors searched over ``field`` (``score`` ones computed once per generation)."""
        key = (field, temperature if field == "score" else None)
        if key not in self._derived:
            vec = self.vectors()
            if field == "score":
                self._derived[key] = score_vectors(vec, self.attributes, self.prototypes(), temperature)
            elif field in ("baseline", "reps"):
                self._derived[key] = vec[field].reshape(len(vec[field]), -1).astype(np.float32, copy=False)
            else:
                raise ValueError(f"unknown search field {field!r}")
        return self._derived[key]

    def _where_mask(self, where: Where) -> np.ndarray:
        """Boolean mask of the items matching every ``{attribute: allowed values}`` of ``where``."""
        mask = np.ones(len(self.items()), bool)
        for name, allowed in where.items():
            key = ("column", name)
            if key not in self._derived:
                values = [item_value(it.attributes, it.region_attributes, name) for it in self.items()]
                self._derived[key] = np.asarray(values, dtype=object)
            mask &= np.isin(self._derived[key], list(allowed))
        return mask
