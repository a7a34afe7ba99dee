"""DeepFashion Category & Attribute Prediction (``Anno/``, ``Eval/``, ``Img/img/`` or ``img/``).

File formats: ``../shared/docs/papers.md`` section 6. Each list file has a count line, a header line and
rows aligned with runs of spaces. Each of the 1000 binary attributes becomes a ``no``/``yes`` attribute
(``0`` = unknown); the garment category becomes the ``category`` attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...errors import InputError
from ..format import Annotations, AttributeSpec, DatasetSchema, DatasetWriter, Item
from ..imaging import open_image
from .common import (
    ListFile,
    Problems,
    Staged,
    add_staged,
    check_images,
    check_relative,
    expect_tokens,
    parse_int,
    parse_split,
    prepare,
    require_file,
    source_info,
    unique_slugs,
)
from .registry import IMPORTERS

ATTRIBUTE_TYPES = {1: "texture", 2: "fabric", 3: "shape", 4: "part", 5: "style"}
CLOTHES_TYPES = {1: "upper", 2: "lower", 3: "full"}
#: Landmarks per row by clothes type (upper: collars, sleeves, hems; lower: waistlines, hems; full: all).
LANDMARKS_PER_TYPE = {1: 6, 2: 4, 3: 8}
#: list_attr_img.txt value -> attribute value (binary attributes; 0 = not labelled).
BINARY = {"1": "yes", "-1": "no", "0": "unknown"}
_CODE = {"1": 2, "-1": 1, "0": 0}
_DECODE = ("unknown", "no", "yes")


def _attribute_list(anno: Path) -> list[tuple[str, int, int]]:
    """(name, type, line) for each attribute of list_attr_cloth.txt (names may contain spaces)."""
    path = require_file(anno / "list_attr_cloth.txt", "DeepFashion attribute names")
    out = []
    for line, tokens in ListFile(path):
        if len(tokens) < 2:
            raise InputError("truncated row: expected an attribute name and its type", path, line)
        t = parse_int(tokens[-1], path, line, "attribute type")
        if t not in ATTRIBUTE_TYPES:
            raise InputError(f"attribute type {t} is not one of {sorted(ATTRIBUTE_TYPES)}", path, line)
        out.append((" ".join(tokens[:-1]), t, line))
    return out


def _select(
    attrs: list[tuple[str, int, int]],
    slugs: list[str],
    attribute_types: Sequence[int] | None,
    attributes: Sequence[str] | None,
) -> list[int]:
    """Indices of the attributes to keep: of the given types, or named (by name or slug); all if neither."""
    if attribute_types is None and attributes is None:
        return list(range(len(attrs)))
    keep: set[int] = set()
    if attribute_types is not None:
        types = set()
        for t in attribute_types:
            try:
                types.add(int(t))
            except (TypeError, ValueError):
                types.add(-1)
        bad = sorted(str(t) for t in types if t not in ATTRIBUTE_TYPES)
        if bad:
            valid = ", ".join(f"{k} {v}" for k, v in ATTRIBUTE_TYPES.items())
            raise InputError(f"unknown attribute type(s) {', '.join(bad)}; valid: {valid}", field="attribute_types")
        keep |= {i for i, (_, t, _) in enumerate(attrs) if t in types}
    if attributes is not None:
        by_name = {}
        for i, ((name, _, _), s) in enumerate(zip(attrs, slugs, strict=True)):
            by_name.setdefault(name, i)
            by_name.setdefault(name.lower(), i)
            by_name.setdefault(s, i)
        unknown = [a for a in attributes if a not in by_name and a.lower() not in by_name]
        if unknown:
            raise InputError(
                f"unknown attribute(s) {unknown}: not in list_attr_cloth.txt (give the name as "
                f"written there or its slug, e.g. {slugs[0]!r} for {attrs[0][0]!r})"
                if attrs
                else f"unknown attribute(s) {unknown}: list_attr_cloth.txt is empty",
                field="attributes",
            )
        keep |= {by_name[a] if a in by_name else by_name[a.lower()] for a in attributes}
    return sorted(keep)


def _categories(anno: Path) -> list[str]:
    path = require_file(anno / "list_category_cloth.txt", "DeepFashion category names")
    names: list[str] = []
    first: dict[str, int] = {}
    for line, tokens in ListFile(path):
        if len(tokens) < 2:
            raise InputError("truncated row: expected a category name and its type", path, line)
        parse_int(tokens[-1], path, line, "category type")
        name = " ".join(tokens[:-1])
        if name in first:
            raise InputError(f"category {name!r} appears twice (first on line {first[name]})", path, line)
        if name.lower() == "unknown":
            raise InputError("'unknown' is reserved and cannot be a category name", path, line)
        first[name] = line
        names.append(name)
    return names


def _image_root(src: Path, first_path: str | None) -> Path:
    """``SRC/Img`` or ``SRC`` (list paths start with ``img/``): the one that holds the images."""
    candidates = [src / "Img", src]
    present = [c for c in candidates if (c / "img").is_dir()]
    if first_path is not None:
        for c in present:
            if (c / first_path).is_file():
                return c
    if present:
        return present[0]
    raise InputError("no image folder: expected Img/img/ or img/ (unzip Img/img.zip there)", path=src)


def _crop(staged: list[Staged], root: Path, dest_root: Path) -> None:
    """Write each item's bbox crop into ``dest_root/images/`` and shift bbox and landmarks to it."""
    for s in staged:
        it = s.item
        rel = Path(it.path)
        img = open_image(root / rel)
        x1, y1, x2, y2 = it.bbox
        cx1, cy1 = max(0, int(x1)), max(0, int(y1))
        cx2, cy2 = min(img.width, int(x2)), min(img.height, int(y2))
        if cx2 <= cx1 or cy2 <= cy1:
            raise InputError(f"bbox {it.bbox} is empty inside the {img.width}x{img.height} image", s.path, s.line)
        crop = img.crop((cx1, cy1, cx2, cy2))
        jpeg = rel.suffix.lower() in (".jpg", ".jpeg")
        out_rel = Path("images") / (rel if jpeg else rel.with_suffix(".png"))
        dest = dest_root / out_rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if jpeg:
            crop.convert("RGB").save(dest, format="JPEG", quality=95)
        else:
            crop.save(dest, format="PNG")
        it.extra = {**(it.extra or {}), "source_path": it.path, "source_bbox": list(it.bbox)}
        it.path = out_rel.as_posix()
        it.bbox = [x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1]
        if it.landmarks:
            it.landmarks = [[v, x - cx1, y - cy1] if (x, y) != (0, 0) else [v, x, y] for v, x, y in it.landmarks]
        img.close()


