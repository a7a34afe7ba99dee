"""``fashionlab data check``: validate a dataset completely and report every problem with file and line."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..errors import InputError
from ..parallel import imap
from .format import (
    ITEMS_FILE,
    NUM_KEYPOINTS,
    UNKNOWN,
    DatasetSchema,
    Item,
    check_keypoints,
    parse_item,
    read_pairs,
    read_schema,
)
from .imaging import load_mask, open_image


@dataclass
class CheckReport:
    """What :func:`check_dataset` found."""

    root: Path
    problems: list[InputError] = field(default_factory=list)
    n_items: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    value_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    decoded: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_files(job) -> list[str]:
    """Decode one item's image and mask; returns problem messages (run in worker processes)."""
    image_path, mask_path, size = job
    problems = []
    hw = None
    try:
        img = open_image(image_path)
        hw = (img.height, img.width)
        if size is not None and hw != tuple(size):
            problems.append(f"{image_path}: image is {hw[0]}x{hw[1]} (HxW), dataset.json says {size[0]}x{size[1]}")
    except InputError as e:
        problems.append(str(e))
    if mask_path is not None:
        try:
            m = load_mask(mask_path)
            if hw is not None and m.shape != hw:
                problems.append(f"{mask_path}: mask is {m.shape[0]}x{m.shape[1]}, its image is {hw[0]}x{hw[1]}")
        except InputError as e:
            problems.append(str(e))
    return problems


def _check_item(
    item: Item, schema: DatasetSchema, root: Path, image_root: Path, path: Path, line: int, size: tuple[int, int] | None
) -> list[InputError]:
    out = []

    def bad(msg: str, fld: str | None = None) -> None:
        out.append(InputError(msg, path=path, line=line, field=fld))

    if item.split not in schema.splits:
        bad(f"split {item.split!r} is not one of {schema.splits}", "split")
    allowed = {a.name: a.values for a in schema.attributes}
    for name, value in item.attributes.items():
        if name not in allowed:
            bad(f"unknown attribute {name!r}; dataset.json lists {list(allowed)}", "attributes")
        elif value != UNKNOWN and value not in allowed[name]:
            bad(f"value {value!r} is not one of {allowed[name]} (or {UNKNOWN!r})", f"attributes.{name}")
    ann = schema.annotations
    if item.keypoints is not None:
        if not ann.keypoints:
            bad("item has keypoints but dataset.json says annotations.keypoints is false", "keypoints")
        msg = check_keypoints(item.keypoints)
        if msg:
            bad(msg, "keypoints")
        elif size is not None:
            h, w = size
            for i, (x, y) in enumerate(item.keypoints):
                if (x, y) == (-1, -1):
                    continue
                if not (-1 <= x <= w + 1 and -1 <= y <= h + 1):
                    bad(
                        f"keypoint {i} at ({x}, {y}) is outside the {w}x{h} image (use [-1, -1] for missing)",
                        "keypoints",
                    )
    elif ann.keypoints:
        bad(f"missing keypoints ({NUM_KEYPOINTS} [x, y] pairs; [-1, -1] for invisible)", "keypoints")
    if item.bbox is not None:
        b = item.bbox
        if (
            not isinstance(b, list)
            or len(b) != 4
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in b)
        ):
            bad("expected [x1, y1, x2, y2]", "bbox")
        elif not (b[0] < b[2] and b[1] < b[3]):
            bad(f"expected x1 < x2 and y1 < y2, got {b}", "bbox")
        elif size is not None and (b[0] < 0 or b[1] < 0 or b[2] > size[1] + 1 or b[3] > size[0] + 1):
            bad(f"box {b} is outside the {size[1]}x{size[0]} image", "bbox")
    if item.mask is not None and not ann.masks:
        bad("item has a mask but dataset.json declares no mask regions (annotations.masks)", "mask")
    if item.mask is None and ann.masks:
        bad("missing mask (dataset.json declares mask regions)", "mask")
    if ann.identity and not item.identity:
        bad("missing identity (dataset.json says annotations.identity is true)", "identity")
    if item.region_attributes is not None:
        if not isinstance(item.region_attributes, dict):
            bad("expected {region: {attribute: value}}", "region_attributes")
        else:
            for region, vals in item.region_attributes.items():
                if region not in ann.region_attributes:
                    bad(
                        f"region {region!r} is not in annotations.region_attributes {ann.region_attributes}",
                        "region_attributes",
                    )
                    continue
                for name, value in (vals or {}).items():
                    if name not in allowed or (value != UNKNOWN and value not in allowed[name]):
                        bad(f"{name}={value!r} is not a known attribute value", f"region_attributes.{region}")
    if not (image_root / item.path).is_file():
        bad(f"image file not found: {image_root / item.path}", "path")
    if item.mask is not None and not (root / item.mask).is_file():
        bad(f"mask file not found: {root / item.mask}", "mask")
    return out


