"""CelebA: ``list_attr_celeba.txt`` (40 binary face attributes), ``list_eval_partition.txt``, images.

File formats: ``../shared/docs/papers.md`` section 6 (used by ResGAN-style face attribute editing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...errors import InputError
from ..format import AttributeSpec, DatasetSchema, DatasetWriter, Item
from .common import (
    ListFile,
    Problems,
    Staged,
    add_staged,
    check_images,
    check_relative,
    expect_tokens,
    prepare,
    require_file,
    resolve_under,
    source_info,
)
from .registry import IMPORTERS

VALUES = {"1": "yes", "-1": "no"}
PARTITIONS = {"0": "train", "1": "val", "2": "test"}
#: Header tokens some copies put before the 40 names (the image column); dropped.
_IMAGE_HEADERS = {"image_id", "image", "file", "filename", "file_name", "name"}


@IMPORTERS.register("celeba")
def import_celeba(
    src: Path,
    out: Path,
    *,
    attributes: Sequence[str] | None = None,
    images_dir: str | Path | None = None,
    copy_images: bool = False,
    skip_missing: bool = False,
) -> Path:
    """CelebA: the 40 binary face attributes (no/yes) and the official train/val/test split.

    SRC holds ``list_attr_celeba.txt`` (count line, the 40 names, then a file name and 40 values in
    {1, -1} per row), ``list_eval_partition.txt`` (file name and 0/1/2 = train/val/test, no header) and
    the images in ``img_align_celeba/``.

    Options:
        attributes: keep only these attributes, in this order (e.g. ``["Eyeglasses", "Smiling"]``;
            exact CelebA names; an unknown one is an error listing the 40). Default: all 40.
        images_dir: the image folder, absolute or relative to SRC (default ``img_align_celeba``).
        copy_images: copy the images into ``OUT/images/`` (default: reference them in place).
        skip_missing: drop rows whose image is missing, with a warning (default: an error listing them).
    """
    src, out = prepare(src, out)
    attr_path = require_file(src / "list_attr_celeba.txt", "CelebA attributes")
    part_path = require_file(src / "list_eval_partition.txt", "CelebA splits")
    listing = ListFile(attr_path)
    names = listing.read_header()
    if names and names[0].lower() in _IMAGE_HEADERS:
        names = names[1:]
    if not names:
        raise InputError("expected the attribute names on line 2", attr_path, 2)
    index = {n: i for i, n in enumerate(names)}
    if len(index) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"attribute name(s) {dup} appear twice", attr_path, 2)
    if attributes is None:
        kept = list(names)
    else:
        kept = list(attributes)
        lower = {n.lower(): n for n in names}
        kept = [a if a in index else lower.get(a.lower(), a) for a in kept]
        unknown = [a for a in kept if a not in index]
        if unknown:
            raise InputError(f"unknown CelebA attribute(s) {unknown}; valid: {', '.join(names)}", field="attributes")
        if len(set(kept)) != len(kept):
            raise InputError(f"attribute(s) given twice: {kept}", field="attributes")
    cols = [index[a] for a in kept]

    splits: dict[str, str] = {}
    for line, tokens in ListFile(part_path, count=False, header=False):
        expect_tokens(tokens, 2, part_path, line, "values (file name, 0/1/2)")
        split = PARTITIONS.get(tokens[1])
        if split is None:
            raise InputError(f"bad partition {tokens[1]!r}: expected 0 (train), 1 (val) or 2 (test)", part_path, line)
        splits[tokens[0]] = split

    problems = Problems(f"{attr_path} (images without a split)")
    staged: list[Staged] = []
    first: dict[str, int] = {}
    for line, tokens in listing:
        expect_tokens(tokens, 1 + len(names), attr_path, line, f"values (file name and {len(names)} labels)")
        name = check_relative(tokens[0], attr_path, line)
        if name in first:
            raise InputError(f"image {name!r} listed twice (first on line {first[name]})", attr_path, line)
        first[name] = line
        labels = tokens[1:]
        for j, v in enumerate(labels):
            if v not in VALUES:
                raise InputError(f"bad value {v!r} for {names[j]}: expected 1 or -1", attr_path, line)
        if name not in splits:
            problems.add(InputError(f"image {name!r} has no row in {part_path.name}", attr_path, line))
            continue
        item = Item(
            id=name,
            path=name,
            split=splits[name],
            attributes={a: VALUES[labels[c]] for a, c in zip(kept, cols, strict=True)},
        )
        staged.append(Staged(item, attr_path, line))
    problems.raise_if_any()

    root = resolve_under(src, images_dir, "img_align_celeba")
    total = len(staged)
    staged = check_images(staged, root, skip_missing)
    schema = DatasetSchema(
        name=src.resolve().name,
        attributes=[AttributeSpec(a, ["no", "yes"]) for a in kept],
        source={
            **source_info(
                "celeba",
                src,
                attributes=attributes,
                images_dir=images_dir,
                copy_images=copy_images,
                skip_missing=skip_missing,
            ),
            "items": len(staged),
            "skipped_missing": total - len(staged),
        },
    )
    with DatasetWriter(out, schema) as w:
        add_staged(w, schema, staged, root, copy=copy_images)
    return out
