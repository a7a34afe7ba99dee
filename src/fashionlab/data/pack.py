"""A packed, memory-mapped image cache so training reads images at memory speed.

``ROOT/cache/pack-{H}x{W}-{mode}/`` holds ``images.u8`` (raw uint8, shape (N, H, W, 3), items.jsonl
order), ``masks.u8`` (N, H, W) when the dataset has masks, and ``index.json`` (shape, ids, resize mode
and a fingerprint of items.jsonl, so a stale pack is rebuilt). Built in a temporary folder and renamed
into place; corrupt images are all reported at the end (with their paths) instead of a crash half-way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import InputError, ProblemList
from ..parallel import imap
from .format import ITEMS_FILE, Dataset, load_dataset
from .imaging import RESIZE_MODES, load_mask, load_rgb, resize_mask, resize_rgb

PACK_VERSION = 1


def items_fingerprint(root: Path) -> dict:
    path = Path(root) / ITEMS_FILE
    data = path.read_bytes()
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha1": hashlib.sha1(data).hexdigest()}


def pack_dir(root: Path, size: tuple[int, int], resize: str) -> Path:
    return Path(root) / "cache" / f"pack-{size[0]}x{size[1]}-{resize}"


def _resolve_size(ds: Dataset, size: tuple[int, int] | None) -> tuple[int, int]:
    if size is not None:
        return (int(size[0]), int(size[1]))
    if ds.schema.image_size is None:
        raise InputError("images have different sizes: give a packed size (--size 128 or 128x64)", path=ds.root)
    return tuple(ds.schema.image_size)


def _load_one(job):
    i, img_path, mask_path, size, mode = job
    try:
        img = resize_rgb(load_rgb(img_path), size, mode)
        mask = resize_mask(load_mask(mask_path), size, mode) if mask_path is not None else None
        return i, img, mask, None
    except InputError as e:
        return i, None, None, str(e)


def pack_dataset(
    root: str | Path,
    size: tuple[int, int] | None = None,
    *,
    resize: str = "fit",
    workers: int = 1,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Build (or reuse an up-to-date) pack of the dataset at ``root``; returns the pack folder."""
    root = Path(root)
    if resize not in RESIZE_MODES:
        raise InputError(f"unknown resize mode {resize!r}; valid: {', '.join(RESIZE_MODES)}", field="resize")
    ds = load_dataset(root)
    size = _resolve_size(ds, size)
    final = pack_dir(root, size, resize)
    fp = items_fingerprint(root)
    if not force and _is_current(final, fp):
        return final
    has_masks = bool(ds.schema.annotations.masks) and all(it.mask for it in ds.items)
    n = len(ds.items)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        images = np.lib.format.open_memmap(tmp / "images.npy", "w+", np.uint8, (n, *size, 3))
        masks = np.lib.format.open_memmap(tmp / "masks.npy", "w+", np.uint8, (n, *size)) if has_masks else None
        jobs = [
            (i, ds.image_path(it), ds.mask_path(it) if has_masks else None, size, resize)
            for i, it in enumerate(ds.items)
        ]
        problems = []
        bar = tqdm(total=n, desc=f"packing {size[0]}x{size[1]}", unit="img", disable=not progress)
        results = imap(_load_one, jobs, workers)
        for i, img, mask, err in results:
            if err is not None:
                problems.append(InputError(err))
            else:
                images[i] = img
                if masks is not None:
                    masks[i] = mask
            bar.update(1)
        bar.close()
        if problems:
            raise ProblemList(problems, f"images of {root} (nothing was packed)")
        images.flush()
        del images
        if masks is not None:
            masks.flush()
            del masks
        index = {
            "version": PACK_VERSION,
            "shape": [n, *size],
            "resize": resize,
            "masks": has_masks,
            "ids": [it.id for it in ds.items],
            "items_fingerprint": fp,
        }
        (tmp / "index.json").write_text(json.dumps(index))
        # another process (a second training started on the same fresh data) may have packed the same items
        # meanwhile: theirs is as good as ours, so ours is dropped rather than replacing a pack in use
        if final.exists():
            if not force and _is_current(final, fp):
                shutil.rmtree(tmp, ignore_errors=True)
                return final
            shutil.rmtree(final)
        try:
            os.replace(tmp, final)
        except OSError:
            if not _is_current(final, fp):  # not the race above: a real failure
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # it landed between the check and the rename
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _is_current(path: Path, fp: dict) -> bool:
    try:
        index = json.loads((path / "index.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return index.get("version") == PACK_VERSION and index.get("items_fingerprint", {}).get("sha1") == fp["sha1"]


@dataclass
class Pack:
    path: Path
    images: np.ndarray  # (N, H, W, 3) uint8, read-only memory map
    masks: np.ndarray | None  # (N, H, W) uint8
    ids: list[str]


def open_pack(
    root: str | Path,
    size: tuple[int, int] | None = None,
    resize: str = "fit",
    build_if_missing: bool = True,
    progress: bool = True,
) -> Pack:
    """Open the pack of ``root`` at ``size`` (building it first when missing or stale)."""
    root = Path(root)
    ds_size = size
    if ds_size is None:
        from .format import read_schema

        schema = read_schema(root)
        if schema.image_size is None:
            raise InputError("images have different sizes: give a size", path=root)
        ds_size = tuple(schema.image_size)
    path = pack_dir(root, ds_size, resize)
    if not _is_current(path, items_fingerprint(root)):
        if not build_if_missing:
            raise InputError("no up-to-date pack; run `fashionlab data pack`", path=path)
        path = pack_dataset(root, ds_size, resize=resize, progress=progress)
    index = json.loads((path / "index.json").read_text())
    images = np.load(path / "images.npy", mmap_mode="r")
    masks = np.load(path / "masks.npy", mmap_mode="r") if index["masks"] else None
    return Pack(path=path, images=images, masks=masks, ids=index["ids"])
