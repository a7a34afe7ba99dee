"""Resize geometry: where a source image of (h, w) pixels lands in a target frame of (th, tw) pixels.

The one description of ``fit`` / ``crop`` / ``stretch`` used by every resize in fashionlab (images, masks,
tensors), by keypoints that follow the image and by the paste-back of edits:

``fit``
    scale by ``min(th / h, tw / w)``, centre in the frame, pad the rest (white for images, 0 for masks);
``crop``
    scale by ``max(th / h, tw / w)`` and keep the centre ``th x tw`` window;
``stretch``
    scale x and y separately to fill the frame.

The scaled size is rounded (``round(h * s)``, at least the frame's size for ``crop`` and 1 for ``fit``) and
the offset is an integer (``(tw - nw) // 2``), so the scaled image is placed on whole pixels.

Coordinates. Points are ``[x, y]`` pixel positions with pixel ``i`` centred on ``i`` (the keypoint
convention of :mod:`fashionlab.data.keypoints`); in continuous terms pixel ``i`` covers ``[i - 0.5, i + 0.5)``
and the image's edges are at ``-0.5`` and ``w - 0.5``. A resize to the scaled size maps edges to edges,
which is what PIL's ``BILINEAR`` and torch's ``interpolate(..., align_corners=False)`` do, so a point moves
as ``x' = (x + 0.5) * nw / w - 0.5 + ox``: a point on a source pixel's centre lands where the resized image
puts that pixel's content. Missing points (``-1`` in either coordinate) stay ``[-1, -1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

RESIZE_MODES = ("fit", "crop", "stretch")

#: The coordinate value that marks a missing point (both coordinates are set to it).
MISSING = -1.0

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Placement:
    """A source of ``h x w`` pixels resized to ``nh x nw`` and put at ``(ox, oy)`` (top-left corner, negative
    for a crop) in a ``th x tw`` frame. Make one with :meth:`of`."""

    h: int
    w: int
    th: int
    tw: int
    mode: str
    nh: int
    nw: int
    ox: int
    oy: int

    @classmethod
    def of(cls, source: tuple[int, int], target: tuple[int, int], mode: str = "fit") -> Placement:
        """The placement of a ``source=(h, w)`` image in a ``target=(th, tw)`` frame resized with ``mode``."""
        if mode not in RESIZE_MODES:
            raise InputError(f"unknown resize mode {mode!r}; valid: {', '.join(RESIZE_MODES)}", field="resize")
        (h, w), (th, tw) = (int(v) for v in source), (int(v) for v in target)
        if min(h, w, th, tw) < 1:
            raise InputError(f"cannot resize a {w}x{h} image to {tw}x{th}", field="size")
        if mode == "stretch":
            nh, nw = th, tw
        elif mode == "crop":
            s = max(th / h, tw / w)
            nh, nw = max(th, round(h * s)), max(tw, round(w * s))
        else:
            s = min(th / h, tw / w)
            nh, nw = max(1, round(h * s)), max(1, round(w * s))
        # fit: (tw - nw) // 2 >= 0 pads; crop: -((nw - tw) // 2) <= 0 crops; stretch: 0
        ox = (tw - nw) // 2 if nw <= tw else -((nw - tw) // 2)
        oy = (th - nh) // 2 if nh <= th else -((nh - th) // 2)
        return cls(h, w, th, tw, mode, nh, nw, ox, oy)

    @property
    def unchanged(self) -> bool:
        """Whether the source already has the frame's size (every mode then leaves it as it is)."""
        return (self.h, self.w) == (self.th, self.tw)

    @property
    def scaled(self) -> tuple[int, int]:
        """``(nh, nw)``: the size the whole source is resized to."""
        return self.nh, self.nw

    @property
    def scale(self) -> tuple[float, float]:
        """``(sx, sy)``: target pixels per source pixel along x and y (of the rounded scaled size)."""
        return self.nw / self.w, self.nh / self.h

    @property
    def target_box(self) -> Box:
        """``(x0, y0, x1, y1)``: the part of the frame the source covers (all of it unless ``fit`` pads)."""
        return max(self.ox, 0), max(self.oy, 0), min(self.ox + self.nw, self.tw), min(self.oy + self.nh, self.th)

    @property
    def window(self) -> Box:
        """``(x0, y0, x1, y1)``: the same part in the scaled image (all of it unless ``crop`` cuts)."""
        x0, y0, x1, y1 = self.target_box
        return x0 - self.ox, y0 - self.oy, x1 - self.ox, y1 - self.oy

    @property
    def source_box(self) -> Box:
        """``(x0, y0, x1, y1)``: the same part in the source (all of it unless ``crop`` cuts): the window's edges
        mapped back exactly (through the rounded scaled size, as the pixels went) and rounded to whole pixels,
        at least one pixel wide and tall. (Before issue #14 ``crop`` mapped them back with the unrounded scale:
        up to half a target pixel off.)"""
        sx, sy = self.scale
        wx0, wy0, wx1, wy1 = self.window
        x0, y0 = min(round(wx0 / sx), self.w - 1), min(round(wy0 / sy), self.h - 1)
        return x0, y0, max(round(wx1 / sx), x0 + 1), max(round(wy1 / sy), y0 + 1)

    @property
    def padded(self) -> bool:
        """Whether part of the frame is padding (``fit`` to another aspect)."""
        return self.target_box != (0, 0, self.tw, self.th)

    def to_target(self, points):
        """Source ``[..., (x, y)]`` points (a numpy array, a tensor or nested lists) in the target frame, as a
        float array (float64) or a tensor of the input's float type. Missing points stay missing; points
        cropped away lie outside the frame (callers decide what that means)."""
        return self._map(points, forward=True)

    def to_source(self, points):
        """The inverse of :meth:`to_target`: target-frame points in the source's pixels."""
        return self._map(points, forward=False)

    def _map(self, points, forward: bool):
        scale, offset = self.scale, (self.ox, self.oy)
        if hasattr(points, "detach"):  # a torch tensor: stay on its device, in its float type
            pts = points if points.is_floating_point() else points.float()
            scale, offset = pts.new_tensor(scale), pts.new_tensor(offset)
        else:
            pts = np.array(points, dtype=np.float64)
            scale, offset = np.asarray(scale), np.asarray(offset, np.float64)
        missing = (pts[..., 0] == MISSING) | (pts[..., 1] == MISSING)
        out = (pts + 0.5) * scale - 0.5 + offset if forward else (pts + 0.5 - offset) / scale - 0.5
        out[missing] = MISSING
        return out
