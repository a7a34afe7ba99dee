"""What :mod:`.ray_embed` embeds: the items of a source (a dataset, a folder of images, or a list of image
paths and URLs), and reading one image of it, local or remote, as the model's input.

A source is one of:

- a fashionlab dataset folder (it has ``dataset.json``): its items (of some splits), with their attributes,
  ids ``DATASET/ITEM`` as ``fashionlab index build|add`` gives them;
- any other folder: every image file under it (:data:`~fashionlab.data.imaging.IMAGE_SUFFIXES`, sorted),
  ids ``FOLDER/RELATIVE/PATH``, no attributes;
- a text file: one image per line (blank lines and ``#`` comments skipped), each a path (relative to the
  list's folder) or a URL (``http(s)://``, or any scheme pyarrow reads: ``s3://``, ``gs://``, ``hdfs://``,
  ...); the id is the line as written.
"""

from __future__ import annotations

import io
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..data.format import SCHEMA_FILE, load_dataset
from ..data.imaging import IMAGE_SUFFIXES, MAX_PIXELS, to_rgb
from ..errors import InputError

#: seconds a remote image may take to arrive
FETCH_TIMEOUT = 60.0
#: what a source may be, for error messages
EXPECTED = (
    "expected a fashionlab dataset folder (with dataset.json), a folder of images, or a text file listing "
    "image paths or URLs, one per line"
)


@dataclass(frozen=True)
class SourceItem:
    """One image to embed: its catalog id, its reference (an absolute path or a URL), and its labels."""

    id: str
    image: str
    attributes: dict[str, str] = field(default_factory=dict)
    region_attributes: dict | None = None


def is_url(ref: str) -> bool:
    """Whether ``ref`` names a remote object (``scheme://...``) rather than a local path."""
    scheme, sep, _ = ref.partition("://")
    return bool(sep) and scheme.isalnum() and len(scheme) > 1 and scheme != "file"


def list_source(
    source: str | Path, *, splits: list[str] | None = None, attribute_names: list[str] | None = None
) -> list[SourceItem]:
    """The items of ``source`` (see the module's docstring), in a fixed order, or an InputError naming what
    was expected. ``splits`` selects a dataset's splits (all by default; refused for other sources);
    ``attribute_names``, when given, must be a dataset's attributes (the model's)."""
    path = Path(source)
    if path.is_dir() and (path / SCHEMA_FILE).is_file():
        return _dataset_items(path, splits, attribute_names)
    if splits is not None:
        raise InputError(f"splits are for a dataset folder (with {SCHEMA_FILE}), not for this source", path=source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder", path=source)
        prefix = path.resolve().name
        return [SourceItem(f"{prefix}/{p.relative_to(path).as_posix()}", str(p.resolve())) for p in files]
    if path.is_file():
        return _list_items(path)
    raise InputError(f"not found; {EXPECTED}", path=source)


def _dataset_items(root: Path, splits: list[str] | None, attribute_names: list[str] | None) -> list[SourceItem]:
    ds = load_dataset(root)
    if splits is not None and set(splits) - set(ds.schema.splits):
        unknown = sorted(set(splits) - set(ds.schema.splits))
        raise InputError(f"unknown split(s) {unknown}; this dataset has {ds.schema.splits}", path=root)
    names = [a.name for a in ds.schema.attributes]
    if attribute_names is not None and names != attribute_names:
        raise InputError(f"dataset attributes {names} differ from the model's {attribute_names}", path=root)
    prefix = root.resolve().name
    items = [
        SourceItem(f"{prefix}/{it.id}", str(ds.image_path(it).resolve()), it.attributes, it.region_attributes)
        for it in ds.items
        if splits is None or it.split in splits
    ]
    if not items:
        raise InputError(f"no items in split(s) {splits}", path=root)
    return items


def _list_items(path: Path) -> list[SourceItem]:
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"this is one image; {EXPECTED}", path=path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"not a text file; {EXPECTED}", path=path) from None
    items: list[SourceItem] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, 1):
        ref = line.strip()
        if not ref or ref.startswith("#"):
            continue
        if ref in seen:
            raise InputError(f"{ref!r} is listed twice (first on line {seen[ref]})", path=path, line=lineno)
        seen[ref] = lineno
        image = ref if is_url(ref) else str((path.parent / ref.removeprefix("file://")).resolve())
        items.append(SourceItem(ref, image))
    if not items:
        raise InputError(f"lists no images; {EXPECTED}", path=path)
    return items


def read_bytes(ref: str) -> bytes:
    """The bytes of a remote image (``http(s)://`` through urllib, other schemes through pyarrow's file
    systems), or an InputError naming it."""
    try:
        if ref.startswith(("http://", "https://")):
            with urllib.request.urlopen(ref, timeout=FETCH_TIMEOUT) as r:  # noqa: S310 (the user's own URLs)
                return r.read()
        import pyarrow.fs

        fs, inner = pyarrow.fs.FileSystem.from_uri(ref)
        with fs.open_input_stream(inner) as f:
            return f.read()
    except Exception as e:  # network and object-store errors come in many types
        raise InputError(f"cannot fetch this image ({type(e).__name__}: {e})", path=ref) from None


def decode_image(data: bytes, ref: str):
    """Encoded image bytes as an (H, W, 3) uint8 array (converted like local files are), or an InputError."""
    import numpy as np
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS:
                raise InputError(f"image is {img.width}x{img.height} pixels, more than {MAX_PIXELS:,}", path=ref)
            img.load()
    except InputError:
        raise
    except Exception as e:  # PIL raises many types for bad data
        raise InputError(f"not a readable image ({type(e).__name__})", path=ref) from None
    return np.asarray(to_rgb(img), dtype=np.uint8)


def load_input(ref: str, preprocess):
    """The image at ``ref`` (a local path or a URL) as the model's (3, h, w) input tensor."""
    if is_url(ref):
        return preprocess.image(decode_image(read_bytes(ref), ref))
    return preprocess.load(ref)
