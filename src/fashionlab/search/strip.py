"""Result strips: the query, then the results with their attributes, in one PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..data.imaging import load_rgb, resize_rgb
from ..data.sheet import _font


def result_strip(query: str | Path | None, hits, out: str | Path, *, tile: int = 128, title: str = "") -> Path:
    """Write query + ranked results (captioned with score and attribute values) as one image."""
    cols = ([query] if query is not None else []) + [h.item.image for h in hits]
    caption_h = 14 * (2 + max((len(h.item.attributes) + len(h.item.region_attributes or {}) for h in hits), default=0))
    sheet = Image.new("RGB", (len(cols) * (tile + 6) + 6, tile + caption_h + 30), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(11)
    draw.text((6, 4), f"query {Path(query).name if query else '(attributes)'}  {title}", fill="black", font=font)
    for c, path in enumerate(cols):
        x = 6 + c * (tile + 6)
        img = resize_rgb(load_rgb(path), (tile, tile), "fit")
        sheet.paste(Image.fromarray(np.asarray(img)), (x, 24))
        if query is not None and c == 0:
            draw.rectangle([x - 2, 22, x + tile + 1, 24 + tile + 1], outline=(40, 90, 220), width=2)
            lines = ["query"]
        else:
            h = hits[c - (1 if query is not None else 0)]
            own = [
                f"{region}: " + "/".join(values.values()) for region, values in (h.item.region_attributes or {}).items()
            ]
            lines = [f"#{h.rank + 1}  {h.score:.3f}", *h.item.attributes.values(), *own]
        for i, line in enumerate(lines):
            draw.text((x, 28 + tile + 14 * i), str(line)[:22], fill="black", font=font)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
