"""Where a catalog's labels CSV and images are when the user did not say.

The CSV is SRC's default name if present, else the one CSV file at SRC's top level. Its image paths are
tried against these bases, in order: SRC, the CSV's own folder, and the one image folder inside SRC
(e.g. ``images/``); the first base holding every image wins, else the one holding most of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from ..imaging import IMAGE_SUFFIXES


def find_labels_csv(src: Path, default_name: str) -> Path:
    """SRC/``default_name`` if it is a file, else the only ``*.csv`` file at SRC's top level.

    No CSV or several CSVs (none of them ``default_name``) is an InputError listing what was looked for.
    """
    if (src / default_name).is_file():
        return src / default_name
    found = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(
            f"no labels CSV: looked for {default_name} and any other *.csv file at the top level of the folder "
            "and found none; pass --csv FILE",
            path=src,
        )
    raise InputError(
        f"{len(found)} CSV files and none is named {default_name}, so which holds the labels is unclear: "
        f"{', '.join(p.name for p in found)}; pass --csv FILE",
        path=src,
    )


def image_folders(src: Path) -> list[Path]:
    """SRC's top-level folders (hidden ones left out) that hold at least one image file, at any depth."""
    return sorted(
        d
        for d in src.iterdir()
        if d.is_dir()
        and not d.name.startswith(".")
        and any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in d.rglob("*"))
    )


@dataclass
class ImageBase:
    """The folder the CSV's image paths were found relative to, and every base tried (in order)."""

    root: Path
    tried: list[Path]


def find_image_base(src: Path, csv_path: Path, image_paths: Sequence[str]) -> ImageBase:
    """The base the relative ``image_paths`` of ``csv_path`` resolve against: SRC, the CSV's folder or
    SRC's only image folder, whichever is first to hold all of them (else the one holding most).

    No image under any base is an InputError naming the bases tried and an example missing file.
    """
    folders = image_folders(src)
    candidates = [src, csv_path.parent, *(folders if len(folders) == 1 else [])]
    tried: list[Path] = []
    for base in candidates:
        if all(base.resolve() != t.resolve() for t in tried):
            tried.append(base)
    best, best_count = None, 0
    for base in tried:
        count = sum((base / rel).is_file() for rel in image_paths)
        if count == len(image_paths):
            return ImageBase(base, tried)
        if count > best_count:
            best, best_count = base, count
    if best is not None:
        return ImageBase(best, tried)
    example = image_paths[0]
    bases = ", ".join(str(b) for b in tried)
    looked_at = ", ".join(str(b / example) for b in tried)
    several = f"; the folder has several image folders ({', '.join(d.name for d in folders)})" if folders[1:] else ""
    raise InputError(
        f"none of the {len(image_paths)} images it names was found under any base tried: {bases} "
        f"(e.g. {example!r} is at none of {looked_at}){several}; pass --images-dir DIR, the folder the image "
        "paths are relative to",
        path=csv_path,
    )
