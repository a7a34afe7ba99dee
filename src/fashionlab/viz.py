"""Pictures people would rather see than read: heat-map overlays, image grids and activation-map sheets.

Pure numpy on uint8 images, plus :func:`aam_sheet` which asks any model with a ``cam(x, attribute)``
method (the attribute network) for its maps.
"""

from __future__ import annotations

import numpy as np
import torch

from .data.imaging import denormalise


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Blend a [0, 1] heat map (jet-like colours) over a uint8 (H, W, 3) image."""
    h = np.clip(heat, 0, 1)[..., None]
    color = np.concatenate(
        [
            np.clip(1.5 - np.abs(4 * h - 3), 0, 1),
            np.clip(1.5 - np.abs(4 * h - 2), 0, 1),
            np.clip(1.5 - np.abs(4 * h - 1), 0, 1),
        ],
        axis=-1,
    )
    return (0.5 * image + 0.5 * 255 * color).astype(np.uint8)


def image_grid(rows: list[list[np.ndarray]], pad: int = 2, fill: int = 255) -> np.ndarray:
    """One uint8 image from rows of equally sized (H, W, 3) uint8 tiles, ``pad`` pixels apart."""
    if not rows or not rows[0]:
        raise ValueError("image_grid needs at least one tile")
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + pad) - pad, ncol * (w + pad) - pad, 3), fill, np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            if tile.shape[:2] != (h, w):
                raise ValueError(f"tile ({i}, {j}) is {tile.shape[:2]}, expected {(h, w)}")
            out[i * (h + pad) : i * (h + pad) + h, j * (w + pad) : j * (w + pad) + w] = tile[..., :3]
    return out


@torch.no_grad()
def aam_sheet(net, x: torch.Tensor, attributes) -> np.ndarray:
    """Rows: images; columns: the image, then the activation map of each attribute's predicted value."""
    imgs = denormalise(x)
    rows = []
    for i in range(len(x)):
        row = [imgs[i]]
        for a in range(len(attributes)):
            cam = net.cam(x[i : i + 1], a)[0].cpu().numpy()
            row.append(overlay(imgs[i], cam))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def histogram(
    values, bins: int = 20, title: str = "", unit: str = "", size: tuple[int, int] = (240, 480)
) -> np.ndarray:
    """A uint8 (H, W, 3) bar chart of the finite ``values`` in ``bins`` equal bins, with the title, the
    axis range and the median drawn in (Pillow only)."""
    from PIL import Image, ImageDraw

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    h, w = size
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((8, 4), title, fill=(0, 0, 0))
    if len(v) == 0:
        draw.text((8, h // 2), "no values", fill=(0, 0, 0))
        return np.asarray(canvas)
    lo, hi = float(v.min()), float(v.max()) if v.max() > v.min() else float(v.min()) + 1.0
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    left, right, top, bottom = 30, w - 10, 22, h - 24
    bar = (right - left) / bins
    for k, c in enumerate(counts):
        y = bottom - (bottom - top) * c / max(counts.max(), 1)
        draw.rectangle([left + k * bar + 1, y, left + (k + 1) * bar - 1, bottom], fill=(70, 110, 180))
    median = float(np.median(v))
    mx = left + (right - left) * (median - lo) / (hi - lo)
    draw.line([mx, top, mx, bottom], fill=(200, 40, 40), width=2)
    draw.line([left, bottom, right, bottom], fill=(0, 0, 0))
    draw.text((left, bottom + 4), f"{lo:.2f}{unit}", fill=(0, 0, 0))
    draw.text((right - 50, bottom + 4), f"{hi:.2f}{unit}", fill=(0, 0, 0))
    draw.text((mx + 4, top), f"median {median:.2f}{unit} (n={len(v)})", fill=(200, 40, 40))
    return np.asarray(canvas)
