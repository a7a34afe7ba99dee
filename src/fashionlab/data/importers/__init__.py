"""Importers: convert a dataset as you have it into a fashionlab dataset folder (``data import``).

Each importer is registered in :data:`IMPORTERS` under its kind and has the signature
``import_X(src, out, **options) -> Path``: it reads SRC (never modifying it) and writes a new dataset
folder OUT with :class:`~fashionlab.data.format.DatasetWriter`. By default images are referenced where
they are (``image_root`` is their absolute folder); ``copy_images=True`` copies them into OUT.
The exact source formats are in ``../shared/docs/papers.md`` sections 4 and 6.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from ...errors import InputError
from . import celeba, csv_catalog, deepfashion, pose_pairs  # noqa: F401 - each registers itself
from .common import MissingImagesError, SkippedItemsWarning
from .registry import IMPORTERS

__all__ = ["IMPORTERS", "MissingImagesError", "SkippedItemsWarning", "run_import"]


def run_import(kind: str, src: str | Path, out: str | Path, **options: Any) -> Path:
    """Import SRC with the importer ``kind`` into the new folder OUT; return OUT.

    An unknown kind is an error listing the valid ones; a missing SRC or an option the importer does
    not have is an InputError. Options whose value is None are left at the importer's default.
    """
    fn = IMPORTERS.get(kind)
    src = Path(src)
    if not src.exists():
        raise InputError(f"source of the {kind} import not found", path=src)
    params = inspect.signature(fn).parameters
    valid = [p for p in params if p not in ("src", "out")]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        bad = sorted(k for k in options if k not in params or k in ("src", "out"))
        if bad:
            raise InputError(f"the {kind} importer has no option(s) {', '.join(bad)}; its options: {', '.join(valid)}")
    options = {k: v for k, v in options.items() if v is not None}
    return fn(src, Path(out), **options)
