"""Pose keypoints as the pose-transfer papers (PATN, XingGAN) use them.

A pose is an ``(18, 2)`` float array of ``[x, y]`` pixel positions in the order of
:data:`fashionlab.data.format.KEYPOINT_NAMES` (the OpenPose order of the papers' annotation files), with
``[-1, -1]`` for a missing point, exactly as ``fashionlab.synth.figure.Figure.keypoints`` and the dataset
format's ``items.jsonl`` store them. As in the official code, a point counts as missing when either of its
coordinates equals -1.

The generators see a pose as 18 heatmaps (the official ``cords_to_map``): channel ``k`` at pixel (x, y) is
``exp(-((x - kx)^2 + (y - ky)^2) / (2 sigma^2))`` with sigma 6, on the integer pixel grid, and all zero
for a missing point.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..fileio import atomic_write_text
from .format import KEYPOINT_NAMES, NUM_KEYPOINTS
from .geometry import MISSING

__all__ = [
    "KEYPOINT_NAMES",
    "MISSING",
    "NUM_KEYPOINTS",
    "heatmaps_torch",
    "keypoints_to_heatmaps",
    "load_keypoints_json",
    "missing_mask",
    "save_keypoints_json",
]

SIGMA = 6.0


#: The head points of the official PCKh (``PARTS_SEL``): nose, neck, Leye, Reye, Lear, Rear.
HEAD_POINTS = (0, 1, 14, 15, 16, 17)


def missing_mask(keypoints: np.ndarray) -> np.ndarray:
    """Boolean ``(..., 18)``: True where a keypoint is missing (either coordinate equal to -1)."""
    kps = np.asarray(keypoints)
    return (kps[..., 0] == MISSING) | (kps[..., 1] == MISSING)


def _check_shape(kps: np.ndarray, batched: bool) -> None:
    want = "(N, 18, 2)" if batched else "(18, 2)"
    ndim = 3 if batched else 2
    if kps.ndim != ndim or kps.shape[-2:] != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must have shape {want}, got {tuple(kps.shape)}")


def keypoints_to_heatmaps(keypoints: np.ndarray, height: int, width: int, sigma: float = SIGMA) -> np.ndarray:
    """The 18 Gaussian pose heatmaps ``(18, height, width)`` float32 of one ``(18, 2)`` ``[x, y]`` pose.

    Channel ``k`` holds ``exp(-((x - kx)^2 + (y - ky)^2) / (2 sigma^2))`` at integer pixel ``(x, y)``
    (peak 1 at a keypoint that lies on a pixel centre); a missing keypoint gives an all-zero channel.
    Computed in float64, then cast."""
    kps = np.asarray(keypoints, dtype=np.float64)
    _check_shape(kps, batched=False)
    xs = np.arange(width, dtype=np.float64)[None, None, :]
    ys = np.arange(height, dtype=np.float64)[None, :, None]
    d2 = (xs - kps[:, 0, None, None]) ** 2 + (ys - kps[:, 1, None, None]) ** 2
    maps = np.exp(-d2 / (2.0 * sigma**2))
    maps[missing_mask(kps)] = 0.0
    return maps.astype(np.float32)


def heatmaps_torch(keypoints: torch.Tensor, height: int, width: int, sigma: float = SIGMA) -> torch.Tensor:
    """Batched :func:`keypoints_to_heatmaps` for use on the fly in training: ``(B, 18, 2)`` -> ``(B, 18, H, W)``
    (or ``(18, 2)`` -> ``(18, H, W)``), on the keypoints' device, float32 unless the keypoints are float64.

    Vectorised and separable: the Gaussian is the outer product of a row profile and a column profile, so
    the cost is one multiply per output value."""
    kps = torch.as_tensor(keypoints)
    single = kps.dim() == 2
    if single:
        kps = kps[None]
    if kps.dim() != 3 or tuple(kps.shape[1:]) != (NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints must have shape (B, 18, 2) or (18, 2), got {tuple(keypoints.shape)}")
    dtype = torch.float64 if kps.dtype == torch.float64 else torch.float32
    kps = kps.to(dtype)
    scale = -1.0 / (2.0 * sigma**2)
    xs = torch.arange(width, device=kps.device, dtype=dtype)
    ys = torch.arange(height, device=kps.device, dtype=dtype)
    kx, ky = kps[..., 0], kps[..., 1]  # (B, 18)
    visible = ((kx != MISSING) & (ky != MISSING)).to(dtype)
    gx = torch.exp((xs - kx[..., None]) ** 2 * scale) * visible[..., None]  # (B, 18, W)
    gy = torch.exp((ys - ky[..., None]) ** 2 * scale)  # (B, 18, H)
    maps = gy[..., :, None] * gx[..., None, :]
    return maps[0] if single else maps


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _parse_point(
    p: object, i: int, path: Path | None, image_size: tuple[int, int] | None, prefix: str = "points"
) -> tuple[float, float]:
    field = f"{prefix}[{i}]"
    name = KEYPOINT_NAMES[i]
    if p is None:
        return MISSING, MISSING
    if not isinstance(p, list) or len(p) != 2 or not all(_is_number(v) for v in p):
        raise InputError(f"keypoint {i} ({name}): expected [x, y] (two numbers) or null, got {p!r}", path, field=field)
    x, y = float(p[0]), float(p[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputError(f"keypoint {i} ({name}): coordinates must be finite numbers, got {p!r}", path, field=field)
    if x == MISSING and y == MISSING:
        return MISSING, MISSING  # the dataset format's spelling of "missing" is accepted too
    if x < 0 or y < 0:
        raise InputError(
            f"keypoint {i} ({name}): negative coordinate in {p!r} (write null for a missing point)", path, field=field
        )
    if image_size is not None:
        h, w = image_size
        if x >= w or y >= h:
            raise InputError(
                f"keypoint {i} ({name}): [{x:g}, {y:g}] lies outside the {h}x{w} image "
                f"(need 0 <= x < {w} and 0 <= y < {h})",
                path,
                field=field,
            )
    return x, y


def load_keypoints_json(path: str | Path, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read one pose from a JSON file: a list of 18 points in the order of ``KEYPOINT_NAMES``, each
    ``[x, y]`` in pixels or ``null`` (missing; ``[-1, -1]`` is read as missing too).

    Returns an ``(18, 2)`` float32 array with ``-1`` for missing points. With ``image_size=(H, W)`` every
    point must satisfy ``0 <= x < W`` and ``0 <= y < H``. Any problem (unreadable file, malformed JSON, not
    a list of 18, a point that is not two finite non-negative numbers, a point outside the image) raises
    :class:`~fashionlab.errors.InputError` naming the file and the field (``points`` or ``points[i]``)."""
    path = Path(path)
    if image_size is not None and (len(image_size) != 2 or min(image_size) <= 0):
        raise ValueError(f"image_size must be (height, width) > 0, got {image_size!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such keypoints file", path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the keypoints file: {e}", path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON: {e.msg} (line {e.lineno}, column {e.colno})", path, e.lineno) from None
    return parse_keypoints(data, image_size, path=path)


