"""SynthFashion's garment attributes, their values, and where each attribute lives on the garment."""

from __future__ import annotations

import numpy as np

from ..data.format import AttributeSpec
from ..errors import InputError

#: The manipulation targets, in the spirit of DeepFashion-Synthesis and Shopping100k.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "sleeve": ("sleeveless", "short", "elbow", "long"),
    "color": ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "navy", "purple", "pink", "brown"),
    "pattern": ("solid", "horizontal_stripes", "vertical_stripes", "dots", "checks", "gradient"),
    "collar": ("crew", "v_neck", "shirt_collar", "turtleneck"),
    "fastening": ("none", "buttons", "zipper"),
}

#: Which annotated region each attribute lives in (the ground-truth change region of an edit).
ATTRIBUTE_REGION: dict[str, str] = {
    "sleeve": "sleeves",
    "color": "garment",
    "pattern": "garment",
    "collar": "collar",
    "fastening": "fastening",
}

#: Attributes that may take their own value on the sleeves (per-region control).
REGION_ATTRIBUTES = ("color", "pattern")

#: Mask bits of SynthFashion's region-mask PNGs.
MASK_BITS: dict[str, int] = {
    "person": 0,
    "garment": 1,
    "torso": 2,
    "left_sleeve": 3,
    "right_sleeve": 4,
    "collar": 5,
    "fastening": 6,
}

#: Base garment colours (linear-ish sRGB in [0, 1]). Chosen to stay distinct under the renderer's
#: lighting range (x0.85 .. x1.1) and small per-image jitter.
COLOR_RGB: dict[str, tuple[float, float, float]] = {
    "black": (0.09, 0.09, 0.10),
    "white": (0.95, 0.95, 0.93),
    "grey": (0.52, 0.52, 0.54),
    "red": (0.82, 0.08, 0.10),
    "orange": (0.97, 0.50, 0.06),
    "yellow": (0.97, 0.87, 0.14),
    "green": (0.13, 0.58, 0.22),
    "blue": (0.16, 0.42, 0.88),
    "navy": (0.07, 0.11, 0.36),
    "purple": (0.50, 0.17, 0.64),
    "pink": (0.99, 0.60, 0.75),
    "brown": (0.47, 0.27, 0.11),
}

SKIN_TONES = np.array(
    [
        (0.98, 0.85, 0.74),
        (0.94, 0.76, 0.62),
        (0.84, 0.63, 0.48),
        (0.70, 0.49, 0.34),
        (0.55, 0.37, 0.25),
        (0.40, 0.27, 0.18),
    ],
    dtype=np.float32,
)
HAIR_COLORS = np.array(
    [
        (0.08, 0.06, 0.05),
        (0.25, 0.16, 0.09),
        (0.50, 0.33, 0.17),
        (0.83, 0.70, 0.45),
        (0.60, 0.22, 0.10),
        (0.70, 0.70, 0.70),
    ],
    dtype=np.float32,
)
TROUSER_COLORS = np.array(
    [
        (0.12, 0.16, 0.30),
        (0.08, 0.08, 0.09),
        (0.35, 0.35, 0.37),
        (0.68, 0.60, 0.44),
        (0.33, 0.24, 0.16),
        (0.26, 0.36, 0.52),
    ],
    dtype=np.float32,
)
SHOE_COLORS = np.array([(0.1, 0.1, 0.1), (0.92, 0.92, 0.92), (0.35, 0.2, 0.1)], dtype=np.float32)
HAIR_STYLES = ("short", "long", "bun", "buzz")
BACKGROUNDS = ("flat", "gradient", "texture")


def attribute_specs() -> list[AttributeSpec]:
    """The SynthFashion attributes as dataset-schema specs (ordered as in :data:`ATTRIBUTES`)."""
    return [AttributeSpec(name, list(values), ATTRIBUTE_REGION[name]) for name, values in ATTRIBUTES.items()]


def validate_attributes(attrs: dict[str, str], *, complete: bool = True, where: str = "attributes") -> None:
    """Raise InputError naming the attribute or value if ``attrs`` is not a valid garment description."""
    for name, value in attrs.items():
        if name not in ATTRIBUTES:
            raise InputError(f"unknown attribute {name!r}; valid: {', '.join(ATTRIBUTES)}", field=where)
        if value not in ATTRIBUTES[name]:
            raise InputError(
                f"unknown value {value!r} for {name}; valid: {', '.join(ATTRIBUTES[name])}", field=f"{where}.{name}"
            )
    if complete:
        missing = [n for n in ATTRIBUTES if n not in attrs]
        if missing:
            raise InputError(f"missing attribute(s) {missing}", field=where)


def parse_assignments(text: str | list[str], *, where: str = "--set") -> dict[str, str]:
    """Parse ``"sleeve=long,color=red"`` (or a list of ``k=v``) into a validated dict."""
    parts = text if isinstance(text, list) else [p for p in text.split(",") if p.strip()]
    out: dict[str, str] = {}
    for part in parts:
        if "=" not in part:
            raise InputError(f"expected name=value, got {part!r}", field=where)
        k, v = (s.strip() for s in part.split("=", 1))
        out[k] = v
    validate_attributes(out, complete=False, where=where)
    return out


def sample_attributes(rng: np.random.Generator) -> dict[str, str]:
    """Draw every attribute uniformly at random."""
    return {name: values[int(rng.integers(len(values)))] for name, values in ATTRIBUTES.items()}


def luminance(rgb: np.ndarray | tuple[float, float, float]) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b
