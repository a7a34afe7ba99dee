"""Editing image files of any size: resize to the model, edit in batches, paste back at full resolution.

What happens to the pixels, exactly:

1. The photo is fitted to the model's input as the model was trained (``model.preprocess``: ``fit`` pads
   with white, ``crop`` centre-crops, ``stretch`` resizes).
2. The editor edits the small image and returns the edited image and its mask (where it acted).
3. The part of the model image that shows the photo is resized back to the photo's resolution
   (bilinear), and so is the mask. The result is ``mask * edited + (1 - mask) * photo``: where the mask is
   0 the photo's own pixels are kept bit for bit, at full resolution; where it is 1 the pixels are the
   editor's, upsampled. An editor without attention (StarGAN) has a mask of ones: the whole photo is
   replaced by its upsampled edit. With ``crop``, the photo's margins outside the centre crop are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..data.imaging import Preprocess, denormalise, load_mask, load_rgb, resize_mask
from ..errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given, and the images inside any folder given (sorted), or an InputError naming a
    missing path or an empty folder."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError("no images in this folder", path=p)
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise InputError("no such image file or folder", path=p)
    return out


def content_box(
    orig_hw: tuple[int, int], pre: Preprocess
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Where the photo lies in the model image, and which part of the photo that is:
    ((x0, y0, x1, y1) in the model image, (x0, y0, x1, y1) in the photo), as :func:`resize_rgb` lays it out."""
    h, w = orig_hw
    th, tw = pre.size
    if pre.resize == "stretch":
        return (0, 0, tw, th), (0, 0, w, h)
    if pre.resize == "crop":
        s = max(th / h, tw / w)
        nh, nw = max(th, round(h * s)), max(tw, round(w * s))
        y0, x0 = (nh - th) // 2, (nw - tw) // 2
        # the model image is the window (x0, y0, x0 + tw, y0 + th) of the photo scaled by s
        return (0, 0, tw, th), (round(x0 / s), round(y0 / s), round((x0 + tw) / s), round((y0 + th) / s))
    s = min(th / h, tw / w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    oy, ox = (th - nh) // 2, (tw - nw) // 2
    return (ox, oy, ox + nw, oy + nh), (0, 0, w, h)


def paste_back(
    photo: np.ndarray, edited: np.ndarray, mask: np.ndarray, pre: Preprocess
) -> tuple[np.ndarray, np.ndarray]:
    """The full-resolution result of one edit and its mask at the photo's resolution (see the module
    docstring). ``photo`` (H, W, 3) uint8, ``edited`` (h, w, 3) uint8 and ``mask`` (h, w) float in [0, 1]
    at the model's size."""
    (mx0, my0, mx1, my1), (px0, py0, px1, py1) = content_box(photo.shape[:2], pre)
    size = (px1 - px0, py1 - py0)
    up = np.asarray(Image.fromarray(edited[my0:my1, mx0:mx1]).resize(size, Image.BILINEAR), np.float32)
    m = Image.fromarray(np.ascontiguousarray(mask[my0:my1, mx0:mx1], np.float32), mode="F").resize(size, Image.BILINEAR)
    full_mask = np.zeros(photo.shape[:2], np.float32)
    full_mask[py0:py1, px0:px1] = np.clip(np.asarray(m), 0, 1)
    m3 = full_mask[py0:py1, px0:px1, None]
    out = photo.copy()
    window = out[py0:py1, px0:px1].astype(np.float32)
    out[py0:py1, px0:px1] = np.clip(np.round(m3 * up + (1 - m3) * window), 0, 255).astype(np.uint8)
    return out, full_mask


def load_region_mask(path: Path, photo_hw: tuple[int, int], pre: Preprocess) -> torch.Tensor:
    """A user's region mask (a binary image the size of the photo) as the model's (1, 1, h, w) mask."""
    try:
        mask = load_mask(path)
    except InputError as e:
        raise InputError(f"{e.message}; expected a binary mask image (black = keep, white = edit)", path=path) from None
    if mask.shape != tuple(photo_hw):
        raise InputError(f"mask is {mask.shape[1]}x{mask.shape[0]}, the image {photo_hw[1]}x{photo_hw[0]}", path=path)
    values = np.unique(mask)
    if not set(values.tolist()) <= {0, 1, 255}:
        raise InputError(f"expected a binary mask (0 and 255), found {len(values)} grey levels", path=path)
    small = resize_mask((mask > 0).astype(np.uint8), pre.size, pre.resize)
    return torch.from_numpy(small.astype(np.float32))[None, None]


@dataclass
class EditedFile:
    source: Path
    image: np.ndarray  # full resolution, uint8
    mask: np.ndarray  # at the photo's resolution, float in [0, 1]
    notes: list[str]


def _batches(paths: list[Path], size: int) -> Iterator[list[Path]]:
    for i in range(0, len(paths), size):
        yield paths[i : i + size]


def edit_files(
    editor,
    paths: list[Path],
    settings: dict[str, str],
    *,
    region: str | Path | None = None,
    region_threshold: float = 0.9,
    batch_size: int = 8,
    progress: bool = True,
) -> Iterator[EditedFile]:
    """Edit image files in batches (see the module docstring); yields one :class:`EditedFile` per input.
    ``region``: ``sleeves``, ``torso``, ``garment`` or the path of a binary mask image (one mask for
    every input, each of that input's size); ``region_threshold``: see ``Editor.region_mask``."""
    editor.space.parse_settings(settings)  # unknown attribute or value: fail before any work
    pre = editor.preprocess
    bar = tqdm(total=len(paths), desc="editing", unit="img", disable=not progress)
    for group in _batches(paths, batch_size):
        photos = [load_rgb(p) for p in group]
        x = torch.stack([pre.image(ph) for ph in photos])
        reg: str | torch.Tensor | None = None
        if isinstance(region, Path):
            reg = torch.cat([load_region_mask(region, ph.shape[:2], pre) for ph in photos])
        elif region is not None:
            reg = region
        result = editor.edit(x, settings, region=reg, region_threshold=region_threshold)
        edited = denormalise(result.images)
        for i, path in enumerate(group):
            full, full_mask = paste_back(photos[i], edited[i], result.masks[i, 0].float().cpu().numpy(), pre)
            yield EditedFile(path, full, full_mask, result.notes[i])
        bar.update(len(group))
    bar.close()
