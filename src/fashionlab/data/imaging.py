"""Image reading and writing with errors a user can act on.

Every reader in fashionlab goes through :func:`load_rgb`, so a corrupt file, a grayscale or RGBA
image, or a huge photograph behave the same everywhere: converted when that is safe, otherwise an
:class:`~fashionlab.errors.InputError` naming the file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InputError
from .geometry import RESIZE_MODES, Placement

#: Larger images are refused rather than decoded (a decompression bomb or a mistake); 10 MP photos pass.
MAX_PIXELS = 80_000_000
#: File name endings taken for images (folders of inputs, a catalog's image folder).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"})


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file, or raise InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError("image file not found", path=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            if img.width * img.height > MAX_PIXELS:
                raise InputError(
                    f"image is {img.width}x{img.height} pixels, more than the {MAX_PIXELS:,} fashionlab accepts",
                    path=path,
                )
            img.load()
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise InputError(f"not a readable image ({type(e).__name__})", path=path) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"image is corrupt or truncated ({e})", path=path) from None
    return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent pixels are composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = max(float(arr.max()), 1.0)
        return Image.fromarray((arr / hi * 255).round().astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image as an (H, W, 3) uint8 RGB array, optionally resized to ``size=(height, width)``."""
    img = to_rgb(open_image(path))
    if size is not None and (img.height, img.width) != tuple(size):
        img = img.resize((size[1], size[0]), Image.BILINEAR, reducing_gap=2.0)
    return np.asarray(img, dtype=np.uint8)


def load_mask(path: str | Path) -> np.ndarray:
    """Read a single-channel 8-bit mask PNG as an (H, W) uint8 array."""
    img = open_image(path)
    if img.mode not in ("L", "P", "1"):
        raise InputError(f"expected a single-channel 8-bit mask, got mode {img.mode}", path=path)
    return np.asarray(img.convert("L") if img.mode != "L" else img, dtype=np.uint8)


def save_png(path: str | Path, array: np.ndarray, compress_level: int = 1) -> None:
    """Write a uint8 (H, W) or (H, W, 3) array as PNG (fast compression by default)."""
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG", compress_level=compress_level)


def _place(resized: Image.Image, p: Placement, fill) -> Image.Image:
    """``resized`` (the source at ``p.scaled``) cut to ``p.window`` and put on a ``fill`` frame if ``p`` pads."""
    out = resized.crop(p.window) if p.window != (0, 0, p.nw, p.nh) else resized
    if not p.padded:
        return out
    canvas = Image.new(resized.mode, (p.tw, p.th), fill)
    canvas.paste(out, p.target_box[:2])
    return canvas


def resize_rgb(img: np.ndarray, size: tuple[int, int], mode: str = "fit") -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to ``size=(height, width)`` (bilinear, antialiased).

    ``fit`` keeps the aspect ratio and pads with white (centred), ``crop`` centre-crops to the aspect
    ratio first, ``stretch`` resizes plainly (the geometry: :class:`~fashionlab.data.geometry.Placement`).
    """
    p = Placement.of(img.shape[:2], size, mode)
    if p.unchanged:
        return img
    resized = Image.fromarray(img).resize((p.nw, p.nh), Image.BILINEAR, reducing_gap=2.0)
    return np.asarray(_place(resized, p, (255, 255, 255)))


def resize_mask(mask: np.ndarray, size: tuple[int, int], mode: str = "fit") -> np.ndarray:
    """A label/bit mask resized like :func:`resize_rgb` resizes its image (nearest neighbour; padding is 0)."""
    p = Placement.of(mask.shape, size, mode)
    if p.unchanged:
        return mask
    return np.asarray(_place(Image.fromarray(mask).resize((p.nw, p.nh), Image.NEAREST), p, 0))


def normalise(images_uint8):
    """uint8 images (..., H, W, 3) as a numpy array or tensor -> float32 tensor (..., 3, H, W) in [-1, 1].

    The one conversion into every fashionlab model's input range; :func:`denormalise` is its inverse."""
    import torch

    if not isinstance(images_uint8, torch.Tensor):
        images_uint8 = torch.from_numpy(np.require(images_uint8, np.uint8, ["C", "W"]))
    return images_uint8.movedim(-1, -3).float().div(127.5).sub(1.0)


def denormalise(images):
    """Float tensor (..., 3, H, W) in [-1, 1] -> uint8 numpy array (..., H, W, 3) (values clamped, rounded)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().movedim(-3, -1).cpu().numpy()


@dataclass(frozen=True)
class Preprocess:
    """How an exported model wants its input: an RGB image resized to ``size`` (height, width) with
    ``resize`` (fit, crop or stretch; see :func:`resize_rgb`), then scaled to [-1, 1].

    Part of every export's ``config.json`` (key ``preprocess``) and attached to the loaded model as
    ``model.preprocess``: the one place where inference code learns a model's input size."""

    size: tuple[int, int]
    resize: str = "fit"

    def __post_init__(self):
        if self.resize not in RESIZE_MODES:
            raise InputError(f"unknown resize mode {self.resize!r}; valid: {', '.join(RESIZE_MODES)}", field="resize")

    def image(self, img: np.ndarray):
        """An (H, W, 3) uint8 image as the model's (3, h, w) input tensor."""
        return normalise(resize_rgb(img, self.size, self.resize))

    def load(self, path: str | Path):
        """An image file as the model's (3, h, w) input tensor (grayscale/RGBA converted, resized)."""
        return self.image(load_rgb(path))

    def fit_batch(self, x):
        """A (B, 3, H, W) batch already in [-1, 1] (another model's input or output) at this size, resized as
        ``resize`` says (the tensor twin of :func:`resize_rgb`: ``fit`` keeps the aspect and pads with white,
        ``crop`` centre-crops, ``stretch`` resizes plainly; bilinear), so a model trained on ``resize``-d
        images of another aspect sees what it was trained on. The batch itself when the size is right."""
        import torch
        import torch.nn.functional as F

        p = Placement.of(x.shape[-2:], self.size, self.resize)
        if p.unchanged:
            return x
        y = F.interpolate(x, p.scaled, mode="bilinear", align_corners=False) if p.scaled != (p.h, p.w) else x
        wx0, wy0, wx1, wy1 = p.window
        y = y[..., wy0:wy1, wx0:wx1]
        if not p.padded:
            return y
        out = torch.ones(*x.shape[:-2], p.th, p.tw, dtype=x.dtype, device=x.device)
        x0, y0, x1, y1 = p.target_box
        out[..., y0:y1, x0:x1] = y
        return out

    def to_dict(self) -> dict:
        return {"size": list(self.size), "resize": self.resize, "input_range": [-1, 1]}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        size = d.get("size")
        if not (isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            raise InputError(f"expected [height, width] of positive integers, got {size!r}", field="preprocess.size")
        return cls((int(size[0]), int(size[1])), str(d.get("resize", "fit")))
