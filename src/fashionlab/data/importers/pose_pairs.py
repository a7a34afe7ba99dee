"""Market-1501 / DeepFashion In-shop pose-transfer data as prepared for PATN and XingGAN.

SRC holds ``PREFIX-annotation-{train,test}.csv`` (18 OpenPose keypoints per image, ``name:keypoints_y:
keypoints_x``, row first, -1 missing), ``PREFIX-pairs-{train,test}.csv`` (``from,to``) and the image
folders ``train/`` and ``test/`` (or ``PREFIX-train/`` ...). The DeepFashion prefix is spelt
``fasion-resize``; Market's is ``market``. See ``../shared/docs/papers.md`` sections 4 and 6.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

from ...errors import InputError
from ..format import NUM_KEYPOINTS, SPLITS, Annotations, DatasetSchema, DatasetWriter, Item
from .common import (
    SkippedItemsWarning,
    Staged,
    add_staged,
    check_images,
    check_relative,
    prepare,
    read_csv,
    source_info,
    text_lines,
)
from .registry import IMPORTERS

_ROW = re.compile(r"^(?P<name>[^:]+?)\s*:\s*\[(?P<y>[^\]]*)\]\s*:\s*\[(?P<x>[^\]]*)\]\s*$")
_MARKET = re.compile(r"^(-?\d+)_c\d+")


def identity_of(name: str) -> str:
    """Person id from a file name: Market ``0002_c1s1_000451_03.jpg`` -> ``0002``; DeepFashion
    ``fashionMENDenimid0000008001_1front.jpg`` -> ``fashionMENDenimid0000008001`` (before the pose suffix)."""
    stem = Path(name).stem
    m = _MARKET.match(stem)
    if m:
        return m.group(1)
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def _numbers(text: str, what: str, path: Path, line: int) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    if parts == [""]:
        parts = []
    if len(parts) != NUM_KEYPOINTS:
        raise InputError(
            f"malformed annotation: expected {NUM_KEYPOINTS} {what} values, found {len(parts)}", path, line
        )
    out = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise InputError(f"malformed annotation: bad {what} value {p!r}", path, line) from None
        out.append(int(v) if v.is_integer() else v)
    return out


def read_annotation(path: Path) -> list[tuple[int, str, list[list[float]]]]:
    """(line, image name, 18 [x, y] keypoints) per row; the file stores y first, so they are swapped."""
    rows = []
    seen: dict[str, int] = {}
    lines = text_lines(path)
    head = next(lines, None)
    if head is None or re.sub(r"\s+", "", head[1]) != "name:keypoints_y:keypoints_x":
        got = head[1][:60] if head else ""
        raise InputError(f"expected the header 'name:keypoints_y:keypoints_x', got {got!r}", path, 1)
    for line, text in lines:
        if not text.strip():
            continue
        m = _ROW.match(text.strip())
        if m is None:
            raise InputError("malformed annotation: expected 'name: [y0, ..., y17]: [x0, ..., x17]'", path, line)
        name = check_relative(m.group("name"), path, line)
        if name in seen:
            raise InputError(f"image {name!r} annotated twice (first on line {seen[name]})", path, line)
        seen[name] = line
        ys = _numbers(m.group("y"), "y", path, line)
        xs = _numbers(m.group("x"), "x", path, line)
        kps = [[-1, -1] if x == -1 or y == -1 else [x, y] for x, y in zip(xs, ys, strict=True)]
        rows.append((line, name, kps))
    return rows


def _find(src: Path, pattern: str, prefix: str | None) -> dict[str, Path]:
    """prefix -> file for files named ``PREFIX-<pattern>`` in SRC."""
    found = {}
    for p in sorted(src.glob(f"*-{pattern}")):
        if p.is_file():
            pre = p.name[: -len(pattern) - 1]
            if prefix is None or pre == prefix:
                found[pre] = p
    return found


def _image_folder(src: Path, prefix: str, split: str, names: list[str]) -> str:
    """The folder (relative to SRC) holding this split's images: ``split/``, ``PREFIX-split/`` ..."""
    cands = [split, f"{prefix}-{split}", f"{prefix}_{split}"]
    cands += sorted(p.name for p in src.iterdir() if p.is_dir() and p.name.lower().endswith(("-" + split, "_" + split)))
    cands = [c for i, c in enumerate(cands) if c not in cands[:i] and (src / c).is_dir()]
    probe = names[:20]
    best, best_hits = None, 0
    for c in cands:
        hits = sum((src / c / n).is_file() for n in probe)
        if hits > best_hits:
            best, best_hits = c, hits
    return best or (cands[0] if cands else split)


