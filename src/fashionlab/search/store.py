"""What every catalog backend offers: the :class:`CatalogStore` interface, its items, and attribute filters.

Two implementations: :class:`.catalog.Catalog` (a folder: SQLite + FAISS, the default) and
:class:`.milvus.MilvusCatalog` (a Milvus collection: Milvus Lite in a local ``.db``, or a Milvus server by
URI). :func:`.locations.open_catalog` and :func:`.locations.create_catalog` pick one from a location.

Every query a :class:`.query.Searcher` asks is one inner-product search over one vector *field* of the
catalog, optionally restricted by an attribute filter:

- ``global``: FashionSearchNet's global representation (plain and "with this change" queries);
- ``baseline``: pooled features (the baseline method);
- ``reps``: the attribute representations, flattened (search by attributes alone);
- ``score``: the global representation followed by each item's value probabilities of its region and
  garment attributes (region-aware search; see :mod:`.scoring`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import InputError

#: the vector fields a catalog can be searched over
SEARCH_FIELDS = ("global", "baseline", "reps", "score")
#: the softmax temperature of the value probabilities in the ``score`` field
REGION_TEMPERATURE = 20.0

#: an attribute filter: ``{attribute or region attribute: [allowed values]}``, all attributes must match
Where = dict[str, list[str]]


@dataclass
class CatalogItem:
    """One catalog item: ``position`` is its place in :meth:`CatalogStore.items` (folder catalogs) or its
    sequence number in the order items were added (Milvus catalogs: the same until something is deleted)."""

    position: int
    id: str
    image: str
    attributes: dict[str, str]
    region_attributes: dict[str, dict[str, str]] | None


class CatalogStore(Protocol):
    """A searchable catalog of items with their vectors, attributes and image references."""

    #: where the catalog lives (a folder path or a Milvus URI), for messages
    location: str
    #: the catalog's description: model path and identity, attributes, index kind, generation, count
    meta: dict[str, Any]
    #: bumped by every committed change, so caches of derived data can tell they are stale
    generation: int

    @property
    def attributes(self) -> list[tuple[str, list[str]]]:
        """The garment attributes and their values, in the model's order."""
        ...

    def __len__(self) -> int: ...

    def add(
        self,
        ids: list[str],
        images: list[str],
        attributes: list[dict[str, str]],
        region_attributes: list[dict | None],
        vectors: dict[str, np.ndarray],
    ) -> int:
        """Add items (ids must be new) with their vectors, all or nothing for readers; returns the new
        generation."""
        ...

    def delete(self, ids: list[str]) -> int:
        """Remove the items with these ids; returns how many were there."""
        ...

    def get(self, ids: list[str]) -> list[CatalogItem]:
        """The items with these ids that the catalog has (any order)."""
        ...

    def items(self) -> list[CatalogItem]:
        """Every item, in position order (reads the whole catalog: for small catalogs and metrics)."""
        ...

    def prototypes(self) -> dict[str, np.ndarray]:
        """The value prototypes (``rep__ATTR``, ``baseline__ATTR``, ``region__REGION.ATTR``)."""
        ...

    def vector_kinds(self) -> set[str]:
        """The kinds of vectors stored per item (``global``, ``reps``, ``baseline``, ``region_<r>``)."""
        ...

    def search(
        self, field: str, query: np.ndarray, k: int, where: Where | None = None, *, temperature: float = ...
    ) -> list[tuple[float, CatalogItem]]:
        """The ``k`` items of highest inner product with ``query`` over ``field`` (one of
        :data:`SEARCH_FIELDS`), among those matching ``where``, best first. ``temperature`` is that of the
        ``score`` field's value probabilities."""
        ...

    def close(self) -> None:
        """Release connections and locks (a Milvus Lite file can be opened by one process at a time)."""
        ...


def region_attribute_names(prototypes: dict[str, np.ndarray] | list[str]) -> list[str]:
    """``["sleeves.color", ...]``: the region attributes a catalog has prototypes of, in the model's order."""
    return [k.removeprefix("region__") for k in prototypes if k.startswith("region__")]


def item_value(attributes: dict[str, str], region_attributes: dict | None, name: str) -> str:
    """The item's value of attribute ``name`` (``color``) or region attribute (``sleeves.color``); ``""`` when
    the item has none."""
    if name in attributes:
        return str(attributes[name])
    region, _, attribute = name.partition(".")
    if attribute and region_attributes:
        return str((region_attributes.get(region) or {}).get(attribute, ""))
    return ""


def check_lengths(ids: list, images: list, attributes: list, region_attributes: list, vectors: dict) -> int:
    """The number of items of an add, or a ValueError when its lists and vectors differ in length."""
    n = len(ids)
    if not (len(images) == len(attributes) == len(region_attributes) == n) or vectors["global"].shape[0] != n:
        raise ValueError("ids, images, attributes and vectors must have the same length")
    return n


def check_new_ids(ids: list[str], present: list[CatalogItem], location: str) -> None:
    """Refuse an add whose ids repeat, or are already in the catalog (``present``: those found there)."""
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        twice = next(i for i in ids if i in seen or seen.add(i))
        raise InputError(f"item id {twice!r} is given twice; ids must be unique", path=location)
    if present:
        raise InputError(f"{len(present)} item(s) are already in the catalog (e.g. {present[0].id})", path=location)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest ``scores`` (``-inf``: excluded), best first."""
    kk = min(k, int(np.isfinite(scores).sum()))
    if kk <= 0:
        return np.zeros(0, np.int64)
    top = np.argpartition(-scores, kk - 1)[:kk] if kk < len(scores) else np.arange(len(scores))
    top = top[np.isfinite(scores[top])]
    return top[np.argsort(-scores[top], kind="stable")]
