"""Importers: tiny fixture datasets written in the exact source formats, good and broken.

Every broken input must fail with an error naming the file and line; SRC must never change; the
output must load with ``load_dataset``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from fashionlab.data.format import UNKNOWN, load_dataset
from fashionlab.data.importers import IMPORTERS, MissingImagesError, SkippedItemsWarning, run_import
from fashionlab.data.importers.common import ListFile, assign_splits, slug
from fashionlab.data.importers.pose_pairs import identity_of
from fashionlab.errors import FashionlabError, InputError, OutputExistsError

# ------------------------------------------------------------------------------------------ helpers


def image(path: Path, size: tuple[int, int] = (8, 8), color: tuple[int, int, int] = (200, 30, 30)) -> None:
    """A tiny image (JPEG for .jpg names, else PNG); ``size`` is (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="JPEG" if path.suffix == ".jpg" else "PNG")


def write(path: Path, lines: list[str], crlf: bool = False, bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


def edit_line(path: Path, lineno: int, fn: Callable[[str], str]) -> None:
    """Replace line ``lineno`` (1-based) of a text file by ``fn(line)``; ``None`` deletes it."""
    raw = path.read_bytes()
    lines = raw.decode("utf-8-sig").split("\n")
    line = lines[lineno - 1]
    cr = "\r" if line.endswith("\r") else ""
    new = fn(line.removesuffix("\r"))
    if new is None:
        del lines[lineno - 1]
    else:
        lines[lineno - 1] = new + cr
    bom = "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else ""
    path.write_bytes((bom + "\n".join(lines)).encode())


def tree_hash(root: Path) -> dict[str, str]:
    def digest(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"

    return {p.relative_to(root).as_posix(): digest(p) for p in sorted(root.rglob("*"))}


def assert_where(err: BaseException, file_name: str, line: int) -> None:
    msg = str(err)
    assert f"{file_name}:{line}" in msg, msg


def raises_where(fn: Callable[[], object], file_name: str, line: int) -> BaseException:
    with pytest.raises(FashionlabError) as info:
        fn()
    assert isinstance(info.value, InputError) or hasattr(info.value, "problems")
    assert_where(info.value, file_name, line)
    return info.value


# ---------------------------------------------------------------------------------------- fixtures

DF_IMAGES = [
    "img/Floral_Blouse/img_00000001.jpg",
    "img/Floral_Blouse/img_00000002.jpg",
    "img/A-Line_Skirt/img_00000001.jpg",
    "img/Maxi_Dress/img_00000001.jpg",
]
DF_ATTRS = [("a-line", 3), ("floral", 1), ("faux leather", 2), ("crew neck", 4)]
DF_LABELS = [["-1", "1", "0", "1"], ["-1", "1", "-1", "0"], ["1", "-1", "-1", "-1"], ["0", "-1", "1", "1"]]
DF_CATEGORY = ["1", "1", "2", "3"]
DF_SPLIT = ["train", "train", "val", "test"]
DF_LANDMARK_TYPE = [1, 1, 2, 3]


def make_deepfashion(root: Path, layout: str = "Img", crlf: bool = False, bom: bool = False) -> Path:
    anno, w = root / "Anno", (lambda p, lines: write(p, lines, crlf, bom))
    w(
        anno / "list_attr_cloth.txt",
        [str(len(DF_ATTRS)), "attribute_name  attribute_type", *[f"{n:<28} {t}" for n, t in DF_ATTRS]],
    )
    w(
        anno / "list_category_cloth.txt",
        [
            "3",
            "category_name  category_type",
            "Blouse                   1",
            "Skirt                    2",
            "Dress                    3",
        ],
    )
    w(
        anno / "list_category_img.txt",
        [
            str(len(DF_IMAGES)),
            "image_name  category_label",
            *[f"{p:<60}{c}" for p, c in zip(DF_IMAGES, DF_CATEGORY, strict=True)],
        ],
    )
    w(
        anno / "list_attr_img.txt",
        [
            str(len(DF_IMAGES)),
            "image_name  attribute_labels",
            *[f"{p:<60}" + " ".join(f"{v:>2}" for v in row) for p, row in zip(DF_IMAGES, DF_LABELS, strict=True)],
        ],
    )
    w(
        anno / "list_bbox.txt",
        [str(len(DF_IMAGES)), "image_name  x_1  y_1  x_2  y_2", *[f"{p:<60}002  003  012  014" for p in DF_IMAGES]],
    )
    lm_rows = []
    for p, t in zip(DF_IMAGES, DF_LANDMARK_TYPE, strict=True):
        n = {1: 6, 2: 4, 3: 8}[t]
        triples = " ".join(f"{i % 3}  {4 + i:03d}  {5 + i:03d}" if i % 3 != 2 else "2  000  000" for i in range(n))
        lm_rows.append(f"{p:<60}{t}  1  {triples}")
    w(
        anno / "list_landmarks.txt",
        [
            str(len(DF_IMAGES)),
            "image_name  clothes_type  variation_type  "
            "landmark_visibility_1  landmark_location_x_1  landmark_location_y_1",
            *lm_rows,
        ],
    )
    w(
        root / "Eval" / "list_eval_partition.txt",
        [
            str(len(DF_IMAGES)),
            "image_name  evaluation_status",
            *[f"{p:<60}{s}" for p, s in zip(DF_IMAGES, DF_SPLIT, strict=True)],
        ],
    )
    base = root / "Img" if layout == "Img" else root
    for i, p in enumerate(DF_IMAGES):
        image(base / p, size=(16, 20), color=(10 * i, 100, 50))
    return root


CELEBA_NAMES = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
]


def make_celeba(root: Path, n: int = 5, crlf: bool = False, bom: bool = False) -> Path:
    rows = []
    for i in range(n):
        vals = ["1" if (i + j) % 3 == 0 else "-1" for j in range(40)]
        rows.append(f"{i + 1:06d}.jpg " + " ".join(f"{v:>2}" for v in vals))  # runs of spaces before "1"
        image(root / "img_align_celeba" / f"{i + 1:06d}.jpg")
    write(root / "list_attr_celeba.txt", [str(n), " ".join(CELEBA_NAMES) + " ", *rows], crlf, bom)
    write(root / "list_eval_partition.txt", [f"{i + 1:06d}.jpg {min(i, 2)}" for i in range(n)], crlf, bom)
    return root


def kp_lists(seed: int, missing: tuple[int, ...] = ()) -> tuple[list[int], list[int]]:
    ys = [-1 if k in missing else 10 + k + seed for k in range(18)]
    xs = [-1 if k in missing else 40 + k + seed for k in range(18)]
    return ys, xs


def make_pose_pairs(
    root: Path, prefix: str = "market", folders: str = "plain", crlf: bool = False, bom: bool = False
) -> Path:
    names = {
        "market": {
            "train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0007_c1s1_000551_01.jpg"],
            "test": ["0001_c1s1_001051_00.jpg", "0001_c3s1_000551_00.jpg"],
        },
        "fasion-resize": {
            "train": [
                "fashionMENDenimid0000008001_1front.jpg",
                "fashionMENDenimid0000008001_2side.jpg",
                "fashionWOMENDressesid0000041606_1front.jpg",
            ],
            "test": ["fashionWOMENSkirtsid0000177606_1front.jpg", "fashionWOMENSkirtsid0000177606_3back.jpg"],
        },
    }[prefix]
    for split, imgs in names.items():
        rows = ["name:keypoints_y:keypoints_x"]
        for i, n in enumerate(imgs):
            ys, xs = kp_lists(i, missing=(14, 16) if i == 0 else ())
            sep = ", " if i % 2 else ","
            rows.append(f"{n}: [{sep.join(map(str, ys))}]: [{sep.join(map(str, xs))}]")
            folder = split if folders == "plain" else f"{prefix}-{split}"
            image(root / folder / n, size=(64, 128))
        write(root / f"{prefix}-annotation-{split}.csv", rows, crlf, bom)
        pairs = ["from,to", f"{imgs[0]},{imgs[1]}", f"{imgs[1]},{imgs[0]}"]
        write(root / f"{prefix}-pairs-{split}.csv", pairs, crlf, bom)
    return root


