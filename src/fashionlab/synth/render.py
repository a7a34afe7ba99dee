"""SynthFashion's renderer: ``render(seed, attributes, pose)`` -> image, region masks, keypoints.

Deterministic from (seed, attributes, pose, size, framing). Guarantees (tested in tests/test_synth.py):

- changing one garment attribute changes only pixels inside that attribute's region in either render
  (``Rendering.support`` bits; the 50%-coverage annotation masks dilated by one pixel also contain it);
- changing the pose keeps the person, the garment, the background and the noise, and moves the joints.

The figure is a layered 2-D drawing (see :mod:`.raster`), evaluated per layer inside its bounding box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .attributes import ATTRIBUTE_REGION, ATTRIBUTES, COLOR_RGB, MASK_BITS, luminance, validate_attributes
from .figure import FRAMINGS, Identity, Pose, Skeleton, build_skeleton
from .raster import (
    MAT_BANDS_Y,
    MAT_CYLINDER,
    MAT_RIBBED,
    MAT_SLEEVE,
    MAT_TORSO,
    NOISE_TABLE,
    PATTERNS,
    Canvas,
    box,
    chain,
    clip_polygon,
    ellipse,
    fill_background,
    finish_image,
    flat,
    material,
    polygon,
    ring,
)

B_PERSON = 1 << MASK_BITS["person"]
B_GARMENT = 1 << MASK_BITS["garment"]
B_TORSO = 1 << MASK_BITS["torso"]
B_LSLEEVE = 1 << MASK_BITS["left_sleeve"]
B_RSLEEVE = 1 << MASK_BITS["right_sleeve"]
B_COLLAR = 1 << MASK_BITS["collar"]
B_FASTENING = 1 << MASK_BITS["fastening"]

#: region name -> mask bits (a region may span several bits, e.g. "sleeves").
REGION_BITS: dict[str, int] = {
    **{name: 1 << bit for name, bit in MASK_BITS.items()},
    "sleeves": B_LSLEEVE | B_RSLEEVE,
}


@dataclass
class Rendering:
    """A rendered figure. ``mask`` holds the annotation region bits (see ``MASK_BITS``), ``support``
    the exact bits of every region that contributes to a pixel (for ground-truth checks)."""

    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) uint8 region bits (top layer with >= 50% coverage)
    support: np.ndarray  # (H, W) uint8 region bits (any visible contribution)
    keypoints: np.ndarray  # (18, 2) float32 x, y; -1 where not visible
    attributes: dict[str, str]
    regions: dict[str, dict[str, str]] = field(default_factory=dict)
    pose: Pose = field(default_factory=Pose)
    seed: int = 0

    def region_mask(self, region: str, *, exact: bool = False) -> np.ndarray:
        """Boolean mask of a region (``person``, ``garment``, ``torso``, ``left_sleeve``,
        ``right_sleeve``, ``sleeves``, ``collar``, ``fastening``)."""
        if region not in REGION_BITS:
            raise InputError(f"unknown region {region!r}; valid: {', '.join(REGION_BITS)}", field="region")
        bits = self.support if exact else self.mask
        return (bits & REGION_BITS[region]) != 0


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if h < 16 or w < 16 or h > 1024 or w > 1024:
        raise InputError(f"image size {h}x{w} out of range (16..1024 per side)", field="size")
    return h, w


def garment_colors(base: str, jitter: tuple[float, float, float]) -> tuple[tuple, tuple]:
    """Main and secondary (pattern) colour of a garment colour name."""
    main = tuple(min(1.0, max(0.0, c + j)) for c, j in zip(COLOR_RGB[base], jitter, strict=True))
    secondary = (0.10, 0.11, 0.16) if luminance(main) > 0.5 else (0.93, 0.93, 0.90)
    return main, secondary


class _Scene:
    """One render in progress: identity, skeleton, canvas, and the layer-drawing steps."""

    def __init__(
        self,
        seed: int,
        attrs: dict[str, str],
        regions: dict[str, dict[str, str]],
        pose: Pose,
        size: tuple[int, int],
        framing: str,
    ):
        self.h, self.w = size
        self.attrs = attrs
        self.ident = Identity.sample(seed)
        self.pose = pose
        self.sk: Skeleton = build_skeleton(self.ident, pose, self.h, self.w, framing)
        self.canvas = Canvas(self.h, self.w)
        self.u = self.sk.unit
        sleeve_attrs = {**attrs, **regions.get("sleeves", {})}
        self.torso_color = garment_colors(attrs["color"], self.ident.color_jitter)
        self.sleeve_color = garment_colors(sleeve_attrs["color"], self.ident.color_jitter)
        self.torso_pattern = PATTERNS.index(attrs["pattern"])
        self.sleeve_pattern = PATTERNS.index(sleeve_attrs["pattern"])
        self.seed = seed
        self.gain = self.ident.light_gain
        self.torso_clip = clip_polygon(self.torso_polygon())

    def lit(self, rgb, factor: float = 1.0) -> list[float]:
        f = factor * self.gain
        return [min(1.0, max(0.0, float(c) * f)) for c in rgb]

    def cylinder(self, rgb, strength: float = 0.22) -> list[float]:
        return material(MAT_CYLINDER, *rgb, strength, self.gain)

    # ---------------------------------------------------------------- background
    def background(self) -> None:
        idn = self.ident
        kind = ("flat", "gradient", "texture").index(idn.background)
        grid = np.array(idn.texture).reshape(6, 6)
        fill_background(self.canvas.image, kind, np.array(idn.bg_color1), np.array(idn.bg_color2), idn.bg_angle, grid)

    # ---------------------------------------------------------------- figure parts
    def trousers(self) -> None:
        sk, u, idn = self.sk, self.u, self.ident
        hip_y = sk.hips[0][1]
        pelvis = [
            (sk.hips[0][0] - 0.045 * u, hip_y - 0.03 * u),
            (sk.hips[1][0] + 0.045 * u, hip_y - 0.03 * u),
            (sk.hips[1][0] + 0.05 * u, hip_y + 0.07 * u),
            (sk.hips[0][0] - 0.05 * u, hip_y + 0.07 * u),
        ]
        self.canvas.draw(polygon(pelvis), flat(self.lit(idn.trouser)), B_PERSON)
        for i in range(2):
            self.canvas.draw(
                chain([sk.hips[i], sk.knees[i], sk.ankles[i]], 0.052 * idn.width * u, 0.043 * idn.width * u),
                self.cylinder(idn.trouser),
                B_PERSON,
            )
            ax, ay = sk.ankles[i]
            side = -1 if i == 0 else 1
            self.canvas.draw(
                ellipse(ax + side * 0.012 * u, ay + 0.02 * u, 0.045 * u, 0.022 * u), flat(self.lit(idn.shoe)), B_PERSON
            )

    def torso_polygon(self) -> np.ndarray:
        sk, u = self.sk, self.u
        sh, hh = sk.shoulder_half, sk.hip_half
        hem = (sk.hem_y - sk.neck[1]) / u
        pts = [
            (-(sh + 0.014), 0.02),
            (-sh * 0.32, -0.006),
            (sh * 0.32, -0.006),
            (sh + 0.014, 0.02),
            (hh + 0.032, hem),
            (-(hh + 0.032), hem),
        ]
        return np.array([sk.px(x, y) for x, y in pts])

    def torso(self, hole: list | None) -> None:
        sk, u, idn = self.sk, self.u, self.ident
        main, sec = self.torso_color
        mat = material(
            MAT_TORSO,
            *main,
            *sec,
            self.torso_pattern,
            u,
            sk.neck[0] + sk.center_shift * u,
            sk.neck[1],
            (sk.hem_y - sk.neck[1]) / u,
            sk.hip_half + 0.03,
            idn.fold_amp,
            idn.fold_period,
            idn.fold_angle,
            idn.fold_phase,
            idn.light_dx,
            self.gain,
        )
        self.canvas.draw(polygon(self.torso_polygon()), mat, B_PERSON | B_GARMENT | B_TORSO, hole=hole)

    def fastening(self, hole: list | None) -> None:
        kind = self.attrs["fastening"]
        if kind == "none":
            return
        sk, u = self.sk, self.u
        main, _ = self.torso_color
        cx = sk.neck[0] + sk.center_shift * u
        y0, y1 = sk.neck[1] + 0.06 * u, sk.hem_y - 0.012 * u
        bits = B_PERSON | B_GARMENT | B_TORSO | B_FASTENING
        if kind == "buttons":
            half = 0.013 * u
            self.canvas.draw(box(cx - half, y0, cx + half, y1), flat(self.lit(main, 0.82)), bits, hole=hole)
            button = (0.10, 0.09, 0.09) if luminance(main) > 0.45 else (0.95, 0.93, 0.86)
            n, r = 5, 0.0105 * u
            for k in range(n):
                self.canvas.draw(ring(cx, y0 + (k + 0.5) * (y1 - y0) / n, r), flat(button), bits, hole=hole)
        else:  # zipper: a silver track with teeth and a pull tab
            half = 0.0095 * u
            metal = (0.25, 0.25, 0.27) if luminance(main) > 0.45 else (0.80, 0.80, 0.84)
            self.canvas.draw(
                box(cx - half, y0, cx + half, y1), material(MAT_BANDS_Y, *metal, y0, 0.014 * u, 0.28), bits, hole=hole
            )
            tw, th, ty = 0.011 * u, 0.026 * u, y0 + 0.02 * u
            self.canvas.draw(box(cx - tw, ty - th, cx + tw, ty + th), flat([c * 0.8 for c in metal]), bits, hole=hole)

    def neckline(self) -> list | None:
        """The neckline opening: a hole cut out of the torso and the fastening, with skin beneath it.

        Drawn before the torso, as skin clipped to the torso and grown by a pixel, so the hole's
        anti-aliased edge always shows skin; the skin layer carries the collar bit.
        """
        kind = self.attrs["collar"]
        sk, u = self.sk, self.u
        cx, ny = sk.neck[0] + sk.center_shift * u, sk.neck[1]
        if kind == "crew":
            hole = ring(cx, ny - 0.012 * u, 0.045 * u)
        elif kind == "v_neck":
            hole = polygon([(cx - 0.05 * u, ny - 0.012 * u), (cx + 0.05 * u, ny - 0.012 * u), (cx, ny + 0.10 * u)])
        elif kind == "shirt_collar":
            hole = polygon([(cx - 0.03 * u, ny - 0.012 * u), (cx + 0.03 * u, ny - 0.012 * u), (cx, ny + 0.065 * u)])
        else:  # turtleneck: closed
            return None
        skin = list(hole)
        skin[1] -= 1.0
        self.canvas.draw(skin, flat(self.lit(self.ident.skin, 0.93)), B_PERSON | B_COLLAR, self.torso_clip)
        return hole

    def collar(self) -> None:
        """The collar piece over the neckline: a ribbed band, a V trim, two flaps, or a tube."""
        kind = self.attrs["collar"]
        sk, u = self.sk, self.u
        cx = sk.neck[0] + sk.center_shift * u
        ny = sk.neck[1]
        main, _ = self.torso_color
        trim = flat(self.lit(main, 0.78))
        bits = B_PERSON | B_GARMENT | B_COLLAR
        if kind == "crew":
            cy, r_in, r_out = ny - 0.012 * u, 0.045 * u, 0.057 * u
            self.canvas.draw(ring(cx, cy, 0.5 * (r_in + r_out), 0.5 * (r_out - r_in)), trim, bits, self.torso_clip)
        elif kind == "v_neck":
            a, b, c = (cx - 0.05 * u, ny - 0.012 * u), (cx + 0.05 * u, ny - 0.012 * u), (cx, ny + 0.10 * u)
            self.canvas.draw(chain([a, c, b], 0.0075 * u), trim, bits, self.torso_clip)
        elif kind == "shirt_collar":
            flap_col = self.lit([0.55 * c + 0.45 * w for c, w in zip(main, (0.97, 0.97, 0.95), strict=True)])
            for side in (-1.0, 1.0):
                flap = [
                    (cx + side * 0.004 * u, ny + 0.062 * u),
                    (cx + side * 0.040 * u, ny - 0.024 * u),
                    (cx + side * 0.066 * u, ny + 0.004 * u),
                    (cx + side * 0.050 * u, ny + 0.060 * u),
                ]
                self.canvas.draw(polygon(flap, offset=-0.004 * u), flat([c * 0.6 for c in flap_col]), bits)
                self.canvas.draw(polygon(flap, offset=0.002 * u), flat(flap_col), bits)
        else:  # turtleneck: a ribbed tube over the neck
            r = 0.04 * self.ident.width * u
            self.canvas.draw(
                chain([(cx, ny - 0.045 * u), (cx, ny + 0.012 * u)], r),
                material(MAT_RIBBED, *main, 0.016 * u, 0.12, 0.2, self.gain),
                bits,
            )

    def sleeve(self, i: int) -> None:
        length = self.attrs["sleeve"]
        if length == "sleeveless":
            return
        sk, u, idn = self.sk, self.u, self.ident
        l1 = float(np.linalg.norm(sk.elbows[i] - sk.shoulders[i]))
        l2 = float(np.linalg.norm(sk.wrists[i] - sk.elbows[i]))
        cut = {"short": 0.45 * l1, "elbow": l1 + 0.03 * u, "long": l1 + l2 - 0.004 * u}[length]
        r1 = (0.030 * idn.width + 0.010) * u
        r2 = (0.025 * idn.width + 0.008) * u
        main, sec = self.sleeve_color
        bits = B_PERSON | B_GARMENT | (B_RSLEEVE if i == 0 else B_LSLEEVE)
        mat = material(MAT_SLEEVE, *main, *sec, self.sleeve_pattern, u, r1 / u, (l1 + l2) / u, 0.24, self.gain)
        self.canvas.draw(chain([sk.shoulders[i], sk.elbows[i], sk.wrists[i]], r1, r2, end_cut=cut), mat, bits)

    def arms_and_sleeves(self) -> None:
        sk, u, idn = self.sk, self.u, self.ident
        for i in range(2):
            self.canvas.draw(
                chain([sk.shoulders[i], sk.elbows[i], sk.wrists[i]], 0.030 * idn.width * u, 0.025 * idn.width * u),
                self.cylinder(idn.skin),
                B_PERSON,
            )
        for i in range(2):
            self.sleeve(i)
        hand = flat(self.lit(idn.skin))
        for i in range(2):
            w, e = sk.wrists[i], sk.elbows[i]
            d = (w - e) / max(float(np.linalg.norm(w - e)), 1e-6)
            hx, hy = w + d * 0.022 * u
            self.canvas.draw(ring(hx, hy, 0.026 * u), hand, B_PERSON)

    def neck(self) -> None:
        sk, u = self.sk, self.u
        self.canvas.draw(
            chain(
                [(sk.neck[0], sk.neck[1] - 0.05 * u), (sk.neck[0], sk.neck[1] + 0.02 * u)], 0.03 * self.ident.width * u
            ),
            flat(self.lit(self.ident.skin, 0.95)),
            B_PERSON,
        )

    def hair_back(self) -> None:
        if self.ident.hair_style != "long":
            return
        sk, u = self.sk, self.u
        hx, hy = sk.head
        col = flat(self.lit(self.ident.hair_color))
        for side in (-1.0, 1.0):
            self.canvas.draw(
                chain([(hx + side * 0.045 * u, hy - 0.02 * u), (hx + side * 0.055 * u, hy + 0.10 * u)], 0.024 * u),
                col,
                B_PERSON,
            )

    def head(self) -> None:
        sk, u, idn = self.sk, self.u, self.ident
        hx, hy = sk.head
        rx, ry = sk.head_rx, sk.head_ry
        self.canvas.draw(ellipse(hx, hy, rx, ry), flat(self.lit(idn.skin)), B_PERSON)
        hair = flat(self.lit(idn.hair_color))
        cut = {"short": -0.012, "long": -0.006, "bun": -0.02, "buzz": -0.042}[idn.hair_style] * u
        self.canvas.draw(ellipse(hx, hy - 0.008 * u, rx * 1.07, ry * 1.05, max_y=hy + cut), hair, B_PERSON)
        if idn.hair_style == "bun":
            self.canvas.draw(ring(hx, hy - 0.078 * u, 0.03 * u), hair, B_PERSON)
        eye = flat((0.1, 0.08, 0.08))
        for ex, ey in sk.eyes:
            self.canvas.draw(ring(ex, ey, 0.0075 * u), eye, B_PERSON)

    def finish(self, noise: bool) -> Rendering:
        self.canvas.flush()
        idn = self.ident
        out = finish_image(
            self.canvas.image, NOISE_TABLE, idn.noise_offset, idn.noise_stride, idn.noise_sigma if noise else 0.0
        )
        return Rendering(
            image=out,
            mask=self.canvas.label,
            support=self.canvas.support,
            keypoints=self.sk.keypoints(self.h, self.w),
            attributes=dict(self.attrs),
            pose=self.pose,
            seed=self.seed,
        )


def render(
    seed: int,
    attributes: dict[str, str],
    pose: Pose | None = None,
    *,
    size: int | tuple[int, int] = 128,
    framing: str | None = None,
    regions: dict[str, dict[str, str]] | None = None,
    noise: bool = True,
) -> Rendering:
    """Render one SynthFashion image.

    Args:
        seed: who the person is and the scene around them (identity, background, lighting, noise).
        attributes: the garment, one value for each of ``sleeve, color, pattern, collar, fastening``.
        pose: joint angles and camera jitter; ``None`` takes the seed's own pose (``Pose.sample``).
        size: ``64``, ``128``, ``256`` (square) or ``(height, width)`` such as ``(128, 64)``.
        framing: ``"upper"`` (head to mid-thigh; default for square images) or ``"full"`` (head to
            feet; default when the image is taller than wide, as for Market-1501).
        regions: per-region overrides, e.g. ``{"sleeves": {"color": "red"}}`` for red sleeves only.
        noise: add the seed's mild sensor noise.

    Returns:
        A :class:`Rendering` with the uint8 image, region masks, support bits and 18 keypoints.
    """
    h, w = _size(size)
    validate_attributes(attributes)
    regions = {k: dict(v) for k, v in (regions or {}).items()}
    for region, vals in regions.items():
        if region != "sleeves":
            raise InputError(f"per-region values are supported for 'sleeves' only, got {region!r}", field="regions")
        bad = set(vals) - {"color", "pattern"}
        if bad:
            raise InputError(f"sleeves may override color and pattern only, got {sorted(bad)}", field="regions.sleeves")
        validate_attributes(vals, complete=False, where="regions.sleeves")
    framing = framing or ("full" if h > w else "upper")
    if framing not in FRAMINGS:
        raise InputError(f"unknown framing {framing!r}; valid: {', '.join(FRAMINGS)}", field="framing")
    pose = pose or Pose.sample(seed, framing)
    scene = _Scene(seed, attributes, regions, pose, (h, w), framing)
    scene.background()
    scene.trousers()
    scene.hair_back()
    scene.neck()
    hole = scene.neckline()
    scene.torso(hole)
    scene.collar()
    scene.fastening(hole)
    scene.arms_and_sleeves()
    scene.head()
    result = scene.finish(noise)
    result.regions = regions
    return result


def change_region(attribute: str) -> str:
    """The region an attribute's edit may change (``sleeve`` -> ``sleeves``, ``color`` -> ``garment``)."""
    if attribute not in ATTRIBUTES:
        raise InputError(f"unknown attribute {attribute!r}; valid: {', '.join(ATTRIBUTES)}", field="attribute")
    return ATTRIBUTE_REGION[attribute]


__all__ = ["Rendering", "render", "change_region", "REGION_BITS"]
