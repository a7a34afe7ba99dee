"""Re-posing scores that see what a person sees, next to the papers' SSIM / Mask-SSIM / mean PCKh:

- :func:`pckh_per_joint`: PCKh per keypoint with the official rules (wrists and ears fail where the torso,
  legs and head carry the mean), and :data:`ARM_JOINTS` (elbows and wrists) as one row;
- :func:`silhouette_l1`: the L1 to the exact target on the **ghost** pixels (person in the source picture,
  background in the target: a model that leaves the source figure showing through is wrong there) and on the
  **missing-body** pixels (person in the target, background in the source: where a new limb or body part must
  be drawn); SynthFashion knows both silhouettes;
- :func:`head_box` and :func:`head_scores`: L1 and SSIM to the truth in the target's head box (smeared faces).
"""

from __future__ import annotations

import numpy as np

from ..data.keypoints import HEAD_POINTS, KEYPOINT_NAMES, MISSING, missing_mask
from .ssim import ssim

#: right elbow, right wrist, left elbow, left wrist (OpenPose order)
ARM_JOINTS = (3, 4, 6, 7)


def pckh_per_joint(pred, target, alpha: float = 0.5) -> dict[str, float]:
    """PCKh of each keypoint (by name) and of the arms (elbows + wrists, pooled), with the rules of
    :func:`fashionlab.metrics.pose.pckh` (the official ``calPCKH``): per axis ``|p - t| < alpha * head w/h``,
    images with fewer than two visible head points skipped, target points that are missing not counted.
    NaN where a joint is never visible."""
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if p.shape != t.shape or p.ndim != 3 or p.shape[1:] != (len(KEYPOINT_NAMES), 2):
        raise ValueError(f"expected two (N, 18, 2) arrays of one shape, got {p.shape} and {t.shape}")
    t_missing = missing_mask(t)
    head_ok = ~t_missing[:, HEAD_POINTS]
    kept = head_ok.sum(1) >= 2
    head = t[:, HEAD_POINTS]
    lo = np.where(head_ok[..., None], head, np.inf).min(1)
    hi = np.where(head_ok[..., None], head, -np.inf).max(1)
    size = np.where(kept[:, None], hi - lo, 0.0)
    with np.errstate(invalid="ignore"):
        close = (np.abs(p - t) < size[:, None, :] * alpha).all(-1)
    right = ~t_missing & ~missing_mask(p) & close & kept[:, None]
    counted = (t[:, :, 1] != MISSING) & kept[:, None]
    out = {}
    for j, name in enumerate(KEYPOINT_NAMES):
        total = counted[:, j].sum()
        out[name] = float(right[:, j].sum() / total) if total else float("nan")
    arms = list(ARM_JOINTS)
    total = counted[:, arms].sum()
    out["arms"] = float(right[:, arms].sum() / total) if total else float("nan")
    return out


def silhouette_l1(generated, target, source_person, target_person) -> dict[str, np.ndarray]:
    """Per pair, the mean absolute error (in [0, 1] units) between uint8 ``generated`` and ``target``
    ``(N, H, W, 3)`` on the ghost pixels (``source_person & ~target_person``) and the missing-body pixels
    (``target_person & ~source_person``); NaN for a pair without such pixels. The identity (output =
    source) and the ground truth (0) rows give the scale."""
    gen, tgt = np.asarray(generated, np.float64) / 255.0, np.asarray(target, np.float64) / 255.0
    src_p, tgt_p = np.asarray(source_person, bool), np.asarray(target_person, bool)
    if gen.shape != tgt.shape or gen.shape[:3] != src_p.shape or src_p.shape != tgt_p.shape:
        raise ValueError(f"shapes differ: {gen.shape}, {tgt.shape}, {src_p.shape}, {tgt_p.shape}")
    err = np.abs(gen - tgt).mean(-1)  # (N, H, W)
    out = {}
    for name, region in (("ghost", src_p & ~tgt_p), ("missing_body", tgt_p & ~src_p)):
        n = region.sum((1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(n > 0, (err * region).sum((1, 2)) / np.maximum(n, 1), np.nan)
    return out


def head_box(keypoints, height: int, width: int, pad: float = 0.35) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (end exclusive) around the visible head points (nose, neck, eyes, ears) of one
    ``(18, 2)`` pose, made square on its longer side and grown by ``pad`` of that side on every edge, clipped
    to the image; None with fewer than two visible head points."""
    kps = np.asarray(keypoints, np.float64)[list(HEAD_POINTS)]
    pts = kps[(kps >= 0).all(-1)]
    if len(pts) < 2:
        return None
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    side = max(x1 - x0, y1 - y0, 2.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = side / 2 + pad * side
    box = (int(np.floor(cx - half)), int(np.floor(cy - half)), int(np.ceil(cx + half)) + 1, int(np.ceil(cy + half)) + 1)
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    return (x0, y0, x1, y1) if x1 - x0 >= 3 and y1 - y0 >= 3 else None


def head_scores(generated, target, target_keypoints) -> dict[str, np.ndarray]:
    """Per pair, L1 (in [0, 1] units) and SSIM (:func:`fashionlab.metrics.ssim.ssim`: scikit-image's
    Gaussian-weighted SSIM, data range 255) between uint8 ``generated`` and ``target`` ``(N, H, W, 3)`` inside
    the target's :func:`head_box`; NaN where the target shows no head (SSIM also where the box is under 11 px,
    the Gaussian window)."""
    gen, tgt = np.asarray(generated), np.asarray(target)
    n, h, w = gen.shape[:3]
    l1s, ssims = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        box = head_box(target_keypoints[i], h, w)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        g, t = gen[i, y0:y1, x0:x1], tgt[i, y0:y1, x0:x1]
        l1s[i] = float(np.abs(g.astype(np.float64) - t).mean() / 255.0)
        if min(g.shape[:2]) >= 11:
            ssims[i] = float(ssim(t, g, data_range=255.0))
    return {"head_l1": l1s, "head_ssim": ssims}
