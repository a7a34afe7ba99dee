"""The one resize geometry (fashionlab.data.geometry.Placement): images, masks and tensors are resized exactly as
before (bit for bit), points follow the pixels (a bright pixel's centroid after the resize lies where its centre
is mapped), the loader's keypoints agree with its images, and the paste-back boxes follow the pixels too."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from fashionlab.data.format import Annotations, AttributeSpec, DatasetSchema, DatasetWriter, Item
from fashionlab.data.geometry import MISSING, RESIZE_MODES, Placement
from fashionlab.data.imaging import Preprocess, denormalise, resize_mask, resize_rgb, save_png
from fashionlab.data.loader import FashionDataset
from fashionlab.errors import InputError

# source sizes (h, w): odd, tiny, square, extreme aspects; targets: model sizes and odd ones
SOURCES = [(1, 1), (1, 7), (7, 1), (5, 3), (17, 9), (64, 64), (90, 50), (40, 120), (3, 200), (201, 3), (255, 129)]
TARGETS = [(1, 1), (32, 32), (64, 32), (33, 17), (128, 64), (7, 300)]
GRID = list(itertools.product(SOURCES, TARGETS, RESIZE_MODES))


# ------------------------------------------------------------------ today's formulas, kept as the reference
def _legacy_layout(h, w, th, tw, mode):
    """(scaled h, scaled w, crop x0, crop y0, pad x0, pad y0) as fashionlab <= 0.2 computed them inline."""
    if mode == "stretch":
        return th, tw, 0, 0, 0, 0
    if mode == "crop":
        s = max(th / h, tw / w)
        nh, nw = max(th, round(h * s)), max(tw, round(w * s))
        return nh, nw, (nw - tw) // 2, (nh - th) // 2, 0, 0
    s = min(th / h, tw / w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    return nh, nw, 0, 0, (tw - nw) // 2, (th - nh) // 2


def _legacy_resize(img, size, mode, resample, fill):
    """The old resize_rgb (BILINEAR, white) / resize_mask (NEAREST, 0)."""
    (h, w), (th, tw) = img.shape[:2], size
    if (h, w) == (th, tw):
        return img
    nh, nw, cx, cy, px, py = _legacy_layout(h, w, th, tw, mode)
    kw = {"reducing_gap": 2.0} if resample == Image.BILINEAR else {}
    pil = Image.fromarray(img).resize((nw, nh), resample, **kw)
    if mode != "fit":
        return np.asarray(pil.crop((cx, cy, cx + tw, cy + th)))
    canvas = Image.new(pil.mode, (tw, th), fill)
    canvas.paste(pil, (px, py))
    return np.asarray(canvas)


def _legacy_fit_batch(x, size, mode):
    (h, w), (th, tw) = x.shape[-2:], size
    if (h, w) == (th, tw):
        return x
    nh, nw, cx, cy, px, py = _legacy_layout(h, w, th, tw, mode)
    if mode != "fit":  # stretch and crop interpolated even to the same size
        return F.interpolate(x, (nh, nw), mode="bilinear", align_corners=False)[..., cy : cy + th, cx : cx + tw]
    y = F.interpolate(x, (nh, nw), mode="bilinear", align_corners=False) if (nh, nw) != (h, w) else x
    out = torch.ones(*x.shape[:-2], th, tw, dtype=x.dtype)
    out[..., py : py + nh, px : px + nw] = y
    return out


def _legacy_source_box(h, w, th, tw, mode):
    """The old content_box's photo box: crop's window mapped back with the unrounded scale."""
    if mode != "crop" or (h, w) == (th, tw):
        return 0, 0, w, h
    s = max(th / h, tw / w)
    nh, nw, x0, y0, _, _ = _legacy_layout(h, w, th, tw, mode)
    return round(x0 / s), round(y0 / s), round((x0 + tw) / s), round((y0 + th) / s)


def _legacy_loader_keypoints(kps, source, target, mode):
    """The old FashionDataset._scale_keypoints: unrounded scale, unrounded offset, no pixel-centre shift."""
    (h0, w0), (th, tw) = source, target
    if mode == "stretch":
        return kps * np.array([tw / w0, th / h0])
    s = min(th / h0, tw / w0) if mode == "fit" else max(th / h0, tw / w0)
    return kps * s + np.array([(tw - w0 * s) / 2, (th - h0 * s) / 2])


# ----------------------------------------------------------------------------- the pixels do not change
@pytest.mark.parametrize(("source", "target", "mode"), GRID)
def test_resized_images_masks_and_tensors_are_bit_identical_to_before(source, target, mode):
    rng = np.random.default_rng(hash((source, target, mode)) % 2**32)
    img = rng.integers(0, 256, (*source, 3), dtype=np.uint8)
    assert np.array_equal(resize_rgb(img, target, mode), _legacy_resize(img, target, mode, Image.BILINEAR, "white"))
    mask = rng.integers(0, 8, source, dtype=np.uint8)
    assert np.array_equal(resize_mask(mask, target, mode), _legacy_resize(mask, target, mode, Image.NEAREST, 0))
    x = torch.from_numpy(rng.uniform(-1, 1, (2, 3, *source)).astype(np.float32))
    assert torch.equal(Preprocess(target, mode).fit_batch(x), _legacy_fit_batch(x, target, mode))


@pytest.mark.parametrize(("source", "target", "mode"), GRID)
def test_placement_describes_the_layout(source, target, mode):
    p = Placement.of(source, target, mode)
    nh, nw, cx, cy, px, py = _legacy_layout(*source, *target, mode)
    assert p.scaled == (nh, nw) and (p.ox, p.oy) == (px - cx, py - cy)
    x0, y0, x1, y1 = p.target_box
    wx0, wy0, wx1, wy1 = p.window
    assert (x1 - x0, y1 - y0) == (wx1 - wx0, wy1 - wy0)  # the same part, in the frame and in the scaled image
    assert p.padded == (mode == "fit" and (nh, nw) != tuple(target))
    if mode != "crop":
        assert p.window == (0, 0, nw, nh) and p.source_box == (0, 0, source[1], source[0])
    else:
        assert p.target_box == (0, 0, target[1], target[0])


def test_unknown_modes_and_empty_sizes_are_input_errors():
    with pytest.raises(InputError, match="unknown resize mode 'zoom'"):
        Placement.of((10, 10), (5, 5), "zoom")
    with pytest.raises(InputError, match="unknown resize mode"):
        resize_mask(np.zeros((4, 4), np.uint8), (2, 2), "zoom")
    with pytest.raises(InputError, match="cannot resize"):
        Placement.of((0, 10), (5, 5), "fit")


# ------------------------------------------------------------------------------- points follow the pixels
def _bright_pixel_cases(source, target, mode):
    """Source pixels whose resized spot lies whole inside the content and away from the source's edges (so
    neither the resize filter nor the crop truncates it): (x, y) integer pixel centres."""
    p = Placement.of(source, target, mode)
    (h, w), (sx, sy) = source, p.scale
    x0, y0, x1, y1 = p.target_box
    cases = []
    for fx, fy in [(0.5, 0.5), (0.3, 0.7), (0.77, 0.21), (0.13, 0.9)]:
        x, y = round(fx * (w - 1)), round(fy * (h - 1))
        mx, my = p.to_target([x, y])
        margin_src = (1 / min(sx, sy, 1)) + 2  # filter support in source pixels, and one more
        margin_dst = max(sx, sy, 1) + 2  # spot radius in target pixels, and one more
        if not (margin_src <= x < w - margin_src and margin_src <= y < h - margin_src):
            continue
        if x0 + margin_dst <= mx < x1 - margin_dst and y0 + margin_dst <= my < y1 - margin_dst:
            cases.append((x, y))
    return cases


def _centroid(gray: np.ndarray, p: Placement) -> np.ndarray:
    """The intensity-weighted centroid of ``gray`` (0 = background) over the content ``p`` placed."""
    x0, y0, x1, y1 = p.target_box
    part = gray[y0:y1, x0:x1].astype(np.float64)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    return np.array([(xs * part).sum(), (ys * part).sum()]) / part.sum()


# sources and targets with every axis scaled by 1/3 .. 8 (a single bright pixel survives the 8-bit resize)
CENTROID_SOURCES = [(9, 7), (17, 31), (40, 40), (64, 24), (23, 100), (101, 13), (77, 45), (150, 91), (6, 96)]
CENTROID_TARGETS = [(32, 32), (64, 32), (128, 64), (33, 17), (45, 77)]
CENTROID_GRID = [
    c
    for c in itertools.product(CENTROID_SOURCES, CENTROID_TARGETS, RESIZE_MODES)
    if all(1 / 3 <= s <= 8 for s in Placement.of(*c).scale)
]


def _tent_peak(gray: np.ndarray, p: Placement) -> np.ndarray:
    """Where an upscaled single pixel's centre is, exactly: upscaling by ``s`` turns it into a tent of half-width
    ``s`` (bilinear: PIL and torch alike), whose two samples either side of the peak ``c`` give ``c``."""
    x0, y0, x1, y1 = p.target_box
    part = gray[y0:y1, x0:x1].astype(np.float64)
    peak = []
    for m, s, start in [(part.sum(0), p.scale[0], x0), (part.sum(1), p.scale[1], y0)]:
        j = int(m.argmax())
        i = j - 1 if m[j - 1] > m[j + 1] else j
        r = (m[i] - m[i + 1]) / (m[i] + m[i + 1])
        peak.append(start + i + 0.5 - r * (2 * s - 1) / 2)
    return np.array(peak)


def _point_errors(resize, dark: float, bright: float, locate=_centroid, scales=(1 / 3, 8)):
    """Per axis, (scale, |mapped - located|) of every bright-pixel case of the centroid grid (both axes scaled
    within ``scales``) under ``resize``."""
    errors = []
    for source, target, mode in CENTROID_GRID:
        p = Placement.of(source, target, mode)
        if not all(scales[0] <= s <= scales[1] for s in p.scale):
            continue
        for x, y in _bright_pixel_cases(source, target, mode):
            gray = resize(source, (x, y), target, mode, dark, bright) - dark
            found = locate(gray, p)
            mapped = p.to_target([x, y])
            errors += [(p.scale[0], abs(mapped[0] - found[0])), (p.scale[1], abs(mapped[1] - found[1]))]
    assert len(errors) > 150
    return np.array(errors)


def _pil_resize(source, xy, target, mode, dark, bright):
    img = np.full((*source, 3), dark, np.uint8)
    img[xy[1], xy[0]] = bright
    return resize_rgb(img, target, mode).astype(np.float64).mean(-1)


def _torch_resize(source, xy, target, mode, dark, bright):
    x = torch.full((1, 3, *source), dark, dtype=torch.float64)
    x[..., xy[1], xy[0]] = bright
    return Preprocess(target, mode).fit_batch(x)[0].mean(0).numpy()


def _split(errors):
    """(errors along upscaled axes, errors along downscaled axes)."""
    return errors[errors[:, 0] >= 1, 1], errors[errors[:, 0] < 1, 1]


def test_an_upscaled_pixel_centre_lands_exactly_where_it_is_mapped():
    """The mapping is exactly the resize's: located without bias (the tent's two peak samples), an upscaled
    bright pixel's centre is its mapped point, to float precision for the tensor resize and to 8-bit rounding
    for resize_rgb."""
    up = _point_errors(_torch_resize, -1.0, 1.0, _tent_peak, scales=(1, 8))[:, 1]
    assert up.max() < 1e-9, up.max()
    up = _point_errors(_pil_resize, 0, 255, _tent_peak, scales=(1, 8))[:, 1]
    assert up.max() < 0.01, up.max()


def test_a_pixel_centre_lands_on_the_centroid_of_its_resized_pixel():
    """A bright pixel on black, resized by resize_rgb (PIL bilinear, antialiased, 8-bit): its intensity-weighted
    centroid is within a tenth of a pixel of where its centre is mapped, up or down. (The centroid of a sampled
    tent is itself off by up to 0.085 px when upscaling by a non-integer factor, exact mapping or not; the
    downscaling filter's normalisation moves it by up to 0.045.)"""
    up, down = _split(_point_errors(_pil_resize, 0, 255))
    assert len(up) > 100 and len(down) > 100
    assert up.max() < 0.09, up.max()
    assert down.max() < 0.045, down.max()
    # the tensor resize (torch bilinear, not antialiased) samples a downscaled pixel where the sample points
    # fall, so its centroid snaps towards them (by up to 0.47 px at scales 1/2 .. 1)
    up, down = _split(_point_errors(_torch_resize, -1.0, 1.0, scales=(0.5, 8)))
    assert up.max() < 0.09, up.max()
    assert down.max() < 0.47, down.max()


@pytest.mark.parametrize(("source", "target", "mode"), GRID)
def test_points_map_forward_and_back(source, target, mode):
    p = Placement.of(source, target, mode)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 1, (5, 18, 2)) * np.array([source[1], source[0]])
    pts[0, 3] = [MISSING, MISSING]
    pts[1, 4] = [MISSING, 7.0]  # either coordinate -1: the point is missing
    back = p.to_source(p.to_target(pts))
    missing = np.zeros(pts.shape[:2], bool)
    missing[0, 3] = missing[1, 4] = True
    np.testing.assert_allclose(back[~missing], pts[~missing], atol=1e-9)
    assert (back[missing] == MISSING).all() and (p.to_target(pts)[missing] == MISSING).all()
    # tensors (float32 and integer) map the same, on their own type
    t = p.to_target(torch.from_numpy(pts).float())
    assert t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), p.to_target(pts), atol=1e-3 * max(target))
    assert p.to_target(torch.tensor([[2, 3]])).dtype == torch.float32


