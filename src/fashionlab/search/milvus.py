"""A catalog in Milvus: Milvus Lite (a local ``.db``, embedded) or Milvus Standalone / Distributed by URI.

Two collections per catalog, ``NAME`` (the items) and ``NAME_meta`` (the catalog's description, as a
folder catalog's ``catalog.json``, and its value prototypes). An item row holds:

- ``id`` (primary key, the dedup key), ``seq`` (add order: the item's position), ``gen`` (the add that
  wrote it), ``image`` (the image reference);
- one VARCHAR per attribute and region attribute (``a0_sleeve``, ``r0_sleeves_color``): filters are Milvus
  scalar filter expressions over them; ``region_attributes`` (JSON) as the dataset gives them;
- the vector fields ``global``, ``baseline``, ``reps`` (the attribute representations, flattened) and
  ``score`` (global + value probabilities, :mod:`.scoring`), and the region representations as float arrays.

Adds and deletes cost O(batch). An add is invisible until it commits, as a folder catalog's: its rows are
written with the next generation number and every read asks for ``gen <= committed generation``; the
commit is one row of the description. A crash before it leaves the catalog answering with the items it had;
the next add or delete removes the uncommitted rows (so a re-run of the add writes its items once: ids are
primary keys). A delete records its ids before deleting, and the next write finishes one that was cut short.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputExistsError
from .milvus_conn import CHUNK, MilvusConn, TextStore
from .scoring import score_dim, score_vectors
from .store import (
    REGION_TEMPERATURE,
    CatalogItem,
    Where,
    check_lengths,
    check_new_ids,
    item_value,
    region_attribute_names,
)
from .uri import MilvusLocation

#: rows per upsert / get / delete call
BATCH = 500
#: items per query when listing a whole catalog
LIST_WINDOW = 5000
#: index of the ``global`` field per ``--index`` kind (``auto``: exact on Milvus Lite, HNSW on a server)
INDEX_KINDS = {"flat": "FLAT", "ivf": "IVF_FLAT", "hnsw": "HNSW"}
VECTOR_FIELDS = ("global", "baseline", "reps")
#: seconds between re-reads of the description (so a server sees what another process committed)
REFRESH_S = 1.0


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _index_params(kind: str) -> tuple[str, dict[str, Any]]:
    if kind == "HNSW":
        return kind, {"M": 16, "efConstruction": 200}
    if kind == "IVF_FLAT":
        return kind, {"nlist": 1024}
    return kind, {}


class MilvusCatalog:
    """A :class:`.store.CatalogStore` in Milvus. Open with :meth:`create` or :meth:`open`."""

    def __init__(self, conn: MilvusConn, meta: dict[str, Any]):
        self.conn = conn
        self.loc = conn.loc
        self.location = str(conn.loc)
        self.meta = meta
        self.text = TextStore(conn, f"{conn.loc.collection}_meta")
        self.collection = conn.loc.collection
        self._protos: dict[str, np.ndarray] | None = None
        self._read_at = time.monotonic()

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(
        cls,
        loc: MilvusLocation,
        *,
        token: str | None = None,
        model_path: str,
        attributes: list[tuple[str, list[str]]],
        prototypes: dict[str, np.ndarray],
        index_kind: str = "auto",
        extra: dict | None = None,
    ) -> MilvusCatalog:
        """A new, empty catalog (refused where one exists); the items collection is made by the first add."""
        kind = "FLAT" if index_kind == "auto" and loc.lite else "HNSW" if index_kind == "auto" else None
        kind = kind or INDEX_KINDS.get(index_kind)
        if kind is None:
            raise InputError(f"unknown index kind {index_kind!r}; valid: auto, {', '.join(INDEX_KINDS)}", field="index")
        conn = MilvusConn(loc, token)
        text = TextStore(conn, f"{loc.collection}_meta")
        if text.exists():
            text.load()
            if text.get("meta") is not None:
                conn.close()
                raise OutputExistsError(
                    f"{loc} already holds a catalog; choose another location (or #COLLECTION), or use "
                    "`fashionlab index add` to grow it"
                )
            text.drop()  # a create that crashed before its description was written
        if conn.call("list collections", "has_collection", loc.collection):
            conn.close()
            raise OutputExistsError(f"{loc} already has a collection {loc.collection!r}; choose another #COLLECTION")
        text.create()
        buf = io.BytesIO()
        np.savez(buf, **prototypes)
        chunks = text.put("prototypes", base64.b64encode(buf.getvalue()).decode("ascii"))
        names = [n for n, _ in attributes]
        filters = {n: f"a{i}_{_slug(n)}" for i, n in enumerate(names)}
        filters |= {n: f"r{i}_{_slug(n)}" for i, n in enumerate(region_attribute_names(prototypes))}
        meta = {
            "format": "fashionlab-catalog",
            "version": 1,
            "backend": "milvus",
            "model": str(model_path),
            "attributes": [[n, list(v)] for n, v in attributes],
            "index_kind": index_kind,
            "index": kind,
            "generation": 0,
            "count": 0,
            "next_seq": 0,
            "prototype_rows": chunks,
            "filter_fields": filters,
            "region_temperature": REGION_TEMPERATURE,
            **(extra or {}),
        }
        cat = cls(conn, meta)
        cat._write_meta(meta)  # the catalog exists from here on
        return cat

    @classmethod
    def open(cls, loc: MilvusLocation, *, token: str | None = None) -> MilvusCatalog:
        """An existing catalog, or an InputError saying there is none."""
        if loc.lite and not Path(loc.uri).exists():
            raise InputError(
                f"no Milvus Lite catalog here; build one with `fashionlab index build --out {loc}`", path=str(loc)
            )
        conn = MilvusConn(loc, token)
        text = TextStore(conn, f"{loc.collection}_meta")
        raw = None
        if text.exists():
            text.load()
            raw = text.get("meta")
        if raw is None:
            conn.close()
            raise InputError(
                f"no fashionlab catalog in collection {loc.collection!r}; build one with "
                f"`fashionlab index build --out {loc}`",
                path=str(loc),
            )
        cat = cls(conn, json.loads(raw))
        if cat._has_items():
            conn.call("load the collection", "load_collection", cat.collection)
        return cat

    def close(self) -> None:
        """Release the connection (and a Milvus Lite file, for other processes)."""
        self.conn.close()

    @property
    def attributes(self) -> list[tuple[str, list[str]]]:
        return [(n, list(v)) for n, v in self.meta["attributes"]]

    @property
    def generation(self) -> int:
        return int(self.meta["generation"])

    def __len__(self) -> int:
        return int(self.meta["count"])

    def vector_kinds(self) -> set[str]:
        return set(self.meta.get("vector_kinds", []))

    def prototypes(self) -> dict[str, np.ndarray]:
        if self._protos is None:
            raw = self.text.get("prototypes", int(self.meta["prototype_rows"]))
            if raw is None:
                raise InputError("the catalog's prototypes are missing from Milvus", path=self.location)
            with np.load(io.BytesIO(base64.b64decode(raw))) as z:
                self._protos = {k: z[k] for k in z.files}
        return self._protos

    # ------------------------------------------------------------------ description
    def _write_meta(self, meta: dict[str, Any]) -> None:
        text = json.dumps(meta)
        if len(text) > CHUNK:
            raise InputError(f"the catalog's description is too long for Milvus ({len(text)} characters)")
        self.text.put("meta", text)  # one row: the switch
        self.meta = meta

    def _refresh(self) -> None:
        """Re-read the description when it may have changed in another process (at most once a second)."""
        if time.monotonic() - self._read_at > REFRESH_S:
            raw = self.text.get("meta")
            if raw is not None:
                self.meta = json.loads(raw)
            self._read_at = time.monotonic()

    def _has_items(self) -> bool:
        return bool(self.conn.call("list collections", "has_collection", self.collection))

    # ------------------------------------------------------------------ writing
    def _create_items(self, vectors: dict[str, np.ndarray]) -> None:
        from pymilvus import DataType

        client = self.conn.client
        missing = [k for k in VECTOR_FIELDS if k not in vectors]
        if missing:
            raise InputError(f"expected vectors {', '.join(VECTOR_FIELDS)}; missing {missing}", path=self.location)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=1024)
        schema.add_field("seq", DataType.INT64)
        schema.add_field("gen", DataType.INT64)
        schema.add_field("image", DataType.VARCHAR, max_length=4096)
        schema.add_field("region_attributes", DataType.JSON)
        for field in self.meta["filter_fields"].values():
            schema.add_field(field, DataType.VARCHAR, max_length=256)
        dims = {k: int(np.prod(v.shape[1:])) for k, v in vectors.items()}
        dims["score"] = score_dim(self.attributes, self.prototypes(), dims["global"])
        for field in (*VECTOR_FIELDS, "score"):
            schema.add_field(field, DataType.FLOAT_VECTOR, dim=dims[field])
        regions = sorted(k for k in vectors if k.startswith("region_"))
        for field in regions:
            schema.add_field(field, DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=dims[field])
        index = client.prepare_index_params()
        for field in (*VECTOR_FIELDS, "score"):
            kind, params = _index_params(self.meta["index"] if field == "global" else "FLAT")
            index.add_index(field, index_type=kind, metric_type="IP", params=params)
        self.conn.call(
            "create the items collection",
            "create_collection",
            self.collection,
            schema=schema,
            index_params=index,
            consistency_level="Strong",
        )
        shapes = {k: list(v.shape[1:]) for k, v in vectors.items()}
        self._write_meta({**self.meta, "vector_kinds": sorted(vectors), "vector_shapes": shapes})

    def _recover(self) -> None:
        """Finish what a killed add or delete left: drop an uncommitted add's rows, redo a delete."""
        meta = dict(self.meta)
        if "pending_add" in meta:
            gen = int(meta.pop("pending_add"))
            self.conn.call("remove an unfinished add", "delete", self.collection, filter=f"gen == {gen}")
        if "pending_delete" in meta:
            n = int(meta.pop("pending_delete"))
            ids = json.loads(self.text.get("pending_delete", int(meta.pop("pending_delete_rows"))) or "[]")
            for i in range(0, len(ids), BATCH):
                self.conn.call("delete items", "delete", self.collection, ids=ids[i : i + BATCH])
            meta["count"] = int(meta["count"]) - n
        if meta != self.meta:
            self._write_meta(meta)

    def add(
        self,
        ids: list[str],
        images: list[str],
        attributes: list[dict[str, str]],
        region_attributes: list[dict | None],
        vectors: dict[str, np.ndarray],
    ) -> int:
        """Add items (O(batch): upserts by id), committed at once; returns the new generation."""
        n = check_lengths(ids, images, attributes, region_attributes, vectors)
        self._refresh()
        if "vector_shapes" not in self.meta:
            self._create_items(vectors)
        want = {k: list(v) for k, v in self.meta["vector_shapes"].items()}
        have = {k: list(v.shape[1:]) for k, v in vectors.items()}
        if want != have:
            raise InputError(
                f"vector kinds differ from the catalog's: {want} vs {have} "
                "(the model changed since the catalog was built; build a new catalog)",
                path=self.location,
            )
        self._recover()
        check_new_ids(ids, self.get(ids), self.location)
        gen, start = self.generation + 1, int(self.meta["next_seq"])
        self._write_meta({**self.meta, "pending_add": gen})
        scores = score_vectors(vectors, self.attributes, self.prototypes(), float(self.meta["region_temperature"]))
        for i in range(0, n, BATCH):
            rows = [
                self._row(j, start + j, gen, ids, images, attributes, region_attributes, vectors, scores)
                for j in range(i, min(i + BATCH, n))
            ]
            self._upsert(rows)
        if self.loc.lite:
            self.conn.call("flush", "flush", self.collection)  # sealed and indexed: searches stay fast
        self.conn.call("load the collection", "load_collection", self.collection)
        meta = {k: v for k, v in self.meta.items() if k != "pending_add"}
        self._write_meta({**meta, "generation": gen, "count": len(self) + n, "next_seq": start + n})
        return gen

    def _upsert(self, rows: list[dict[str, Any]]) -> None:
        """Write one batch of rows (a separate method so a test can stop a process between batches)."""
        self.conn.call("write items", "upsert", self.collection, rows)

    def _row(self, j, seq, gen, ids, images, attributes, region_attributes, vectors, scores) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": ids[j],
            "seq": seq,
            "gen": gen,
            "image": images[j],
            "region_attributes": region_attributes[j] or {},
            "score": scores[j],
        }
        for name, field in self.meta["filter_fields"].items():
            row[field] = item_value(attributes[j], region_attributes[j], name)
        for kind, v in vectors.items():
            flat = np.asarray(v[j], np.float32).ravel()
            row[kind] = flat.tolist() if kind.startswith("region_") else flat
        return row

    def delete(self, ids: list[str]) -> int:
        """Delete the items with these ids (O(batch)); returns how many were there."""
        self._refresh()
        if "vector_shapes" not in self.meta:
            return 0
        self._recover()
        found = [it.id for it in self.get(ids)]
        if not found:
            return 0
        rows = self.text.put("pending_delete", json.dumps(found))
        self._write_meta({**self.meta, "pending_delete": len(found), "pending_delete_rows": rows})
        self._recover()
        return len(found)

    # ------------------------------------------------------------------ reading
    def _item_fields(self) -> list[str]:
        return ["id", "seq", "image", "region_attributes", *self.meta["filter_fields"].values()]

    def _item(self, row: dict[str, Any]) -> CatalogItem:
        names = [n for n, _ in self.attributes]
        fields = self.meta["filter_fields"]
        attributes = {n: row[fields[n]] for n in names if row.get(fields[n])}
        return CatalogItem(int(row["seq"]), row["id"], row["image"], attributes, row["region_attributes"] or None)

    def _visible(self) -> str:
        return f"gen <= {self.generation}"

    def get(self, ids: list[str]) -> list[CatalogItem]:
        """The committed items with these ids (O(len(ids)))."""
        if "vector_shapes" not in self.meta or not ids:
            return []
        out = []
        for i in range(0, len(ids), BATCH):
            rows = self.conn.call(
                "read items",
                "get",
                self.collection,
                ids=ids[i : i + BATCH],
                output_fields=[*self._item_fields(), "gen"],
            )
            out += [self._item(r) for r in rows if int(r["gen"]) <= self.generation]
        return out

    def items(self) -> list[CatalogItem]:
        """Every committed item in add order (reads the whole collection)."""
        self._refresh()
        if "vector_shapes" not in self.meta:
            return []
        rows: list[dict] = []
        for start in range(0, int(self.meta["next_seq"]), LIST_WINDOW):  # windows of add order: no iterator
            window = f"{self._visible()} and seq >= {start} and seq < {start + LIST_WINDOW}"
            fields = self._item_fields()
            rows += self.conn.call("list items", "query", self.collection, filter=window, output_fields=fields)
        return sorted((self._item(r) for r in rows), key=lambda x: x.position)

    def where_expression(self, where: Where | None) -> str:
        """The Milvus filter expression of the committed items matching ``where``."""
        parts = [self._visible()]
        for name, allowed in (where or {}).items():
            field = self.meta["filter_fields"].get(name)
            if field is None:
                raise InputError(f"cannot filter on {name!r}; filterable: {', '.join(self.meta['filter_fields'])}")
            parts.append(f"{field} in {json.dumps(list(allowed))}")
        return " and ".join(parts)

    def search(
        self,
        field: str,
        query: np.ndarray,
        k: int,
        where: Where | None = None,
        *,
        temperature: float = REGION_TEMPERATURE,
    ) -> list[tuple[float, CatalogItem]]:
        """The ``k`` best committed items over ``field`` matching ``where``, searched by Milvus."""
        self._refresh()
        if "vector_shapes" not in self.meta or len(self) == 0:
            return []
        if field == "score" and temperature != float(self.meta["region_temperature"]):
            raise InputError(
                f"this Milvus catalog stores region probabilities at temperature {self.meta['region_temperature']}; "
                f"expected that temperature, got {temperature}",
                field="region_temperature",
            )
        params: dict[str, Any] = {"metric_type": "IP"}
        if field == "global" and self.meta["index"] == "HNSW":
            params["params"] = {"ef": max(k, 128)}
        elif field == "global" and self.meta["index"] == "IVF_FLAT":
            params["params"] = {"nprobe": 32}
        res = self.conn.call(
            "search",
            "search",
            self.collection,
            data=[np.ascontiguousarray(query, np.float32)],
            anns_field=field,
            limit=k,
            filter=self.where_expression(where),
            output_fields=self._item_fields(),
            search_params=params,
        )
        return [(float(h["distance"]), self._item({**h["entity"], "id": h["id"]})) for h in res[0]]
