"""Turning images into search vectors with an attribute network (one function for catalogs and queries).

Vectors per image (all L2-normalised):

- ``global``: FashionSearchNet's compressed global representation (what the FAISS index holds);
- ``reps``: the attribute representations (A, rep_dim), so a query can swap one for a prototype;
- ``region_sleeves``: each attribute's representation pooled from the *sleeve* AAM's region instead of its
  own (region-aware search: "red sleeves only");
- ``baseline``: plain global-average-pooled conv7 features of the same network (the comparison method).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..models.attrnet import AttrNet
from ..models.roi import roi_align

#: region name -> the attribute whose AAM box defines it
REGION_SOURCE = {"sleeves": "sleeve"}


@torch.no_grad()
def embed_batch(model: AttrNet, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Vectors of a batch of (B, 3, H, W) images in [-1, 1]."""
    out = model(x)
    vec = {"global": out.global_rep, "reps": out.reps, "baseline": F.normalize(out.pooled.float(), dim=1)}
    for region, attr in REGION_SOURCE.items():
        if attr not in model.attribute_names:
            continue
        a_src = model.attribute_index(attr)
        boxes = out.boxes[:, a_src : a_src + 1].expand(-1, len(model.attributes), -1)
        pooled = roi_align(out.conv5, boxes.to(out.conv5.dtype), model.cfg.roi_size)
        reps = torch.stack([head(pooled[:, a].flatten(1)) for a, head in enumerate(model.rep_heads)], 1)
        vec[f"region_{region}"] = F.normalize(reps.float(), dim=2)
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


def prototypes(
    vectors: dict[str, np.ndarray], labels: np.ndarray, attributes: list[tuple[str, list[str]]]
) -> dict[str, np.ndarray]:
    """Per attribute, (n_values, dim) mean representation of the images having each value (normalised),
    for FashionSearchNet (``rep__ATTR``) and the baseline (``baseline__ATTR``). ``labels`` (N, A), -1
    unknown. A value with no image gets a zero prototype (and cannot be searched for)."""
    out = {}
    for a, (name, values) in enumerate(attributes):
        for key, src in (("rep", vectors["reps"][:, a]), ("baseline", vectors["baseline"])):
            protos = np.zeros((len(values), src.shape[1]), np.float32)
            for v in range(len(values)):
                sel = labels[:, a] == v
                if sel.any():
                    m = src[sel].mean(0)
                    protos[v] = m / max(np.linalg.norm(m), 1e-12)
            out[f"{key}__{name}"] = protos
    return out
