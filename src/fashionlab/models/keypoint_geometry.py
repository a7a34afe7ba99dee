"""Keypoint geometry of the keypoint estimator: where points go when an image is resized, mirrored, zoomed or
shifted, and the stride-4 heatmap grid. Keypoints are ``(..., 18, 2)`` ``[x, y]`` pixel positions (pixel ``i``
has its centre at ``i``) in OpenPose order, ``[-1, -1]`` for a missing point."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.geometry import Placement
from ..data.keypoints import MISSING, NUM_KEYPOINTS

#: Output stride of the heatmaps: one heatmap pixel per 4x4 input pixels.
HEATMAP_STRIDE = 4

#: ``FLIP_PERMUTATION[k]``: the keypoint that point ``k`` becomes in a mirrored image (OpenPose order:
#: nose, neck, Rsho, Relb, Rwri, Lsho, Lelb, Lwri, Rhip, Rkne, Rank, Lhip, Lkne, Lank, Leye, Reye, Lear, Rear).
FLIP_PERMUTATION = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)


# -------------------------------------------------------------------------------------- geometry helpers
def _as_float_tensor(keypoints) -> torch.Tensor:
    kps = torch.as_tensor(keypoints)
    if kps.shape[-2:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must have shape (..., 18, 2), got {tuple(kps.shape)}")
    return kps if kps.is_floating_point() else kps.float()


def keypoint_missing(keypoints: torch.Tensor) -> torch.Tensor:
    """Boolean ``(..., 18)``: True where a point is missing (either coordinate -1)."""
    return (keypoints[..., 0] == MISSING) | (keypoints[..., 1] == MISSING)


def mark_outside_missing(keypoints: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``keypoints`` with every point outside ``0 <= x < width``, ``0 <= y < height`` set to -1 (a copy)."""
    kps = _as_float_tensor(keypoints).clone()
    x, y = kps[..., 0], kps[..., 1]
    outside = keypoint_missing(kps) | (x < 0) | (x >= width) | (y < 0) | (y >= height)
    kps[outside] = MISSING
    return kps


def flip_keypoints(keypoints, width: int) -> torch.Tensor:
    """The ``(..., 18, 2)`` keypoints of the horizontally mirrored image of ``width`` pixels: ``x`` becomes
    ``width - 1 - x`` (what ``image.flip(-1)`` does to pixel ``x``) and each left point trades places with
    its right counterpart (:data:`FLIP_PERMUTATION`). Missing points stay missing."""
    kps = _as_float_tensor(keypoints)
    missing = keypoint_missing(kps)
    mirrored = kps.clone()
    mirrored[..., 0] = (width - 1) - kps[..., 0]
    mirrored[missing] = MISSING
    return mirrored[..., list(FLIP_PERMUTATION), :]


def resize_keypoints(keypoints, from_size: tuple[int, int], to_size: tuple[int, int], mode: str = "fit"):
    """Where the points of a ``from_size`` (height, width) image land in ``resize_rgb(image, to_size, mode)``:
    :meth:`Placement.to_target <fashionlab.data.geometry.Placement.to_target>`, the geometry the resize
    itself uses (pixel centres aligned: source pixel centre ``x`` lands at ``(x + 0.5) * nw / w - 0.5 + ox``).
    Points cropped away become missing (see :func:`_inside_or_missing` for the frame's edge).
    Returns a float32 numpy array of the keypoints' shape."""
    kps = np.array(keypoints, dtype=np.float64)
    out = Placement.of(from_size, to_size, mode).to_target(kps)
    return _inside_or_missing(out, keypoint_missing(kps), *to_size)


def unresize_keypoints(keypoints, from_size: tuple[int, int], to_size: tuple[int, int], mode: str = "fit"):
    """The inverse of :func:`resize_keypoints`: points found in the ``to_size`` resized image, mapped back
    to the original ``from_size`` (height, width) image (points on the padding become missing)."""
    kps = np.array(keypoints, dtype=np.float64)
    out = Placement.of(from_size, to_size, mode).to_source(kps)
    return _inside_or_missing(out, keypoint_missing(kps), *from_size)


def _inside_or_missing(points: np.ndarray, missing: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 ``points`` with those outside the frame set to -1. Inside means ``-0.5 <= x < width`` (the
    first pixel's area and the dataset format's ``x < width``); ``x`` in ``[-0.5, 0)`` is clamped to 0."""
    x, y = points[..., 0], points[..., 1]
    outside = (x < -0.5) | (x >= width) | (y < -0.5) | (y >= height)
    out = np.maximum(points, 0.0)
    out[missing | outside] = MISSING
    return out.astype(np.float32)


def input_to_heatmap(keypoints: torch.Tensor, stride: int = HEATMAP_STRIDE) -> torch.Tensor:
    """Input-pixel keypoints -> positions on the stride-``stride`` heatmap grid (pixel centres aligned:
    heatmap pixel ``j`` covers input pixels ``stride*j .. stride*j + stride - 1``). Missing stays -1."""
    out = (keypoints + 0.5) / stride - 0.5
    return torch.where(keypoint_missing(keypoints)[..., None], torch.full_like(out, MISSING), out)


def heatmap_to_input(positions: torch.Tensor, stride: float = HEATMAP_STRIDE) -> torch.Tensor:
    """The inverse of :func:`input_to_heatmap` (no missing-point handling: callers mark those)."""
    return (positions + 0.5) * stride - 0.5


# ------------------------------------------------------------------------------------------ augmentation
def flip_batch(images: torch.Tensor, keypoints: torch.Tensor, flip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror the samples of a ``(B, 3, H, W)`` batch where ``flip`` (``(B,)`` bool) is True, with their
    ``(B, 18, 2)`` keypoints (:func:`flip_keypoints`)."""
    flip = flip.to(images.device)
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    mirrored = flip_keypoints(keypoints, images.shape[-1])
    return images, torch.where(flip[:, None, None], mirrored, keypoints)


def zoom_shift(
    images: torch.Tensor, keypoints: torch.Tensor, zoom: torch.Tensor, shift: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zoom each image of a ``(B, 3, H, W)`` batch in [-1, 1] by ``zoom[b]`` about its centre, then move it
    by ``shift[b] = (dx, dy)`` (fractions of the width and height), bilinearly; uncovered pixels are white.
    The ``(B, 18, 2)`` keypoints move with the content; those that leave the frame become missing."""
    b, _, h, w = images.shape
    zoom = zoom.to(images.device, images.dtype)
    shift = shift.to(images.device, images.dtype)
    theta = torch.zeros(b, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / zoom
    theta[:, :, 2] = -2.0 * shift / zoom[:, None]  # output n -> input (n - 2 shift) / zoom (normalised units)
    grid = F.affine_grid(theta, [b, 3, h, w], align_corners=False)
    moved = F.grid_sample(images - 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 1.0
    kps = _as_float_tensor(keypoints).to(images.device)
    size = torch.tensor([w, h], device=kps.device, dtype=kps.dtype)
    normalised = (2.0 * kps + 1.0) / size - 1.0
    normalised = normalised * zoom[:, None, None].to(kps.dtype) + 2.0 * shift[:, None, :].to(kps.dtype)
    out = ((normalised + 1.0) * size - 1.0) / 2.0
    out = torch.where(keypoint_missing(kps)[..., None], torch.full_like(out, MISSING), out)
    return moved, mark_outside_missing(out, h, w)
