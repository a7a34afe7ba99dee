"""Deformable skip connections (Siarohin et al., CVPR 2018): the body cut into ten rigid parts from the keypoints,
one affine transform per part from the target pose to the source pose, and feature maps warped part by part and
merged by an element-wise max.

As the official code (AliaksandrSiarohin/pose-gan ``pose_transform.py``):

- **Torso size** ``st = sqrt(mean(|Rhip - Rsho|^2, |Lhip - Lsho|^2))``, for the source (st1) and the target (st2).
- **Parts** (:data:`PART_NAMES`): torso, head, then R/L upper leg, R/L lower leg, R/L upper arm, R/L forearm.
- **Masks**, from the **target** keypoints only: the torso mask is the whole image (the torso warp carries the
  background too); the head mask is the axis-aligned square of half-side ``int(0.4 st2)`` around the integer
  part of the mean of the target's visible nose, eyes and ears (pixels ``c - b <= i < c + b``); a limb's mask is
  the rectangle of :func:`limb_rectangles` (the segment pushed back by 0.1 of its length at the start and forward
  by ``inc_to`` of the new length at the end: 0.1 for upper limbs, 0.5 for lower limbs; half-width ``0.2 st2``).
  A head without a visible point, or a limb without both endpoints, has an empty mask.
- **Affines**, least-squares fits mapping **target pixel coordinates to source coordinates** (the backward map a
  sampler needs): the torso on Rhip, Lhip, Lsho, Rsho; the head on the head points visible in both poses plus
  both shoulders; a limb on the four corners of its target rectangle and of its source rectangle (built with st1),
  the source's **mirror limb** (L <-> R) standing in for a limb the source lacks. A part that cannot be fitted
  (limb missing in the target, both sides missing in the source, no head point in both, fewer than three points
  or points on a line, a singular fit) gets the official fallback: its features are zero (the official code
  translates by 1000 px so that the sampler reads outside the image; here the part's weight is set to 0, which
  gives the same merged result).
- **Warp**: each part's copy of the feature map is resampled through its affine (nearest neighbour by default,
  as ``tf.contrib.image.transform``'s default; bilinear as an option; zeros outside), multiplied by its mask and
  the ten copies are merged by an element-wise max (so a pixel no part covers, or whose parts are all negative,
  gets 0; the decoder applies a ReLU right after anyway).

Pixel convention (:mod:`fashionlab.data.geometry`): pixel ``i`` is centred on ``i``, the image spans ``[-0.5,
W - 0.5)``. A feature map ``s`` times smaller (the stride-2, 4x4, padding-1 convs of the encoders) has its pixel
``j`` centred on image coordinate ``s j + (s - 1) / 2``. Warps and masks at any stride are evaluated at those
centres, so one transform in image pixels serves every level (it is handed to ``grid_sample`` in normalised
coordinates with ``align_corners=False``, whose [-1, 1] spans the image's edges at every resolution).

Departures from the official code, all documented where they are made:

- lower levels: the official layer divides only the translation by the stride (``A j + t / s``); the exact map
  between pixel centres is ``A j + (A c + t - c) / s`` with ``c = (s - 1) / 2``. The two are equal for pure
  translations and differ by less than a feature pixel otherwise;
- masks at lower levels are evaluated at the level's pixel centres, where the official code resizes the
  full-size mask by TF's nearest neighbour (which reads each block's top-left pixel);
- the least squares are ordinary least squares (skimage of the time solved the same problem by an SVD of the
  homogeneous system, a total-least-squares variant); both are exact for the limbs (rectangle to rectangle)
  and for heads fitted on three points, and differ slightly for the torso and larger heads;
- the official code drops images missing any torso point (and would fail on them); here the torso is fitted on
  the torso points present in both poses (exact with three), the torso size uses the sides present, and a part
  whose torso size is unknown (no hip-shoulder side at all) falls back to zero features or an empty mask;
- the rectangle of a lower limb uses the mask's ``inc_to`` 0.5 for the fit too (the official fit uses 0.3):
  the map depends only on the two endpoints and the torso sizes, so it is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...data.geometry import MISSING

PART_NAMES: tuple[str, ...] = (
    "torso",
    "head",
    "right_upper_leg",
    "left_upper_leg",
    "right_lower_leg",
    "left_lower_leg",
    "right_upper_arm",
    "left_upper_arm",
    "right_forearm",
    "left_forearm",
)
NUM_PARTS = len(PART_NAMES)

# OpenPose-18 indices (fashionlab.data.format.KEYPOINT_NAMES)
NOSE, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = 0, 2, 3, 4, 5, 6, 7
R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE, L_EYE, R_EYE, L_EAR, R_EAR = range(8, 18)

#: Torso points in the official order (Rhip, Lhip, Lsho, Rsho).
TORSO_POINTS = (R_HIP, L_HIP, L_SHOULDER, R_SHOULDER)
#: Head points the head mask is centred on and the head transform is fitted on (with both shoulders).
HEAD_POINTS = (NOSE, L_EYE, R_EYE, L_EAR, R_EAR)
SHOULDERS = (L_SHOULDER, R_SHOULDER)
#: The eight limbs of parts 2-9: (from, to, inc_to) in the official order.
LIMBS: tuple[tuple[int, int, float], ...] = (
    (R_HIP, R_KNEE, 0.1),
    (L_HIP, L_KNEE, 0.1),
    (R_KNEE, R_ANKLE, 0.5),
    (L_KNEE, L_ANKLE, 0.5),
    (R_SHOULDER, R_ELBOW, 0.1),
    (L_SHOULDER, L_ELBOW, 0.1),
    (R_ELBOW, R_WRIST, 0.5),
    (L_ELBOW, L_WRIST, 0.5),
)
#: Limb index (0-7) of each limb's mirror image (L <-> R).
MIRROR_LIMB = (1, 0, 3, 2, 5, 4, 7, 6)
LIMB_INC_FROM = 0.1  # the start is pushed back by 0.1 x the segment
LIMB_HALF_WIDTH = 0.2  # x torso size
HEAD_HALF_SIDE = 0.4  # x torso size
SAMPLING_MODES = ("nearest", "bilinear")

_MIN_SPREAD = 1e-10  # points whose covariance has det < this x trace^2 lie on a line: no affine fit
_MIN_DET = 1e-6  # a fitted linear part with |det| below this collapses the part: treated as singular


def present(keypoints: torch.Tensor) -> torch.Tensor:
    """``(..., 18)`` bool: the keypoints that are there (a point is missing when either coordinate is -1)."""
    return (keypoints[..., 0] != MISSING) & (keypoints[..., 1] != MISSING)


def torso_size(keypoints: torch.Tensor) -> torch.Tensor:
    """``(B, 18, 2)`` -> ``(B,)``: the root mean square of the right and left hip-shoulder distances (the
    official ``compute_st_distance``), over the sides whose two points are present; NaN when neither is."""
    kps = keypoints.double()
    vis = present(kps)
    squares, counts = torch.zeros(len(kps), dtype=kps.dtype, device=kps.device), torch.zeros_like(kps[:, 0, 0])
    for hip, shoulder in ((R_HIP, R_SHOULDER), (L_HIP, L_SHOULDER)):
        side = (vis[:, hip] & vis[:, shoulder]).to(kps.dtype)
        squares = squares + side * ((kps[:, hip] - kps[:, shoulder]) ** 2).sum(-1)
        counts = counts + side
    return torch.where(counts > 0, (squares / counts.clamp(min=1)).sqrt(), torch.full_like(counts, float("nan")))


@dataclass
class LimbRectangles:
    """The eight limbs' rectangles of a batch of poses: ``start`` and ``end`` (B, 8, 2) are the pushed-out
    segment's ends, ``normal`` (B, 8, 2) its unit normal, ``half_width`` (B, 8), ``ok`` (B, 8) whether the limb
    has both endpoints, a non-zero length and a known torso size. ``corners`` (B, 8, 4, 2) in the official
    order: start + n w, start - n w, end - n w, end + n w."""

    start: torch.Tensor
    end: torch.Tensor
    normal: torch.Tensor
    half_width: torch.Tensor
    ok: torch.Tensor

    @property
    def corners(self) -> torch.Tensor:
        offset = self.normal * self.half_width[..., None]
        return torch.stack([self.start + offset, self.start - offset, self.end - offset, self.end + offset], -2)


def limb_rectangles(keypoints: torch.Tensor, size: torch.Tensor, limbs: tuple[int, ...] = tuple(range(8))):
    """The rectangles (:class:`LimbRectangles`) of ``limbs`` (indices into :data:`LIMBS`) of ``(B, 18, 2)`` poses
    with torso sizes ``size`` (B,): the official ``estimate_polygon`` with inc_from 0.1, the limb's inc_to and
    half-width 0.2 x torso size."""
    kps = keypoints.double()
    vis = present(kps)
    frm = torch.tensor([LIMBS[k][0] for k in limbs], device=kps.device)
    to = torch.tensor([LIMBS[k][1] for k in limbs], device=kps.device)
    inc_to = torch.tensor([LIMBS[k][2] for k in limbs], device=kps.device, dtype=kps.dtype)
    a, b = kps[:, frm], kps[:, to]  # (B, L, 2)
    start = a + (a - b) * LIMB_INC_FROM
    end = b + (b - start) * inc_to[:, None]
    axis = start - end
    length = axis.norm(dim=-1)
    normal = torch.stack([-axis[..., 1], axis[..., 0]], -1) / length.clamp(min=1e-12)[..., None]
    half_width = (LIMB_HALF_WIDTH * size)[:, None].expand_as(length)
    ok = vis[:, frm] & vis[:, to] & (length > 0) & torch.isfinite(half_width)
    return LimbRectangles(start, end, normal, torch.nan_to_num(half_width), ok)


def fit_affine(target: torch.Tensor, source: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted least-squares affine maps from ``target`` to ``source`` points.

    ``target``, ``source``: ``(..., N, 2)``; ``weight``: ``(..., N)`` (0 drops a point). Returns the ``(..., 2, 3)``
    matrices ``M`` with ``source ~ M [x, y, 1]`` (float64) and ``(...)`` bool ``ok``: at least three points, not
    on a line, and a fitted linear part that is not singular. Where not ok the matrix is the identity."""
    t, s, w = target.double(), source.double(), weight.double()
    total = w.sum(-1)
    mean = (w[..., None] * t).sum(-2) / total.clamp(min=1e-12)[..., None]
    centred = (t - mean[..., None, :]) * w[..., None].sqrt()
    cov = centred.transpose(-1, -2) @ centred  # (..., 2, 2)
    trace = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
    spread = torch.linalg.det(cov) > _MIN_SPREAD * trace**2
    ok = ((w > 0).sum(-1) >= 3) & spread & (trace > 0)
    design = torch.cat([t, torch.ones_like(t[..., :1])], -1)  # (..., N, 3)
    normal = design.transpose(-1, -2) @ (w[..., None] * design)  # (..., 3, 3)
    rhs = design.transpose(-1, -2) @ (w[..., None] * s)  # (..., 3, 2)
    eye = torch.eye(3, dtype=t.dtype, device=t.device).expand_as(normal)
    normal = torch.where(ok[..., None, None], normal, eye)
    matrix = torch.linalg.solve(normal, rhs).transpose(-1, -2)  # (..., 2, 3)
    ok = ok & (torch.linalg.det(matrix[..., :2]).abs() > _MIN_DET)
    identity = torch.eye(2, 3, dtype=t.dtype, device=t.device).expand_as(matrix)
    return torch.where(ok[..., None, None], matrix, identity), ok


