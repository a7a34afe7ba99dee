"""The fashionlab dataset format: one folder, a JSON schema, a JSONL items table, optional pose pairs.

Layout (documented for users in ``docs/dataset-format.md``)::

    DIR/
      dataset.json          schema: attributes and their ordered values, image size, splits, annotations
      items.jsonl           one JSON object per line, one line per image
      pairs-<split>.csv     optional pose pairs, header ``from,to`` (item ids)
      images/ masks/ ...    files the items point to (paths relative to ``image_root``)

Everything is plain text a person can read and diff. Writers never touch an existing folder: a
dataset is written into a temporary sibling folder and renamed into place when complete, so a crash
never leaves a half-written dataset that looks valid.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputExistsError, ProblemList
from ..fileio import atomic_write_text

FORMAT_NAME = "fashionlab-dataset"
FORMAT_VERSION = 1
SCHEMA_FILE = "dataset.json"
ITEMS_FILE = "items.jsonl"
UNKNOWN = "unknown"
SPLITS = ("train", "val", "test")

#: The 18 keypoints in the order of ../shared/docs/papers.md (PATN/XingGAN annotation files):
#: nose, neck, Rsho, Relb, Rwri, Lsho, Lelb, Lwri, Rhip, Rkne, Rank, Lhip, Lkne, Lank, Leye, Reye,
#: Lear, Rear. "right" is the person's right (the image's left for a person facing the camera).
#: (The OpenPose COCO-18 reference lists the eyes and ears as Reye, Leye, Rear, Lear; importers copy
#: indices unchanged, so only the names of 14-17 depend on which reading is right.)
KEYPOINT_NAMES = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)


def pairs_file(split: str) -> str:
    """File name of the pose-pair list of ``split``."""
    return f"pairs-{split}.csv"


@dataclass
class AttributeSpec:
    """One attribute: its name, its ordered values and (optionally) the garment region it lives in."""

    name: str
    values: list[str]
    region: str | None = None

    def index(self, value: str) -> int:
        """Index of ``value`` (``-1`` for unknown)."""
        if value == UNKNOWN:
            return -1
        return self.values.index(value)


@dataclass
class Annotations:
    """Which per-item annotations a dataset has.

    ``masks`` maps a region name (``person``, ``garment``, ``torso``, ``left_sleeve`` ...) to the bit
    that marks it in the item's mask PNG (an 8-bit single-channel image; pixel ``v`` belongs to region
    ``r`` when ``v >> bit & 1``). ``region_attributes`` names the regions whose own attribute values
    may differ from the item-level ones (e.g. ``sleeves`` for a garment with red sleeves on a blue body).
    """

    keypoints: bool = False
    masks: dict[str, int] = field(default_factory=dict)
    bbox: bool = False
    landmarks: bool = False
    identity: bool = False
    region_attributes: list[str] = field(default_factory=list)


@dataclass
class DatasetSchema:
    """The contents of ``dataset.json``."""

    name: str
    attributes: list[AttributeSpec]
    image_size: tuple[int, int] | None = None  # (height, width) when every image has it, else None
    splits: list[str] = field(default_factory=lambda: list(SPLITS))
    annotations: Annotations = field(default_factory=Annotations)
    image_root: str = "."  # where item paths start: relative to the dataset folder, or absolute
    pose_pairs: dict[str, str] = field(default_factory=dict)  # split -> pairs file (relative)
    source: dict[str, Any] = field(default_factory=dict)  # provenance: importer, options, seed ...

    def attribute(self, name: str) -> AttributeSpec:
        for spec in self.attributes:
            if spec.name == name:
                return spec
        valid = ", ".join(a.name for a in self.attributes)
        raise InputError(f"unknown attribute {name!r}; this dataset has: {valid}")

    @property
    def attribute_names(self) -> list[str]:
        return [a.name for a in self.attributes]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_size"] = list(self.image_size) if self.image_size else None
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str | Path = SCHEMA_FILE) -> DatasetSchema:
        """Parse and validate a schema dict; errors name ``path`` and the offending field."""

        def need(cond: bool, field_name: str, expected: str) -> None:
            if not cond:
                raise InputError(f"expected {expected}", path=path, field=field_name)

        need(isinstance(d, dict), "(top level)", "a JSON object")
        need(d.get("format") == FORMAT_NAME, "format", f'"{FORMAT_NAME}"')
        need(d.get("version") == FORMAT_VERSION, "version", f"{FORMAT_VERSION}")
        need(isinstance(d.get("name"), str), "name", "a string")
        attrs = d.get("attributes")
        need(isinstance(attrs, list), "attributes", "a list of {name, values}")
        specs = []
        seen: set[str] = set()
        for i, a in enumerate(attrs):
            f = f"attributes[{i}]"
            need(isinstance(a, dict) and isinstance(a.get("name"), str), f + ".name", "a string")
            need(a["name"] not in seen, f + ".name", f"a unique name ({a['name']!r} appears twice)")
            seen.add(a["name"])
            vals = a.get("values")
            need(
                isinstance(vals, list) and len(vals) >= 1 and all(isinstance(v, str) for v in vals),
                f + ".values",
                "a non-empty list of strings",
            )
            need(len(set(vals)) == len(vals), f + ".values", "distinct values")
            need(UNKNOWN not in vals, f + ".values", f'no value named "{UNKNOWN}" (it is reserved)')
            specs.append(AttributeSpec(a["name"], list(vals), a.get("region")))
        size = d.get("image_size")
        if size is not None:
            need(
                isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size),
                "image_size",
                "[height, width] of positive integers, or null",
            )
            size = (size[0], size[1])
        splits = d.get("splits", list(SPLITS))
        need(
            isinstance(splits, list) and all(isinstance(s, str) for s in splits) and splits,
            "splits",
            "a non-empty list of split names",
        )
        ann = d.get("annotations", {})
        need(isinstance(ann, dict), "annotations", "an object")
        known = {"keypoints", "masks", "bbox", "landmarks", "identity", "region_attributes"}
        extra = set(ann) - known
        need(not extra, "annotations", f"only keys {sorted(known)} (got {sorted(extra)})")
        masks = ann.get("masks", {})
        need(
            isinstance(masks, dict) and all(isinstance(b, int) and 0 <= b < 8 for b in masks.values()),
            "annotations.masks",
            "an object mapping region name to a bit 0..7",
        )
        need(len(set(masks.values())) == len(masks), "annotations.masks", "one bit per region")
        annotations = Annotations(
            keypoints=bool(ann.get("keypoints", False)),
            masks=dict(masks),
            bbox=bool(ann.get("bbox", False)),
            landmarks=bool(ann.get("landmarks", False)),
            identity=bool(ann.get("identity", False)),
            region_attributes=list(ann.get("region_attributes", [])),
        )
        pairs = d.get("pose_pairs", {})
        need(
            isinstance(pairs, dict) and all(k in splits for k in pairs),
            "pose_pairs",
            "an object mapping a split name to a pairs file",
        )
        root = d.get("image_root", ".")
        need(isinstance(root, str), "image_root", "a string path")
        return cls(
            name=d["name"],
            attributes=specs,
            image_size=size,
            splits=list(splits),
            annotations=annotations,
            image_root=root,
            pose_pairs=dict(pairs),
            source=dict(d.get("source", {})),
        )


@dataclass
class Item:
    """One row of ``items.jsonl``.

    ``keypoints`` are 18 ``[x, y]`` pixel positions in the stored image (``[-1, -1]`` when not
    visible); ``bbox`` is ``[x1, y1, x2, y2]`` in pixels; ``landmarks`` are ``[visibility, x, y]``
    triples (DeepFashion convention: 0 visible, 1 occluded, 2 cut off); ``mask`` is the path of the
    region-bit mask PNG; ``region_attributes`` maps a region to attribute values that differ there.
    """

    id: str
    path: str
    split: str
    attributes: dict[str, str]
    keypoints: list[list[float]] | None = None
    mask: str | None = None
    bbox: list[float] | None = None
    landmarks: list[list[float]] | None = None
    identity: str | None = None
    region_attributes: dict[str, dict[str, str]] | None = None
    extra: dict[str, Any] | None = None

    def to_json(self) -> str:
        d = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


ITEM_FIELDS = {f for f in Item.__dataclass_fields__}


def parse_item(line: str, path: str | Path, lineno: int) -> Item:
    """Parse one items.jsonl line (structure only; values are checked by the validator)."""
    try:
        d = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg} at column {e.colno})", path=path, line=lineno) from None
    if not isinstance(d, dict):
        raise InputError("expected a JSON object per line", path=path, line=lineno)
    unknown = set(d) - ITEM_FIELDS
    if unknown:
        raise InputError(f"unknown field(s) {sorted(unknown)}; allowed: {sorted(ITEM_FIELDS)}", path=path, line=lineno)
    for key, typ in (("id", str), ("path", str), ("split", str), ("attributes", dict)):
        if not isinstance(d.get(key), typ):
            raise InputError(f"expected {typ.__name__}", path=path, line=lineno, field=key)
    return Item(**d)


@dataclass
class Dataset:
    """A dataset read from disk: its folder, schema and items (in file order)."""

    root: Path
    schema: DatasetSchema
    items: list[Item]

    @property
    def image_root(self) -> Path:
        r = Path(self.schema.image_root)
        return r if r.is_absolute() else self.root / r

    def image_path(self, item: Item) -> Path:
        return self.image_root / item.path

    def mask_path(self, item: Item) -> Path | None:
        return None if item.mask is None else self.root / item.mask

    def split(self, name: str) -> list[Item]:
        return [it for it in self.items if it.split == name]

    def pairs(self, split: str) -> list[tuple[str, str]]:
        """Pose pairs of ``split`` as (from_id, to_id)."""
        rel = self.schema.pose_pairs.get(split)
        return [] if rel is None else read_pairs(self.root / rel)


def read_schema(root: str | Path) -> DatasetSchema:
    """Read ``root/dataset.json``; a missing or malformed file is an error that names it."""
    path = Path(root) / SCHEMA_FILE
    if not Path(root).is_dir():
        raise InputError("not a directory (expected a fashionlab dataset folder)", path=root)
    if not path.is_file():
        raise InputError(
            f"missing {SCHEMA_FILE}: is this a fashionlab dataset folder? "
            "(make one with `fashionlab data synth` or `fashionlab data import`)",
            path=path,
        )
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg})", path=path, line=e.lineno) from None
    return DatasetSchema.from_dict(d, path)


def iter_items(root: str | Path) -> Iterator[tuple[int, Item]]:
    """Yield (line number, item) from ``root/items.jsonl``, raising on the first bad line."""
    path = Path(root) / ITEMS_FILE
    if not path.is_file():
        raise InputError(f"missing {ITEMS_FILE}", path=path)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield lineno, parse_item(line, path, lineno)


def load_dataset(root: str | Path) -> Dataset:
    """Read a dataset folder (schema + items). Structural errors name the file and line.

    Values are not deep-checked here (that is ``fashionlab data check``), but unknown attribute values
    are collected and reported together so a bad table fails fast with every bad line listed.
    """
    root = Path(root)
    schema = read_schema(root)
    items: list[Item] = []
    problems: list[InputError] = []
    allowed = {a.name: set(a.values) | {UNKNOWN} for a in schema.attributes}
    items_path = root / ITEMS_FILE
    ids: set[str] = set()
    for lineno, item in iter_items(root):
        for name, value in item.attributes.items():
            if name not in allowed:
                problems.append(InputError(f"unknown attribute {name!r}", items_path, lineno, "attributes"))
            elif value not in allowed[name]:
                problems.append(
                    InputError(
                        f"value {value!r} is not one of {sorted(allowed[name])}",
                        items_path,
                        lineno,
                        f"attributes.{name}",
                    )
                )
        if item.id in ids:
            problems.append(InputError(f"duplicate id {item.id!r}", items_path, lineno, "id"))
        ids.add(item.id)
        items.append(item)
        if len(problems) >= 200:
            break
    if problems:
        raise ProblemList(problems, str(items_path))
    return Dataset(root=root, schema=schema, items=items)


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Read a ``from,to`` pairs CSV."""
    path = Path(path)
    if not path.is_file():
        raise InputError("missing pose-pairs file", path=path)
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["from", "to"]:
            raise InputError(f"expected header 'from,to', got {header!r}", path=path, line=1)
        for lineno, row in enumerate(reader, 2):
            if not row:
                continue
            if len(row) != 2:
                raise InputError(f"expected 2 columns, got {len(row)}", path=path, line=lineno)
            out.append((row[0].strip(), row[1].strip()))
    return out