@IMPORTERS.register("deepfashion-attributes")
def import_deepfashion_attributes(
    src: Path,
    out: Path,
    *,
    attribute_types: Sequence[int] | None = None,
    attributes: Sequence[str] | None = None,
    crop_bbox: bool = False,
    copy_images: bool = False,
    skip_missing: bool = False,
) -> Path:
    """DeepFashion Category & Attribute Prediction: 1000 binary attributes + category, bbox, landmarks.

    SRC is the release root with ``Anno/list_attr_cloth.txt``, ``Anno/list_attr_img.txt``,
    ``Anno/list_category_cloth.txt``, ``Anno/list_category_img.txt``, ``Anno/list_bbox.txt``,
    ``Anno/list_landmarks.txt`` (optional) and ``Eval/list_eval_partition.txt``; images under
    ``Img/img/`` or ``img/``. The items are the rows of the partition file (its split), in its order.

    Options:
        attribute_types: keep the attributes of these types (1 texture, 2 fabric, 3 shape, 4 part,
            5 style). With ``attributes`` too, an attribute is kept if either selects it.
        attributes: keep these attributes, named as in list_attr_cloth.txt or by slug (``"a_line"``).
            Neither option: all 1000 are kept. ``category`` is always there.
        crop_bbox: write bbox crops into ``OUT/images/`` (JPEG quality 95 for JPEG sources, else PNG);
            bbox and landmarks are shifted into the crop, the original path and bbox go to ``extra``.
        copy_images: copy the images into ``OUT/images/`` (default: reference them in SRC).
        skip_missing: drop items whose image file is missing, with a warning (default: an error
            listing them).

    Keeping all 1000 attributes of the full release (289k images) makes a multi-GB items.jsonl and needs
    several GB of memory while writing; select with ``attribute_types`` / ``attributes`` for real work.

    Attribute names are slugs of the DeepFashion names (``"a-line"`` -> ``"a_line"``; a clash gets
    ``_2``); ``schema.source`` maps each slug to its original name and type.
    """
    src, out = prepare(src, out)
    anno = src / "Anno"
    attrs = _attribute_list(anno)
    slugs = unique_slugs([a[0] for a in attrs], taken=["category"])
    keep = _select(attrs, slugs, attribute_types, attributes)
    categories = _categories(anno)

    part_path = require_file(src / "Eval" / "list_eval_partition.txt", "DeepFashion splits")
    order: list[tuple[str, str, int]] = []
    seen: dict[str, int] = {}
    for line, tokens in ListFile(part_path):
        expect_tokens(tokens, 2, part_path, line, "values (image path, split)")
        if tokens[0] in seen:
            raise InputError(f"image {tokens[0]!r} listed twice (first on line {seen[tokens[0]]})", part_path, line)
        seen[tokens[0]] = line
        check_relative(tokens[0], part_path, line)
        order.append((tokens[0], parse_split(tokens[1], part_path, line), line))
    wanted = set(seen)

    cat_path = require_file(anno / "list_category_img.txt", "DeepFashion image categories")
    category: dict[str, str] = {}
    for line, tokens in ListFile(cat_path):
        expect_tokens(tokens, 2, cat_path, line, "values (image path, category index)")
        k = parse_int(tokens[1], cat_path, line, "category index")
        if not 1 <= k <= len(categories):
            raise InputError(
                f"category index {k} is out of range: list_category_cloth.txt has "
                f"{len(categories)} categories (1-based)",
                cat_path,
                line,
            )
        if tokens[0] in wanted:
            category[tokens[0]] = categories[k - 1]

    attr_path = require_file(anno / "list_attr_img.txt", "DeepFashion image attributes")
    values: dict[str, bytes] = {}
    allowed = set(_CODE)
    for line, tokens in ListFile(attr_path):
        expect_tokens(tokens, 1 + len(attrs), attr_path, line, f"values (image path and {len(attrs)} labels)")
        labels = tokens[1:]
        if not allowed.issuperset(labels):
            j = next(j for j, v in enumerate(labels) if v not in allowed)
            raise InputError(
                f"bad label {labels[j]!r} for attribute {j + 1} ({attrs[j][0]!r}); expected 1, -1 or 0 (unknown)",
                attr_path,
                line,
            )
        if tokens[0] in wanted:
            values[tokens[0]] = bytes(_CODE[labels[j]] for j in keep)

    bbox_path = require_file(anno / "list_bbox.txt", "DeepFashion bounding boxes")
    bboxes: dict[str, list[int]] = {}
    for line, tokens in ListFile(bbox_path):
        expect_tokens(tokens, 5, bbox_path, line, "values (image path, x1, y1, x2, y2)")
        box = [parse_int(t, bbox_path, line, "bbox coordinate") for t in tokens[1:]]
        if box[2] < box[0] or box[3] < box[1]:
            raise InputError(f"bbox {box} has x2 < x1 or y2 < y1", bbox_path, line)
        if tokens[0] in wanted:
            bboxes[tokens[0]] = box

    lm_path = anno / "list_landmarks.txt"
    landmarks: dict[str, tuple[int, int, list[list[int]]]] = {}
    if lm_path.is_file():
        for line, tokens in ListFile(lm_path):
            if len(tokens) < 3:
                raise InputError(
                    "truncated row: expected image path, clothes type, variation type and landmarks", lm_path, line
                )
            ct = parse_int(tokens[1], lm_path, line, "clothes type")
            if ct not in LANDMARKS_PER_TYPE:
                raise InputError(f"clothes type {ct} is not 1 (upper), 2 (lower) or 3 (full body)", lm_path, line)
            n = LANDMARKS_PER_TYPE[ct]
            expect_tokens(
                tokens,
                3 + 3 * n,
                lm_path,
                line,
                f"values (path, clothes type, variation type and {n} (visibility, x, y) triples for clothes type {ct})",
            )
            nums = [parse_int(t, lm_path, line, "landmark value") for t in tokens[2:]]
            triples = [nums[1 + 3 * i : 4 + 3 * i] for i in range(n)]
            if tokens[0] in wanted:
                landmarks[tokens[0]] = (ct, nums[0], triples)

    problems = Problems(f"{part_path} (images without labels)")
    staged = []
    kept_names = [slugs[j] for j in keep]
    for path, split, line in order:
        lacking = [f.name for f, d in ((cat_path, category), (attr_path, values), (bbox_path, bboxes)) if path not in d]
        if lacking:
            problems.add(InputError(f"image {path!r} has no row in {', '.join(lacking)}", part_path, line))
            continue
        item_attrs = {"category": category[path]}
        item_attrs.update({name: _DECODE[c] for name, c in zip(kept_names, values[path], strict=True)})
        item = Item(id=path, path=path, split=split, attributes=item_attrs, bbox=list(bboxes[path]))
        if path in landmarks:
            ct, variation, item.landmarks = landmarks[path]
            item.extra = {"clothes_type": CLOTHES_TYPES[ct], "variation_type": variation}
        staged.append(Staged(item, part_path, line))
    problems.raise_if_any()

    root = _image_root(src, order[0][0] if order else None)
    staged = check_images(staged, root, skip_missing)
    specs = [AttributeSpec("category", list(categories))]
    specs += [AttributeSpec(slugs[j], ["no", "yes"]) for j in keep]
    schema = DatasetSchema(
        name=src.resolve().name,
        attributes=specs,
        annotations=Annotations(bbox=True, landmarks=bool(landmarks)),
        source={
            **source_info(
                "deepfashion-attributes",
                src,
                attribute_types=attribute_types,
                attributes=attributes,
                crop_bbox=crop_bbox,
                copy_images=copy_images,
                skip_missing=skip_missing,
            ),
            "items": len(staged),
            "skipped_missing": len(order) - len(staged),
            "attribute_names": {slugs[j]: attrs[j][0] for j in keep},
            "attribute_types": {slugs[j]: ATTRIBUTE_TYPES[attrs[j][1]] for j in keep},
        },
    )
    with DatasetWriter(out, schema) as w:
        if crop_bbox:
            _crop(staged, root, w.root)
            schema.image_root = "."
            for s in staged:
                w.add(s.item)
        else:
            add_staged(w, schema, staged, root, copy=copy_images)
    return out