def part_affines(source_keypoints: torch.Tensor, target_keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ten parts' affines (see the module docstring): ``(B, 18, 2)`` source and target poses in image
    pixels -> ``(B, 10, 2, 3)`` float64 matrices mapping target ``[x, y, 1]`` to source ``[x, y]``, and ``(B, 10)``
    bool ``ok`` (False: the part falls back to zero features; its matrix is then the identity)."""
    src, tgt = source_keypoints.double(), target_keypoints.double()
    batch = len(src)
    both = present(src) & present(tgt)
    n_points = 7  # the most any part uses: 5 head points + 2 shoulders
    target_points = src.new_zeros(batch, NUM_PARTS, n_points, 2)
    source_points = src.new_zeros(batch, NUM_PARTS, n_points, 2)
    weight = src.new_zeros(batch, NUM_PARTS, n_points)

    torso = list(TORSO_POINTS)
    target_points[:, 0, :4], source_points[:, 0, :4], weight[:, 0, :4] = tgt[:, torso], src[:, torso], both[:, torso]

    head = list(HEAD_POINTS + SHOULDERS)
    head_seen = both[:, list(HEAD_POINTS)].any(-1)  # at least one head point in both poses
    target_points[:, 1], source_points[:, 1] = tgt[:, head], src[:, head]
    weight[:, 1] = both[:, head] & head_seen[:, None]

    target_limbs = limb_rectangles(tgt, torso_size(tgt))
    source_own = limb_rectangles(src, torso_size(src))
    source_mirror = limb_rectangles(src, torso_size(src), MIRROR_LIMB)
    use_own = source_own.ok[..., None, None]
    source_corners = torch.where(use_own, source_own.corners, source_mirror.corners)
    limb_ok = target_limbs.ok & (source_own.ok | source_mirror.ok)
    target_points[:, 2:, :4], source_points[:, 2:, :4] = target_limbs.corners, source_corners
    weight[:, 2:, :4] = limb_ok[..., None].double()

    return fit_affine(target_points, source_points, weight)


def _pixel_centres(length: int, image_length: int, like: torch.Tensor) -> torch.Tensor:
    """Image coordinates of the pixel centres of a map of ``length`` pixels spanning ``image_length`` pixels."""
    stride = image_length / length
    return torch.arange(length, dtype=like.dtype, device=like.device) * stride + (stride - 1) / 2


@dataclass
class PartMasks:
    """What the target pose's part masks are made of: ``head_centre`` (B, 2) and ``head_half_side`` (B,) (the
    head square is ``c - b <= i < c + b`` in pixel indices), ``head_ok`` (B,), the target's limb rectangles
    ``limbs``, and the ``image_size`` (H, W) the keypoints are in. :meth:`at` draws them at any resolution."""

    head_centre: torch.Tensor
    head_half_side: torch.Tensor
    head_ok: torch.Tensor
    limbs: LimbRectangles
    image_size: tuple[int, int]

    @classmethod
    def of(cls, target_keypoints: torch.Tensor, image_size: tuple[int, int]) -> PartMasks:
        """The official ``pose_masks`` geometry of ``(B, 18, 2)`` target poses."""
        tgt = target_keypoints.double()
        size = torso_size(tgt)
        seen = present(tgt)[:, list(HEAD_POINTS)].double()  # (B, 5)
        centre = (tgt[:, list(HEAD_POINTS)] * seen[..., None]).sum(1) / seen.sum(1).clamp(min=1)[:, None]
        half_side = torch.floor(HEAD_HALF_SIDE * torch.nan_to_num(size))
        head_ok = (seen.sum(1) > 0) & torch.isfinite(size)
        return cls(torch.floor(centre), half_side, head_ok, limb_rectangles(tgt, size), tuple(image_size))

    def at(self, size: tuple[int, int]) -> torch.Tensor:
        """``(B, 10, h, w)`` float64 masks at a resolution of ``size = (h, w)``, each pixel tested at its centre
        in image coordinates (at the image's own size: exactly the official full-size masks)."""
        (h, w), (image_h, image_w) = size, self.image_size
        ys = _pixel_centres(h, image_h, self.head_centre)[:, None]  # (h, 1)
        xs = _pixel_centres(w, image_w, self.head_centre)[None, :]  # (1, w)
        batch = len(self.head_centre)
        torso = self.head_centre.new_ones(batch, 1, h, w)

        # head: index i with c - b <= i < c + b covers [c - b - 0.5, c + b - 0.5) in continuous coordinates
        c, b = self.head_centre[:, :, None, None], self.head_half_side[:, None, None]
        inside_x = (xs >= c[:, 0] - b - 0.5) & (xs < c[:, 0] + b - 0.5)
        inside_y = (ys >= c[:, 1] - b - 0.5) & (ys < c[:, 1] + b - 0.5)
        head = (inside_x & inside_y & self.head_ok[:, None, None]).double()[:, None]

        # limbs: the closed rectangle start + u (end - start) + v normal, 0 <= u <= 1, |v| <= half-width
        limbs = self.limbs
        axis = limbs.end - limbs.start  # (B, 8, 2)
        dx = xs[None, None] - limbs.start[..., 0, None, None]  # (B, 8, 1, w)
        dy = ys[None, None] - limbs.start[..., 1, None, None]  # (B, 8, h, 1)
        along = (dx * axis[..., 0, None, None] + dy * axis[..., 1, None, None]) / (axis**2).sum(-1).clamp(min=1e-12)[
            ..., None, None
        ]
        across = dx * limbs.normal[..., 0, None, None] + dy * limbs.normal[..., 1, None, None]
        inside = (along >= 0) & (along <= 1) & (across.abs() <= limbs.half_width[..., None, None])
        limb = (inside & limbs.ok[..., None, None]).double()
        return torch.cat([torso, head, limb], 1)


def affine_sampling_grid(affines: torch.Tensor, image_size: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """``(B, P, 2, 3)`` affines in image pixels (target -> source) -> the ``grid_sample`` grid ``(B, P * h, w, 2)``
    that resamples a map of ``size = (h, w)`` spanning the image (``align_corners=False``), all parts of an image
    stacked along the height so that one ``grid_sample`` call warps every part of every image."""
    (h, w), (image_h, image_w) = size, image_size
    batch, parts = affines.shape[:2]
    dtype, device = affines.dtype, affines.device
    # normalised n -> image pixels x = W (n + 1) / 2 - 0.5 (pixel centres; the same at every stride)
    to_pixels = torch.tensor(
        [[image_w / 2, 0, (image_w - 1) / 2], [0, image_h / 2, (image_h - 1) / 2], [0, 0, 1]],
        dtype=dtype,
        device=device,
    )
    square = torch.cat([affines, affines.new_tensor([0, 0, 1]).expand(batch, parts, 1, 3)], -2)
    theta = (torch.linalg.inv(to_pixels) @ square @ to_pixels)[..., :2, :]
    grid = F.affine_grid(theta.reshape(-1, 2, 3).float(), [batch * parts, 1, h, w], align_corners=False)
    return grid.view(batch, parts * h, w, 2)


@dataclass
class PartWarp:
    """The ten part transforms and masks of a batch of (source, target) poses, fitted once (:meth:`fit`) and
    applied to feature maps of any stride (``warp(features)``); see the module docstring."""

    affines: torch.Tensor  # (B, 10, 2, 3) float64, target image pixels -> source image pixels
    ok: torch.Tensor  # (B, 10) bool: False where a part falls back to zero features
    masks: PartMasks
    image_size: tuple[int, int]
    mode: str = "nearest"

    @classmethod
    def fit(
        cls,
        source_keypoints: torch.Tensor,
        target_keypoints: torch.Tensor,
        image_size: tuple[int, int],
        mode: str = "nearest",
    ) -> PartWarp:
        """``(B, 18, 2)`` poses in the pixels of an ``image_size = (H, W)`` image; ``mode`` nearest (official) or
        bilinear."""
        if mode not in SAMPLING_MODES:
            raise ValueError(f"warp sampling must be one of {SAMPLING_MODES}, not {mode!r}")
        if source_keypoints.shape != target_keypoints.shape or tuple(source_keypoints.shape[1:]) != (18, 2):
            raise ValueError(
                f"expected (B, 18, 2) source and target keypoints, got {tuple(source_keypoints.shape)} and "
                f"{tuple(target_keypoints.shape)}"
            )
        affines, ok = part_affines(source_keypoints, target_keypoints)
        image_size = (int(image_size[0]), int(image_size[1]))
        return cls(affines, ok, PartMasks.of(target_keypoints, image_size), image_size, mode)

    def weights(self, size: tuple[int, int]) -> torch.Tensor:
        """``(B, 10, h, w)`` float32: each part's mask at that resolution, zero for parts that fall back."""
        return (self.masks.at(size) * self.ok[..., None, None]).float()

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` features of a map spanning the image -> ``(B, C, h, w)``: every part's warped copy times
        its mask, merged by max. Computed in float32 (grid positions need it) and returned in the input's dtype."""
        batch, channels, h, w = features.shape
        if batch != len(self.affines):
            raise ValueError(f"{batch} feature maps for {len(self.affines)} pose pairs")
        grid = affine_sampling_grid(self.affines, self.image_size, (h, w)).to(features.device)
        warped = F.grid_sample(features.float(), grid, mode=self.mode, padding_mode="zeros", align_corners=False)
        warped = warped.view(batch, channels, NUM_PARTS, h, w) * self.weights((h, w)).to(features.device)[:, None]
        return warped.amax(2).to(features.dtype)