def test_the_pixel_centre_convention():
    """Pixel i is centred on i: halving maps pixels 0 and 1 to 0.5's two sides, edges (-0.5) to edges."""
    p = Placement.of((4, 4), (2, 2), "stretch")
    np.testing.assert_allclose(p.to_target([[0, 0], [1, 1], [-0.5, 3.5]]), [[-0.25, -0.25], [0.25, 0.25], [-0.5, 1.5]])
    fit = Placement.of((4, 2), (4, 4), "fit")  # no scaling, one pixel of white band on either side
    assert fit.to_target([[0, 0]]).tolist() == [[1.0, 0.0]]


# ------------------------------------------------------------------- the loader's keypoints follow its images
LOADER_SOURCES = [(90, 50), (37, 61), (64, 64), (120, 41)]


def _write_bright_pixel_dataset(root):
    """Variable-size black images, each with one bright pixel under its nose keypoint."""
    schema = DatasetSchema(
        name="geometry",
        attributes=[AttributeSpec("color", ["black", "white"])],
        annotations=Annotations(keypoints=True),
    )
    truth = []
    with DatasetWriter(root, schema) as writer:
        (writer.root / "images").mkdir()
        for i, (h, w) in enumerate(LOADER_SOURCES):
            x, y = round(0.37 * w) + i, round(0.55 * h) - i
            img = np.zeros((h, w, 3), np.uint8)
            img[y, x] = 255
            save_png(writer.root / "images" / f"{i}.png", img)
            kps = [[-1.0, -1.0]] * 18
            kps[0] = [float(x), float(y)]
            writer.add(Item(str(i), f"images/{i}.png", "train", {"color": "black"}, keypoints=kps))
            truth.append((x, y))
    return root, truth


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_the_loaders_keypoints_agree_with_its_images(tmp_path, mode):
    """The issue's gap: the old loader scaled keypoints by the unrounded scale with an unrounded offset and no
    pixel-centre shift: 0.30 (stretch), 0.71 (crop), 0.78 px (fit) from the packed bright pixel's centroid
    here. Now they are where the pack's resize put the pixel: within 0.05 px of that centroid."""
    root, truth = _write_bright_pixel_dataset(tmp_path / "data")
    size = (48, 32)
    ds = FashionDataset(root, split="train", size=size, resize=mode, with_keypoints=True, progress=False)
    before, after = [], []
    for k, (x, y) in enumerate(truth):
        item = ds[k]
        p = Placement.of(LOADER_SOURCES[k], size, mode)
        gray = denormalise(item["image"]).astype(np.float64).mean(-1)
        found = _centroid(gray, p)
        kp = item["keypoints"][0].numpy()
        np.testing.assert_allclose(kp, p.to_target([x, y]), atol=1e-5)
        assert (item["keypoints"][1:] == MISSING).all()
        after.append(np.abs(kp - found).max())
        before.append(np.abs(_legacy_loader_keypoints(np.array([x, y]), LOADER_SOURCES[k], size, mode) - found).max())
    assert max(after) < 0.05, after
    assert max(before) > 0.29, before  # the old mapping, measured on the same pixels


