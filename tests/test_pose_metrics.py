"""Pose keypoints, heatmaps and the pose papers' metrics (PCKh, pose mask, Mask-SSIM, L1) against hand-made
cases, readable re-implementations of the official scripts, and scikit-image."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from fashionlab.data.keypoints import (
    KEYPOINT_NAMES,
    heatmaps_torch,
    keypoints_to_heatmaps,
    load_keypoints_json,
    save_keypoints_json,
)
from fashionlab.errors import InputError
from fashionlab.metrics.pose import l1, mask_ssim, pckh, pose_mask, pose_ssim


def random_poses(rng: np.random.Generator, n: int, height: int, width: int, p_missing: float = 0.15) -> np.ndarray:
    kps = np.stack([rng.uniform(0, width - 1, (n, 18)), rng.uniform(0, height - 1, (n, 18))], -1)
    kps[rng.random((n, 18)) < p_missing] = -1
    return kps


# ---------------------------------------------------------------- heatmaps


def test_heatmap_peak_sigma_and_missing():
    kps = np.full((18, 2), -1.0)
    kps[0] = [10, 20]  # nose at x=10, y=20
    kps[5] = [3.5, 7.25]  # off the pixel grid
    maps = keypoints_to_heatmaps(kps, 48, 32, sigma=6.0)
    assert maps.shape == (18, 48, 32) and maps.dtype == np.float32
    assert maps[0, 20, 10] == 1.0 and maps[0].max() == 1.0
    for y, x in [(20, 16), (20, 4), (26, 10), (14, 10)]:  # distance sigma along each axis
        assert abs(maps[0, y, x] - math.exp(-0.5)) < 1e-7
    assert abs(maps[5, 7, 3] - math.exp(-(0.5**2 + 0.25**2) / 72)) < 1e-7
    missing = [k for k in range(18) if k not in (0, 5)]
    assert not maps[missing].any()


def test_heatmaps_torch_matches_numpy():
    rng = np.random.default_rng(0)
    kps = random_poses(rng, 4, 64, 48, p_missing=0.3)
    kps[0, 3] = [-1, 12]  # one coordinate -1 is missing too, as in the official code
    batch = heatmaps_torch(torch.tensor(kps, dtype=torch.float32), 64, 48)
    assert batch.shape == (4, 18, 64, 48) and batch.dtype == torch.float32
    for i in range(4):
        ref = keypoints_to_heatmaps(kps[i].astype(np.float32), 64, 48)
        assert np.abs(batch[i].numpy() - ref).max() < 1e-6
    assert not batch[0, 3].any()
    single = heatmaps_torch(torch.tensor(kps[1]), 64, 48, sigma=3.0)
    assert single.shape == (18, 64, 48)
    assert np.abs(single.float().numpy() - keypoints_to_heatmaps(kps[1], 64, 48, sigma=3.0)).max() < 1e-6


# ---------------------------------------------------------------- keypoints JSON


def test_json_round_trip_with_missing_points(tmp_path):
    kps = np.arange(36, dtype=np.float32).reshape(18, 2) + 0.25
    kps[[3, 16, 17]] = -1
    path = save_keypoints_json(tmp_path / "pose.json", kps)
    data = json.loads(path.read_text())
    assert len(data) == 18 and data[3] is None and data[16] is None and data[0] == [0.25, 1.25]
    back = load_keypoints_json(path, image_size=(64, 48))
    assert back.dtype == np.float32 and np.array_equal(back, kps)
    # the dataset format's [-1, -1] also reads as missing
    data[3] = [-1, -1]
    path.write_text(json.dumps(data))
    assert np.array_equal(load_keypoints_json(path), kps)


def _points(bad) -> str:
    pts = [[1, 2]] * 18
    pts[3] = "BAD"
    return json.dumps(pts).replace('"BAD"', bad)


@pytest.mark.parametrize(
    "text, image_size, field, words",
    [
        ("[[1, 2], [3,", None, None, "malformed JSON"),
        ('{"nose": [1, 2]}', None, "points", "list of 18"),
        (json.dumps([[1, 2]] * 17), None, "points", "list of 17"),
        (_points("[1]"), None, "points[3]", "right_elbow"),
        (_points("[1, 2, 3]"), None, "points[3]", "two numbers"),
        (_points('[1, "2"]'), None, "points[3]", "two numbers"),
        (_points("[true, 2]"), None, "points[3]", "two numbers"),
        (_points("5"), None, "points[3]", "two numbers"),
        (_points("[NaN, 2]"), None, "points[3]", "finite"),
        (_points("[1, Infinity]"), None, "points[3]", "finite"),
        (_points("[-3, 2]"), None, "points[3]", "negative"),
        (_points("[1, -0.5]"), None, "points[3]", "negative"),
        (_points("[48, 2]"), (64, 48), "points[3]", "outside the 64x48 image"),
        (_points("[1, 64]"), (64, 48), "points[3]", "outside the 64x48 image"),
    ],
)
def test_json_bad_inputs_name_the_field(tmp_path, text, image_size, field, words):
    path = tmp_path / "pose.json"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_keypoints_json(path, image_size=image_size)
    err = info.value
    assert type(err) is InputError and err.field == field
    assert str(path) in str(err) and words in str(err)
    if field:
        assert f"[{field}]" in str(err)


def test_json_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such keypoints file"):
        load_keypoints_json(tmp_path / "nope.json")


def test_keypoint_names_are_the_papers_order():
    assert len(KEYPOINT_NAMES) == 18 and KEYPOINT_NAMES[0] == "nose" and KEYPOINT_NAMES[14] == "left_eye"


# ---------------------------------------------------------------- PCKh


def pckh_oracle(pred, target, alpha=0.5):
    """A readable re-implementation of the official calPCKH loop ([x, y] poses, -1 missing)."""
    correct = total = skipped = 0
    for p, t in zip(pred, target, strict=True):
        head = [t[k] for k in (0, 1, 14, 15, 16, 17) if t[k][0] != -1 and t[k][1] != -1]
        if len(head) < 2:
            skipped += 1
            continue
        w = max(x for x, _ in head) - min(x for x, _ in head)
        h = max(y for _, y in head) - min(y for _, y in head)
        for k in range(18):
            if t[k][1] != -1:
                total += 1
            if -1 in (p[k][0], p[k][1], t[k][0], t[k][1]):
                continue
            if abs(p[k][0] - t[k][0]) < w * alpha and abs(p[k][1] - t[k][1]) < h * alpha:
                correct += 1
    return {"pckh": correct / total, "correct": correct, "total": total, "skipped_images": skipped}


def test_pckh_hand_made():
    target = np.full((3, 18, 2), -1.0)
    # image 0: head box from nose (40, 10) and neck (50, 30): w = 10, h = 20 -> thresholds 5 (x), 10 (y)
    target[0, 0], target[0, 1] = [40, 10], [50, 30]
    for k in range(2, 14):
        target[0, k] = [40 + k, 40 + 3 * k]
    pred = target.copy()
    pred[0, 2, 0] += 4.9  # just inside in x: right
    pred[0, 3, 0] += 5.0  # on the box edge in x (strict): wrong
    pred[0, 4, 1] -= 9.99  # just inside in y: right
    pred[0, 5, 1] += 10.0  # on the edge in y: wrong
    pred[0, 6] += [4.0, 10.5]  # inside in x, outside in y: wrong
    pred[0, 7] = -1  # missing prediction of a visible point: wrong
    pred[0, 14] = [41, 9]  # predicted where the target has no point: not counted
    # image 1: a single head point -> skipped, whatever its other points
    target[1, 0] = [5, 5]
    target[1, 2:14] = 20
    # image 2: nose and Leye one above the other -> w = 0: no point can be right (the script's rule)
    target[2, 0], target[2, 14], target[2, 8] = [30, 10], [30, 6], [30, 50]
    pred[2] = target[2]
    got = pckh(pred, target)
    assert got == {"pckh": 10 / 17, "correct": 10, "total": 17, "skipped_images": 1}  # 14 - 4 wrong, + 0 of 3
    assert got == pckh_oracle(pred, target)
    assert pckh(target[0], target[0])["pckh"] == 1.0


def test_pckh_matches_oracle_on_random_data():
    rng = np.random.default_rng(1)
    n = 300
    target = np.round(random_poses(rng, n, 128, 64, p_missing=0.25))
    target[rng.random(n) < 0.1, :, :] = -1  # some images without any point
    noise = rng.integers(-6, 7, target.shape).astype(np.float64)  # integers: many ties on the box edge
    pred = np.where(target == -1, rng.uniform(0, 64, target.shape), target + noise)
    pred[rng.random((n, 18)) < 0.1] = -1
    got = pckh(pred, target)
    assert got == pckh_oracle(pred, target)
    assert 0 < got["skipped_images"] < n and 0 < got["correct"] < got["total"]
    assert pckh(pred, target, alpha=0.25) == pckh_oracle(pred, target, alpha=0.25)


# ---------------------------------------------------------------- pose mask


def test_pose_mask_single_limb():
    kps = np.full((18, 2), -1.0)
    kps[8], kps[11] = [20, 40], [60, 40]  # Rhip -> Lhip, a limb of the official list
    mask = pose_mask(kps, 80, 80)
    assert mask.shape == (80, 80) and mask.dtype == bool
    assert mask[36:45, 20:61].all()  # the segment with half-width 4 (edges included)
    assert not mask[:35, :].any() and not mask[46:, :].any()
    assert not mask[35, 22:59].any() and not mask[45, 22:59].any()  # nothing beyond the half-width
    assert mask[:, 40].sum() == 9
    assert not mask[:, :16].any() and not mask[:, 65:].any()  # nothing beyond the joint discs
    assert mask[40, 17] and not mask[40, 16]  # the disc of radius 4 (strict) at the end
    # a lone point: its disc of radius 4, untouched by the closing
    lone = np.full((18, 2), -1.0)
    lone[0] = [10, 12]
    yy, xx = np.mgrid[0:30, 0:30]
    assert np.array_equal(pose_mask(lone, 30, 30), (xx - 10) ** 2 + (yy - 12) ** 2 < 16)
    assert not pose_mask(np.full((18, 2), -1.0), 30, 30).any()


def produce_ma_mask_oracle(kps_xy, height, width):
    """The official produce_ma_mask written with scikit-image, as the script does ([y, x] rows there)."""
    from skimage.draw import disk, polygon
    from skimage.morphology import dilation, erosion

    from fashionlab.metrics.pose import MASK_LIMBS

    kp = kps_xy[:, ::-1]  # [y, x]
    mask = np.zeros((height, width), dtype=bool)
    for f, t in MASK_LIMBS:
        if -1 in (kp[f][0], kp[f][1], kp[t][0], kp[t][1]):
            continue
        v = kp[f] - kp[t]
        normal = np.array([-v[1], v[0]])
        normal = 4 * normal / np.linalg.norm(normal)
        verts = np.array([kp[f] + normal, kp[f] - normal, kp[t] - normal, kp[t] + normal])
        rr, cc = polygon(verts[:, 0], verts[:, 1], shape=(height, width))
        mask[rr, cc] = True
    for joint in kp:
        if -1 in (joint[0], joint[1]):
            continue
        rr, cc = disk((joint[0], joint[1]), 4, shape=(height, width))
        mask[rr, cc] = True
    square = np.ones((5, 5), dtype=bool)
    return erosion(dilation(mask, square), square)


def test_pose_mask_matches_scikit_image_oracle():
    rng = np.random.default_rng(2)
    for kps in random_poses(rng, 6, 128, 64, p_missing=0.2):
        assert np.array_equal(pose_mask(kps, 128, 64), produce_ma_mask_oracle(kps, 128, 64))


# ---------------------------------------------------------------- Mask-SSIM and L1


def test_mask_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    target = rng.integers(20, 140, (2, 128, 64, 3), dtype=np.uint8)  # a range far from 255
    noise = rng.integers(-30, 31, target.shape)
    generated = np.clip(target.astype(int) + noise, 0, 255).astype(np.uint8)
    masks = np.stack([pose_mask(k, 128, 64) for k in random_poses(rng, 2, 128, 64, p_missing=0.0)])
    scores = mask_ssim(generated, target, masks)
    assert scores.shape == (2,)
    for i in range(2):
        g, t = generated[i] * masks[i][..., None], target[i] * masks[i][..., None]
        ref = structural_similarity(
            t, g, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=2,
            data_range=float(g.max()) - float(g.min()),
        )  # fmt: skip
        one = mask_ssim(generated[i], target[i], masks[i])
        assert isinstance(one, float) and abs(one - ref) < 1e-5 and abs(scores[i] - ref) < 1e-5
    assert abs(mask_ssim(target[0], target[0], masks[0]) - 1.0) < 1e-9


def test_pose_ssim_matches_scikit_image_with_the_generated_images_range():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(4)
    target = rng.integers(0, 256, (3, 128, 64, 3), dtype=np.uint8)
    generated = np.clip(target.astype(int) // 2 + rng.integers(-40, 41, target.shape) + 40, 0, 255).astype(np.uint8)
    scores = pose_ssim(generated, target)
    for i in range(3):
        ref = structural_similarity(
            target[i], generated[i], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            channel_axis=2, data_range=float(generated[i].max()) - float(generated[i].min()),
        )  # fmt: skip
        assert abs(scores[i] - ref) < 1e-5 and abs(pose_ssim(generated[i], target[i]) - ref) < 1e-5
    # not the 255 default: the generated image's range changes the score
    from fashionlab.metrics.ssim import ssim

    assert abs(float(ssim(target[0], generated[0])) - scores[0]) > 1e-4


def test_l1_in_unit_range():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 255, np.uint8)
    b[0] = 0
    assert l1(a, b) == 0.75 and l1(a, a) == 0.0
    assert l1(a.astype(np.float32), b.astype(np.float32) / 255) == 0.75
