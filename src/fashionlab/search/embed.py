"""Turning images into search vectors with an attribute network (one function for catalogs and queries).

Vectors per image (all L2-normalised):

- ``global``: FashionSearchNet's compressed global representation (what the FAISS index holds);
- ``reps``: the attribute representations (A, rep_dim), so a query can swap one for a prototype;
- ``region_<region>``: the representations of the model's region attributes of that region, e.g.
  ``region_sleeves`` (B, 2, rep_dim) for ``sleeves.color`` and ``sleeves.pattern`` (region-aware search:
  "red sleeves, body unchanged");
- ``baseline``: plain global-average-pooled conv7 features of the same network (the comparison method).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.regions import regions_of, split_region_attribute
from ..models.attrnet import AttrNet


def model_regions(model: AttrNet) -> dict[str, list[str]]:
    """``{region: [attribute, ...]}`` of the model's region attributes, in their order."""
    return regions_of(model.region_attributes)


@torch.no_grad()
def embed_batch(model: AttrNet, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Vectors of a batch of (B, 3, H, W) images in [-1, 1]."""
    out = model(x)
    vec = {"global": out.global_rep, "reps": out.reps, "baseline": F.normalize(out.pooled.float(), dim=1)}
    for region, attributes in model_regions(model).items():
        idx = [model.region_index(f"{region}.{a}") for a in attributes]
        vec[f"region_{region}"] = out.region_reps[:, idx]
    return {k: v.float().cpu().numpy() for k, v in vec.items()}


def embed_batches(
    model: AttrNet,
    batches: Iterable[torch.Tensor],
    total: int | None = None,
    progress: bool = True,
    desc: str = "embedding",
) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {}
    model.eval()
    device = next(model.parameters()).device
    with tqdm(total=total, desc=desc, unit="img", disable=not progress) as bar:
        for x in batches:
            for k, v in embed_batch(model, x.to(device)).items():
                parts.setdefault(k, []).append(v)
            bar.update(len(x))
    return {k: np.concatenate(v) for k, v in parts.items()}


def _means(src: np.ndarray, labels: np.ndarray, n_values: int) -> np.ndarray:
    protos = np.zeros((n_values, src.shape[1]), np.float32)
    for v in range(n_values):
        sel = labels == v
        if sel.any():
            m = src[sel].mean(0)
            protos[v] = m / max(np.linalg.norm(m), 1e-12)
    return protos


def prototypes(
    vectors: dict[str, np.ndarray],
    labels: np.ndarray,
    attributes: list[tuple[str, list[str]]],
    region_labels: np.ndarray | None = None,
    region_attributes: list[tuple[str, list[str]]] = (),
) -> dict[str, np.ndarray]:
    """Per attribute, (n_values, dim) mean representation of the images having each value (normalised),
    for FashionSearchNet (``rep__ATTR``) and the baseline (``baseline__ATTR``); per region attribute
    (``region__sleeves.color``) from the region vectors. ``labels`` (N, A) and ``region_labels`` (N, R),
    -1 unknown. A value with no image gets a zero prototype (and cannot be searched for)."""
    out = {}
    for a, (name, values) in enumerate(attributes):
        out[f"rep__{name}"] = _means(vectors["reps"][:, a], labels[:, a], len(values))
        out[f"baseline__{name}"] = _means(vectors["baseline"], labels[:, a], len(values))
    regions = regions_of(region_attributes)
    for r, (name, values) in enumerate(region_attributes):
        region, attribute = split_region_attribute(name)
        j = regions[region].index(attribute)
        out[f"region__{name}"] = _means(vectors[f"region_{region}"][:, j], region_labels[:, r], len(values))
    return out