@pytest.mark.parametrize(
    ("source", "target", "mode", "gap"),
    [
        ((256, 128), (128, 64), "fit", 0.25),  # halving: the missing pixel-centre shift, (1 - s) / 2
        ((256, 128), (64, 32), "crop", 0.375),  # quartering: (1 - 1/4) / 2, the "up to 0.4 px"
        ((32, 16), (64, 32), "stretch", 0.5),  # doubling: (2 - 1) / 2
        ((90, 50), (64, 32), "fit", 0.378),  # and fit's offset rounded down to whole pixels
        ((301, 97), (64, 32), "fit", 1.079),  # and the unrounded scale of an extreme aspect
        ((37, 61), (128, 64), "crop", 1.743),  # upscaling by 3.46 with crop
    ],
)
def test_how_far_the_loaders_keypoints_moved(source, target, mode, gap):
    """The size of the change to the loader's keypoints (over every source pixel centre, Placement vs the old
    formula): the old error, which the new mapping removes (the bright-pixel tests above measure the new one)."""
    (h, w), p = source, Placement.of(source, target, mode)
    pts = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).reshape(-1, 2).astype(np.float64)
    moved = np.abs(p.to_target(pts) - _legacy_loader_keypoints(pts, source, target, mode)).max()
    assert moved == pytest.approx(gap, abs=5e-4)


