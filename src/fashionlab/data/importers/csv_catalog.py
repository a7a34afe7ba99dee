"""Label tables: your own catalog (``csv``) and DeepFashion-Synthesis-style colour/sleeve labels.

Both read a CSV whose first column is ``image`` (a path relative to the image folder), with optional
``split`` and ``id`` columns; every other column is an attribute. Empty cells and ``unknown`` are the
unknown value. Without a split column the split is drawn deterministically from ``split_fractions``
and ``seed`` (by a seeded hash of the item id, so it does not depend on row order).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from ..format import UNKNOWN, AttributeSpec, DatasetSchema, DatasetWriter, Item
from .catalog_layout import find_image_base, find_labels_csv
from .common import (
    Staged,
    add_staged,
    assign_splits,
    check_fractions,
    check_images,
    check_relative,
    parse_split,
    prepare,
    read_csv,
    resolve_under,
    source_info,
)
from .registry import IMPORTERS

_INT = re.compile(r"^[+-]?\d+$")
_SPECIAL = ("image", "split", "id")


@dataclass
class Table:
    path: Path
    attributes: list[str]  # attribute column names, in file order
    rows: list[tuple[int, str, str, str | None, dict[str, str]]]  # line, id, image, split, raw values


def _read_table(path: Path, attributes: Sequence[str] | None) -> Table:
    header, rows = read_csv(path)
    lower = [h.lower() for h in header]
    if lower[0] != "image":
        raise InputError(f"the first column must be 'image' (the image path), got {header[0]!r}", path, 1)
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        if not h:
            raise InputError(f"column {i + 1} has no name", path, 1)
        key = h.lower() if h.lower() in _SPECIAL else h
        if key in seen:
            raise InputError(f"column {h!r} appears twice (columns {seen[key] + 1} and {i + 1})", path, 1)
        seen[key] = i
    cols = {i: h for i, h in enumerate(header) if h.lower() not in _SPECIAL}
    if attributes is not None:
        unknown = [a for a in attributes if a not in cols.values()]
        if unknown:
            raise InputError(
                f"unknown attribute(s) {unknown}; the CSV has: {', '.join(cols.values())}", field="attributes"
            )
        cols = {i: h for i, h in cols.items() if h in attributes}
    i_split, i_id = seen.get("split"), seen.get("id")
    out = []
    ids: dict[str, int] = {}
    for line, cells in rows:
        image = check_relative(cells[0], path, line)
        ident = cells[i_id] if i_id is not None else image
        if not ident:
            raise InputError("empty id", path, line, field="id")
        if ident in ids:
            raise InputError(f"duplicate id {ident!r} (first on line {ids[ident]})", path, line)
        ids[ident] = line
        split = parse_split(cells[i_split], path, line) if i_split is not None else None
        out.append((line, ident, image, split, {h: cells[i] for i, h in cols.items()}))
    return Table(path, list(cols.values()), out)


def _is_unknown(cell: str) -> bool:
    return cell == "" or cell.lower() == UNKNOWN


def _value_sets(table: Table, value_names: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Ordered values per attribute: the given names, else the sorted distinct values seen (numerically
    when all are integers)."""
    out = {}
    for a in table.attributes:
        if a in value_names:
            vals = [str(v) for v in value_names[a]]
            if not vals or len(set(vals)) != len(vals) or any(_is_unknown(v) for v in vals):
                raise InputError(
                    f"value_names[{a!r}] must be distinct non-empty names other than 'unknown', got {vals}",
                    field="value_names",
                )
            out[a] = vals
            continue
        seen = {row[4][a] for row in table.rows} - {""}
        seen = {v for v in seen if v.lower() != UNKNOWN}
        if not seen:
            raise InputError(
                f"column {a!r} has no values other than unknown (drop it or label some rows)", table.path, field=a
            )
        numeric = all(_INT.match(v) for v in seen)
        out[a] = sorted(seen, key=(lambda v: (int(v), v)) if numeric else None)
    return out


def _build(
    kind: str,
    src: Path,
    out: Path,
    table: Table,
    images_dir: str | Path | None,
    value_names: Mapping[str, Sequence[str]],
    split_fractions: Sequence[float],
    seed: int,
    copy_images: bool,
    skip_missing: bool,
    options: dict,
) -> Path:
    values = _value_sets(table, value_names)
    splits = None
    if any(r[3] is None for r in table.rows):
        check_fractions(split_fractions)
        splits = assign_splits([r[1] for r in table.rows], split_fractions, seed)
    staged = []
    for line, ident, image, split, raw in table.rows:
        attrs = {}
        for a, cell in raw.items():
            if _is_unknown(cell):
                attrs[a] = UNKNOWN
            elif a in value_names and _INT.match(cell):
                k = int(cell)
                if not 0 <= k < len(values[a]):
                    raise InputError(
                        f"value index {k} is out of range: {a!r} has {len(values[a])} values "
                        f"(0-based: {', '.join(values[a])})",
                        table.path,
                        line,
                        field=a,
                    )
                attrs[a] = values[a][k]
            elif cell in values[a]:
                attrs[a] = cell
            else:
                raise InputError(
                    f"bad value {cell!r}: expected one of {', '.join(values[a])}, an index "
                    f"0..{len(values[a]) - 1} or empty/unknown",
                    table.path,
                    line,
                    field=a,
                )
        item = Item(id=ident, path=image, split=split or splits[ident], attributes=attrs)
        staged.append(Staged(item, table.path, line))
    total = len(staged)
    if images_dir is None:
        base = find_image_base(src, table.path, [s.item.path for s in staged])
        root, tried = base.root, [str(b.resolve()) for b in base.tried]
    else:
        root, tried = resolve_under(src, images_dir, "."), None
    staged = check_images(staged, root, skip_missing)
    schema = DatasetSchema(
        name=src.resolve().name,
        attributes=[AttributeSpec(a, values[a]) for a in table.attributes],
        source={
            **source_info(kind, src, **options),
            "items": len(staged),
            "skipped_missing": total - len(staged),
            "split_generated": splits is not None,
            "labels_csv": str(table.path.resolve()),
            "image_base": str(root.resolve()),
            "image_bases_tried": tried,
        },
    )
    with DatasetWriter(out, schema) as w:
        add_staged(w, schema, staged, root, copy=copy_images)
    return out