def make_catalog(root: Path, crlf: bool = False, bom: bool = False, split: bool = True) -> Path:
    rows = [
        ("red dress 1.png", "red", "long sleeve", "train"),
        ("blue top.png", "blue", "", "train"),
        ("shop/green coat.png", "green", "unknown", "val"),
        ("shop/red 2.png", "red", "short sleeve", "test"),
    ]
    header = "image,colour name,sleeve length" + (",split" if split else "")
    lines = [header] + [",".join(f'"{c}"' if " " in c else c for c in (r if split else r[:3])) for r in rows]
    write(root / "attributes.csv", lines, crlf, bom)
    for r in rows:
        image(root / r[0])
    return root


def make_synthesis(root: Path, crlf: bool = False, bom: bool = False) -> Path:
    rows = [
        ("img/a.png", "0", "1", "train"),
        ("img/b.png", "2", "0", "train"),
        ("img/c.png", "", "1", "val"),
        ("img/d.png", "black", "unknown", "test"),
    ]
    write(root / "labels.csv", ["image,color,sleeve,split", *[",".join(r) for r in rows]], crlf, bom)
    for r in rows:
        image(root / r[0])
    return root


SYNTH_NAMES = {"color": ["black", "white", "red"], "sleeve": ["short", "long"]}
MAKERS = {
    "deepfashion-attributes": (make_deepfashion, {}),
    "celeba": (make_celeba, {}),
    "pose-pairs": (make_pose_pairs, {}),
    "csv": (make_catalog, {}),
    "deepfashion-synthesis": (make_synthesis, {"value_names": SYNTH_NAMES}),
}


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
