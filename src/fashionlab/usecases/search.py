"""Catalog search from a photo, a photo plus wanted changes ("this, but with long sleeves"), attributes
alone, or an edited photo ("find items like my edit": AMGAN's retrieval protocol, where the edited image
is the query), and adding uploaded photos to a catalog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..models.editing.editor import Editor
from ..search.embed import embed_batch
from ..search.query import Hit, Searcher
from ..search.store import CatalogStore
from .edit import EditedImage, edit_images


def embed_photo(searcher: Searcher, photo: np.ndarray) -> dict[str, np.ndarray]:
    """The catalog vectors of one (H, W, 3) uint8 photo."""
    model = searcher.model
    with torch.no_grad():
        vectors = embed_batch(model, model.preprocess.image(photo)[None])
    return {k: v[0] for k, v in vectors.items()}


def hit_dict(hit: Hit) -> dict:
    """A hit as the CLI's --json and the API return it."""
    return {
        "rank": hit.rank + 1,
        "id": hit.item.id,
        "score": round(float(hit.score), 4),
        "attributes": hit.item.attributes,
        **({"region_attributes": hit.item.region_attributes} if hit.item.region_attributes else {}),
    }


def search_photo(
    searcher: Searcher,
    photo: np.ndarray | None,
    changes: dict[str, str] | None = None,
    *,
    k: int = 10,
    region: str | None = None,
    method: str = "fsn",
    where: dict[str, str | list[str]] | None = None,
) -> list[Hit]:
    """Items like ``photo`` with ``changes`` (``{attribute: value}``, optionally on ``region`` only); with no
    photo, items that have the ``changes`` attributes. ``where`` keeps only items with those attribute
    values (``{"color": ["red", "pink"]}``)."""
    if not 1 <= k <= 1000:
        raise InputError(f"k must be between 1 and 1000, got {k}", field="k")
    if photo is None:
        if not changes:
            raise InputError("give a query image, or attributes to search by", field="image")
        if region is not None:
            raise InputError("a region needs a query image", field="region")
        return searcher.query_attributes(changes, k=k, where=where)
    return searcher.query(embed_photo(searcher, photo), changes or {}, k=k, region=region, method=method, where=where)


@dataclass
class EditSearch:
    """The edit made and the items found with it as the query."""

    edited: EditedImage
    hits: list[Hit]


def search_with_edit(
    searcher: Searcher,
    editor: Editor,
    photo: np.ndarray,
    settings: dict[str, str],
    *,
    k: int = 10,
    region: str | Path | np.ndarray | None = None,
) -> EditSearch:
    """Edit ``photo`` with ``settings`` and search the catalog with the edited image itself as the query."""
    edited = edit_images(editor, [photo], settings, region=region, domain_check=False)[0]
    return EditSearch(edited, search_photo(searcher, edited.image, {}, k=k))


def add_photo(
    catalog: CatalogStore,
    searcher: Searcher,
    photo: np.ndarray,
    item_id: str,
    image_ref: str,
    attributes: dict[str, str] | None = None,
) -> int:
    """Add one photo to ``catalog`` (crash-safe: a new generation is switched to atomically) under
    ``item_id``; ``attributes`` default to what the model reads. Returns the new item count."""
    names = [n for n, _ in catalog.attributes]
    if attributes:
        for name, value in attributes.items():
            if name not in names:
                raise InputError(
                    f"unknown attribute {name!r}; this catalog has: {', '.join(names)}", field="attributes"
                )
            if value not in dict(catalog.attributes)[name]:
                valid = ", ".join(dict(catalog.attributes)[name])
                raise InputError(f"unknown value {value!r} for {name}; valid: {valid}", field=f"attributes.{name}")
    if catalog.get([item_id]):
        raise InputError(f"an item with id {item_id!r} is already in the catalog", field="id")
    vectors = embed_photo(searcher, photo)
    read = {}
    model = searcher.model
    with torch.no_grad():
        probs = model.predict(model.preprocess.image(photo)[None])
    for (name, values), p in zip(model.attributes, probs, strict=True):
        read[name] = values[int(p[0].argmax())]
    final = {**read, **(attributes or {})}
    catalog.add([item_id], [image_ref], [final], [None], {k: v[None] for k, v in vectors.items()})
    return len(catalog)