def parse_keypoints(
    data: object, image_size: tuple[int, int] | None = None, *, path: Path | None = None, field: str = "points"
) -> np.ndarray:
    """One pose from parsed JSON (a list of 18 ``[x, y]`` or ``null``, see :func:`load_keypoints_json`) as
    an ``(18, 2)`` float32 array with ``-1`` for missing points; errors name ``path`` (if any) and
    ``field[i]``."""
    if not isinstance(data, list) or len(data) != NUM_KEYPOINTS:
        got = f"a list of {len(data)}" if isinstance(data, list) else f"a JSON {type(data).__name__}"
        raise InputError(
            f"expected a list of {NUM_KEYPOINTS} points ([x, y] or null, in the order "
            f"{', '.join(KEYPOINT_NAMES)}), got {got}",
            path,
            field=field,
        )
    return np.array([_parse_point(p, i, path, image_size, field) for i, p in enumerate(data)], dtype=np.float32)


def save_keypoints_json(path: str | Path, keypoints: np.ndarray) -> Path:
    """Write one ``(18, 2)`` ``[x, y]`` pose as the JSON list :func:`load_keypoints_json` reads, with
    ``null`` for missing points (either coordinate -1); written atomically. Returns the path."""
    kps = np.asarray(keypoints, dtype=np.float64)
    _check_shape(kps, batched=False)
    missing = missing_mask(kps)
    if not np.isfinite(kps[~missing]).all():
        raise ValueError("keypoints must be finite (use -1 for a missing point)")

    def num(v: float) -> int | float:
        return int(v) if float(v).is_integer() else float(v)

    points = [None if missing[i] else [num(kps[i, 0]), num(kps[i, 1])] for i in range(NUM_KEYPOINTS)]
    text = "[\n" + ",\n".join("  " + json.dumps(p) for p in points) + "\n]\n"
    return atomic_write_text(path, text)
