"""The editing step of ``fashionlab demo``: the shipped AMGAN edits unseen test photos, next to the exact
ground truth SynthFashion renders for the same edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHIPPED_EDITOR = "amgan-synth64"


def edit_demo(dataset, items: list, out_path: Path, model: str | Path | None = None) -> tuple[Path, list[str]] | None:
    """Edit ``items`` (dataset items of a SynthFashion ``dataset``) with the shipped AMGAN: per item a row
    of input | sleeve edit | its ground truth | colour edit | its ground truth | the colour on the sleeves
    only (the sleeves given as a mask, as ``--region MASK.png`` gives them) | its ground truth, at the photos'
    resolution (pasted back through the masks). ``model``: an editor export
    (default: the shipped one). Returns the grid's path and the edits' captions, or None when no editor is
    shipped."""
    from PIL import Image

    from ..metrics.region_edits import exact_region_edit, region_target
    from ..models.registry import ASSETS, load
    from ..synth.ground_truth import item_render_args
    from ..synth.render import render
    from ..usecases.edit import edit_images
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
        photo = np.asarray(Image.open(dataset.image_path(item)).convert("RGB"))
        kw = dict(size=photo.shape[:2], framing=args["framing"], regions=args["regions"])
        sleeve = "long" if attrs["sleeve"] != "long" else "short"
        color = "red" if attrs["color"] != "red" else "blue"
        # the colour on the sleeves only, and the sleeves as a user's mask image: the pixels it truly changes
        target = region_target(item, "sleeves", "color", color) or (attrs, args["regions"])
        sleeves_truth, sleeves = exact_region_edit(item, target, photo.shape[:2])
        edits = (
            ({"sleeve": sleeve}, None, render(args["seed"], {**attrs, "sleeve": sleeve}, args["pose"], **kw).image),
            ({"color": color}, None, render(args["seed"], {**attrs, "color": color}, args["pose"], **kw).image),
            ({"color": color}, sleeves.astype(bool), sleeves_truth),
        )
        row = [photo]
        for settings, region, truth in edits:
            (res,) = edit_images(editor, [photo], settings, region=region, domain_check=False)
            row += [res.image, truth]
        rows.append(row)
        captions.append(f"{item.id}: sleeve={sleeve}, color={color}, {color} sleeves only")
    Image.fromarray(image_grid(rows)).save(out_path)
    return out_path, captions
