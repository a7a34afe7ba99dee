"""A small layered rasteriser: signed-distance shapes with analytic anti-aliasing, composited in order.

Python describes each layer as a *shape* (a float array, see ``SHAPE_*``) and a *material* (see
``MAT_*``); :func:`draw_layer`, compiled with numba, evaluates it per pixel inside the layer's box.
Coverage is ``clip(0.5 - d, 0, 1)`` for a signed distance ``d`` in pixels, so a layer is exactly 0
more than half a pixel outside its shape and pixels it does not touch are bit-for-bit unchanged.
That is what makes SynthFashion's edit ground truth exact.

Besides the RGB image the canvas keeps two per-pixel region bit fields:

- ``label``: the regions of the top-most layer covering the pixel by at least 50% (annotation masks);
- ``support``: every region whose layers contribute anything visible to the pixel (a layer with full
  coverage hides what is below). It is the exact set of pixels an attribute change can alter.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# ---- shapes: shape[0] is the kind; shape[1] is an offset added to the signed distance
SHAPE_CHAIN = 0.0  # [kind, offset, n_points(2|3), x0,y0,x1,y1,x2,y2, r1, r2, end_cut(px along chain; <0 none)]
SHAPE_POLY = 1.0  # [kind, offset, n, x0, y0, ..., x7, y7]
SHAPE_ELLIPSE = 2.0  # [kind, offset, cx, cy, rx, ry, max_y (<-1e8 none)]
SHAPE_RING = 3.0  # [kind, offset, cx, cy, radius, half_thickness (<0: a disk of that radius)]
SHAPE_BOX = 4.0  # [kind, offset, x0, y0, x1, y1]
SHAPE_SIZE = 20

# ---- materials: mat[0] is the kind
MAT_FLAT = 0.0  # [kind, r, g, b]
MAT_CYLINDER = 1.0  # [kind, r, g, b, strength, gain]   shading across a chain
MAT_TORSO = 2.0  # [kind, main rgb, sec rgb, pattern, unit, ox, oy, v_extent, half, fold_amp,
#                        fold_period, fold_angle, fold_phase, light_dx, gain]
MAT_SLEEVE = 3.0  # [kind, main rgb, sec rgb, pattern, unit, r1_units, length_units, strength, gain]
MAT_BANDS_Y = 4.0  # [kind, r, g, b, y0, period_px, depth]        (zipper teeth)
MAT_RIBBED = 5.0  # [kind, r, g, b, period_px, depth, strength, gain]   (turtleneck)
MAT_SIZE = 24

PATTERNS = ("solid", "horizontal_stripes", "vertical_stripes", "dots", "checks", "gradient")
PATTERN_PERIOD = 0.05  # body units (about 5 px at 64 px)


@njit(cache=True, inline="always")
def _band(value, period, duty, px_per_unit):
    """Anti-aliased square wave: 1 on the first ``duty`` of each period."""
    phase = value - period * math.floor(value / period)
    on = duty * period
    sd = -min(phase, on - phase) if phase < on else min(phase - on, period - phase)
    c = 0.5 - sd * px_per_unit
    return 0.0 if c < 0.0 else (1.0 if c > 1.0 else c)


@njit(cache=True)
def _pattern_mix(pattern, u, v, unit, v_extent):
    p = PATTERN_PERIOD
    if pattern == 0:
        return 0.0
    if pattern == 1:
        return _band(v, p, 0.4, unit)
    if pattern == 2:
        return _band(u, p, 0.4, unit)
    if pattern == 3:
        q = 1.25 * p
        row = math.floor(v / q)
        uu = u + 0.5 * q * (row - 2.0 * math.floor(row / 2.0))
        du = uu - q * math.floor(uu / q) - 0.5 * q
        dv = v - q * math.floor(v / q) - 0.5 * q
        c = 0.5 - (math.sqrt(du * du + dv * dv) - 0.27 * q) * unit
        return 0.0 if c < 0.0 else (1.0 if c > 1.0 else c)
    if pattern == 4:
        q = 1.6 * p
        m = 0.5 * (_band(u, q, 0.5, unit) + _band(v, q, 0.5, unit))
        return m * m
    t = v / v_extent if v_extent > 1e-6 else 0.0
    return 0.75 * (0.0 if t < 0.0 else (1.0 if t > 1.0 else t))


@njit(cache=True)
def _seg(px, py, ax, ay, bx, by):
    """Distance to a segment, position along it (px from a, unclamped) and signed side offset."""
    dx = bx - ax
    dy = by - ay
    length = math.sqrt(dx * dx + dy * dy)
    if length < 1e-9:
        length = 1e-9
    ux = dx / length
    uy = dy / length
    qx = px - ax
    qy = py - ay
    along = qx * ux + qy * uy
    t = along if along > 0.0 else 0.0
    if t > length:
        t = length
    ex = qx - t * ux
    ey = qy - t * uy
    return math.sqrt(ex * ex + ey * ey), along, qx * uy - qy * ux, length


@njit(cache=True)
def _poly_sd(px, py, s, base, n):
    """Signed distance to a convex polygon (exact inside, max of edge distances outside)."""
    area2 = 0.0
    for i in range(n):
        j = (i + 1) % n
        area2 += s[base + 2 * i] * s[base + 2 * j + 1] - s[base + 2 * j] * s[base + 2 * i + 1]
    orient = 1.0 if area2 > 0 else -1.0
    sd = -1e30
    for i in range(n):
        j = (i + 1) % n
        x0 = s[base + 2 * i]
        y0 = s[base + 2 * i + 1]
        ex = s[base + 2 * j] - x0
        ey = s[base + 2 * j + 1] - y0
        inv = orient / max(math.sqrt(ex * ex + ey * ey), 1e-9)
        d = ((px - x0) * ey - (py - y0) * ex) * inv
        if d > sd:
            sd = d
    return sd


@njit(cache=True)
def draw_layers(image, label, support, boxes, shapes, clips, holes, materials, bits):
    """Draw every layer in order; ``boxes[i] = (y0, y1, x0, x1)``."""
    for i in range(boxes.shape[0]):
        draw_layer(
            image,
            label,
            support,
            boxes[i, 0],
            boxes[i, 1],
            boxes[i, 2],
            boxes[i, 3],
            shapes[i],
            clips[i],
            holes[i],
            materials[i],
            bits[i],
        )


@njit(cache=True)
def _shape_sd(px, py, shape):
    """Signed distance (px) of a shape, plus chain coordinates (along in px, across in radii)."""
    kind = shape[0]
    along = 0.0
    across = 0.0
    if kind == SHAPE_CHAIN:
        n = int(shape[2])
        d1, a1, s1, l1 = _seg(px, py, shape[3], shape[4], shape[5], shape[6])
        sd = d1 - shape[9]
        along = a1
        across = s1 / shape[9]
        cut = shape[11]
        if n == 3:
            d2, a2, s2, l2 = _seg(px, py, shape[5], shape[6], shape[7], shape[8])
            sd2 = d2 - shape[10]
            if cut >= 0.0:
                sd2 = max(sd2, a2 - (cut - l1), -a2 - shape[9])  # flat end; no bulge behind the joint
                sd = max(sd, a1 - cut)
            if sd2 < sd:
                sd = sd2
                along = l1 + a2
                across = s2 / shape[10]
        elif cut >= 0.0:
            sd = max(sd, a1 - cut)
    elif kind == SHAPE_POLY:
        sd = _poly_sd(px, py, shape, 3, int(shape[2]))
    elif kind == SHAPE_ELLIPSE:
        u = (px - shape[2]) / shape[4]
        v = (py - shape[3]) / shape[5]
        sd = max((math.sqrt(u * u + v * v) - 1.0) * min(shape[4], shape[5]), py - shape[6])
    elif kind == SHAPE_RING:
        r = math.sqrt((px - shape[2]) ** 2 + (py - shape[3]) ** 2)
        sd = r - shape[4] if shape[5] < 0 else abs(r - shape[4]) - shape[5]
    else:  # SHAPE_BOX
        sd = max(max(shape[2] - px, px - shape[4]), max(shape[3] - py, py - shape[5]))
    return sd + shape[1], along, across


@njit(cache=True)
def draw_layer(image, label, support, y0, y1, x0, x1, shape, clip, hole, material, bits):
    """Composite one layer into ``image`` (H, W, 3 float32) inside [y0, y1) x [x0, x1).

    ``clip`` is a convex polygon ``[n, x0, y0, ...]`` the shape is intersected with (n = 0: none);
    ``hole`` is a shape cut out of it (kind < 0: none). Returns the number of pixels touched.
    """
    touched = 0
    for y in range(y0, y1):
        py = y + 0.5
        for x in range(x0, x1):
            px = x + 0.5
            sd, along, across = _shape_sd(px, py, shape)
            if clip[0] > 0:
                sd = max(sd, _poly_sd(px, py, clip, 1, int(clip[0])))
            if hole[0] >= 0:
                sd = max(sd, -_shape_sd(px, py, hole)[0])
            cov = 0.5 - sd
            if cov <= 0.0:
                continue
            if cov > 1.0:
                cov = 1.0
            touched += 1
            # ---- material
            mk = material[0]
            r = material[1]
            g = material[2]
            b = material[3]
            if mk == MAT_CYLINDER:
                a = min(1.0, max(-1.0, across))
                sh = (1.0 - material[4] * a * a) * material[5]
                r *= sh
                g *= sh
                b *= sh
            elif mk == MAT_TORSO:
                unit = material[8]
                u = (px - material[9]) / unit
                v = (py - material[10]) / unit
                m = _pattern_mix(int(material[7]), u, v, unit, material[11])
                half = material[12]
                uc = min(1.2, max(-1.2, u / half))
                ca = math.cos(material[15])
                sa = math.sin(material[15])
                sh = 1.0 - 0.16 * uc * uc
                sh *= 1.0 + material[13] * math.sin(2.0 * math.pi * (u * ca + v * sa) / material[14] + material[16])
                sh *= (1.0 + material[17] * u / half) * material[18]
                r = (r * (1.0 - m) + material[4] * m) * sh
                g = (g * (1.0 - m) + material[5] * m) * sh
                b = (b * (1.0 - m) + material[6] * m) * sh
            elif mk == MAT_SLEEVE:
                unit = material[8]
                a = min(1.0, max(-1.0, across))
                m = _pattern_mix(int(material[7]), a * material[9], along / unit, unit, material[10])
                sh = (1.0 - material[11] * a * a) * material[12]
                r = (r * (1.0 - m) + material[4] * m) * sh
                g = (g * (1.0 - m) + material[5] * m) * sh
                b = (b * (1.0 - m) + material[6] * m) * sh
            elif mk == MAT_BANDS_Y:
                t = 1.0 - material[6] * _band(py - material[4], material[5], 0.5, 1.0)
                r *= t
                g *= t
                b *= t
            elif mk == MAT_RIBBED:
                a = min(1.0, max(-1.0, across))
                t = (1.0 - material[5] * _band(px, material[4], 0.5, 1.0)) * (1.0 - material[6] * a * a)
                t *= material[7]
                r *= t
                g *= t
                b *= t
            r = min(1.0, max(0.0, r))
            g = min(1.0, max(0.0, g))
            b = min(1.0, max(0.0, b))
            keep = 1.0 - cov
            # out = img * (1 - c) + c * colour: exact for c == 0 and c == 1
            image[y, x, 0] = image[y, x, 0] * keep + cov * r
            image[y, x, 1] = image[y, x, 1] * keep + cov * g
            image[y, x, 2] = image[y, x, 2] * keep + cov * b
            if cov >= 0.5:
                label[y, x] = bits
            if cov >= 1.0:
                support[y, x] = bits
            else:
                support[y, x] |= bits
    return touched


# Layer parameters are plain lists of floats (cheap to build); Canvas.flush makes one array per image.
Params = list


def _flat_points(points) -> list[float]:
    out: list[float] = []
    for p in points:
        out.append(float(p[0]))
        out.append(float(p[1]))
    return out


def new_shape(kind: float, *values: float, offset: float = 0.0) -> Params:
    s = [kind, float(offset), *map(float, values)]
    return s + [0.0] * (SHAPE_SIZE - len(s))


def chain(points, r1: float, r2: float | None = None, end_cut: float = -1.0, offset: float = 0.0) -> Params:
    """A capsule chain through 2 or 3 (x, y) points with radii r1 (first segment) and r2 (second);
    ``end_cut`` >= 0 cuts it flat at that arc length (px) from the first point."""
    pts = _flat_points(points)
    n = len(pts) // 2
    pts += [0.0] * (6 - len(pts))
    return new_shape(SHAPE_CHAIN, n, *pts, r1, r1 if r2 is None else r2, end_cut, offset=offset)


def polygon(points, offset: float = 0.0) -> Params:
    pts = _flat_points(points)
    if not 3 <= len(pts) // 2 <= 8:
        raise ValueError("a polygon has 3 to 8 points")
    return new_shape(SHAPE_POLY, len(pts) // 2, *pts, offset=offset)


def ellipse(cx, cy, rx, ry, max_y: float = 1e9) -> Params:
    return new_shape(SHAPE_ELLIPSE, cx, cy, rx, ry, max_y)


def ring(cx, cy, radius, half_thickness: float = -1.0) -> Params:
    return new_shape(SHAPE_RING, cx, cy, radius, half_thickness)


def box(x0, y0, x1, y1) -> Params:
    return new_shape(SHAPE_BOX, x0, y0, x1, y1)


def clip_polygon(points) -> Params:
    pts = _flat_points(points)
    return [float(len(pts) // 2), *pts] + [0.0] * (16 - len(pts))


NO_CLIP = [0.0] * 17
NO_HOLE = [-1.0] * SHAPE_SIZE


def material(kind: float, *values: float) -> Params:
    m = [kind, *map(float, values)]
    return m + [0.0] * (MAT_SIZE - len(m))


def flat(rgb) -> Params:
    return material(MAT_FLAT, *rgb)


def shape_extent(shape: Params) -> tuple[float, float, float, float]:
    """Bounding extent (x0, y0, x1, y1) in pixels of a shape (before clipping)."""
    v = shape
    kind, offset = v[0], v[1]
    pad = max(0.0, -offset)
    if kind in (SHAPE_CHAIN, SHAPE_POLY):
        n = int(v[2])
        xs, ys = v[3 : 3 + 2 * n : 2], v[4 : 4 + 2 * n : 2]
        r = (max(v[9], v[10]) if kind == SHAPE_CHAIN else 0.0) + pad
        return min(xs) - r, min(ys) - r, max(xs) + r, max(ys) + r
    if kind == SHAPE_ELLIPSE:
        cx, cy, rx, ry, max_y = v[2:7]
        return cx - rx - pad, cy - ry - pad, cx + rx + pad, min(cy + ry, max_y) + pad
    if kind == SHAPE_RING:
        cx, cy, r, t = v[2:6]
        rr = r + max(t, 0.0) + pad
        return cx - rr, cy - rr, cx + rr, cy + rr
    return v[2] - pad, v[3] - pad, v[4] + pad, v[5] + pad


class Canvas:
    """RGB float image plus region bit fields; see the module docstring.

    Layers are queued with :meth:`draw` and rasterised together by :meth:`flush` (one compiled call).
    """

    def __init__(self, height: int, width: int):
        self.h = height
        self.w = width
        self.image = np.zeros((height, width, 3), np.float32)
        self.label = np.zeros((height, width), np.uint8)
        self.support = np.zeros((height, width), np.uint8)
        self._boxes: list[tuple[int, int, int, int]] = []
        self._shapes: list[Params] = []
        self._clips: list[Params] = []
        self._holes: list[Params] = []
        self._materials: list[Params] = []
        self._bits: list[int] = []

    def draw(
        self, shape: Params, mat: Params, bits: int, clip: Params | None = None, hole: Params | None = None
    ) -> None:
        """Queue one layer (drawn in queue order by :meth:`flush`), optionally intersected with a convex
        ``clip`` polygon and with a ``hole`` shape cut out of it."""
        x0, y0, x1, y1 = shape_extent(shape)
        if clip is not None:
            n = int(clip[0])
            cx, cy = clip[1 : 1 + 2 * n : 2], clip[2 : 2 + 2 * n : 2]
            x0, y0 = max(x0, min(cx)), max(y0, min(cy))
            x1, y1 = min(x1, max(cx)), min(y1, max(cy))
        iy0, iy1 = max(0, int(math.floor(y0 - 1.5))), min(self.h, int(math.ceil(y1 + 1.5)))
        ix0, ix1 = max(0, int(math.floor(x0 - 1.5))), min(self.w, int(math.ceil(x1 + 1.5)))
        if iy1 <= iy0 or ix1 <= ix0:
            return
        self._boxes.append((iy0, iy1, ix0, ix1))
        self._shapes.append(shape)
        self._clips.append(NO_CLIP if clip is None else clip)
        self._holes.append(NO_HOLE if hole is None else hole)
        self._materials.append(mat)
        self._bits.append(bits)

    def flush(self) -> None:
        """Rasterise the queued layers."""
        if not self._boxes:
            return
        draw_layers(
            self.image,
            self.label,
            self.support,
            np.array(self._boxes, np.int64),
            np.array(self._shapes),
            np.array(self._clips),
            np.array(self._holes),
            np.array(self._materials),
            np.array(self._bits, np.uint8),
        )
        self._boxes, self._shapes, self._clips, self._holes, self._materials, self._bits = [], [], [], [], [], []


#: A fixed table of standard-normal samples; each image reads it from its own offset with its own
#: odd stride, so noise is deterministic per (seed, size) and costs one load per value.
NOISE_TABLE_BITS = 20
NOISE_TABLE = np.random.default_rng(20261124).standard_normal(1 << NOISE_TABLE_BITS).astype(np.float32)


@njit(cache=True)
def finish_image(image, table, offset, stride, sigma):
    """Add table noise times ``sigma`` (0: none) and quantise to uint8."""
    h, w, c = image.shape
    flat_in = image.reshape(h * w * c)
    out = np.empty(h * w * c, np.uint8)
    mask = table.shape[0] - 1
    idx = offset & mask
    s = np.float32(sigma)
    for i in range(h * w * c):
        v = flat_in[i] + s * table[idx]
        idx = (idx + stride) & mask
        v = min(np.float32(1.0), max(np.float32(0.0), v))
        out[i] = int(v * np.float32(255.0) + np.float32(0.5))
    return out.reshape(h, w, c)


@njit(cache=True)
def fill_background(image, kind, c1, c2, angle, grid):
    """kind 0 flat, 1 gradient (vertical, tilted by ``angle``), 2 texture (bilinear-smoothed blotches
    from the (g, g) ``grid`` of values in [0, 1], times a faint weave)."""
    h, w, _ = image.shape
    g = grid.shape[0]
    for y in range(h):
        fy = (y + 0.5) / h
        for x in range(w):
            fx = (x + 0.5) / w
            if kind == 0:
                t = 0.0
                weave = 1.0
            elif kind == 1:
                t = fy + angle * (fx - 0.5)
                t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)
                weave = 1.0
            else:
                gx = fx * (g - 1)
                gy = fy * (g - 1)
                ix = min(int(gx), g - 2)
                iy = min(int(gy), g - 2)
                ax = gx - ix
                ay = gy - iy
                ax = ax * ax * (3.0 - 2.0 * ax)
                ay = ay * ay * (3.0 - 2.0 * ay)
                top = grid[iy, ix] * (1.0 - ax) + grid[iy, ix + 1] * ax
                bot = grid[iy + 1, ix] * (1.0 - ax) + grid[iy + 1, ix + 1] * ax
                t = top * (1.0 - ay) + bot * ay
                weave = 1.0 + 0.04 * math.sin(fx * w * 0.9) * math.sin(fy * h * 0.9)
            for k in range(3):
                v = (c1[k] * (1.0 - t) + c2[k] * t) * weave
                image[y, x, k] = 0.0 if v < 0.0 else (1.0 if v > 1.0 else v)
