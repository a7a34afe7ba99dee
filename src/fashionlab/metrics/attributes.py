"""Attribute metrics of an attribute network: accuracy, and localisation of its activation maps.

- accuracy: share of images whose predicted value equals the label (unknown labels skipped), per attribute;
- pointing game: the peak of the AAM of the *true* value, at image resolution, falls inside the
  attribute's ground-truth region mask (FashionSearchNet's localisation check); images whose region is
  empty (e.g. fastening = none) are skipped. ``pointing_tolerant`` is the usual relaxed variant (Zhang et
  al.'s pointing game allows 15 px at ~224 px): the region grown by ``tolerance`` pixels;
- edit-region pointing game (SynthFashion datasets only): the peak falls inside the attribute's exact edit
  region, the pixels that change when the attribute takes any other value (see
  :mod:`fashionlab.synth.ground_truth`). It asks "does the map point where the attribute lives?" rather than
  "onto the attribute's own pixels": a sleeve-length map may rightly point at a bare forearm;
- box IoU: the AAM region box (largest component above the threshold, as the network uses it) against the
  bounding box of the ground-truth region.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.loader import FashionDataset
from ..errors import InputError
from ..models.attrnet import AttrNet
from ..parallel import imap

#: which mask regions an attribute lives in (SynthFashion's ATTRIBUTE_REGION, as mask region names)
DEFAULT_REGIONS = {
    "sleeve": ["left_sleeve", "right_sleeve"],
    "color": ["garment"],
    "pattern": ["garment"],
    "collar": ["collar"],
    "fastening": ["fastening"],
}


@dataclass
class AttributeReport:
    accuracy: dict[str, float] = field(default_factory=dict)
    pointing: dict[str, float] = field(default_factory=dict)
    pointing_tolerant: dict[str, float] = field(default_factory=dict)
    tolerance: int = 0
    pointing_edit: dict[str, float] = field(default_factory=dict)
    box_iou: dict[str, float] = field(default_factory=dict)
    region_accuracy: dict[str, float] = field(default_factory=dict)  # sleeves.color ... (regions' own values)
    n: int = 0


def _edit_region_bits(job) -> np.ndarray:
    """(H, W) uint8 with bit a set where attribute a lives (see ``fashionlab.synth.ground_truth``)."""
    from ..data.imaging import resize_mask
    from ..synth.ground_truth import item_edit_regions

    item, names, native, size, mode = job
    regions = item_edit_regions(item, native, names)
    bits = np.zeros(native, np.uint8)
    for a, name in enumerate(names):
        bits |= regions[name].astype(np.uint8) << a
    return resize_mask(bits, size, mode)


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@torch.no_grad()
def evaluate_attributes(
    model: AttrNet,
    root: str,
    split: str = "test",
    *,
    limit: int | None = None,
    batch_size: int = 64,
    regions: dict[str, list[str]] | None = None,
    tolerance: int | None = None,
    edit_regions: bool | None = None,
    workers: int = 1,
    progress: bool = True,
) -> AttributeReport:
    """Accuracy, pointing games and AAM-box IoU of ``model`` on ``split`` of the dataset at ``root``. A
    classifier without activation maps (``attrclf``: no ``cams_raw``) gets the accuracy alone.

    ``edit_regions``: also play the edit-region pointing game (``None``: when the dataset is SynthFashion,
    see :func:`fashionlab.synth.ground_truth.is_synthfashion`); its regions are re-rendered, about 25
    renders per image, in ``workers`` processes."""
    size = model.preprocess.size
    ds = FashionDataset(
        root, split=split, size=size, resize=model.preprocess.resize, with_masks=True, progress=progress
    )
    bits = ds.schema.annotations.masks
    regions = regions or DEFAULT_REGIONS
    names = ds.attribute_names
    if names != model.attribute_names:
        raise InputError(f"dataset attributes {names} differ from the model's {model.attribute_names}", path=root)
    n = len(ds) if limit is None else min(limit, len(ds))
    from ..synth.ground_truth import is_synthfashion

    synthetic = n > 0 and is_synthfashion(ds.schema, ds.items[:n])
    if edit_regions and not synthetic:
        raise InputError(
            "edit-region pointing needs a SynthFashion dataset (made by `fashionlab data synth`, items with "
            "extra.seed and extra.pose)",
            path=root,
            field="edit_regions",
        )
    has_maps = hasattr(model, "cams_raw")
    edit_regions = has_maps and (synthetic if edit_regions is None else edit_regions)
    native = tuple(ds.schema.image_size) if ds.schema.image_size else size
    edit_jobs = ((ds.items[i], names, native, size, ds.resize) for i in range(n))
    edit_masks = imap(_edit_region_bits, edit_jobs, workers, chunksize=8) if edit_regions else None
    hits_edit = np.zeros(len(names))
    data_regions = [name for name, _ in ds.region_attributes]
    region_pairs = [
        (r, data_regions.index(name)) for r, (name, _) in enumerate(model.region_attributes) if name in data_regions
    ]
    r_correct = np.zeros(len(model.region_attributes))
    r_known = np.zeros(len(model.region_attributes))
    tol = max(1, round(8 * min(size) / 128)) if tolerance is None else tolerance
    correct = np.zeros(len(names))
    known = np.zeros(len(names))
    hits = np.zeros(len(names))
    hits_tol = np.zeros(len(names))
    tested = np.zeros(len(names))
    ious: list[list[float]] = [[] for _ in names]
    model.eval()
    device = next(model.parameters()).device
    for start in tqdm(range(0, n, batch_size), desc="evaluating", disable=not progress):
        items = [ds[i] for i in range(start, min(n, start + batch_size))]
        x = torch.stack([it["image"] for it in items]).to(device)
        y = torch.stack([it["attributes"] for it in items]).numpy()
        masks = torch.stack([it["mask"] for it in items]).numpy()
        edit = np.stack([next(edit_masks) for _ in items]) if edit_masks is not None else None
        out = model(x)
        y_region = torch.stack([it["region_attributes"] for it in items]).numpy()
        for r, d in region_pairs:
            k = y_region[:, d] >= 0
            r_correct[r] += (out.region_rep_logits[r].argmax(1).cpu().numpy()[k] == y_region[k, d]).sum()
            r_known[r] += k.sum()
        h, w = x.shape[-2:]
        if has_maps:
            stride_y, stride_x = h / out.conv7.shape[-2], w / out.conv7.shape[-1]
        for a, name in enumerate(names):
            pred = out.rep_logits[a].argmax(1).cpu().numpy()
            k = y[:, a] >= 0
            correct[a] += (pred[k] == y[k, a]).sum()
            known[a] += k.sum()
            region_bits = sum(1 << bits[r] for r in regions.get(name, []) if r in bits)
            if not has_maps or (not region_bits and edit is None):
                continue
            cams = model.cams_raw(out.conv7, a).float()
            idx = torch.as_tensor(np.where(k, y[:, a], 0), device=device)
            cam = cams[torch.arange(len(items), device=device), idx]
            up = F.interpolate(cam[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0].cpu().numpy()
            for i in range(len(items)):
                region = (masks[i] & region_bits) != 0
                py, px = np.unravel_index(np.argmax(up[i]), up[i].shape)
                if edit is not None and k[i]:
                    hits_edit[a] += int(edit[i, py, px] >> a) & 1
                if not k[i] or not region.any():
                    continue
                hits[a] += region[py, px]
                tested[a] += 1
                ys, xs = np.nonzero(region)
                hits_tol[a] += int(((ys - py) ** 2 + (xs - px) ** 2).min() <= tol * tol)
                gt = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
                bx = out.boxes[i, a].cpu().numpy().astype(np.float64) * [stride_x, stride_y, stride_x, stride_y]
                ious[a].append(_box_iou(bx, gt))
    rep = AttributeReport(n=n, tolerance=tol)
    for r, _ in region_pairs:
        if r_known[r]:
            rep.region_accuracy[model.region_attributes[r][0]] = float(r_correct[r] / r_known[r])
    for a, name in enumerate(names):
        rep.accuracy[name] = float(correct[a] / max(known[a], 1))
        if tested[a]:
            rep.pointing[name] = float(hits[a] / tested[a])
            rep.pointing_tolerant[name] = float(hits_tol[a] / tested[a])
            rep.box_iou[name] = float(np.mean(ious[a]))
        if edit_regions and known[a]:
            rep.pointing_edit[name] = float(hits_edit[a] / known[a])
    return rep
