"""The keypoint estimator (``fashionlab train keypoints``): flips, targets and loss, decoding, the geometry
of resizing, and a tiny training run through the real trainer to a loaded model's predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fashionlab
from fashionlab.config import resolve_config
from fashionlab.data.format import Annotations, AttributeSpec, DatasetSchema, DatasetWriter, Item
from fashionlab.data.imaging import Preprocess, denormalise, resize_rgb, save_png
from fashionlab.data.keypoints import KEYPOINT_NAMES, heatmaps_torch
from fashionlab.data.loader import FashionDataset
from fashionlab.engine.checkpoint import find_checkpoint, load_checkpoint
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import InputError
from fashionlab.models import MODELS, build_task
from fashionlab.models.keypoints import (
    FLIP_PERMUTATION,
    KeypointNet,
    KeypointNetConfig,
    KeypointNetModelConfig,
    decode_heatmaps,
    draw_skeleton,
    flip_batch,
    flip_keypoints,
    keypoint_loss,
    keypoint_targets,
    resize_keypoints,
    unresize_keypoints,
    zoom_shift,
)

# ------------------------------------------------------------------------------------------------ flips


def _named_pose(width: int = 64) -> np.ndarray:
    """A pose whose point k sits at x = 2k + 1, y = 3k + 2 (so every point is identifiable), knee R missing."""
    kps = np.array([[2 * k + 1, 3 * k + 2] for k in range(18)], dtype=np.float32)
    kps[KEYPOINT_NAMES.index("right_knee")] = -1
    assert kps[:, 0].max() < width
    return kps


def test_flip_permutation_swaps_every_left_point_with_its_right_one():
    for k, name in enumerate(KEYPOINT_NAMES):
        partner = KEYPOINT_NAMES[FLIP_PERMUTATION[k]]
        if name.startswith("left_"):
            assert partner == "right_" + name[len("left_") :]
        elif name.startswith("right_"):
            assert partner == "left_" + name[len("right_") :]
        else:
            assert partner == name  # nose, neck
    assert sorted(FLIP_PERMUTATION) == list(range(18))
    assert all(FLIP_PERMUTATION[FLIP_PERMUTATION[k]] == k for k in range(18))


def test_flip_mirrors_x_and_swaps_left_and_right_keypoints():
    width = 64
    kps = _named_pose(width)
    flipped = flip_keypoints(torch.from_numpy(kps), width).numpy()
    idx = KEYPOINT_NAMES.index
    # the person's right wrist becomes the mirrored image's left wrist, at x -> width - 1 - x, same y
    rw, lw = idx("right_wrist"), idx("left_wrist")
    assert flipped[lw].tolist() == [width - 1 - kps[rw, 0], kps[rw, 1]]
    assert flipped[rw].tolist() == [width - 1 - kps[lw, 0], kps[lw, 1]]
    assert flipped[idx("nose")].tolist() == [width - 1 - kps[0, 0], kps[0, 1]]
    assert flipped[idx("left_eye")].tolist() == [width - 1 - kps[idx("right_eye"), 0], kps[idx("right_eye"), 1]]
    # the missing right knee is now the missing left knee; the left knee's point is now the right knee
    assert flipped[idx("left_knee")].tolist() == [-1, -1]
    assert flipped[idx("right_knee")].tolist() == [width - 1 - kps[idx("left_knee"), 0], kps[idx("left_knee"), 1]]
    np.testing.assert_array_equal(flip_keypoints(torch.from_numpy(flipped), width).numpy(), kps)


def test_flip_batch_moves_keypoints_with_the_pixels():
    """Mark each keypoint's pixel with its own value; after flipping the image and the keypoints, each
    keypoint still sits on a pixel holding the value of the point it was before the swap."""
    h, w = 64, 32
    kps = torch.tensor([[(5 * k) % w, (3 * k + 1) % h] for k in range(18)], dtype=torch.float32)
    image = torch.zeros(1, 3, h, w)
    for k, (x, y) in enumerate(kps.long().tolist()):
        image[0, :, y, x] = k + 1
    flipped_img, flipped_kps = flip_batch(image, kps[None], torch.tensor([True]))
    for k in range(18):
        x, y = flipped_kps[0, k].long().tolist()
        assert flipped_img[0, 0, y, x] == FLIP_PERMUTATION[k] + 1
    same_img, same_kps = flip_batch(image, kps[None], torch.tensor([False]))
    assert torch.equal(same_img, image) and torch.equal(same_kps[0], kps)


def test_zoom_shift_moves_keypoints_with_the_pixels():
    h, w = 64, 32
    image = torch.ones(2, 3, h, w)  # white
    kps = torch.full((2, 18, 2), -1.0)
    kps[:, 0] = torch.tensor([10.0, 20.0])  # a black 1-pixel dot under the nose
    image[:, :, 20, 10] = -1.0
    kps[:, 1] = torch.tensor([31.0, 63.0])  # the bottom-right pixel: leaves the frame when zoomed in
    zoom, shift = torch.tensor([2.0, 1.0]), torch.tensor([[0.0, 0.0], [4 / 32, -8 / 64]])
    moved, moved_kps = zoom_shift(image, kps, zoom, shift)
    for b in range(2):
        x, y = moved_kps[b, 0].tolist()
        darkest = int(moved[b, 0].argmin())
        dy, dx = divmod(darkest, w)
        assert abs(dx - x) <= 0.5 + 1e-4 and abs(dy - y) <= 0.5 + 1e-4, (b, (dx, dy), (x, y))
    assert moved_kps[1, 0].tolist() == [14.0, 12.0]  # shifted by (+4, -8) pixels
    assert moved_kps[0, 1].tolist() == [-1, -1] and moved_kps[1, 1].tolist() == [-1, -1]  # left the frame
    assert moved_kps[0, 2].tolist() == [-1, -1]  # missing stays missing
    assert moved[0, :, 0, 0].tolist() == [1.0, 1.0, 1.0]  # white stays white (and padding is white)


# ------------------------------------------------------------------------------------ targets and loss


def test_targets_put_the_gaussian_peak_on_the_stride4_grid_and_zero_missing_channels():
    kps = torch.full((1, 18, 2), -1.0)
    kps[0, 0] = torch.tensor([9.5, 21.5])  # input pixels 8..11 / 20..23 -> heatmap pixel (2, 5) centre
    targets, visible = keypoint_targets(kps, (16, 8), sigma=1.5)
    assert targets.shape == (1, 18, 16, 8)
    assert visible[0].tolist() == [True] + [False] * 17
    assert targets[0, 0, 5, 2] == 1.0 and targets[0, 0].argmax() == 5 * 8 + 2
    assert targets[0, 1:].abs().max() == 0


def test_loss_is_zero_for_perfect_heatmaps_and_masks_missing_channels_on_request():
    kps = torch.rand(2, 18, 2) * 30
    kps[:, 3] = -1
    targets, visible = keypoint_targets(kps, (8, 8), sigma=1.0)
    loss, scalars = keypoint_loss(targets, targets, visible)
    assert loss == 0 and scalars["mse_visible"] == 0 and scalars["mse_missing"] == 0
    noisy = targets.clone()
    noisy[:, 3] = 1.0  # the missing point's channel lights up everywhere: penalised as zeros ...
    loss, scalars = keypoint_loss(noisy, targets, visible)
    assert scalars["mse_missing"] == 1.0 and scalars["mse_visible"] == 0
    assert loss == pytest.approx(1 / 18)  # (one channel of 18, per-channel MSE 1)
    masked, _ = keypoint_loss(noisy, targets, visible, missing_weight=0.0)  # ... unless masked
    assert masked == 0


# ------------------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("x,y", [(5.0, 7.0), (5.3, 7.8), (10.6, 3.2), (2.45, 12.5), (7.74, 9.26)])
def test_decode_finds_a_subpixel_peak_within_half_a_pixel(x, y):
    kps = torch.full((1, 18, 2), -1.0)
    kps[0, 4] = torch.tensor([x, y])
    heatmaps = heatmaps_torch(kps, 16, 12, sigma=1.5)
    heatmaps[0, 4] *= 0.9
    decoded, peak = decode_heatmaps(heatmaps, stride=1, threshold=0.3)
    dx, dy = (decoded[0, 4] - torch.tensor([x, y])).abs().tolist()
    assert dx <= 0.5 and dy <= 0.5
    # inside, the quarter-pixel step halves arg-max's worst case (x = 10.6 peaks on the last column, 11,
    # which has one neighbour only: no step there)
    assert dy <= 0.25 + 1e-6 and dx <= (0.4 if x > 10.5 else 0.25) + 1e-6
    assert peak[0, 4] > 0.3
    assert (decoded[0, torch.arange(18) != 4] == -1).all()  # the all-zero channels are missing


def test_decode_maps_stride4_heatmaps_back_to_input_pixels():
    kps = torch.full((1, 18, 2), -1.0)
    kps[0, :3] = torch.tensor([[9.5, 21.5], [13.0, 30.0], [2.0, 57.0]])  # on a centre, between, near an edge
    targets, _ = keypoint_targets(kps, (16, 8), sigma=1.5)
    decoded, _ = decode_heatmaps(targets, stride=4, threshold=0.3)
    assert decoded[0, 0].tolist() == [9.5, 21.5]
    assert (decoded[0, :3] - kps[0, :3]).abs().max() <= 1.0 + 1e-6  # a quarter heatmap pixel = 1 input pixel


def test_a_low_channel_decodes_as_missing():
    heatmaps = torch.full((2, 18, 16, 8), 0.05)
    heatmaps[:, :, 3, 4] = 0.2  # a clear maximum, but below the threshold
    heatmaps[1, 7, 10, 2] = 0.9
    decoded, peak = decode_heatmaps(heatmaps, stride=4, threshold=0.3)
    assert (decoded[0] == -1).all()
    assert decoded[1, 7].tolist() == [2 * 4 + 1.5, 10 * 4 + 1.5] and (decoded[1, :7] == -1).all()
    assert peak[0, 0] == pytest.approx(0.2)
    kept, _ = decode_heatmaps(heatmaps, stride=4, threshold=None)  # no threshold: every maximum is a point
    assert (kept[0] == torch.tensor([4 * 4 + 1.5, 3 * 4 + 1.5])).all() and kept[1, 7].tolist() == decoded[1, 7].tolist()


def test_predict_returns_the_decoded_keypoints_in_the_callers_pixels():
    net = KeypointNet(KeypointNetModelConfig(widths=[4, 4, 4], blocks=0, decoder_width=4), Preprocess((32, 16)))
    net.eval()
    kps = torch.full((1, 18, 2), -1.0)
    kps[0, 0] = torch.tensor([5.5, 17.5])
    heatmaps, _ = keypoint_targets(kps, net.heatmap_size, 1.0)
    net.forward = lambda x: heatmaps.expand(x.shape[0], -1, -1, -1)  # a network that always sees this pose
    out = net.predict(torch.zeros(3, 3, 32, 16))
    assert out.shape == (3, 18, 2) and out[0, 0].tolist() == [5.5, 17.5] and (out[:, 1:] == -1).all()
    bigger = net.predict(torch.zeros(1, 3, 64, 32))  # resized to 32x16 and mapped back: pixel centres x2
    assert bigger[0, 0].tolist() == [(5.5 + 0.5) * 2 - 0.5, (17.5 + 0.5) * 2 - 0.5]


# ----------------------------------------------------------------------------------- resizing geometry


@pytest.mark.parametrize("mode", ["fit", "crop", "stretch"])
def test_resize_keypoints_follows_resize_rgb(mode):
    """A 2x2 black block on a white 80x40 image, resized to 40x40: the mapped block centre lands on the
    darkest part of the resized image."""
    img = np.full((80, 40, 3), 255, np.uint8)
    img[50:52, 12:14] = 0
    kps = np.full((18, 2), -1.0, np.float32)
    kps[0] = [12.5, 50.5]  # the block's centre
    kps[1] = [39.0, 0.0]  # a corner pixel (cropped away by "crop"; clamped into the frame by the others)
    out = resize_keypoints(kps, (80, 40), (40, 40), mode)
    small = resize_rgb(img, (40, 40), mode).astype(np.float64).mean(-1)
    ys, xs = np.nonzero(small < 200)
    weights = 255 - small[ys, xs]
    centre = [float((xs * weights).sum() / weights.sum()), float((ys * weights).sum() / weights.sum())]
    assert np.abs(out[0] - centre).max() < 0.3, (out[0], centre)
    # fit: half size, (12.5 + 0.5) * 0.5 - 0.5 + 10 px of white band; crop keeps the scale (80x40 -> the
    # middle 40x40) and stretch halves the height only
    expected_x = {"fit": 16.0, "crop": 12.5, "stretch": 12.5}[mode]
    assert out[0, 0] == pytest.approx(expected_x)
    assert (out[1] == -1).all() if mode == "crop" else (out[1] >= 0).all()
    assert (out[2:] == -1).all()
    back = unresize_keypoints(out, (80, 40), (40, 40), mode)
    np.testing.assert_allclose(back[0], kps[0], atol=1e-5)


def _write_dataset(root, size=(80, 40), n=4):
    """A hand-made dataset of non-square white images with a black 2x2 block under the nose keypoint."""
    schema = DatasetSchema(
        name="kp-geometry",
        attributes=[AttributeSpec("color", ["black", "white"])],
        image_size=size,
        annotations=Annotations(keypoints=True),
    )
    with DatasetWriter(root, schema) as writer:
        for i in range(n):
            img = np.full((*size, 3), 255, np.uint8)
            x, y = 4 + 6 * i, 10 + 12 * i
            img[y : y + 2, x : x + 2] = 0
            (writer.root / "images").mkdir(exist_ok=True)
            save_png(writer.root / "images" / f"{i}.png", img)
            kps = [[-1.0, -1.0]] * 18
            kps[0] = [x + 0.5, y + 0.5]
            writer.add(
                Item(id=str(i), path=f"images/{i}.png", split="train", attributes={"color": "white"}, keypoints=kps)
            )
    return root


def test_the_loaders_keypoints_land_on_their_pixel_after_fit_resizing_a_non_square_image(tmp_path):
    data = _write_dataset(tmp_path / "data")
    ds = FashionDataset(data, split="train", size=(40, 40), resize="fit", with_keypoints=True, progress=False)
    for k in range(len(ds)):
        item = ds[k]
        x, y = item["keypoints"][0].tolist()
        small = denormalise(item["image"]).astype(np.float64).mean(-1)
        dy, dx = np.unravel_index(small.argmin(), small.shape)
        assert abs(x - dx) <= 0.5 and abs(y - dy) <= 0.5, (k, (x, y), (dx, dy))
        assert (item["keypoints"][1:] == -1).all()
        assert 10 <= x < 30  # on the image, not on fit's white side bands


# ------------------------------------------------------------------------------------- training, export


def _tiny_cfg(tmp_path, *overrides):
    spec = MODELS.get("keypoints")
    return resolve_config(
        KeypointNetConfig,
        model="keypoints",
        preset="tiny",
        overrides=[*spec.tiny_setup(tmp_path), f"train.out={tmp_path / 'runs'}", *overrides],
    )


def test_tiny_training_exports_loads_and_predicts(tmp_path):
    cfg = _tiny_cfg(tmp_path, "train.steps=4", "train.sample_every=2", "sample_images=3")
    run = Trainer(build_task("keypoints", cfg), cfg, train=cfg.train, progress=False).fit()
    assert sorted(p.name for p in (run / "samples").glob("keypoints-step-*.png")) == [
        "keypoints-step-0000002.png",
        "keypoints-step-0000004.png",
    ]
    model = fashionlab.load(run)
    assert isinstance(model, KeypointNet) and not model.training
    assert model.preprocess == Preprocess((64, 32), "fit")
    ds = FashionDataset(cfg.data, split="val", size=(64, 32), with_keypoints=True, progress=False)
    images = torch.stack([ds[i]["image"] for i in range(3)])
    assert model.predict(images).shape == (3, 18, 2)  # the trained network runs (4 steps find no point yet)
    # with its heatmaps fixed to a known pose, the loaded model's answers are known exactly
    pose = torch.full((1, 18, 2), -1.0)
    pose[0, 0], pose[0, 3] = torch.tensor([5.5, 17.5]), torch.tensor([21.5, 41.5])  # heatmap pixel centres
    heatmaps, _ = keypoint_targets(pose, model.heatmap_size, 1.0)
    model.forward = lambda x: heatmaps.expand(x.shape[0], -1, -1, -1)
    assert torch.equal(model.predict(images), pose.expand(3, -1, -1))
    picture = np.full((90, 70, 3), 200, np.uint8)  # any size: fitted into 64x32, the points mapped back
    one = model.predict_image(picture)
    assert one.dtype == np.float32
    np.testing.assert_allclose(one, unresize_keypoints(pose[0].numpy(), (90, 70), (64, 32), "fit"), atol=1e-5)
    assert (one[[1, 2, *range(4, 18)]] == -1).all() and one[0].tolist() != [5.5, 17.5]


def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(tmp_path):
    cfg = _tiny_cfg(tmp_path / "a", "train.steps=6", "train.ckpt_every=0")
    full = Trainer(build_task("keypoints", cfg), cfg, train=cfg.train, progress=False)
    full.fit()
    full_state = load_checkpoint(find_checkpoint(full.run_dir))

    cfg_b = _tiny_cfg(tmp_path / "b", "train.steps=6", "train.ckpt_every=0")
    task = build_task("keypoints", cfg_b)
    part = Trainer(task, cfg_b, train=cfg_b.train, progress=False)
    step = task.train_step

    def interrupt_after_step_3(ctx):
        out = step(ctx)
        if ctx.step == 2:
            part._stop_requested = True  # what Ctrl-C does
        return out

    task.train_step = interrupt_after_step_3
    with pytest.raises(SystemExit):
        part.fit()
    assert load_checkpoint(find_checkpoint(part.run_dir))["step"] == 3
    resumed = Trainer(build_task("keypoints", cfg_b), cfg_b, train=cfg_b.train, resume=part.run_dir, progress=False)
    resumed.fit()
    state = load_checkpoint(find_checkpoint(part.run_dir))
    assert state["step"] == 6 and state["batches_drawn"] == full_state["batches_drawn"]
    for net, sd in full_state["nets"].items():
        for k, v in sd.items():
            assert torch.equal(state["nets"][net][k], v), (net, k)
    assert torch.equal(state["rng"][0]["torch"], full_state["rng"][0]["torch"])


def test_bad_config_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="multiple of 8"):
        build_task("keypoints", _tiny_cfg(tmp_path, "image_size=[60, 32]"))
    with pytest.raises(InputError, match="no dataset"):
        build_task("keypoints", resolve_config(KeypointNetConfig, model="keypoints", preset="tiny"))


def test_draw_skeleton_draws_only_present_points():
    img = np.full((32, 16, 3), 255, np.uint8)
    kps = np.full((18, 2), -1.0)
    assert (draw_skeleton(img, kps, 2) == 255).all()  # nothing to draw
    kps[1], kps[2] = [8, 5], [3, 9]  # neck and right shoulder: one limb
    drawn = draw_skeleton(img, kps, 2)  # at 2x: pixel centres (16.5, 10.5) and (6.5, 18.5), dots of radius 2
    assert drawn.shape == (64, 32, 3)
    assert drawn[10, 16].tolist() == [255, 85, 0] and drawn[18, 6].tolist() == [255, 170, 0]  # the points' colours
    assert drawn[14, 11].tolist() == [255, 170, 0]  # the limb's middle, in its end point's colour
    ys, xs = np.nonzero((drawn != 255).any(-1))
    assert ys.min() >= 8 and ys.max() <= 21 and xs.min() >= 4 and xs.max() <= 19  # nothing beyond the dots
