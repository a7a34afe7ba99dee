"""`fashionlab edit` as a user runs it: photos of any size, paste-back, region masks, and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionlab.data.imaging import Preprocess, resize_rgb
from fashionlab.edit.files import content_box, paste_back

EXE = [sys.executable, "-m", "fashionlab"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("mode", ["fit", "crop", "stretch"])
@pytest.mark.parametrize("hw", [(90, 50), (40, 120), (64, 64)])
def test_paste_back_keeps_the_photo_outside_the_mask(mode, hw):
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]]
    smooth = np.stack([255 * xx / hw[1], 255 * yy / hw[0], 128 + 100 * np.sin(xx / 9.0)], -1)
    photo = smooth.round().astype(np.uint8)  # smooth, so resampling keeps it and only the geometry matters
    pre = Preprocess((32, 32), mode)
    small = resize_rgb(photo, pre.size, mode)
    edited = 255 - small
    out, full = paste_back(photo, edited, np.zeros((32, 32), np.float32), pre)
    assert np.array_equal(out, photo) and full.shape == hw and full.max() == 0  # mask 0: bit for bit
    out, full = paste_back(photo, edited, np.ones((32, 32), np.float32), pre)
    (_, _, _, _), (px0, py0, px1, py1) = content_box(hw, pre)
    assert out.shape == photo.shape and full[py0:py1, px0:px1].min() == 1
    # mask 1: the edit, upsampled and put back where the photo was: the inverted photo, up to resampling
    inv = 255 - photo[py0:py1, px0:px1].astype(int)
    assert np.abs(out[py0:py1, px0:px1].astype(int) - inv).mean() < 6
    if mode == "crop":  # margins outside the centre crop are the photo's
        keep = np.ones(hw, bool)
        keep[py0:py1, px0:px1] = False
        assert np.array_equal(out[keep], photo[keep])


@pytest.fixture(scope="module")
def models(tiny_amgan, tmp_path_factory):
    base = tmp_path_factory.mktemp("editcli")
    run_dir, classifier = tiny_amgan["run"], tiny_amgan["classifier"]
    photos = base / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)).save(photos / "a.png")
    Image.fromarray(rng.integers(0, 256, (50, 50, 4), dtype=np.uint8), "RGBA").save(photos / "b.png")
    Image.fromarray(rng.integers(0, 256, (64, 40), dtype=np.uint8), "L").save(photos / "c.jpg")
    return {"amgan": run_dir, "attrnet": Path(classifier), "photos": photos, "base": base}


def test_edit_a_folder_of_photos(models, tmp_path):
    out = tmp_path / "out"
    r = run(
        "edit",
        models["photos"],
        "--model",
        models["amgan"],
        "--set",
        "sleeve=long,color=red",
        "--out",
        out,
        "--show-mask",
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    for name, size in (("a", (70, 90)), ("b", (50, 50)), ("c", (40, 64))):
        with Image.open(out / f"{name}.png") as im:
            assert im.size == size and im.mode == "RGB"  # each at its own resolution
        assert (out / f"{name}-mask.png").is_file()
    assert "edited 3 image(s)" in r.stdout
    r = run("edit", models["photos"] / "a.png", "--model", models["amgan"], "--set", "sleeve=long", "--out", out)
    assert r.returncode == 2 and "not empty" in r.stderr  # nothing a user made is overwritten


def test_region_mask_restricts_the_edit(models, tmp_path):
    photo = models["photos"] / "a.png"
    mask = np.zeros((90, 70), np.uint8)
    mask[:, 35:] = 255
    Image.fromarray(mask).save(tmp_path / "right.png")
    r = run(
        "edit",
        photo,
        "--model",
        models["amgan"],
        "--set",
        "color=red",
        "--region",
        tmp_path / "right.png",
        "--out",
        tmp_path / "o",
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    before = np.asarray(Image.open(photo).convert("RGB"))
    after = np.asarray(Image.open(tmp_path / "o" / "a.png"))
    assert np.array_equal(after[:, :30], before[:, :30])  # well outside the region (after resampling): untouched


@pytest.mark.parametrize(
    "case, expected",
    [
        ("unknown_attribute", "unknown attribute 'fit'"),
        ("unknown_value", "sleeve has no value 'very long'"),
        ("no_setting", "nothing to do"),
        ("truncated", "truncated"),
        ("not_an_image", "not a readable image"),
        ("missing", "no such image"),
        ("mask_size", "mask is 10x10, the image 70x90"),
        ("mask_grey", "binary mask"),
        ("wrong_model", "not an editor"),
        ("not_a_model", "not a fashionlab model export"),
    ],
)
def test_bad_input_is_named_without_a_traceback(models, tmp_path, case, expected):
    photo = models["photos"] / "a.png"
    model, settings, extra = models["amgan"], "sleeve=long", []
    if case == "unknown_attribute":
        settings = "fit=slim"
    elif case == "unknown_value":
        settings = "sleeve=very long"
    elif case == "no_setting":
        settings = ","
    elif case == "truncated":
        data = photo.read_bytes()
        photo = tmp_path / "half.png"
        photo.write_bytes(data[: len(data) // 2])
    elif case == "not_an_image":
        photo = tmp_path / "notes.png"
        photo.write_text("hello")
    elif case == "missing":
        photo = tmp_path / "nowhere.png"
    elif case == "mask_size":
        Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "m.png")
        extra = ["--region", tmp_path / "m.png"]
    elif case == "mask_grey":
        Image.fromarray(np.arange(90 * 70, dtype=np.uint32).reshape(90, 70).astype(np.uint8)).save(tmp_path / "m.png")
        extra = ["--region", tmp_path / "m.png"]
    elif case == "wrong_model":
        model = models["attrnet"]
    elif case == "not_a_model":
        model = tmp_path
    r = run("edit", photo, "--model", model, "--set", settings, "--out", tmp_path / "o", "--no-progress", *extra)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and expected in r.stderr, r.stderr


def test_demo_edit_grid_shows_each_edit_next_to_its_exact_ground_truth(tiny_amgan, tmp_path):
    from fashionlab.cli.demo_edit import edit_demo
    from fashionlab.data.format import load_dataset
    from fashionlab.data.imaging import load_rgb

    ds = load_dataset(tiny_amgan["data"])
    items = [it for it in ds.items if it.attributes["sleeve"] != "sleeveless"][:2]
    path, captions = edit_demo(ds, items, tmp_path / "edits.png", model=tiny_amgan["run"])
    grid = np.asarray(Image.open(path))
    h, w = load_rgb(ds.image_path(items[0])).shape[:2]
    assert grid.shape[:2] == (2 * h + 2, 7 * w + 6 * 2) and len(captions) == 2
    assert np.array_equal(grid[:h, :w], load_rgb(ds.image_path(items[0])))  # the first column is the input
    from fashionlab.synth.ground_truth import item_render_args
    from fashionlab.synth.render import render

    args = item_render_args(items[0])
    sleeve = "long" if args["attributes"]["sleeve"] != "long" else "short"
    truth = render(args["seed"], {**args["attributes"], "sleeve": sleeve}, args["pose"], size=(h, w),
                   framing=args["framing"], regions=args["regions"]).image  # fmt: skip
    assert np.array_equal(grid[:h, 2 * (w + 2) : 2 * (w + 2) + w], truth)  # the sleeve edit's exact truth
