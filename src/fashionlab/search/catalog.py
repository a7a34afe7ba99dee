"""A searchable catalog: metadata in SQLite, vectors in FAISS segments, written so a crash never serves half
a write, with adds that cost O(batch).

Layout of a catalog folder (format version 2)::

    CATALOG/
      catalog.json            model, attributes, dims, index kind, the CURRENT generation and its segments
      meta.sqlite             items (position, id, image path, attributes, region attributes, generation)
      segment-GGGGGG.npz      the vectors of one segment (global, attribute reps, region reps, baseline)
      segment-GGGGGG.faiss    that segment's FAISS index (global representations)
      prototypes.npz          per attribute value: mean representation of training images

A catalog is a list of immutable **segments** (:mod:`.segments`), each holding a contiguous run of item
positions; ``catalog.json`` names the current generation and its segments. An ``add`` writes its batch as
one new segment (vectors, then index), inserts its rows (tagged with the new generation) in one SQLite
transaction, and only then switches ``catalog.json`` with an atomic rename: O(batch), whatever the
catalog's size. The merge policy may then merge adjacent segments (see :mod:`.segments` for the policy,
its amortised cost and its worst case): a merge writes the merged segment, switches ``catalog.json``, then
deletes the old files, so it is crash-safe like an add. Readers only see the rows and segments of the
current generation, so a crash at any point leaves the previous catalog fully usable; the next writer
removes the debris (unlisted segment files, rows of later generations, ``.tmp`` files).

Format version 1 (``vectors-GGGGGG.npz`` + ``index-GGGGGG.faiss``, all vectors in one pair) is still read:
its pair is the first segment, kept as it is (never rewritten until a merge takes it); the first add turns
``catalog.json`` into version 2. This code refuses catalogs of a later version.

Searches (:meth:`Catalog.search`): the ``global`` field through each segment's FAISS index (exact below
:data:`IVF_THRESHOLD` items per segment), the other fields exhaustively over the vectors; the best ``k``
of every segment are merged, which equals one search over all vectors when the indexes are flat. An
attribute filter restricts both to the matching items (FAISS's ID selector), so a filtered search over flat
indexes stays exact.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..errors import InputError, OutputExistsError
from ..fileio import atomic_write, atomic_write_text
from . import segments as seg_mod
from .scoring import score_vectors
from .segments import (
    IVF_MIN_SEGMENT,
    IVF_THRESHOLD,
    Segment,
    SegmentData,
    build_index,
    load_kind,
    plan_merge,
    save_index,
    save_npz,
    segment_files,
    segment_index_kind,
    segments_of,
)
from .store import (
    REGION_TEMPERATURE,
    SEARCH_FIELDS,
    CatalogItem,
    Where,
    check_lengths,
    check_new_ids,
    item_value,
    top_k,
)

CATALOG_FILE = "catalog.json"
DB_FILE = "meta.sqlite"
PROTO_FILE = "prototypes.npz"
__all__ = ["FORMAT_VERSION", "IVF_MIN_SEGMENT", "IVF_THRESHOLD", "Catalog", "build_index", "segment_index_kind"]
log = logging.getLogger(__name__)
#: the format this code writes (1: one vectors/index pair per generation; 2: segments)
FORMAT_VERSION = 2
#: ids looked up per SQL statement (below SQLite's limit on bound parameters)
_SQL_CHUNK = 500


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2))


def _atomic_npz(path: Path, **arrays: np.ndarray) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


class Catalog:
    """A folder catalog (a :class:`.store.CatalogStore`). Open with :meth:`create` (new folder) or
    :meth:`open` (existing)."""

    def __init__(self, root: Path, meta: dict[str, Any]):
        self.root = root
        self.location = str(root)
        self._data: dict[str, SegmentData] = {}  # by vectors file name; kept while the segment is listed
        self._set_meta(meta)

    def _set_meta(self, meta: dict[str, Any]) -> None:
        """Switch to the generation ``meta`` describes; keep what was read of segments it still lists."""
        self.meta = meta
        self.generation = int(meta["generation"])
        self._segments = segments_of(meta)
        listed = {s.vectors for s in self._segments}
        self._data = {k: v for k, v in self._data.items() if k in listed}
        self._vectors: dict[str, np.ndarray] | None = None
        self._items: list[CatalogItem] | None = None

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
        """A new, empty catalog in the folder ``root`` (refused unless it is missing or empty)."""
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise OutputExistsError(
                f"{root} exists and is not empty; choose a new --out (or use `fashionlab index add` to grow a catalog)"
            )
        root.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(root / DB_FILE)) as db, db:
            db.execute(
                "CREATE TABLE items (position INTEGER PRIMARY KEY, id TEXT NOT NULL, image TEXT NOT NULL, "
                "attributes TEXT NOT NULL, region_attributes TEXT, generation INTEGER NOT NULL)"
            )
            db.execute("CREATE INDEX items_gen ON items(generation)")
            db.execute("CREATE INDEX items_id ON items(id)")
        _atomic_npz(root / PROTO_FILE, **prototypes)
        meta = {
            "format": "fashionlab-catalog",
            "version": FORMAT_VERSION,
            "model": str(model_path),
            "attributes": [[n, v] for n, v in attributes],
            "index_kind": index_kind,
            "generation": 0,
            "count": 0,
            "segments": [],
            **(extra or {}),
        }
        _atomic_json(root / CATALOG_FILE, meta)
        return cls(root, meta)

    @classmethod
    def open(cls, root: str | Path) -> Catalog:
        """The catalog in the folder ``root`` (format version 1 or 2)."""
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
        if int(meta.get("version", 1)) > FORMAT_VERSION:
            raise InputError(
                f"catalog format version {meta['version']} is newer than this fashionlab reads "
                f"({FORMAT_VERSION}); upgrade fashionlab",
                path=path,
            )
        return cls(root, meta)

    @property
    def attributes(self) -> list[tuple[str, list[str]]]:
        """The garment attributes and their values, in the model's order."""
        return [(n, list(v)) for n, v in self.meta["attributes"]]

    @property
    def segments(self) -> list[Segment]:
        """The segments of the current generation, in position order."""
        return list(self._segments)

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
        """Append items with their vectors (``global`` (n, D) required; others stored alongside) as one new
        segment, then merge segments as the policy says. Returns the new generation."""
        n = check_lengths(ids, images, attributes, region_attributes, vectors)
        self._prepare_write()
        shapes = self._vector_shapes()
        new_shapes = {k: list(v.shape[1:]) for k, v in vectors.items()}
        if shapes and set(shapes) != set(new_shapes):
            raise InputError(
                f"vector kinds differ from the catalog's: {sorted(shapes)} vs {sorted(new_shapes)} "
                "(the model changed since the catalog was built; build a new catalog)",
                path=self.root,
            )
        if shapes and shapes != new_shapes:
            raise InputError(f"vector shapes differ from the catalog's: {shapes} vs {new_shapes}", path=self.root)
        check_new_ids(ids, self.get(ids), self.location)
        if n == 0:
            return self.generation
        gen = self.generation + 1
        vec_file, index_file = segment_files(gen)
        save_npz(self.root / vec_file, [(k, lambda v=v: v) for k, v in vectors.items()])
        index = build_index(vectors["global"], segment_index_kind(self.meta["index_kind"], n))
        save_index(self.root / index_file, index)
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
        with closing(sqlite3.connect(self.root / DB_FILE)) as db, db:  # one transaction
            db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", rows)
        segment = Segment(vec_file, index_file, start, n, type(index).__name__)
        self._switch(gen, [*self._segments, segment], count=start + n, vector_shapes=new_shapes)
        self._segment_data(segment).set_index(index)
        self._merge_as_policy_says()
        return self.generation

    def compact(self) -> int:
        """Merge every segment into one (one index over all vectors, as a version 1 catalog had; O(catalog)).
        Returns the new generation."""
        self._prepare_write()
        if len(self._segments) > 1:
            self._merge(0, len(self._segments))
        return self.generation

    def _prepare_write(self) -> None:
        """What a writer does first: the index on ids (catalogs made before it lacked one) and the cleanup."""
        with closing(sqlite3.connect(self.root / DB_FILE)) as db, db:
            db.execute("CREATE INDEX IF NOT EXISTS items_id ON items(id)")
        self._cleanup()

    def _vector_shapes(self) -> dict[str, list[int]]:
        """``{kind: per-item shape}`` of the catalog's vectors (empty before the first add)."""
        if "vector_shapes" in self.meta:
            return {k: list(v) for k, v in self.meta["vector_shapes"].items()}
        if not self._segments:
            return {}
        shapes = seg_mod.npz_shapes(self.root / self._segments[0].vectors)  # a version 1 catalog
        return {k: list(v[1:]) for k, v in shapes.items()}

    def _switch(self, gen: int, segments: list[Segment], **changes: Any) -> None:
        """Commit generation ``gen`` with ``segments``: the atomic rename of ``catalog.json``."""
        largest = max(segments, key=lambda s: s.count)
        meta = {
            **self.meta,
            **changes,
            "version": FORMAT_VERSION,
            "generation": gen,
            "index": largest.index_type,
            "segments": [s.to_json() for s in segments],
        }
        _atomic_json(self.root / CATALOG_FILE, meta)  # the switch
        self._set_meta(meta)

    def _merge_as_policy_says(self) -> None:
        """Merge segments until the merge policy (:func:`.segments.plan_merge`) asks for nothing more. The
        add before it is committed: a merge that fails is logged and left to the next writer to clean up."""
        try:
            while (window := plan_merge([s.count for s in self._segments])) is not None:
                self._merge(*window)
        except Exception as e:  # noqa: BLE001 (an optimisation failed; the catalog is whole)
            log.warning("merging segments of %s failed (%s); the catalog is whole, the next add retries", self.root, e)

    def _merge(self, i: int, j: int) -> None:
        """Replace segments ``[i, j)`` by one: write it, switch ``catalog.json``, delete the old files."""
        old = self._segments[i:j]
        datas = [self._segment_data(s) for s in old]
        gen = self.generation + 1
        vec_file, index_file = segment_files(gen)
        count = sum(s.count for s in old)

        def joined(kind: str) -> np.ndarray:
            parts = []
            for s, d in zip(old, datas, strict=True):
                loaded = d.loaded_vectors()
                parts.append(loaded[kind] if loaded is not None else load_kind(self.root / s.vectors, kind))
            return np.concatenate(parts)

        save_npz(self.root / vec_file, [(k, lambda k=k: joined(k)) for k in self._vector_shapes()])
        index = build_index(joined("global"), segment_index_kind(self.meta["index_kind"], count))
        save_index(self.root / index_file, index)
        merged = Segment(vec_file, index_file, old[0].start, count, type(index).__name__)
        kept = SegmentData(self.root, merged)
        kept.set_index(index)
        if all(d.items is not None for d in datas):
            kept.items = [it for d in datas for it in d.items]
        for key in set.intersection(*(set(d.derived) for d in datas)):
            if key[0] in SEARCH_FIELDS:  # matrices are per item; filter columns are codes of each segment's own
                kept.derived[key] = np.concatenate([d.derived[key] for d in datas])
        shapes = self._vector_shapes()
        self._switch(gen, [*self._segments[:i], merged, *self._segments[j:]], vector_shapes=shapes)
        self._data[merged.vectors] = kept
        for s in old:
            for name in (s.vectors, s.index):
                (self.root / name).unlink(missing_ok=True)

    def _cleanup(self) -> None:
        """Remove what a crashed add or merge left behind: rows of generations after the current one,
        segment files the current ``catalog.json`` does not list, temporary files."""
        with closing(sqlite3.connect(self.root / DB_FILE)) as db, db:
            db.execute("DELETE FROM items WHERE generation > ?", (self.generation,))
        listed = {name for s in self._segments for name in (s.vectors, s.index)}
        for p in self.root.iterdir():
            temporary = p.name.endswith(".tmp") or ".tmp." in p.name
            if temporary or (p.name.startswith(seg_mod.SEGMENT_PREFIXES) and p.name not in listed):
                p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ reading
    def _segment_data(self, segment: Segment) -> SegmentData:
        if segment.vectors not in self._data:
            self._data[segment.vectors] = SegmentData(self.root, segment)
        return self._data[segment.vectors]

    def vectors(self) -> dict[str, np.ndarray]:
        """Every vector of the catalog by kind, in position order (the segments joined, kept for this
        generation: for small catalogs, tests and metrics)."""
        if self._vectors is None:
            parts = [self._segment_data(s).vectors() for s in self._segments]
            if len(parts) <= 1:
                return parts[0] if parts else {}
            self._vectors = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self._vectors

    def index(self) -> faiss.Index:
        """One FAISS index over every global vector: the only segment's, or the segments' indexes as one
        :class:`faiss.IndexShards` (ids run on from one segment to the next)."""
        indexes = [self._segment_data(s).index() for s in self._segments]
        if len(indexes) == 1:
            return indexes[0]
        shards = faiss.IndexShards(indexes[0].d, False, True)
        for index in indexes:
            shards.add_shard(index)
        return shards

    def items(self) -> list[CatalogItem]:
        """Every item, in position order (reads every row: for small catalogs and metrics)."""
        if self._items is None:
            self._items = [it for s in self._segments for it in self._segment_items(s)]
        return self._items

    def _segment_items(self, segment: Segment) -> list[CatalogItem]:
        """The items of one segment's positions (read once, kept with the segment)."""
        data = self._segment_data(segment)
        if data.items is None:
            with closing(sqlite3.connect(self.root / DB_FILE)) as db:
                rows = db.execute(
                    "SELECT position, id, image, attributes, region_attributes FROM items "
                    "WHERE position >= ? AND position < ? ORDER BY position",
                    (segment.start, segment.end),
                ).fetchall()
            data.items = [_item(row) for row in rows]
        return data.items

    def prototypes(self) -> dict[str, np.ndarray]:
        """The value prototypes (``rep__ATTR``, ``baseline__ATTR``, ``region__REGION.ATTR``)."""
        with np.load(self.root / PROTO_FILE) as z:
            return {k: z[k] for k in z.files}

    def get(self, ids: list[str]) -> list[CatalogItem]:
        """The items with these ids that the catalog has (looked up by the index on ids)."""
        found = []
        with closing(sqlite3.connect(self.root / DB_FILE)) as db:
            for i in range(0, len(ids), _SQL_CHUNK):
                chunk = ids[i : i + _SQL_CHUNK]
                found += db.execute(
                    "SELECT position, id, image, attributes, region_attributes FROM items "
                    f"WHERE id IN ({','.join('?' * len(chunk))}) AND generation <= ? ORDER BY position",
                    (*chunk, self.generation),
                ).fetchall()
        return [_item(row) for row in found]

    def delete(self, ids: list[str]) -> int:
        """Not offered by folder catalogs (segments are immutable); a Milvus catalog deletes."""
        raise InputError(
            "a folder catalog cannot delete items (rebuild it without them, or use a Milvus catalog)",
            path=self.root,
        )

    def vector_kinds(self) -> set[str]:
        """The kinds of vectors stored per item (from ``catalog.json``, or a vectors file's listing)."""
        return set(self._vector_shapes())

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
        those matching ``where``: ``global`` through the FAISS indexes, the others exhaustively; the best of
        every segment merged."""
        if field not in SEARCH_FIELDS:
            raise ValueError(f"unknown search field {field!r}")
        query = np.ascontiguousarray(query, dtype=np.float32)
        hits: list[tuple[float, int, Segment]] = []
        for segment in self._segments:
            mask = self._where_mask(segment, where) if where else None
            if mask is not None and not mask.any():
                continue
            if field == "global":
                found = self._search_index(segment, query, k, mask)
            else:
                scores = self._matrix(segment, field, temperature) @ query
                if mask is not None:
                    scores[~mask] = -np.inf
                found = [(float(scores[i]), int(i)) for i in top_k(scores, k)]
            hits += [(s, segment.start + i, segment) for s, i in found]
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [(s, self._segment_items(seg)[p - seg.start]) for s, p, seg in hits[:k]]

    def _search_index(self, segment: Segment, query: np.ndarray, k: int, mask: np.ndarray | None):
        """(score, offset in the segment) of the ``k`` best through the segment's index."""
        index = self._segment_data(segment).index()
        params = None
        if mask is not None:
            bitmap = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
            if isinstance(index, faiss.IndexIVF):
                params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
            else:
                params = faiss.SearchParameters(sel=selector)
        scores, idx = index.search(query[None], min(k, segment.count), params=params)
        return [(float(s), int(i)) for s, i in zip(scores[0], idx[0], strict=True) if i >= 0]

    def _matrix(self, segment: Segment, field: str, temperature: float) -> np.ndarray:
        """A segment's (n, D) vectors searched over ``field`` (``score`` ones computed once per segment)."""
        data = self._segment_data(segment)
        key = (field, temperature if field == "score" else None)
        if key not in data.derived:
            vec = data.vectors()
            if field == "score":
                data.derived[key] = score_vectors(vec, self.attributes, self.prototypes(), temperature)
            else:
                data.derived[key] = vec[field].reshape(len(vec[field]), -1).astype(np.float32, copy=False)
        return data.derived[key]

    def _where_mask(self, segment: Segment, where: Where) -> np.ndarray:
        """Boolean mask of a segment's items matching every ``{attribute: allowed values}`` of ``where``."""
        data = self._segment_data(segment)
        mask = np.ones(segment.count, bool)
        for name, allowed in where.items():
            key = ("column", name)
            if key not in data.derived:  # the items' values as codes into the sorted distinct values
                values = [item_value(it.attributes, it.region_attributes, name) for it in self._segment_items(segment)]
                vocab, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
                data.derived[key] = codes.astype(np.int32)
                data.derived[("vocab", name)] = vocab
            allowed_set = set(allowed)
            wanted = [i for i, v in enumerate(data.derived[("vocab", name)].tolist()) if v in allowed_set]
            mask &= np.isin(data.derived[key], wanted)
        return mask


def _item(row: tuple) -> CatalogItem:
    position, item_id, image, attributes, region = row
    return CatalogItem(position, item_id, image, json.loads(attributes), json.loads(region) if region else None)
