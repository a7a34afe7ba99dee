"""Reading images from files and from uploads, with limits that hold against hostile input.

Files go through :func:`fashionlab.data.imaging.load_rgb`. Uploaded bytes go through :func:`decode_upload`:
the size in bytes is checked first, then the header alone is parsed (format and dimensions) and the pixel
count is checked *before* any pixel is decoded, so a decompression bomb (a small PNG that claims 50,000 x
50,000 pixels) is refused in microseconds; only PNG, JPEG and WebP are accepted; grayscale, palette and
alpha images become RGB (transparent pixels on white).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.imaging import IMAGE_SUFFIXES, to_rgb
from ..errors import InputError

UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP")


@dataclass(frozen=True)
class ImageLimits:
    """What an upload may be: at most ``max_bytes`` bytes and ``max_pixels`` pixels, sides of at least
    ``min_side`` pixels, in one of ``formats``."""

    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 25_000_000
    min_side: int = 8
    formats: tuple[str, ...] = UPLOAD_FORMATS


def decode_upload(data: bytes, field: str = "image", limits: ImageLimits | None = None) -> np.ndarray:
    """Uploaded image bytes as an (H, W, 3) uint8 RGB array, or an :class:`InputError` naming ``field`` and
    saying what was expected (too large, too many pixels, not an image, a format not accepted, truncated)."""
    limits = limits or ImageLimits()
    if not data:
        raise InputError("the upload is empty; expected a PNG, JPEG or WebP image", field=field)
    if len(data) > limits.max_bytes:
        raise InputError(f"the upload is {len(data):,} bytes, more than the {limits.max_bytes:,} accepted", field=field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))  # parses the header only
            fmt = img.format or "unknown"
            if fmt not in limits.formats:
                raise InputError(
                    f"images of format {fmt} are not accepted; expected {', '.join(limits.formats)}", field=field
                )
            w, h = img.size
            if w * h > limits.max_pixels:
                raise InputError(
                    f"the image is {w}x{h} = {w * h:,} pixels, more than the {limits.max_pixels:,} accepted "
                    "(refused before decoding)",
                    field=field,
                )
            if min(w, h) < limits.min_side:
                raise InputError(f"the image is {w}x{h}; each side must be at least {limits.min_side} px", field=field)
            img.load()
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InputError("not an image (expected PNG, JPEG or WebP bytes)", field=field) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"the image is corrupt or truncated ({e})", field=field) from None
    return np.asarray(to_rgb(img), dtype=np.uint8)


def encode_png(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) or (H, W) uint8 array as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given, and the images inside any folder given (sorted), or an InputError naming a
    missing path or an empty folder."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError("no images in this folder", path=p)
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise InputError("no such image file or folder", path=p)
    return out
