"""``fashionlab edit``: change attributes of garment photos with a trained editor (AMGAN, StarGAN)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import InputError
from .options import parse_kv

out = Console(highlight=False, soft_wrap=True)


def edit(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images (any size).")],
    model: Annotated[
        str,
        typer.Option(
            help="A trained editor (amgan, stargan, ganimation, sagan, resgan): run folder, its export/ or asset:NAME."
        ),
    ],
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
        float | None,
        typer.Option(
            help="A named region is where its probe edits' masks are at least this "
            "[default: the model's own, e.g. 0.4 for asset:amgan-synth64; AMGAN's paper: 0.9]."
        ),
    ] = None,
    show_mask: Annotated[bool, typer.Option("--show-mask", help="Also write each edit's mask as an overlay.")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 8,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Edit garment attributes ("this top, but with long sleeves", "red sleeves only").

    Each photo is resized to the model, edited, and the edit's change is pasted back at the photo's own
    resolution: pixels the editor left unchanged keep their original values exactly (see
    fashionlab.usecases.edit). Every argument is checked before anything is written."""
    from PIL import Image

    from ..models.registry import load
    from ..usecases.edit import NAMED_REGIONS, check_editor, check_region, edit_files
    from ..usecases.images import expand_inputs
    from ..usecases.outputs import OutputFolder
    from ..viz import overlay

    settings = parse_kv([p for item in set_ for p in item.split(",") if p.strip()], "--set")
    if not settings:
        raise InputError("nothing to do: give at least one --set attribute=value", field="--set")
    if batch_size < 1:
        raise InputError("must be at least 1", field="--batch-size")
    paths = expand_inputs(images)
    folder = OutputFolder(out_dir)
    editor = check_editor(load(model), model)
    try:
        editor.space.parse_settings(settings)
    except InputError as e:
        raise InputError(e.message, field="--set") from None
    reg: str | Path | None = region
    if region is not None and region not in NAMED_REGIONS:
        reg = Path(region)
    check_region(editor, reg, region_threshold)
    for res in edit_files(
        editor, paths, settings, region=reg, region_threshold=region_threshold, batch_size=batch_size, progress=progress
    ):
        stem = folder.stem(res.source)
        Image.fromarray(res.image).save(folder.path(f"{stem}.png"))
        if show_mask:
            Image.fromarray(overlay(res.image, res.mask)).save(folder.path(f"{stem}-mask.png"))
        for note in res.notes:
            out.print(f"[yellow]warning:[/] {escape(str(res.source))}: {escape(note)}", markup=True)
    out.print(f"edited {len(paths)} image(s) -> {out_dir}")
