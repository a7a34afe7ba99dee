"""Attribute regions of interest from activation maps, and ROI pooling, in plain torch.

- :func:`largest_component_boxes`: threshold a map at a fraction of its maximum and return the
  bounding box of the largest 8-connected component (label propagation with max-pooling, batched).
- :func:`roi_align`: bilinear ROI pooling (ROIAlign-style, 2x2 samples per bin) with ``grid_sample``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def largest_component_boxes(maps: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Boxes ``(N, 4)`` as ``(x0, y0, x1, y1)`` in map cells (x1, y1 exclusive) of the largest connected
    region of ``maps >= threshold * max`` for each of the ``N`` maps ``(N, h, w)``."""
    n, h, w = maps.shape
    flat = maps.reshape(n, -1).float()
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    norm = (flat - lo) / (hi - lo).clamp_min(1e-12)
    mask = (norm >= threshold).reshape(n, 1, h, w)
    labels = torch.arange(1, h * w + 1, dtype=torch.float32, device=maps.device).reshape(1, 1, h, w)
    labels = labels * mask
    for _ in range(h * w):
        grown = F.max_pool2d(labels, 3, 1, 1) * mask
        if torch.equal(grown, labels):
            break
        labels = grown
    lab = labels.reshape(n, -1).long()
    counts = torch.zeros(n, h * w + 1, dtype=torch.long, device=maps.device)
    counts.scatter_add_(1, lab, torch.ones_like(lab))
    counts[:, 0] = 0
    best = counts.argmax(dim=1, keepdim=True)
    comp = (lab == best).reshape(n, h, w)
    rows = comp.any(dim=2)
    cols = comp.any(dim=1)
    ar_h = torch.arange(h, device=maps.device).expand(n, h)
    ar_w = torch.arange(w, device=maps.device).expand(n, w)
    y0 = torch.where(rows, ar_h, h).min(dim=1).values
    y1 = torch.where(rows, ar_h, -1).max(dim=1).values + 1
    x0 = torch.where(cols, ar_w, w).min(dim=1).values
    x1 = torch.where(cols, ar_w, -1).max(dim=1).values + 1
    boxes = torch.stack([x0, y0, x1, y1], dim=1).float()
    empty = ~comp.flatten(1).any(dim=1)  # flat map: the whole map
    boxes[empty] = torch.tensor([0.0, 0.0, float(w), float(h)], device=maps.device)
    return boxes


def roi_align(features: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Pool ``features (B, C, h, w)`` inside ``boxes (B, R, 4)`` (x0, y0, x1, y1 in feature cells) to
    ``(B, R, C, size, size)`` by bilinear sampling at 2x2 points per bin, averaged."""
    b, c, h, w = features.shape
    r = boxes.shape[1]
    s = 2 * size
    t = (torch.arange(s, device=features.device, dtype=features.dtype) + 0.5) / s  # (s,)
    x0, y0, x1, y1 = (boxes[..., i].to(features.dtype) for i in range(4))
    xs = x0[..., None] + (x1 - x0)[..., None] * t  # (B, R, s) in cells
    ys = y0[..., None] + (y1 - y0)[..., None] * t
    gx = xs / w * 2 - 1  # grid_sample coords, align_corners=False
    gy = ys / h * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, :, None, :], gy[:, :, :, None]), dim=-1)  # (B,R,s,s,2)
    grid = grid.reshape(b, r * s, s, 2)
    out = F.grid_sample(features, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = out.reshape(b, c, r, s, s).permute(0, 2, 1, 3, 4)
    return F.avg_pool2d(out.reshape(b * r, c, s, s), 2).reshape(b, r, c, size, size)
