"""Opening and creating catalogs at a location: a folder (SQLite + FAISS, the default) or a Milvus URI
(:mod:`.uri` says which locations are Milvus ones)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .store import CatalogStore
from .uri import is_milvus, parse_milvus

__all__ = ["create_catalog", "is_milvus", "open_catalog", "parse_milvus"]


def open_catalog(location: str | Path) -> CatalogStore:
    """Open an existing catalog (folder or Milvus), or an InputError naming what was expected."""
    if is_milvus(location):
        from .milvus import MilvusCatalog

        return MilvusCatalog.open(parse_milvus(location), token=os.environ.get("FASHIONLAB_MILVUS_TOKEN"))
    from .catalog import Catalog

    return Catalog.open(location)


def create_catalog(
    location: str | Path,
    *,
    model_path: str,
    attributes: list[tuple[str, list[str]]],
    prototypes: dict[str, np.ndarray],
    index_kind: str = "auto",
    extra: dict | None = None,
) -> CatalogStore:
    """Create an empty catalog at ``location`` (refused if one is there already)."""
    kwargs = dict(model_path=model_path, attributes=attributes, prototypes=prototypes, index_kind=index_kind)
    if is_milvus(location):
        from .milvus import MilvusCatalog

        loc = parse_milvus(location)
        return MilvusCatalog.create(loc, token=os.environ.get("FASHIONLAB_MILVUS_TOKEN"), extra=extra, **kwargs)
    from .catalog import Catalog

    return Catalog.create(location, extra=extra, **kwargs)
