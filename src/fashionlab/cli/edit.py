"""``fashionlab edit``: change attributes of garment photos with a trained editor (AMGAN, StarGAN)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import InputError, OutputExistsError
from .options import parse_kv

out = Console(highlight=False, soft_wrap=True)


def edit(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images (any size).")],
    model: Annotated[Path, typer.Option(help="A trained editor (amgan, stargan): run folder or its export/.")],
    set_: Annotated[
        list[str],
        typer.Option("--set", help="attribute=value, applied in order; repeat or comma-separate for several edits."),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="A new folder for the results (never overwritten).")],
    region: Annotated[
        str | None,
        typer.Option(help="Edit only here: sleeves, torso, garment (attention editors) or a binary MASK.png."),
    ] = None,
    region_threshold: Annotated[
        float, typer.Option(help="A named region is where its probe edit's mask is at least this (AMGAN: 0.9).")
    ] = 0.9,
    show_mask: Annotated[bool, typer.Option("--show-mask", help="Also write each edit's mask as an overlay.")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 8,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Edit garment attributes ("this top, but with long sleeves", "red sleeves only").

    Each photo is resized to the model, edited, and pasted back at its own resolution through the edit's
    mask: pixels outside the mask keep their original values exactly (see fashionlab.edit.files)."""
    from PIL import Image

    from ..edit.files import edit_files, expand_inputs
    from ..models.editing.editor import Editor
    from ..models.registry import load
    from ..viz import overlay

    settings = parse_kv([p for item in set_ for p in item.split(",") if p.strip()], "--set")
    if not settings:
        raise InputError("nothing to do: give at least one --set attribute=value", field="--set")
    editor = load(model)
    if not isinstance(editor, Editor):
        raise InputError(
            f"this export is a {type(editor).__name__}, not an editor (train amgan or stargan)", path=model
        )
    paths = expand_inputs(images)
    reg: str | Path | None = region
    if region is not None and region not in ("sleeves", "torso", "garment"):
        reg = Path(region)
        if not reg.is_file():
            raise InputError("expected sleeves, torso, garment or a mask image file", path=reg, field="--region")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise OutputExistsError(f"{out_dir} exists and is not empty; choose a new --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for res in edit_files(
        editor, paths, settings, region=reg, region_threshold=region_threshold, batch_size=batch_size, progress=progress
    ):
        stem = res.source.stem
        k = 2
        while stem in used:  # two inputs with the same name from different folders
            stem, k = f"{res.source.stem}-{k}", k + 1
        used.add(stem)
        Image.fromarray(res.image).save(out_dir / f"{stem}.png")
        if show_mask:
            Image.fromarray(overlay(res.image, res.mask)).save(out_dir / f"{stem}-mask.png")
        for note in res.notes:
            out.print(f"{res.source}: {note}")
    out.print(f"edited {len(paths)} image(s) -> {out_dir}")
