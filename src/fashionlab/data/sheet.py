"""Contact sheets: one picture that shows what a dataset holds, so a person can look at it.

One row per attribute with an example of every value (captioned), then, when the dataset has them, a
row of region masks and a row of keypoint skeletons.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import InputError, OutputExistsError
from .format import UNKNOWN, Dataset, Item, load_dataset
from .imaging import load_mask, load_rgb

#: Colours of the mask regions, drawn in this order (later ones on top).
REGION_COLORS = {
    "person": (200, 200, 200),
    "garment": (70, 130, 230),
    "torso": (40, 90, 200),
    "left_sleeve": (230, 160, 40),
    "right_sleeve": (240, 90, 40),
    "collar": (60, 190, 90),
    "fastening": (220, 40, 160),
}
#: Limb pairs of the 18-keypoint skeleton (indices of ``KEYPOINT_NAMES``).
SKELETON = [
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (1, 5),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
    (0, 14),
    (0, 15),
    (14, 16),
    (15, 17),
]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _fit(img: np.ndarray, tile: int) -> Image.Image:
    """Resize to fit a tile x tile square (keeping aspect), centred on white."""
    pil = Image.fromarray(img)
    scale = tile / max(pil.width, pil.height)
    pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.BILINEAR)
    canvas = Image.new("RGB", (tile, tile), (255, 255, 255))
    canvas.paste(pil, ((tile - pil.width) // 2, (tile - pil.height) // 2))
    return canvas


def colorize_mask(mask: np.ndarray, bits: dict[str, int]) -> np.ndarray:
    """RGB picture of a region-bit mask."""
    out = np.full((*mask.shape, 3), 255, np.uint8)
    for region, color in REGION_COLORS.items():
        if region in bits:
            out[(mask >> bits[region]) & 1 == 1] = color
    for region, bit in bits.items():  # regions of imported datasets not in the palette
        if region not in REGION_COLORS:
            out[(mask >> bit) & 1 == 1] = (120, 120, 120)
    return out


def draw_keypoints(img: np.ndarray, keypoints: list[list[float]]) -> np.ndarray:
    pil = Image.fromarray(img).convert("RGB")
    d = ImageDraw.Draw(pil)
    r = max(1.0, pil.height / 80)
    for a, b in SKELETON:
        (xa, ya), (xb, yb) = keypoints[a], keypoints[b]
        if min(xa, ya, xb, yb) >= 0:
            d.line([(xa, ya), (xb, yb)], fill=(255, 40, 40), width=max(1, round(r / 1.5)))
    for x, y in keypoints:
        if x >= 0 and y >= 0:
            d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 0))
    return np.asarray(pil)


def pick_examples(ds: Dataset, attribute: str, per_value: int, split: str | None) -> dict[str, list[Item]]:
    """The first ``per_value`` items of each value of ``attribute`` (in file order), preferring items
    without per-region overrides so each example shows its value plainly."""
    spec = ds.schema.attribute(attribute)
    found: dict[str, list[Item]] = {v: [] for v in spec.values}
    for plain_only in (True, False):
        for it in ds.items:
            if (split and it.split != split) or (plain_only and it.region_attributes):
                continue
            v = it.attributes.get(attribute, UNKNOWN)
            if v in found and len(found[v]) < per_value and it not in found[v]:
                found[v].append(it)
    return found


def contact_sheet(
    root: str | Path,
    out: str | Path,
    *,
    attributes: list[str] | None = None,
    per_value: int = 1,
    tile: int = 96,
    split: str | None = None,
    max_values: int = 16,
    extra_samples: int = 8,
    overwrite: bool = False,
) -> Path:
    """Write a contact sheet PNG of the dataset at ``root`` to ``out`` and return its path.

    Args:
        attributes: which attributes get a row (default: all, at most 12).
        per_value: examples per value (stacked below each other inside a row).
        tile: tile size in pixels.
        max_values: at most this many values per row (the rest are counted in the caption).
        extra_samples: tiles in the masks and keypoints rows.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; choose another --out (or pass --overwrite)")
    if out.suffix.lower() != ".png":
        raise InputError("the sheet is written as PNG: give a path ending in .png", path=out)
    ds = load_dataset(root)
    names = attributes or ds.schema.attribute_names[:12]
    for n in names:
        ds.schema.attribute(n)  # clear error for an unknown name
    font, title_font = _font(max(9, tile // 9)), _font(max(11, tile // 7))
    label_w, cap_h = tile + 10, max(12, tile // 7) + 4
    rows: list[tuple[str, list[tuple[str, list[np.ndarray]]]]] = []
    for n in names:
        ex = pick_examples(ds, n, per_value, split)
        values = list(ex)[:max_values]
        cols = [(v, [load_rgb(ds.image_path(it)) for it in ex[v]]) for v in values]
        more = len(ex) - len(values)
        rows.append((n + (f" (+{more} values)" if more > 0 else ""), cols))
    samples = [it for it in ds.items if not split or it.split == split][:extra_samples]
    bits = ds.schema.annotations.masks
    if bits and samples and all(it.mask for it in samples):
        rows.append(("masks", [(it.id, [colorize_mask(load_mask(ds.mask_path(it)), bits)]) for it in samples]))
    if ds.schema.annotations.keypoints and samples and all(it.keypoints for it in samples):
        rows.append(
            ("keypoints", [(it.id, [draw_keypoints(load_rgb(ds.image_path(it)), it.keypoints)]) for it in samples])
        )
    if not rows:
        raise InputError("nothing to show: the dataset has no attributes, masks or keypoints", path=root)
    ncols = max(len(cols) for _, cols in rows)
    row_h = [per_value * tile + cap_h if name not in ("masks", "keypoints") else tile + cap_h for name, _ in rows]
    sheet = Image.new("RGB", (label_w + ncols * (tile + 4), sum(row_h) + 4 * len(rows) + 30), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    n_items = len(ds.items)
    draw.text((6, 6), f"{ds.schema.name}: {n_items} images  ({root})", fill=(0, 0, 0), font=title_font)
    y = 30
    for (name, cols), h in zip(rows, row_h, strict=True):
        draw.text((6, y + h // 2 - 8), name, fill=(0, 0, 0), font=title_font)
        for c, (value, imgs) in enumerate(cols):
            x = label_w + c * (tile + 4)
            for k in range(per_value if name not in ("masks", "keypoints") else 1):
                if k < len(imgs):
                    sheet.paste(_fit(imgs[k], tile), (x, y + k * tile))
                else:
                    draw.rectangle([x, y + k * tile, x + tile - 1, y + (k + 1) * tile - 1], outline=(200, 200, 200))
                    draw.text((x + 4, y + k * tile + tile // 2 - 6), "(none)", fill=(150, 150, 150), font=font)
            draw.text((x + 2, y + h - cap_h + 2), str(value)[: max(6, tile // 6)], fill=(0, 0, 0), font=font)
        y += h + 4
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
