"""Building and growing catalogs from datasets, and embedding query images, with a trained AttrNet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.format import UNKNOWN, Item, load_dataset
from ..data.regions import region_labels
from ..errors import InputError
from ..models.attrnet import AttrNet
from .embed import embed_batch, embed_batches, prototypes
from .locations import create_catalog
from .query import model_identity
from .store import CatalogStore


def load_model_for_search(path: str | Path) -> AttrNet:
    from ..models.registry import load

    model = load(path)
    if not isinstance(model, AttrNet):
        raise InputError(
            "this export is not an attribute network (train one with `fashionlab train attrnet`)", path=path
        )
    return model


def image_tensor(model: AttrNet, path: str | Path) -> torch.Tensor:
    """One image file as the model's (1, 3, S, S) input (converted from grayscale/RGBA, resized)."""
    return model.preprocess.load(path)[None]


def _split_positions(root: str | Path, splits: list[str] | None, limit: int | None = None):
    """(dataset, positions in ``dataset.items`` of the items of ``splits``, at most ``limit``)."""
    ds = load_dataset(root)
    positions = [k for k, it in enumerate(ds.items) if splits is None or it.split in splits]
    if splits is not None:
        unknown = set(splits) - set(ds.schema.splits)
        if unknown:
            raise InputError(f"unknown split(s) {sorted(unknown)}; this dataset has {ds.schema.splits}", path=root)
    if limit is not None:
        positions = positions[:limit]
    if not positions:
        raise InputError(f"no items in split(s) {splits}", path=root)
    return ds, positions


def attribute_labels(items: list[Item], attributes: list[tuple[str, list[str]]]) -> np.ndarray:
    out = np.full((len(items), len(attributes)), -1, np.int64)
    for i, it in enumerate(items):
        for a, (name, values) in enumerate(attributes):
            v = it.attributes.get(name, UNKNOWN)
            if v in values:
                out[i, a] = values.index(v)
    return out


def embed_dataset(
    model: AttrNet,
    root: str | Path,
    splits: list[str] | None,
    *,
    batch_size: int = 64,
    limit: int | None = None,
    progress: bool = True,
):
    """(dataset, items, vectors) for the items of ``splits`` of the dataset at ``root``. Images are read
    through the dataset's packed cache at the model's size (built on first use), like training does."""
    from ..data.loader import FashionDataset

    ds, positions = _split_positions(root, splits, limit)
    names = [a.name for a in ds.schema.attributes]
    if names != model.attribute_names:
        raise InputError(f"dataset attributes {names} differ from the model's {model.attribute_names}", path=root)
    # split=None: the packed dataset's items are the dataset's items, in the same order
    pre = model.preprocess
    packed = FashionDataset(root, split=None, size=pre.size, resize=pre.resize, progress=progress)
    batches = (
        torch.stack([packed[k]["image"] for k in positions[i : i + batch_size]])
        for i in range(0, len(positions), batch_size)
    )
    vecs = embed_batches(model, batches, total=len(positions), progress=progress)
    return ds, [ds.items[k] for k in positions], vecs


def labelled_prototypes(model: AttrNet, items: list[Item], vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The value prototypes of ``model`` from embedded ``items`` (their attribute and region labels)."""
    regions = np.asarray(region_labels(items, model.region_attributes), np.int64).reshape(len(items), -1)
    labels = attribute_labels(items, model.attributes)
    return prototypes(vectors, labels, model.attributes, regions, model.region_attributes)


def model_reference(model_path: str | Path) -> str:
    """How a catalog records its attribute network: ``asset:NAME`` as it is (it is found by name wherever the
    package is installed), a run or export folder as its absolute path."""
    text = str(model_path)
    return text if text.startswith("asset:") else str(Path(model_path).resolve())


def create_empty_catalog(
    model: AttrNet,
    model_path: str | Path,
    out: str | Path,
    *,
    prototype_data: str | Path,
    prototype_split: str = "train",
    prototype_limit: int = 5000,
    index_kind: str = "auto",
    batch_size: int = 64,
    progress: bool = True,
) -> CatalogStore:
    """A new, empty catalog at ``out`` for ``model`` (loaded from ``model_path``): the value prototypes of
    up to ``prototype_limit`` images of ``prototype_split`` of ``prototype_data``, the model's reference,
    preprocessing and identity. What :func:`build_catalog` and the Ray engine's ``prepare_catalog`` fill."""
    _, p_items, p_vecs = embed_dataset(
        model, prototype_data, [prototype_split], batch_size=batch_size, limit=prototype_limit, progress=progress
    )
    return create_catalog(
        out,
        model_path=model_reference(model_path),
        attributes=model.attributes,
        prototypes=labelled_prototypes(model, p_items, p_vecs),
        index_kind=index_kind,
        extra={"preprocess": model.preprocess.to_dict(), "model_id": model_identity(model)},
    )


def build_catalog(
    model_path: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    splits: list[str] | None,
    prototype_split: str = "train",
    prototype_limit: int = 5000,
    index_kind: str = "auto",
    prototype_data: str | Path | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> CatalogStore:
    """Embed a dataset's items into a new catalog at ``out`` (a folder or a Milvus URI, see
    :mod:`.locations`). Value prototypes are the mean representations of up to ``prototype_limit`` images
    of ``prototype_split`` of ``prototype_data`` (default: ``data``)."""
    model = load_model_for_search(model_path)
    cat = create_empty_catalog(
        model,
        model_path,
        out,
        prototype_data=prototype_data or data,
        prototype_split=prototype_split,
        prototype_limit=prototype_limit,
        index_kind=index_kind,
        batch_size=batch_size,
        progress=progress,
    )
    add_to_catalog(cat, model, data, splits=splits, batch_size=batch_size, progress=progress)
    return cat


def add_to_catalog(
    cat: CatalogStore,
    model: AttrNet,
    data: str | Path,
    *,
    splits: list[str] | None,
    batch_size: int = 64,
    progress: bool = True,
) -> int:
    """Embed the items of ``splits`` of the dataset at ``data`` and add them to ``cat`` (ids
    ``DATASET/ITEM``; items already there are refused). Returns the new generation."""
    ds, items, vecs = embed_dataset(model, data, splits, batch_size=batch_size, progress=progress)
    prefix = Path(data).resolve().name
    ids = [f"{prefix}/{it.id}" for it in items]
    dup = cat.get(ids)
    if dup:
        raise InputError(f"{len(dup)} item(s) are already in the catalog (e.g. {dup[0].id})", path=data)
    return cat.add(
        ids,
        [str(ds.image_path(it).resolve()) for it in items],
        [it.attributes for it in items],
        [it.region_attributes for it in items],
        vecs,
    )


def embed_query(model: AttrNet, path: str | Path) -> dict[str, np.ndarray]:
    """Vectors of one query image (batch dimension removed)."""
    model.eval()
    v = embed_batch(model, image_tensor(model, path).to(next(model.parameters()).device))
    return {k: x[0] for k, x in v.items()}