# ------------------------------------------------------------------------------------------- paste-back
@pytest.mark.parametrize(("source", "target", "mode"), GRID)
def test_paste_back_boxes(source, target, mode):
    """fit and stretch: as before. crop: the window's edges mapped back through the scale the pixels were
    resized with (the old box used the unrounded scale: off by up to half a model pixel); equal to the old
    box wherever that one was rounded from within half a pixel of the exact edge."""
    p = Placement.of(source, target, mode)
    old = _legacy_source_box(*source, *target, mode)
    x0, y0, x1, y1 = p.source_box
    assert 0 <= x0 < x1 <= source[1] and 0 <= y0 < y1 <= source[0]
    sx, sy = p.scale
    wx0, wy0, wx1, wy1 = p.window
    exact = np.array([wx0 / sx, wy0 / sy, wx1 / sx, wy1 / sy])
    if min(source) > 1:  # (a 1-pixel source's box may be widened to one whole pixel)
        assert np.abs(np.array(p.source_box) - exact).max() <= 0.5 + 1e-9
        close = np.abs(np.array(old) - exact) < 0.5 - 1e-9  # the old edge was rounded right (and not a tie)
        assert (np.array(p.source_box)[close] == np.array(old)[close]).all()
    if mode != "crop":
        assert p.source_box == old


