"""Importers: tiny fixture datasets written in the exact source formats, good and broken.

Every broken input must fail with an error naming the file and line; SRC must never change; the
output must load with ``load_dataset``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.importer_sources import (
    CELEBA_NAMES,
    DF_IMAGES,
    DF_SPLIT,
    MAKERS,
    edit_line,
    make_catalog,
    make_celeba,
    make_deepfashion,
    raises_where,
    tree_hash,
)
from PIL import Image

from fashionlab.data.format import UNKNOWN, load_dataset
from fashionlab.data.importers import IMPORTERS, MissingImagesError, SkippedItemsWarning, run_import
from fashionlab.errors import FashionlabError, InputError, OutputExistsError

# -------------------------------------------------------------------------------------- all importers


def test_registry_lists_all_importers():
    assert set(IMPORTERS.names()) == set(MAKERS)
    for name in IMPORTERS:
        assert IMPORTERS.help(name)


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("crlf,bom", [(False, False), (True, True)])
def test_import_loads_and_leaves_src_unchanged(tmp_path, kind, crlf, bom):
    make, opts = MAKERS[kind]
    src = make(tmp_path / "src", crlf=crlf, bom=bom)
    before = tree_hash(src)
    out = run_import(kind, src, tmp_path / "out", **opts)
    assert tree_hash(src) == before
    ds = load_dataset(out)
    assert ds.items and all(ds.image_path(it).is_file() for it in ds.items)
    assert Path(ds.schema.image_root).is_absolute()
    assert ds.schema.source["importer"] == kind
    assert not list(tmp_path.glob(".out.partial-*"))


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_copy_images_and_refuse_second_import(tmp_path, kind):
    make, opts = MAKERS[kind]
    src = make(tmp_path / "src")
    before = tree_hash(src)
    out = run_import(kind, src, tmp_path / "out", copy_images=True, **opts)
    ds = load_dataset(out)
    assert ds.schema.image_root == "."
    for it in ds.items:
        assert it.path.startswith("images/") and (out / it.path).is_file()
    first = tree_hash(out)
    with pytest.raises(OutputExistsError):
        run_import(kind, src, out, **opts)
    assert tree_hash(out) == first
    assert tree_hash(src) == before


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.filterwarnings("ignore:skipped .* pair")
def test_missing_image_is_listed_or_skipped(tmp_path, kind):
    make, opts = MAKERS[kind]
    src = make(tmp_path / "src")
    ds_items = load_dataset(run_import(kind, src, tmp_path / "full", **opts)).items
    victim = load_dataset(tmp_path / "full").image_path(ds_items[-1])
    victim.unlink()
    with pytest.raises(MissingImagesError) as info:
        run_import(kind, src, tmp_path / "out", **opts)
    assert len(info.value.problems) == 1 and victim.name in str(info.value)
    p = info.value.problems[0]
    assert p.line is not None and f"{Path(p.path).name}:{p.line}" in str(info.value)
    assert not (tmp_path / "out").exists()
    with pytest.warns(SkippedItemsWarning, match="skipped 1 item"):
        out = run_import(kind, src, tmp_path / "out", skip_missing=True, **opts)
    assert len(load_dataset(out).items) == len(ds_items) - 1


def test_run_import_errors(tmp_path):
    with pytest.raises(FashionlabError, match="valid: celeba, csv, deepfashion-attributes"):
        run_import("imagenet", tmp_path, tmp_path / "out")
    with pytest.raises(InputError, match="not found"):
        run_import("csv", tmp_path / "nope", tmp_path / "out")
    src = make_catalog(tmp_path / "src")
    with pytest.raises(InputError, match="no option.*crop_bbox"):
        run_import("csv", src, tmp_path / "out", crop_bbox=True)
    with pytest.raises(InputError, match="inside the source"):
        run_import("csv", src, src / "out")
    assert not (src / "out").exists()


def test_many_missing_images_show_20_and_count(tmp_path):
    src = make_celeba(tmp_path / "src", n=30)
    for p in (src / "img_align_celeba").iterdir():
        p.unlink()
    with pytest.raises(MissingImagesError) as info:
        run_import("celeba", src, tmp_path / "out")
    msg = str(info.value)
    assert "30 image file(s) not found" in msg and "... and 10 more" in msg
    assert "list_attr_celeba.txt:3:" in msg and "list_attr_celeba.txt:22:" in msg
    assert "list_attr_celeba.txt:23:" not in msg and len(info.value.problems) == 30


# ------------------------------------------------------------------------------------------ DeepFashion


@pytest.mark.parametrize("layout", ["Img", "root"])
def test_deepfashion_attributes(tmp_path, layout):
    src = make_deepfashion(tmp_path / "src", layout=layout)
    ds = load_dataset(run_import("deepfashion-attributes", src, tmp_path / "out"))
    expected_root = src / "Img" if layout == "Img" else src
    assert Path(ds.schema.image_root) == expected_root.resolve()
    assert ds.schema.attribute_names == ["category", "a_line", "floral", "faux_leather", "crew_neck"]
    assert ds.schema.attribute("category").values == ["Blouse", "Skirt", "Dress"]
    assert ds.schema.attribute("floral").values == ["no", "yes"]
    assert ds.schema.source["attribute_names"]["faux_leather"] == "faux leather"
    assert [it.split for it in ds.items] == DF_SPLIT
    first, last = ds.items[0], ds.items[3]
    assert first.id == DF_IMAGES[0] and first.path == DF_IMAGES[0]
    assert first.attributes == {
        "category": "Blouse",
        "a_line": "no",
        "floral": "yes",
        "faux_leather": UNKNOWN,
        "crew_neck": "yes",
    }
    assert last.attributes["a_line"] == UNKNOWN and last.attributes["category"] == "Dress"
    assert first.bbox == [2, 3, 12, 14]
    assert [len(it.landmarks) for it in ds.items] == [6, 6, 4, 8]
    assert first.landmarks[0] == [0, 4, 5] and first.landmarks[2] == [2, 0, 0]
    assert ds.schema.annotations.bbox and ds.schema.annotations.landmarks


def test_deepfashion_attribute_selection(tmp_path):
    src = make_deepfashion(tmp_path / "src")
    ds = load_dataset(run_import("deepfashion-attributes", src, tmp_path / "a", attribute_types=[1, 2]))
    assert ds.schema.attribute_names == ["category", "floral", "faux_leather"]
    ds = load_dataset(run_import("deepfashion-attributes", src, tmp_path / "b", attributes=["faux leather", "a_line"]))
    assert ds.schema.attribute_names == ["category", "a_line", "faux_leather"]
    with pytest.raises(InputError, match="unknown attribute type"):
        run_import("deepfashion-attributes", src, tmp_path / "c", attribute_types=[9])
    with pytest.raises(InputError, match="unknown attribute"):
        run_import("deepfashion-attributes", src, tmp_path / "c", attributes=["plaid"])


def test_deepfashion_without_landmarks_and_crop(tmp_path):
    src = make_deepfashion(tmp_path / "src")
    (src / "Anno" / "list_landmarks.txt").unlink()
    before = tree_hash(src)
    ds = load_dataset(run_import("deepfashion-attributes", src, tmp_path / "out", crop_bbox=True))
    assert tree_hash(src) == before
    assert ds.schema.image_root == "." and not ds.schema.annotations.landmarks
    it = ds.items[0]
    assert it.path == "images/" + DF_IMAGES[0] and it.landmarks is None
    with Image.open(ds.image_path(it)) as im:
        assert im.size == (10, 11) and im.format == "JPEG"
    assert it.bbox == [0, 0, 10, 11] and it.extra["source_bbox"] == [2, 3, 12, 14]


DF_BROKEN = [
    # (file, line to edit, edit, line named in the error, message fragment)
    ("Anno/list_attr_img.txt", 1, lambda s: "5", 1, "expected 5, found 4"),
    ("Anno/list_attr_img.txt", 4, lambda s: s.rsplit(None, 1)[0], 4, "truncated"),
    ("Anno/list_attr_img.txt", 3, lambda s: s[:-2] + " 2", 3, "bad label '2'"),
    ("Anno/list_category_img.txt", 5, lambda s: s[:-1] + "7", 5, "out of range"),
    ("Anno/list_category_img.txt", 4, lambda s: s[:-1] + "x", 4, "integer"),
    ("Anno/list_attr_cloth.txt", 4, lambda s: s[:-1] + "9", 4, "type 9"),
    ("Anno/list_bbox.txt", 3, lambda s: s.rsplit(None, 1)[0], 3, "truncated"),
    ("Anno/list_landmarks.txt", 5, lambda s: s.rsplit(None, 3)[0], 5, "clothes type 2"),
    ("Anno/list_landmarks.txt", 6, lambda s: s + " 0 1 1", 6, "clothes type 3"),
    ("Eval/list_eval_partition.txt", 6, lambda s: s.replace("test", "holdout"), 6, "unknown split"),
    ("Eval/list_eval_partition.txt", 1, lambda s: "three", 1, "number of rows"),
    ("Anno/list_bbox.txt", 4, lambda s: None, 1, "expected 4, found 3"),
]


@pytest.mark.parametrize(
    "file,lineno,edit,where,fragment", DF_BROKEN, ids=[f"{c[0].split('/')[-1]}:{c[1]}-{c[4]}" for c in DF_BROKEN]
)
def test_deepfashion_broken(tmp_path, file, lineno, edit, where, fragment):
    src = make_deepfashion(tmp_path / "src", crlf=True)
    edit_line(src / file, lineno, edit)
    err = raises_where(lambda: run_import("deepfashion-attributes", src, tmp_path / "out"), Path(file).name, where)
    assert fragment in str(err)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))


def test_deepfashion_image_without_labels(tmp_path):
    src = make_deepfashion(tmp_path / "src")
    edit_line(src / "Anno" / "list_bbox.txt", 1, lambda s: "3")
    edit_line(src / "Anno" / "list_bbox.txt", 4, lambda s: None)  # the second image loses its bbox
    err = raises_where(
        lambda: run_import("deepfashion-attributes", src, tmp_path / "out"), "list_eval_partition.txt", 4
    )
    assert "has no row in list_bbox.txt" in str(err)


# ------------------------------------------------------------------------------------------------ CelebA


def test_celeba(tmp_path):
    src = make_celeba(tmp_path / "src")
    ds = load_dataset(run_import("celeba", src, tmp_path / "out", attributes=["Smiling", "eyeglasses"]))
    assert ds.schema.attribute_names == ["Smiling", "Eyeglasses"]
    assert [it.split for it in ds.items] == ["train", "val", "test", "test", "test"]
    smiling = CELEBA_NAMES.index("Smiling")
    for i, it in enumerate(ds.items):
        assert it.attributes["Smiling"] == ("yes" if (i + smiling) % 3 == 0 else "no")
    full = load_dataset(run_import("celeba", src, tmp_path / "all"))
    assert full.schema.attribute_names == CELEBA_NAMES


def test_celeba_unknown_attribute_lists_valid(tmp_path):
    src = make_celeba(tmp_path / "src")
    with pytest.raises(InputError, match="Wearing_Necktie") as info:
        run_import("celeba", src, tmp_path / "out", attributes=["Glasses"])
    assert "'Glasses'" in str(info.value) and "5_o_Clock_Shadow" in str(info.value)


CELEBA_BROKEN = [
    # (file to edit, its line, edit, file and line named in the error, message fragment)
    ("list_attr_celeba.txt", 1, lambda s: "6", "list_attr_celeba.txt", 1, "expected 6, found 5"),
    ("list_attr_celeba.txt", 4, lambda s: s.rsplit(None, 1)[0], "list_attr_celeba.txt", 4, "truncated"),
    (
        "list_attr_celeba.txt",
        5,
        lambda s: s.rsplit(None, 1)[0] + "  0",
        "list_attr_celeba.txt",
        5,
        "bad value '0' for Young",
    ),
    ("list_eval_partition.txt", 2, lambda s: s[:-1] + "3", "list_eval_partition.txt", 2, "bad partition"),
    ("list_eval_partition.txt", 3, lambda s: None, "list_attr_celeba.txt", 5, "no row in list_eval_partition.txt"),
]


@pytest.mark.parametrize("file,lineno,edit,err_file,where,fragment", CELEBA_BROKEN)
def test_celeba_broken(tmp_path, file, lineno, edit, err_file, where, fragment):
    src = make_celeba(tmp_path / "src", crlf=True)
    edit_line(src / file, lineno, edit)
    err = raises_where(lambda: run_import("celeba", src, tmp_path / "out"), err_file, where)
    assert fragment in str(err)
