"""The pose-transfer papers' metrics (PATN, XingGAN): PCKh, the Market-1501 pose mask, Mask-SSIM and L1.

They follow the official evaluation scripts shared by Pose-Transfer (tengteng95/Pose-Transfer) and
XingGAN (Ha0Tang/XingGAN): ``tool/calPCKH_market.py`` / ``tool/calPCKH_fashion.py`` (identical logic),
``tool/getMetrics_market.py`` and ``tool/pose_utils.py`` (``produce_ma_mask``). Poses here are ``(18, 2)``
``[x, y]`` arrays in the order of ``fashionlab.data.format.KEYPOINT_NAMES`` with -1 for a missing point;
the official files store ``[y, x]`` rows, which changes nothing below except the reading order.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..data.keypoints import HEAD_POINTS, MISSING, NUM_KEYPOINTS, missing_mask
from .ssim import ssim

#: The limbs of the official ``produce_ma_mask`` (its 1-based list, minus 1), 23 in all: the first 17
#: of the pose drawing's ``LIMB_SEQ`` (neck-shoulders, arms, neck-hips, legs, neck-nose, nose-eyes-ears),
#: then neck-Lear and neck-Rear (where the drawing has shoulder-ear), the hip line (Rhip-Lhip), the torso
#: sides (Lhip-Lsho, Rhip-Rsho) and the ear line (Lear-Rear).
MASK_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (1, 16), (1, 17), (8, 11), (11, 5), (8, 2), (16, 17),
)  # fmt: skip
MASK_RADIUS = 4
MASK_CLOSING = 5


def _poses(a, name: str) -> np.ndarray:
    kps = np.asarray(a, dtype=np.float64)
    if kps.ndim == 2:
        kps = kps[None]
    if kps.ndim != 3 or kps.shape[1:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"{name} must have shape (N, 18, 2) or (18, 2), got {tuple(np.shape(a))}")
    return kps


def pckh(pred, target, alpha: float = 0.5) -> dict[str, float | int]:
    """PCKh of predicted poses (a pose detector run on the generated images) against the target poses,
    both ``(N, 18, 2)`` ``[x, y]`` with -1 for missing points, exactly as the official ``calPCKH_*.py``:

    - head size per image (``get_head_wh``): among the target's head points ``HEAD_POINTS`` (nose, neck,
      eyes, ears) those with neither coordinate -1; with fewer than 2 of them the image is skipped (counts
      in neither numerator nor denominator), else ``w = max(x) - min(x)`` and ``h = max(y) - min(y)`` of
      those points, kept separate (no max of w and h, no square box; ``w`` or ``h`` may be 0, and then no
      point can be right on that axis);
    - a point is right (``isRight``) when none of the predicted and target coordinates is -1 and
      ``|px - tx| < w * alpha`` and ``|py - ty| < h * alpha`` (strict, per axis);
    - the denominator (``ValidPoints``) counts the target points whose **y** is not -1 (the script looks at
      the y list only; with our convention both coordinates are -1 together, so it is all visible target
      points); a missing prediction for a visible target point is wrong.

    Returns ``{"pckh": correct / total (NaN if total is 0), "correct", "total", "skipped_images"}``."""
    p, t = _poses(pred, "pred"), _poses(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target differ in shape: {p.shape} vs {t.shape}")
    t_missing = missing_mask(t)  # (N, 18)
    head = t[:, HEAD_POINTS]  # (N, 6, 2)
    head_ok = ~t_missing[:, HEAD_POINTS]
    kept = head_ok.sum(1) >= 2
    big = np.where(head_ok[..., None], head, np.inf)
    small = np.where(head_ok[..., None], head, -np.inf)
    lo, hi = big.min(1), small.max(1)  # (N, 2): min and max over the visible head points
    size = np.where(kept[:, None], hi - lo, 0.0)  # (N, 2): (w, h)
    both = ~t_missing & ~missing_mask(p)
    with np.errstate(invalid="ignore"):
        diff = np.abs(p - t)  # (N, 18, 2)
        close = (diff < size[:, None, :] * alpha).all(-1)
    right = both & close & kept[:, None]
    total = int(((t[:, :, 1] != MISSING) & kept[:, None]).sum())
    correct = int(right.sum())
    return {
        "pckh": correct / total if total else float("nan"),
        "correct": correct,
        "total": total,
        "skipped_images": int((~kept).sum()),
    }


def pose_mask(keypoints, height: int, width: int) -> np.ndarray:
    """The Market-1501 Mask-SSIM mask of one ``(18, 2)`` ``[x, y]`` pose, ``(height, width)`` bool, as the
    official ``produce_ma_mask``:

    - each limb of ``MASK_LIMBS`` whose two ends are present is filled as the rectangle around the segment
      with half-width 4 (the official polygon with vertices ``end +- 4 * unit normal``; pixels whose
      centre lies on the rectangle's edge are inside, as scikit-image's ``polygon`` counts them; a limb of
      zero length, which the official code divides by zero on, is skipped: its joint disc covers it);
    - each present joint gets a disc of radius 4, strict: ``dx^2 + dy^2 < 16`` (scikit-image's ``circle`` /
      ``disk``);
    - then a 5x5 square dilation followed by a 5x5 square erosion (a closing), with scikit-image's
      default ``reflect`` border handling.
    """
    kps = np.asarray(keypoints, dtype=np.float64)
    if kps.shape != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must have shape (18, 2), got {kps.shape}")
    present = ~missing_mask(kps)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    mask = np.zeros((height, width), dtype=bool)
    limbs = [(f, t) for f, t in MASK_LIMBS if present[f] and present[t] and np.any(kps[f] != kps[t])]
    if limbs:
        a = kps[[f for f, _ in limbs]][:, :, None, None]  # (L, 2, 1, 1)
        b = kps[[t for _, t in limbs]][:, :, None, None]
        d = b - a
        length = np.hypot(d[:, 0], d[:, 1])  # (L, 1, 1)
        px, py = xs - a[:, 0], ys - a[:, 1]  # (L, H, W)
        along = (px * d[:, 0] + py * d[:, 1]) / length  # distance along the segment from its start
        across = np.abs(px * d[:, 1] - py * d[:, 0]) / length  # distance from the segment's line
        eps = 1e-9
        inside = (along >= -eps) & (along <= length + eps) & (across <= MASK_RADIUS + eps)
        mask |= inside.any(0)
    for x, y in kps[present]:
        mask |= (xs - x) ** 2 + (ys - y) ** 2 < MASK_RADIUS**2
    m = mask.astype(np.uint8)
    m = ndimage.grey_dilation(m, size=(MASK_CLOSING, MASK_CLOSING), mode="reflect")
    m = ndimage.grey_erosion(m, size=(MASK_CLOSING, MASK_CLOSING), mode="reflect")
    return m.astype(bool)


def _ssim_by_generated_range(generated, target, mask=None) -> float | np.ndarray:
    """Per pair, both images times ``mask`` (if given), then SSIM(target, generated) with ``data_range`` =
    max - min of the (masked) generated image: what the official scripts compute."""
    gen, tgt = np.asarray(generated), np.asarray(target)
    if gen.shape != tgt.shape or gen.ndim not in (3, 4):
        raise ValueError(
            f"expected two images (H, W, C) or batches (N, H, W, C) of one shape, got {gen.shape}, {tgt.shape}"
        )
    single = gen.ndim == 3
    if single:
        gen, tgt = gen[None], tgt[None]
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        m = np.broadcast_to(m if m.ndim == 3 else m[None], gen.shape[:3])[..., None]
        gen, tgt = gen * m.astype(gen.dtype), tgt * m.astype(tgt.dtype)  # the official image * mask[..., None]
    scores = np.array(
        [float(ssim(t, g, data_range=float(g.max()) - float(g.min()))) for g, t in zip(gen, tgt, strict=True)]
    )
    return float(scores[0]) if single else scores


def pose_ssim(generated, target) -> float | np.ndarray:
    """SSIM as the official ``getMetrics_*.py`` computes it: scikit-image ``structural_similarity(target,
    generated, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=2,
    data_range=generated.max() - generated.min())`` on uint8 RGB at native size, per pair (not 255).

    ``generated`` and ``target``: uint8 ``(H, W, 3)`` or ``(N, H, W, 3)``. Returns a float for one pair,
    else ``(N,)`` (the official score is their mean)."""
    return _ssim_by_generated_range(generated, target)


def mask_ssim(generated, target, mask) -> float | np.ndarray:
    """Mask-SSIM as the official ``getMetrics_market.py``: both images multiplied by the pose mask (of the
    target pose, see :func:`pose_mask`), then SSIM with ``gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False`` per channel and ``data_range`` = max - min of the **masked generated**
    image (computed per image; not 255).

    ``generated`` and ``target``: uint8 ``(H, W, 3)`` or ``(N, H, W, 3)``; ``mask``: bool ``(H, W)`` or
    ``(N, H, W)``. Returns a float for one pair, else ``(N,)`` (the official score is their mean)."""
    return _ssim_by_generated_range(generated, target, mask)


def l1(generated, target) -> float:
    """Mean absolute error in [0, 1] units: uint8 images are divided by 255, float images are taken as
    already in [0, 1]. (The official ``l1_score`` works in [-1, 1] units, so it is twice this value.)"""
    gen, tgt = np.asarray(generated), np.asarray(target)
    if gen.shape != tgt.shape:
        raise ValueError(f"images differ in shape: {gen.shape} vs {tgt.shape}")

    def unit(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)

    return float(np.abs(unit(gen) - unit(tgt)).mean())
