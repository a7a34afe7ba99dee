"""``fashionlab data ...``: make, import, check, pack and look at datasets."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import InputError
from .options import parse_fractions, parse_kv, parse_list, parse_size

data_app = typer.Typer(help="Make, import, check, pack and look at datasets.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)


@data_app.command("synth")
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="New dataset folder (must not exist).")],
    n: Annotated[int, typer.Option(help="Number of images.")] = 20000,
    size: Annotated[str, typer.Option(help="128, 64, 256 or HxW such as 128x64 (Market-like).")] = "128",
    seed: Annotated[int, typer.Option(help="Dataset seed: everything follows from it.")] = 0,
    framing: Annotated[
        str | None,
        typer.Option(help="upper (head to mid-thigh) or full (head to feet); default: full when taller than wide."),
    ] = None,
    split: Annotated[str, typer.Option(help="train,val,test fractions.")] = "0.8,0.1,0.1",
    holdout: Annotated[
        list[str] | None,
        typer.Option(help="Attribute combination never rendered in train, e.g. 'color=red,sleeve=long' (repeatable)."),
    ] = None,
    region_mix: Annotated[
        float,
        typer.Option(
            help="Share of sleeved garments whose sleeves get their own colour/pattern (per-region ground truth)."
        ),
    ] = 0.0,
    poses_per_person: Annotated[
        int, typer.Option(help="> 1 renders each person in several poses and writes pose pairs.")
    ] = 1,
    pose_range: Annotated[
        str | None,
        typer.Option(
            help="standard (catalog stances) or wide (arms overhead/across, strides, strong turns, shifts); "
            "default: wide with pose pairs, else standard."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Processes (0: one per CPU core).")] = 0,
) -> None:
    """Render a SynthFashion dataset (images, region masks, keypoints, splits) in the fashionlab format."""
    from ..synth.attributes import parse_assignments
    from ..synth.generate import SynthConfig, generate_dataset

    cfg = SynthConfig(
        n=n,
        size=parse_size(size),
        framing=framing,
        seed=seed,
        split_fractions=parse_fractions(split),
        holdout=[parse_assignments(h, where="--holdout") for h in (holdout or [])],
        region_mix=region_mix,
        poses_per_person=poses_per_person,
        pose_range=pose_range,
        workers=workers,
    )
    path = generate_dataset(out_dir, cfg)
    out.print(f"wrote {n} images to {path} (schema: {path / 'dataset.json'}, items: {path / 'items.jsonl'})")


@data_app.command("check")
def check(
    root: Annotated[Path, typer.Argument(help="Dataset folder.")],
    decode: Annotated[bool, typer.Option(help="Decode every image and mask (slower, finds corrupt files).")] = True,
    workers: Annotated[int, typer.Option(help="Processes for decoding.")] = 1,
) -> None:
    """Validate a dataset: schema, every item, every file; reports all problems with file and line."""
    from ..data.check import check_dataset, format_report

    report = check_dataset(root, decode_images=decode, workers=workers)
    out.print(format_report(report), markup=False)
    if not report.ok:
        raise typer.Exit(1)


@data_app.command("sheet")
def sheet(
    root: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out_path: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("sheet.png"),
    attributes: Annotated[str | None, typer.Option(help="Comma-separated attributes to show (default: all).")] = None,
    per_value: Annotated[int, typer.Option(help="Examples per value.")] = 1,
    tile: Annotated[int, typer.Option(help="Tile size in pixels.")] = 96,
    split: Annotated[str | None, typer.Option(help="Only items of this split.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out file.")] = False,
) -> None:
    """Write a contact sheet: an example of every attribute value, masks and keypoints."""
    from ..data.sheet import contact_sheet

    path = contact_sheet(
        root,
        out_path,
        attributes=parse_list(attributes),
        per_value=per_value,
        tile=tile,
        split=split,
        overwrite=overwrite,
    )
    out.print(f"wrote {path}")


@data_app.command("pack")
def pack(
    root: Annotated[Path, typer.Argument(help="Dataset folder.")],
    size: Annotated[str | None, typer.Option(help="Packed size, e.g. 128 or 128x64 (default: the dataset's).")] = None,
    resize: Annotated[str, typer.Option(help="fit (pad, keep aspect), crop (centre) or stretch.")] = "fit",
    workers: Annotated[int, typer.Option(help="Processes.")] = 1,
    force: Annotated[bool, typer.Option(help="Rebuild even if an up-to-date pack exists.")] = False,
) -> None:
    """Build the memory-mapped image cache that training reads from (otherwise built on first use)."""
    from ..data.pack import pack_dataset

    path = pack_dataset(root, parse_size(size) if size else None, resize=resize, workers=workers, force=force)
    out.print(f"packed into {path}")


@data_app.command("import")
def import_(
    kind: Annotated[
        str,
        typer.Argument(
            help="deepfashion-attributes, deepfashion-synthesis, celeba, pose-pairs "
            "or csv (see `fashionlab data importers`)."
        ),
    ],
    src: Annotated[Path, typer.Argument(help="The dataset as you have it (never modified).")],
    out_dir: Annotated[Path, typer.Option("--out", help="New dataset folder (must not exist).")],
    attributes: Annotated[str | None, typer.Option(help="Comma-separated attributes to keep.")] = None,
    attribute_types: Annotated[
        str | None,
        typer.Option(
            help="DeepFashion: attribute types to keep (1 texture, 2 fabric, 3 shape, 4 part, 5 style), e.g. 1,3."
        ),
    ] = None,
    crop_bbox: Annotated[bool, typer.Option(help="DeepFashion: write bbox crops.")] = False,
    copy_images: Annotated[bool, typer.Option(help="Copy images into the dataset (default: reference SRC).")] = False,
    skip_missing: Annotated[bool, typer.Option(help="Drop items whose image is missing (default: error).")] = False,
    images_dir: Annotated[str | None, typer.Option(help="Image folder, if not the importer's default.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="csv / deepfashion-synthesis: the labels CSV.")] = None,
    split: Annotated[str | None, typer.Option(help="train,val,test fractions when SRC has no split.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of generated splits.")] = 0,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Any other importer option as key=value (JSON values allowed)."),
    ] = None,
) -> None:
    """Convert a dataset you already have (DeepFashion, CelebA, Market/In-shop pose pairs, your own CSV)."""
    from ..data.format import read_schema
    from ..data.importers import IMPORTERS, run_import

    fn = IMPORTERS.get(kind)
    accepted = inspect.signature(fn).parameters
    given = {
        "attributes": parse_list(attributes),
        "attribute_types": [int(t) for t in parse_list(attribute_types)] if attribute_types else None,
        "crop_bbox": crop_bbox or None,
        "copy_images": copy_images or None,
        "skip_missing": skip_missing or None,
        "images_dir": images_dir,
        "csv_path": csv_path,
        "split_fractions": parse_fractions(split) if split else None,
        "seed": seed if split else None,
    }
    for k, v in parse_kv(option or [], "--option").items():
        try:
            given[k] = json.loads(v)
        except json.JSONDecodeError:
            given[k] = v
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    kwargs = {}
    for k, v in given.items():
        if v is None:
            continue
        if k not in accepted and not has_var_kw:
            valid = [p for p in accepted if p not in ("src", "out")]
            raise InputError(
                f"the {kind} importer has no option {k!r}; its options: {', '.join(valid)}",
                field=f"--{k.replace('_', '-')}",
            )
        kwargs[k] = v
    path = run_import(kind, src, out_dir, **kwargs)
    source = read_schema(path).source
    if "labels_csv" in source:
        out.print(f"labels read from {source['labels_csv']}")
    if source.get("image_bases_tried"):
        tried = ", ".join(source["image_bases_tried"])
        out.print(f"image paths resolved relative to {source['image_base']} (bases tried in order: {tried})")
    out.print(f"imported {kind} from {src} into {path}; check it with `fashionlab data check {path}`")


@data_app.command("importers")
def importers() -> None:
    """List the dataset importers."""
    from ..data.importers import IMPORTERS

    for name in IMPORTERS.names():
        out.print(f"{name:24s} {IMPORTERS.help(name)}")


@data_app.command("render")
def render_cmd(
    out_path: Annotated[Path, typer.Option("--out", help="PNG to write (masks go to NAME.masks.png).")],
    seed: Annotated[int, typer.Option(help="Who the person is.")] = 0,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Garment, e.g. sleeve=long,color=red (unset attributes come from the seed)."),
    ] = None,
    sleeves: Annotated[str | None, typer.Option(help="Sleeve-only colour/pattern, e.g. color=red.")] = None,
    pose_variant: Annotated[int, typer.Option(help="Another pose of the same person (0: the seed's own).")] = 0,
    size: Annotated[str, typer.Option(help="128, 64, 256 or HxW.")] = "128",
    overwrite: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
) -> None:
    """Render one SynthFashion figure (the exact ground truth of any edit or pose change)."""
    import numpy as np

    from ..data.imaging import save_png
    from ..data.sheet import colorize_mask
    from ..synth.attributes import MASK_BITS, parse_assignments, sample_attributes
    from ..synth.figure import Pose
    from ..synth.render import render

    h, w = parse_size(size)
    attrs = {**sample_attributes(np.random.default_rng(seed)), **parse_assignments(",".join(set_ or []))}
    regions = {"sleeves": parse_assignments(sleeves, where="--sleeves")} if sleeves else None
    framing = "full" if h > w else "upper"
    r = render(seed, attrs, Pose.sample(seed, framing, pose_variant), size=(h, w), regions=regions)
    mask_path = out_path.with_suffix(".masks.png")
    for p in (out_path, mask_path):
        if p.exists() and not overwrite:
            raise InputError("exists; pass --overwrite to replace it", path=p)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_png(out_path, r.image)
    save_png(mask_path, colorize_mask(r.mask, MASK_BITS))
    out.print(
        f"wrote {out_path} and {mask_path}: seed {seed}, {attrs}"
        + (f", sleeves {regions['sleeves']}" if regions else "")
    )
