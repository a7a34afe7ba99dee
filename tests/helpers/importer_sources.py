"""Tiny fixture datasets written in the exact source formats of the importers, and the assertions the importer
tests share (tests/test_importers.py, tests/test_importers_pairs_csv.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from fashionlab.errors import FashionlabError, InputError

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
