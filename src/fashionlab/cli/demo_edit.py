"""The editing step of ``fashionlab demo``: the shipped AMGAN edits unseen test photos, next to the exact
ground truth SynthFashion renders for the same edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHIPPED_EDITOR = "amgan-synth64"


def edit_demo(dataset, items: list, out_path: Path, model: str | Path | None = None) -> tuple[Path, list[str]] | None:
    """Edit ``items`` (dataset items of a SynthFashion ``dataset``) with the shipped AMGAN: per item a row
    of input | sleeve edit | its ground truth | colour edit | its ground truth | red sleeves only | its
    ground truth, at the photos' resolution (pasted back through the masks). ``model``: an editor export
    (default: the shipped one). Returns the grid's path and the edits' captions, or None when no editor is
    shipped."""
    from PIL import Image

    from ..edit.files import edit_files
    from ..models.registry import ASSETS, load
    from ..synth.ground_truth import item_render_args
    from ..synth.render import render
    from ..viz import image_grid

    if model is None:
        if not (ASSETS / SHIPPED_EDITOR).is_dir():
            return None
        model = f"asset:{SHIPPED_EDITOR}"
    editor = load(model)
    rows, captions = [], []
    for item in items:
        args = item_render_args(item)
        attrs = args["attributes"]
        size = Image.open(dataset.image_path(item)).size[::-1]
        kw = dict(size=size, framing=args["framing"], regions=args["regions"])
        sleeve = "long" if attrs["sleeve"] != "long" else "short"
        color = "red" if attrs["color"] != "red" else "blue"
        path = dataset.image_path(item)
        row = [np.asarray(Image.open(path).convert("RGB"))]
        for settings, region in (({"sleeve": sleeve}, None), ({"color": color}, None), ({"color": color}, "sleeves")):
            (res,) = edit_files(editor, [path], settings, region=region, progress=False)
            if region is None:
                truth = render(args["seed"], {**attrs, **settings}, args["pose"], **kw).image
            else:
                regions = {
                    **(args["regions"] or {}),
                    "sleeves": {**(args["regions"] or {}).get("sleeves", {}), **settings},
                }
                truth = render(args["seed"], attrs, args["pose"], **{**kw, "regions": regions}).image
            row += [res.image, truth]
        rows.append(row)
        captions.append(f"{item.id}: sleeve={sleeve}, color={color}, {color} sleeves only")
    Image.fromarray(image_grid(rows)).save(out_path)
    return out_path, captions
