"""Importers, continued: pose pairs, CSV catalogs, DeepFashion-Synthesis and the list-file parser.

Every broken input must fail with an error naming the file and line; SRC must never change; the
output must load with ``load_dataset``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.importer_sources import (
    MAKERS,
    SYNTH_NAMES,
    edit_line,
    image,
    kp_lists,
    make_catalog,
    make_pose_pairs,
    make_synthesis,
    raises_where,
    write,
)

from fashionlab.data.format import UNKNOWN, load_dataset
from fashionlab.data.importers import SkippedItemsWarning, run_import
from fashionlab.data.importers.common import ListFile, assign_splits, slug
from fashionlab.data.importers.pose_pairs import identity_of
from fashionlab.errors import InputError

# ------------------------------------------------------------------------------------------- pose pairs


@pytest.mark.parametrize("prefix,folders", [("market", "plain"), ("fasion-resize", "prefixed")])
def test_pose_pairs(tmp_path, prefix, folders):
    src = make_pose_pairs(tmp_path / "src", prefix, folders)
    ds = load_dataset(run_import("pose-pairs", src, tmp_path / "out", image_size=(128, 64)))
    assert ds.schema.attributes == [] and ds.schema.splits == ["train", "test"]
    assert ds.schema.annotations.keypoints and ds.schema.annotations.identity
    assert ds.schema.image_size == (128, 64)
    it0, it1 = ds.split("train")[:2]
    ys, xs = kp_lists(1)
    assert it1.keypoints == [[x, y] for x, y in zip(xs, ys, strict=True)]  # stored y-first, read as [x, y]
    assert it0.keypoints[14] == [-1, -1] and it0.keypoints[16] == [-1, -1] and it0.keypoints[0] == [40, 10]
    assert it0.path.startswith("train/" if folders == "plain" else f"{prefix}-train/")
    assert ds.pairs("train") == [(it0.id, it1.id), (it1.id, it0.id)]
    assert len(ds.pairs("test")) == 2
    expected = "0002" if prefix == "market" else "fashionMENDenimid0000008001"
    assert it0.identity == expected == it1.identity


def test_identity_of():
    assert identity_of("0002_c1s1_000451_03.jpg") == "0002"
    assert identity_of("-1_c3s2_000001_01.jpg") == "-1"
    assert identity_of("fashionMENDenimid0000008001_1front.jpg") == "fashionMENDenimid0000008001"


def test_pose_pairs_missing_image_drops_its_pairs(tmp_path):
    src = make_pose_pairs(tmp_path / "src")
    (src / "train" / "0002_c1s1_000451_03.jpg").unlink()
    with pytest.warns(SkippedItemsWarning):
        ds = load_dataset(run_import("pose-pairs", src, tmp_path / "out", skip_missing=True))
    assert ds.pairs("train") == [] and len(ds.pairs("test")) == 2
    assert ds.schema.source["skipped_pairs"] == 2


POSE_BROKEN = [
    ("market-annotation-train.csv", 3, lambda s: s.replace(", 28]", "]", 1), 3, "expected 18 y values, found 17"),
    ("market-annotation-test.csv", 2, lambda s: s.replace("]: [", "] [", 1), 2, "malformed annotation"),
    ("market-annotation-test.csv", 3, lambda s: s.replace("41", "4x", 1), 3, "bad x value"),
    ("market-annotation-train.csv", 1, lambda s: "name,keypoints_y,keypoints_x", 1, "header"),
    ("market-pairs-test.csv", 3, lambda s: "0001_c1s1_001051_00.jpg,9999_c1s1_000001_00.jpg", 3, "9999_c1"),
    (
        "market-pairs-train.csv",
        2,
        lambda s: "0002_c1s1_000451_03.jpg,0001_c1s1_001051_00.jpg",
        2,
        "not in market-annotation-train.csv",
    ),
    ("market-pairs-train.csv", 3, lambda s: s + ",extra", 3, "expected 2 columns"),
]


@pytest.mark.parametrize("file,lineno,edit,where,fragment", POSE_BROKEN)
def test_pose_pairs_broken(tmp_path, file, lineno, edit, where, fragment):
    src = make_pose_pairs(tmp_path / "src", crlf=True, bom=True)
    edit_line(src / file, lineno, edit)
    err = raises_where(lambda: run_import("pose-pairs", src, tmp_path / "out"), file, where)
    assert fragment in str(err)


# ---------------------------------------------------------------------------------- csv / synthesis


def test_csv_catalog(tmp_path):
    src = make_catalog(tmp_path / "src", crlf=True, bom=True)
    ds = load_dataset(run_import("csv", src, tmp_path / "out"))
    assert ds.schema.attribute_names == ["colour name", "sleeve length"]
    assert ds.schema.attribute("colour name").values == ["blue", "green", "red"]
    assert ds.schema.attribute("sleeve length").values == ["long sleeve", "short sleeve"]
    by_id = {it.id: it for it in ds.items}
    assert by_id["red dress 1.png"].attributes == {"colour name": "red", "sleeve length": "long sleeve"}
    assert by_id["blue top.png"].attributes["sleeve length"] == UNKNOWN
    assert by_id["shop/green coat.png"].attributes["sleeve length"] == UNKNOWN
    assert by_id["shop/green coat.png"].split == "val"
    assert ds.image_path(by_id["red dress 1.png"]) == (src / "red dress 1.png").resolve()


def test_csv_generated_splits_are_deterministic(tmp_path):
    src = make_catalog(tmp_path / "src", split=False)
    a = load_dataset(run_import("csv", src, tmp_path / "a", split_fractions=(0.5, 0.25, 0.25), seed=3))
    b = load_dataset(run_import("csv", src, tmp_path / "b", split_fractions=(0.5, 0.25, 0.25), seed=3))
    assert [it.split for it in a.items] == [it.split for it in b.items]
    assert sorted(it.split for it in a.items) == ["test", "train", "train", "val"]
    ids = [f"img{i}" for i in range(1000)]
    s1, s2 = assign_splits(ids, (0.8, 0.1, 0.1), 0), assign_splits(list(reversed(ids)), (0.8, 0.1, 0.1), 0)
    assert s1 == s2 and sum(v == "train" for v in s1.values()) == 800
    assert assign_splits(ids, (0.8, 0.1, 0.1), 1) != s1


def make_labels_and_images(root: Path, csv_rel: str = "labels.csv", image_dir: str = "images") -> Path:
    """A catalog as exported by many tools: a labels CSV naming bare file names, the images in a folder."""
    names = ["a.png", "b.png", "c.png", "d.png"]
    write(root / csv_rel, ["image,color", *[f"{n},{c}" for n, c in zip(names, "rrgb", strict=True)]])
    for n in names:
        image(root / image_dir / n)
    return root


def test_csv_finds_the_one_csv_and_its_image_folder(tmp_path):
    src = make_labels_and_images(tmp_path / "src")
    ds = load_dataset(run_import("csv", src, tmp_path / "out", split_fractions=(1, 0, 0)))
    assert [ds.image_path(it) for it in ds.items] == [(src / "images" / f"{n}.png").resolve() for n in "abcd"]
    source = ds.schema.source
    assert source["labels_csv"] == str((src / "labels.csv").resolve())
    assert source["image_base"] == str((src / "images").resolve())
    assert source["image_bases_tried"] == [str(src.resolve()), str((src / "images").resolve())]


def test_csv_image_paths_relative_to_the_csv_folder(tmp_path):
    src = tmp_path / "src"
    names = [f"img/{n}.png" for n in "abcd"]
    write(src / "meta" / "labels.csv", ["image,color", *[f"{n},red" for n in names]])
    for n in names:
        image(src / "meta" / n)
    image(src / "thumbs" / "a.png")  # a second image folder, so SRC has no single image folder to try
    ds = load_dataset(run_import("csv", src, tmp_path / "out", csv_path="meta/labels.csv"))
    assert [ds.image_path(it) for it in ds.items] == [(src / "meta" / n).resolve() for n in names]
    assert ds.schema.source["image_base"] == str((src / "meta").resolve())


def test_csv_several_csvs_are_listed(tmp_path):
    src = make_labels_and_images(tmp_path / "src")
    write(src / "old labels.csv", ["image,color", "a.png,red"])
    with pytest.raises(InputError) as info:
        run_import("csv", src, tmp_path / "out")
    msg = str(info.value)
    assert "2 CSV files" in msg and "labels.csv, old labels.csv" in msg and "--csv" in msg, msg
    assert not (tmp_path / "out").exists()


def test_csv_no_csv_says_what_it_looked_for(tmp_path):
    image(tmp_path / "src" / "images" / "a.png")
    with pytest.raises(InputError, match=r"looked for attributes\.csv and any other \*\.csv"):
        run_import("csv", tmp_path / "src", tmp_path / "out")


def test_csv_images_under_no_base_lists_the_bases_tried(tmp_path):
    src = make_labels_and_images(tmp_path / "src", image_dir="images")
    for p in (src / "images").iterdir():
        p.rename(p.with_name("x" + p.name))  # the CSV's a.png ... are nowhere
    with pytest.raises(InputError) as info:
        run_import("csv", src, tmp_path / "out")
    msg = str(info.value)
    assert f"any base tried: {src}, {src / 'images'} " in msg, msg
    assert f"'a.png' is at none of {src / 'a.png'}, {src / 'images' / 'a.png'}" in msg, msg
    assert "--images-dir" in msg and str(src / "labels.csv") in msg


def test_csv_import_command_says_which_base(tmp_path):
    from typer.testing import CliRunner

    from fashionlab.cli import app

    src = make_labels_and_images(tmp_path / "src")
    r = CliRunner().invoke(app, ["data", "import", "csv", str(src), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert f"labels read from {(src / 'labels.csv').resolve()}" in r.output
    assert f"image paths resolved relative to {(src / 'images').resolve()}" in r.output


CSV_BROKEN = [
    (2, lambda s: s + ",extra", 2, "expected 4 columns"),
    (3, lambda s: s.replace("train", "training set"), 3, "unknown split"),
    (5, lambda s: s.replace('"shop/red 2.png"', '"red dress 1.png"'), 5, "duplicate id"),
    (4, lambda s: s.replace('"shop/green coat.png"', "../escape.png"), 4, "must be relative"),
    (1, lambda s: s.replace("image,", "photo,"), 1, "first column must be 'image'"),
]


@pytest.mark.parametrize("lineno,edit,where,fragment", CSV_BROKEN)
def test_csv_broken(tmp_path, lineno, edit, where, fragment):
    src = make_catalog(tmp_path / "src", crlf=True)
    edit_line(src / "attributes.csv", lineno, edit)
    err = raises_where(lambda: run_import("csv", src, tmp_path / "out"), "attributes.csv", where)
    assert fragment in str(err)


def test_deepfashion_synthesis(tmp_path):
    src = make_synthesis(tmp_path / "src", bom=True)
    ds = load_dataset(run_import("deepfashion-synthesis", src, tmp_path / "out", value_names=SYNTH_NAMES))
    assert ds.schema.attribute("color").values == SYNTH_NAMES["color"]
    assert [it.attributes for it in ds.items] == [
        {"color": "black", "sleeve": "long"},
        {"color": "red", "sleeve": "short"},
        {"color": UNKNOWN, "sleeve": "long"},
        {"color": "black", "sleeve": UNKNOWN},
    ]
    plain = load_dataset(run_import("deepfashion-synthesis", src, tmp_path / "plain"))
    assert plain.schema.attribute("color").values == ["0", "2", "black"]
    assert plain.schema.attribute("sleeve").values == ["0", "1"]
    with pytest.raises(InputError, match="value_names names unknown column"):
        run_import("deepfashion-synthesis", src, tmp_path / "x", value_names={"colour": ["a"]})


@pytest.mark.parametrize(
    "lineno,edit,where,fragment",
    [
        (3, lambda s: s.replace(",2,", ",3,"), 3, "index 3 is out of range"),
        (5, lambda s: s.replace("black", "teal"), 5, "bad value 'teal'"),
    ],
)
def test_deepfashion_synthesis_broken(tmp_path, lineno, edit, where, fragment):
    src = make_synthesis(tmp_path / "src", crlf=True)
    edit_line(src / "labels.csv", lineno, edit)
    err = raises_where(
        lambda: run_import("deepfashion-synthesis", src, tmp_path / "out", value_names=SYNTH_NAMES), "labels.csv", where
    )
    assert fragment in str(err)


# ---------------------------------------------------------------------------------------- list files


def test_list_file_tolerates_spaces_crlf_bom(tmp_path):
    p = tmp_path / "list.txt"
    p.write_bytes(b"\xef\xbb\xbf2\r\nname   type\r\n\r\nfaux   leather     2\r\na-line  3  \r\n\r\n")
    lf = ListFile(p)
    assert list(lf) == [(4, ["faux", "leather", "2"]), (5, ["a-line", "3"])]
    assert lf.header == ["name", "type"]
    assert slug("Faux  Leather") == "faux_leather" and slug("a-line") == "a_line"


def test_schema_json_is_plain(tmp_path):
    src = make_catalog(tmp_path / "src")
    out = run_import("csv", src, tmp_path / "out", csv_path=Path("attributes.csv"), split_fractions=[1, 0, 0])
    d = json.loads((out / "dataset.json").read_text())
    assert d["source"]["options"]["csv_path"] == "attributes.csv"


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_output_passes_data_check(tmp_path, kind):
    check = pytest.importorskip("fashionlab.data.check")
    make, opts = MAKERS[kind]
    extra = {"crop_bbox": True} if kind == "deepfashion-attributes" else {"copy_images": True}
    for name, more in (("ref", {}), ("copy", extra)):
        out = run_import(kind, make(tmp_path / f"src-{name}"), tmp_path / name, **opts, **more)
        report = check.check_dataset(out, progress=False)
        assert report.ok, check.format_report(report)