class DatasetWriter:
    """Writes a new dataset folder, atomically as a whole.

    Files go to a hidden temporary sibling (``.DIR.partial-XXXX``); :meth:`close` writes the schema and
    items and renames the folder to ``DIR``. ``DIR`` must not exist (or be an empty folder): nothing a
    user made is overwritten. Use as a context manager; on an exception the partial folder is removed.

    >>> with DatasetWriter(out, schema) as w:          # doctest: +SKIP
    ...     w.add(Item(id="0", path="images/0.png", split="train", attributes={...}))
    """

    def __init__(self, out_dir: str | Path, schema: DatasetSchema):
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and (not self.out_dir.is_dir() or any(self.out_dir.iterdir())):
            raise OutputExistsError(
                f"{self.out_dir} already exists and is not empty; "
                "choose a new --out (fashionlab never overwrites a dataset)"
            )
        self.schema = schema
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = self.out_dir.parent / f".{self.out_dir.name}.partial-{uuid.uuid4().hex[:8]}"
        self.tmp_dir.mkdir()
        self.items: list[Item] = []
        self._ids: set[str] = set()
        self._pairs: dict[str, list[tuple[str, str]]] = {}
        self._closed = False

    @property
    def root(self) -> Path:
        """Folder to write the item files into (the temporary folder until :meth:`close`)."""
        return self.tmp_dir

    def add(self, item: Item) -> None:
        if item.id in self._ids:
            raise ValueError(f"duplicate item id {item.id!r}")
        self._ids.add(item.id)
        self.items.append(item)

    def add_pairs(self, split: str, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs.setdefault(split, []).extend(pairs)

    def close(self) -> Path:
        """Write schema, items and pairs, then move the folder into place. Returns the final folder."""
        if self._closed:
            return self.out_dir
        for split, pairs in self._pairs.items():
            name = pairs_file(split)
            self.schema.pose_pairs[split] = name
            with open(self.tmp_dir / name, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(["from", "to"])
                w.writerows(pairs)
        atomic_write_text(self.tmp_dir / ITEMS_FILE, "".join(it.to_json() + "\n" for it in self.items))
        atomic_write_text(self.tmp_dir / SCHEMA_FILE, json.dumps(self.schema.to_dict(), indent=2) + "\n")
        if self.out_dir.exists():  # an empty folder the user made for us
            self.out_dir.rmdir()
        os.replace(self.tmp_dir, self.out_dir)
        self._closed = True
        return self.out_dir

    def abort(self) -> None:
        if not self._closed:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self._closed = True

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def check_keypoints(kps: Any) -> str | None:
    """Return a problem description if ``kps`` is not 18 [x, y] pairs of numbers, else None."""
    if not isinstance(kps, list) or len(kps) != NUM_KEYPOINTS:
        return f"expected {NUM_KEYPOINTS} [x, y] pairs"
    for i, p in enumerate(kps):
        if (
            not isinstance(p, list)
            or len(p) != 2
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in p)
        ):
            return f"keypoint {i} ({KEYPOINT_NAMES[i]}): expected [x, y] numbers, got {p!r}"
    return None