def _check_value_names(value_names: Mapping[str, Sequence[str]] | None, table: Table) -> dict:
    value_names = dict(value_names or {})
    unknown = [a for a in value_names if a not in table.attributes]
    if unknown:
        raise InputError(
            f"value_names names unknown column(s) {unknown}; attribute columns: {', '.join(table.attributes)}",
            field="value_names",
        )
    for a, v in value_names.items():
        if isinstance(v, str) or not isinstance(v, Sequence):
            raise InputError(f"value_names[{a!r}] must be a list of value names, got {v!r}", field="value_names")
    return value_names


@IMPORTERS.register("csv")
def import_csv(
    src: Path,
    out: Path,
    *,
    csv_path: str | Path | None = None,
    images_dir: str | Path | None = None,
    attributes: Sequence[str] | None = None,
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    copy_images: bool = False,
    skip_missing: bool = False,
) -> Path:
    """Your own catalog: a folder of images and a CSV (image column first, then attribute columns).

    Without ``csv_path`` the CSV is ``SRC/attributes.csv``, else the only CSV at SRC's top level; without
    ``images_dir`` the image paths are tried relative to SRC, to the CSV's folder, then to the one image
    folder inside SRC (the first base holding every image wins; ``schema.source["image_base"]`` records
    it). So ``SRC/labels.csv`` naming the files of ``SRC/images/`` needs no option.

    Columns: ``image`` (path relative to the image folder; spaces are fine), optional ``split``
    (train/val/test) and ``id`` (default: the image path); every other column is an attribute whose
    values are free strings (their sorted distinct set); an empty cell or ``unknown`` is unknown.

    Options:
        csv_path: the CSV, absolute or relative to SRC (default ``SRC/attributes.csv``, else SRC's one CSV).
        images_dir: folder the image paths are relative to, absolute or relative to SRC (default: found as
            above).
        attributes: keep only these attribute columns (default all).
        split_fractions: (train, val, test) fractions used when there is no split column.
        seed: seed of that split (deterministic: same seed and ids, same split).
        copy_images: copy the images into ``OUT/images/`` (default: reference them in place).
        skip_missing: drop rows whose image is missing, with a warning (default: an error listing them).
    """
    src, out = prepare(src, out)
    path = find_labels_csv(src, "attributes.csv") if csv_path is None else resolve_under(src, csv_path, "")
    table = _read_table(path, attributes)
    return _build(
        "csv",
        src,
        out,
        table,
        images_dir,
        {},
        split_fractions,
        seed,
        copy_images,
        skip_missing,
        dict(
            csv_path=csv_path,
            images_dir=images_dir,
            attributes=attributes,
            split_fractions=split_fractions,
            seed=seed,
            copy_images=copy_images,
            skip_missing=skip_missing,
        ),
    )


@IMPORTERS.register("deepfashion-synthesis")
def import_deepfashion_synthesis(
    src: Path,
    out: Path,
    *,
    csv_name: str = "labels.csv",
    csv_path: str | Path | None = None,
    images_dir: str | Path | None = None,
    value_names: Mapping[str, Sequence[str]] | None = None,
    attributes: Sequence[str] | None = None,
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    copy_images: bool = False,
    skip_missing: bool = False,
) -> Path:
    """DeepFashion-Synthesis-style colour/sleeve labels: a CSV image,color,sleeve[,split].

    Cells are value names or 0-based integer indices into ``value_names``; an empty cell or
    ``unknown`` is unknown. Without ``value_names`` an attribute's values are the sorted distinct
    cells (numerically sorted when all are integers).

    Options:
        csv_name: the CSV's file name in SRC (default ``labels.csv``).
        csv_path: the CSV, absolute or relative to SRC (overrides ``csv_name``).
        images_dir: folder the image paths are relative to, absolute or relative to SRC (default: SRC, the
            CSV's folder or SRC's one image folder, the first holding every image).
        value_names: ``{"color": ["black", "blue", ...], ...}``: the ordered values of an attribute;
            integer cells index it (0-based), name cells must be in it.
        attributes: keep only these attribute columns (default all).
        split_fractions: (train, val, test) fractions used when there is no split column.
        seed: seed of that split.
        copy_images: copy the images into ``OUT/images/`` (default: reference them in place).
        skip_missing: drop rows whose image is missing, with a warning (default: an error listing them).
    """
    src, out = prepare(src, out)
    path = resolve_under(src, csv_path, csv_name)
    table = _read_table(path, attributes)
    names = _check_value_names(value_names, table)
    return _build(
        "deepfashion-synthesis",
        src,
        out,
        table,
        images_dir,
        names,
        split_fractions,
        seed,
        copy_images,
        skip_missing,
        dict(
            csv_name=csv_name,
            csv_path=csv_path,
            images_dir=images_dir,
            value_names=value_names,
            attributes=attributes,
            split_fractions=split_fractions,
            seed=seed,
            copy_images=copy_images,
            skip_missing=skip_missing,
        ),
    )
