"""Editing photos of any size with a trained editor (AMGAN, StarGAN): fit, edit, paste back.

What happens to the pixels, exactly:

1. The photo is fitted to the model's input as the model was trained (``model.preprocess``: ``fit`` pads
   with white, ``crop`` centre-crops, ``stretch`` resizes): ``x``.
2. The editor edits ``x`` and returns the edited image ``y`` (its attention blend already applied:
   ``y = m * colour + (1 - m) * x`` for AMGAN, ``m`` its mask) and ``m``, where it acted.
3. Pasted back at the photo's resolution, the mask is applied **once**: ``result = up(y - (1 - m) * x) +
   (1 - up(m)) * photo``, ``up`` a bilinear resize of the model image's photo window to the photo's
   window. So at the model's own size the result *is* the generator's output (to rounding); where the mask
   is 0 (e.g. outside a given region) the photo's pixels are kept bit for bit, at full resolution; where
   it is 1 the pixels are the editor's, upsampled. fashionlab <= 0.1 blended the generator's output, which
   already holds the mask, through the mask again (a mask-squared blend: a fifth of the manipulation
   accuracy lost). Adding the upsampled change ``y - x`` to the photo instead keeps the photo's fine detail
   under the edit, but also its old pattern under a pattern edit: measured on 600 edits of 256 px photos
   (``bench/bench_edit_path.py``), manipulation 88.5% that way (pattern 71.7%) against 92.8% with the mask
   once (pattern 81.7%; the generator alone, at 64 px: 95.8%). An editor without attention (StarGAN,
   ``m = 1``) replaces the whole photo by its upsampled output. With ``crop``, the photo's margins outside the
   centre crop are kept.

Named regions (``sleeves``, ``torso``, ``garment``) are found by AMGAN's rule (a probe edit's attention
mask above a threshold); when the region found is tiny the image is left unchanged and a note says which
threshold would find it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..data.geometry import Placement
from ..data.imaging import Preprocess, load_mask, load_rgb, resize_mask
from ..errors import InputError
from ..models.domain import DomainReport
from ..models.editing.editor import Editor
from .domain import domain_reports

NAMED_REGIONS = ("sleeves", "torso", "garment")
#: a named region found on less than this share of the image is refused (the edit would change nothing)
MIN_REGION_SHARE = 0.01
#: thresholds tried when suggesting one that finds a region
SUGGESTED_THRESHOLDS = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)


def check_editor(editor: object, where: str | Path | None = None) -> Editor:
    """``editor`` as an :class:`Editor` that can read its photos' attributes, or an InputError saying why not
    (an export of another kind; an editor exported without its attribute network, unless it needs none:
    ``needs_attribute_reader = False``, as ResGAN)."""
    if not isinstance(editor, Editor):
        raise InputError(
            f"this export is a {type(editor).__name__}, not an editor "
            "(train amgan, stargan, ganimation, sagan or resgan)",
            path=where,
        )
    if editor.classifier is None and getattr(editor, "needs_attribute_reader", True):
        raise InputError(
            f"this {editor.kind} export has no attribute network, so it cannot read a photo's current attributes "
            "(train it with classifier=... or use an export that includes one, e.g. asset:amgan-synth64)",
            path=where,
        )
    return editor


def check_region(editor: Editor, region: str | Path | None, threshold: float | None = None) -> None:
    """Refuse, before any work, a region this editor cannot find, or a threshold outside (0, 1) (``None``:
    the editor's own)."""
    if region is None:
        return
    if isinstance(region, Path):
        if not region.is_file():
            raise InputError("expected sleeves, torso, garment or a mask image file", path=region, field="region")
        return
    if region not in NAMED_REGIONS:
        raise InputError(
            f"unknown region {region!r}; valid: {', '.join(NAMED_REGIONS)} or a mask image", field="region"
        )
    if not editor.has_attention:
        raise InputError(
            f"region {region!r} is found from attention masks, which this {editor.kind} has not; give a mask image",
            field="region",
        )
    if threshold is not None and not 0 < threshold < 1:
        raise InputError(f"the region threshold must lie in (0, 1), got {threshold}", field="region_threshold")


def content_box(
    orig_hw: tuple[int, int], pre: Preprocess
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Where the photo lies in the model image, and which part of the photo that is:
    ((x0, y0, x1, y1) in the model image, (x0, y0, x1, y1) in the photo), as :func:`resize_rgb` lays it out
    (:attr:`Placement.target_box <fashionlab.data.geometry.Placement.target_box>` and ``source_box``)."""
    placement = Placement.of(orig_hw, pre.size, pre.resize)
    return placement.target_box, placement.source_box


def _resize_float(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) or (h, w, C) float32 resized bilinearly to ``size=(width, height)``, channel by channel."""
    if a.shape[1::-1] == size:
        return a.astype(np.float32)
    if a.ndim == 2:
        return np.asarray(Image.fromarray(np.ascontiguousarray(a, np.float32), mode="F").resize(size, Image.BILINEAR))
    return np.stack([_resize_float(a[..., c], size) for c in range(a.shape[2])], -1)


def paste_back(
    photo: np.ndarray, edited: np.ndarray, model_input: np.ndarray, mask: np.ndarray, pre: Preprocess
) -> tuple[np.ndarray, np.ndarray]:
    """The full-resolution result of one edit and its mask at the photo's resolution (see the module
    docstring). ``photo`` (H, W, 3) uint8; ``edited`` and ``model_input`` (h, w, 3) float in grey levels
    (0..255), the editor's output and input at the model's size; ``mask`` (h, w) float in [0, 1]."""
    (mx0, my0, mx1, my1), (px0, py0, px1, py1) = content_box(photo.shape[:2], pre)
    size = (px1 - px0, py1 - py0)
    window = (slice(my0, my1), slice(mx0, mx1))
    m = np.clip(mask[window], 0, 1).astype(np.float32)
    inside = edited[window].astype(np.float32) - (1 - m[..., None]) * model_input[window].astype(np.float32)
    full_mask = np.zeros(photo.shape[:2], np.float32)
    full_mask[py0:py1, px0:px1] = np.clip(_resize_float(m, size), 0, 1)
    out = photo.copy()
    kept = (1 - full_mask[py0:py1, px0:px1, None]) * out[py0:py1, px0:px1].astype(np.float32)
    out[py0:py1, px0:px1] = np.clip(np.round(_resize_float(inside, size) + kept), 0, 255).astype(np.uint8)
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
class EditedImage:
    """One edited photo: ``image`` at the photo's resolution (uint8), ``mask`` where the edit acted (float in
    [0, 1], same resolution), ``notes``: what was not done and why; ``region_share``: the share of the model
    image the region covered (None without a region)."""

    image: np.ndarray
    mask: np.ndarray
    notes: list[str] = field(default_factory=list)
    region_share: float | None = None
    source: Path | None = None
    domain: DomainReport | None = None


def _region_note(editor: Editor, x: torch.Tensor, region: str, threshold: float, share: float) -> str:
    found = [
        (t, float(editor.region_mask(x, region, threshold=t).mean())) for t in SUGGESTED_THRESHOLDS if t < threshold
    ]
    better = next(((t, s) for t, s in found if s >= MIN_REGION_SHARE), None)
    hint = (
        f"a region threshold of {better[0]} finds {100 * better[1]:.1f}%"
        if better
        else "no threshold down to 0.1 finds it; give a mask image instead"
    )
    return (
        f"region {region!r} found on only {100 * share:.1f}% of the image at threshold {threshold} "
        f"(at least {100 * MIN_REGION_SHARE:.0f}% needed): left unchanged; {hint}"
    )


@torch.no_grad()
def edit_images(
    editor: Editor,
    photos: list[np.ndarray],
    settings: dict[str, str],
    *,
    region: str | Path | np.ndarray | None = None,
    region_threshold: float | None = None,
    domain_check: bool = True,
) -> list[EditedImage]:
    """Edit a batch of (H, W, 3) uint8 photos of any sizes (see the module docstring). ``region``: a named
    region, the path of a binary mask image or an (H, W) bool/0-1 array (one for every photo, each photo's
    size). ``region_threshold``: where a named region's probe masks count (default: the editor's own,
    ``editor.region_threshold``). ``domain_check``: attach the domain check's report to each result (a photo
    unlike the training data gets a note)."""
    editor.space.parse_settings(settings)  # unknown attribute or value: fail before any work
    pre = editor.preprocess
    x = torch.stack([pre.image(ph) for ph in photos])
    reg: str | torch.Tensor | None = None
    shares: list[float | None] = [None] * len(photos)
    skip = torch.zeros(len(photos), dtype=torch.bool)
    notes: list[list[str]] = [[] for _ in photos]
    if isinstance(region, Path | np.ndarray):
        masks = []
        for ph in photos:
            if isinstance(region, Path):
                masks.append(load_region_mask(region, ph.shape[:2], pre))
            else:
                if region.shape != ph.shape[:2]:
                    raise InputError(
                        f"the region mask is {region.shape[::-1]}, the image {ph.shape[1::-1]}", field="region"
                    )
                small = resize_mask((np.asarray(region) > 0).astype(np.uint8), pre.size, pre.resize)
                masks.append(torch.from_numpy(small.astype(np.float32))[None, None])
        reg = torch.cat(masks)
    elif region is not None:
        region_threshold = editor.region_threshold if region_threshold is None else region_threshold
        labels = editor.read_attributes(x)
        reg = editor.region_mask(x, region, labels, threshold=region_threshold)
        # (region_mask found the sleeves with the "sleeveless" probe, so the editor knows that value)
        bare = editor.reads_sleeveless(labels) if region == "sleeves" else torch.zeros(len(photos), dtype=torch.bool)
        for i in range(len(photos)):
            shares[i] = float(reg[i].mean())
            if bare[i]:
                skip[i] = True
                notes[i].append("the garment reads as sleeveless: it has no sleeves to edit; left unchanged")
            elif shares[i] < MIN_REGION_SHARE:
                skip[i] = True
                notes[i].append(_region_note(editor, x[i : i + 1], region, region_threshold, shares[i]))
    result = editor.edit(x, settings, region=reg, region_threshold=region_threshold)
    grey = lambda t: ((t.float() + 1) * 127.5).movedim(1, -1).numpy()  # noqa: E731 - [-1, 1] -> 0..255, (B, h, w, 3)
    edited_grey, input_grey = grey(result.images), grey(x)
    masks_np = result.masks[:, 0].float().numpy()
    reports = domain_reports(photos) if domain_check else [None] * len(photos)
    out = []
    for i, photo in enumerate(photos):
        if reports[i] is not None and reports[i].unusual:
            notes[i].insert(0, reports[i].message)
        if skip[i]:
            blank = np.zeros(photo.shape[:2], np.float32)
            out.append(EditedImage(photo.copy(), blank, notes[i], shares[i], domain=reports[i]))
            continue
        full, full_mask = paste_back(photo, edited_grey[i], input_grey[i], masks_np[i], pre)
        out.append(EditedImage(full, full_mask, notes[i] + result.notes[i], shares[i], domain=reports[i]))
    return out


def edit_files(
    editor: Editor,
    paths: list[Path],
    settings: dict[str, str],
    *,
    region: str | Path | None = None,
    region_threshold: float | None = None,
    batch_size: int = 8,
    progress: bool = True,
    domain_check: bool = True,
) -> Iterator[EditedImage]:
    """Edit image files in batches (see the module docstring); yields one :class:`EditedImage` per input,
    with ``source`` set. ``region``: ``sleeves``, ``torso``, ``garment`` or the path of a binary mask image
    (one mask for every input, each of that input's size)."""
    check_region(editor, region, region_threshold)
    editor.space.parse_settings(settings)
    bar = tqdm(total=len(paths), desc="editing", unit="img", disable=not progress)
    for start in range(0, len(paths), batch_size):
        group = paths[start : start + batch_size]
        photos = [load_rgb(p) for p in group]
        for path, res in zip(
            group,
            edit_images(
                editor, photos, settings, region=region, region_threshold=region_threshold, domain_check=domain_check
            ),
            strict=True,
        ):
            res.source = path
            yield res
        bar.update(len(group))
    bar.close()