@pytest.mark.parametrize(
    ("source", "target"), [((900, 610), (64, 32)), ((1500, 517), (64, 64)), ((301, 1203), (32, 32))]
)
def test_crop_paste_back_lands_the_edit_where_it_was_made(monkeypatch, source, target):
    """A smooth edit made on the photo, seen through the model's crop and pasted back, matches the edit made
    at full resolution better with the exact box than with the old one."""
    from fashionlab.usecases import edit

    h, w = source
    yy, xx = np.mgrid[0:h, 0:w]
    pattern = 60 * np.sin(xx / w * 9.1) * np.cos(yy / h * 7.3)
    photo = np.full((h, w, 3), 100, np.uint8)
    edited = np.clip(100 + pattern, 0, 255).round().astype(np.uint8)[..., None].repeat(3, -1)
    pre = Preprocess(target, "crop")
    edited_small = resize_rgb(edited, target, "crop").astype(np.float32)
    photo_small = resize_rgb(photo, target, "crop").astype(np.float32)

    def error() -> float:
        """Mean |pasted-back - edited| in grey levels inside the box (less a 2-pixel border)."""
        out, _ = edit.paste_back(photo, edited_small, photo_small, np.ones(target, np.float32), pre)
        x0, y0, x1, y1 = edit.content_box(source, pre)[1]
        inside = np.s_[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2]
        return float(np.abs(out[inside].astype(float) - edited[inside]).mean())

    now = error()
    old_box = _legacy_source_box(h, w, *target, "crop")
    monkeypatch.setattr(edit, "content_box", lambda hw, p: ((0, 0, target[1], target[0]), old_box))
    before = error()
    assert now < before and now < 0.4, (now, before)  # e.g. 900x610 to 64x32: 0.33 grey levels, was 1.16