def check_dataset(
    root: str | Path, *, decode_images: bool = True, progress: bool = True, workers: int = 1
) -> CheckReport:
    """Check everything about the dataset at ``root``; never stops at the first problem."""
    root = Path(root)
    report = CheckReport(root=root)
    try:
        schema = read_schema(root)
    except InputError as e:
        report.problems.append(e)
        return report
    image_root = Path(schema.image_root) if Path(schema.image_root).is_absolute() else root / schema.image_root
    items_path = root / ITEMS_FILE
    if not items_path.is_file():
        report.problems.append(InputError(f"missing {ITEMS_FILE}", path=items_path))
        return report
    size = schema.image_size
    items: dict[str, Item] = {}
    counts = {a.name: Counter() for a in schema.attributes}
    splits: Counter = Counter()
    jobs = []
    with open(items_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = parse_item(line, items_path, line_no)
            except InputError as e:
                report.problems.append(e)
                continue
            except TypeError as e:
                report.problems.append(InputError(f"bad item ({e})", items_path, line_no))
                continue
            if item.id in items:
                report.problems.append(InputError(f"duplicate id {item.id!r}", items_path, line_no, "id"))
            items[item.id] = item
            splits[item.split] += 1
            for a in schema.attributes:
                counts[a.name][item.attributes.get(a.name, UNKNOWN)] += 1
            probs = _check_item(item, schema, root, image_root, items_path, line_no, size)
            report.problems.extend(probs)
            if decode_images and (image_root / item.path).is_file():
                mask = root / item.mask if item.mask and (root / item.mask).is_file() else None
                jobs.append((image_root / item.path, mask, size))
    report.n_items = len(items)
    report.splits = dict(splits)
    report.value_counts = {n: dict(c) for n, c in counts.items()}
    for split, rel in schema.pose_pairs.items():
        ppath = root / rel
        try:
            pairs = read_pairs(ppath)
        except InputError as e:
            report.problems.append(e)
            continue
        for k, (a, b) in enumerate(pairs, 2):
            for which, pid in (("from", a), ("to", b)):
                if pid not in items:
                    report.problems.append(InputError(f"unknown item id {pid!r}", ppath, k, which))
                elif items[pid].split != split:
                    report.problems.append(
                        InputError(f"item {pid!r} is in split {items[pid].split!r}, not {split!r}", ppath, k, which)
                    )
    if decode_images and jobs:
        bar = tqdm(total=len(jobs), desc="decoding", unit="img", disable=not progress)
        results = imap(_check_files, jobs, workers)
        for probs in results:
            report.problems.extend(InputError(p) for p in probs)
            report.decoded += 1
            bar.update(1)
        bar.close()
    return report


def format_report(report: CheckReport) -> str:
    """Summary (items per split, value counts per attribute) and every problem, one per line."""
    lines = [
        f"dataset {report.root}: {report.n_items} items"
        + (f", {report.decoded} images decoded" if report.decoded else "")
    ]
    if report.splits:
        lines.append("  splits: " + ", ".join(f"{k} {v}" for k, v in sorted(report.splits.items())))
    for name, counts in report.value_counts.items():
        total = sum(counts.values()) or 1
        parts = [f"{v} {c} ({100 * c / total:.0f}%)" for v, c in sorted(counts.items(), key=lambda kv: -kv[1])]
        lo = min(c for v, c in counts.items() if v != UNKNOWN) if any(v != UNKNOWN for v in counts) else 0
        hi = max(counts.values()) if counts else 0
        warn = "  [imbalanced: consider loss.class_weights=true]" if lo and hi / lo > 10 else ""
        lines.append(f"  {name}: " + ", ".join(parts[:16]) + (" ..." if len(parts) > 16 else "") + warn)
    if report.problems:
        lines.append(f"{len(report.problems)} problem(s):")
        lines.extend(f"  {p}" for p in report.problems)
    else:
        lines.append("no problems found")
    return "\n".join(lines)