@IMPORTERS.register("pose-pairs")
def import_pose_pairs(
    src: Path,
    out: Path,
    *,
    prefix: str | None = None,
    image_size: Sequence[int] | None = None,
    copy_images: bool = False,
    skip_missing: bool = False,
) -> Path:
    """Market-1501 / DeepFashion In-shop pose pairs (PATN/XingGAN files): 18 keypoints, identities, pairs.

    Keypoints become 18 ``[x, y]`` per item (the files store y first), ``[-1, -1]`` when missing; the
    identity comes from the file name; item ids are the image names, as in the pairs files.

    Options:
        prefix: which file set to read when SRC has several (``market``, ``fasion-resize``); default
            the only one present.
        image_size: ``(height, width)`` of every image (Market 128x64, DeepFashion 256x176), stored in
            the schema; default none (not checked here; ``fashionlab data check`` decodes).
        copy_images: copy the images into ``OUT/images/`` (default: reference them in SRC).
        skip_missing: drop items whose image is missing, and the pairs naming them, with a warning
            (default: an error listing them).
    """
    src, out = prepare(src, out)
    annos = {s: _find(src, f"annotation-{s}.csv", prefix) for s in SPLITS}
    prefixes = sorted({p for d in annos.values() for p in d})
    if not prefixes:
        want = f"{prefix}-annotation-train.csv" if prefix else "*-annotation-train.csv / *-annotation-test.csv"
        raise InputError(
            f"no annotation files found (expected {want}, e.g. market-annotation-train.csv "
            "or fasion-resize-annotation-train.csv)",
            path=src,
        )
    if len(prefixes) > 1:
        raise InputError(
            f"several annotation sets found ({', '.join(prefixes)}); choose one with the "
            "prefix option (--option prefix=...)",
            path=src,
        )
    pre = prefixes[0]
    size = None
    if image_size is not None:
        try:
            size = tuple(int(v) for v in image_size)
        except (TypeError, ValueError):
            size = ()
        if len(size) != 2 or min(size) <= 0:
            raise InputError(f"expected (height, width) positive integers, got {image_size!r}", field="image_size")

    staged: list[Staged] = []
    pairs: dict[str, list[tuple[str, str, Path, int]]] = {}
    ids: dict[str, tuple[Path, int]] = {}
    splits = []
    for split in SPLITS:
        path = annos[split].get(pre)
        if path is None:
            continue
        splits.append(split)
        rows = read_annotation(path)
        folder = _image_folder(src, pre, split, [r[1] for r in rows])
        for line, name, kps in rows:
            if name in ids:
                other, oline = ids[name]
                raise InputError(f"image {name!r} is also in {other.name}:{oline}", path, line)
            ids[name] = (path, line)
            item = Item(
                id=name, path=f"{folder}/{name}", split=split, attributes={}, keypoints=kps, identity=identity_of(name)
            )
            staged.append(Staged(item, path, line))
        names = {r[1] for r in rows}
        pairs_path = src / f"{pre}-pairs-{split}.csv"
        if pairs_path.is_file():
            header, prow = read_csv(pairs_path)
            if [h.lower() for h in header] != ["from", "to"]:
                raise InputError(f"expected the header 'from,to', got {','.join(header)!r}", pairs_path, 1)
            for line, (a, b) in prow:
                for n in (a, b):
                    if n not in names:
                        raise InputError(f"pair names image {n!r}, which is not in {path.name}", pairs_path, line)
                pairs.setdefault(split, []).append((a, b, pairs_path, line))

    total = len(staged)
    staged = check_images(staged, src, skip_missing)
    kept = {s.item.id for s in staged}
    schema = DatasetSchema(
        name=src.resolve().name,
        attributes=[],
        image_size=size,
        splits=splits,
        annotations=Annotations(keypoints=True, identity=True),
        source={
            **source_info(
                "pose-pairs", src, prefix=pre, image_size=image_size, copy_images=copy_images, skip_missing=skip_missing
            ),
            "items": len(staged),
            "skipped_missing": total - len(staged),
        },
    )
    with DatasetWriter(out, schema) as w:
        add_staged(w, schema, staged, src, copy=copy_images)
        dropped = 0
        for split, plist in pairs.items():
            keep = [(a, b) for a, b, _, _ in plist if a in kept and b in kept]
            dropped += len(plist) - len(keep)
            w.add_pairs(split, keep)
        schema.source["skipped_pairs"] = dropped
    if dropped:
        warnings.warn(f"skipped {dropped} pair(s) naming a missing image", SkippedItemsWarning, stacklevel=2)
    return out
