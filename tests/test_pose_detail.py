"""The re-posing scores that see ghosts, missing arms and faces, on hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from fashionlab.data.keypoints import KEYPOINT_NAMES
from fashionlab.metrics.pose_detail import head_box, head_scores, pckh_per_joint, silhouette_l1


def standing(dx: float = 0.0) -> np.ndarray:
    """An (18, 2) pose with a 10 x 12 px head box (head points span x 25..35, y 8..20)."""
    k = np.full((18, 2), -1.0)
    k[0], k[1] = (30 + dx, 14), (30 + dx, 20)  # nose, neck
    k[14], k[15], k[16], k[17] = (28 + dx, 12), (32 + dx, 12), (25 + dx, 8), (35 + dx, 13)  # eyes, ears
    k[2], k[3], k[4] = (24 + dx, 22), (20 + dx, 35), (18 + dx, 48)  # right arm
    k[5], k[6], k[7] = (36 + dx, 22), (40 + dx, 35), (42 + dx, 48)  # left arm
    k[8], k[11] = (26 + dx, 60), (34 + dx, 60)
    return k


def test_pckh_per_joint_finds_the_wrong_wrists():
    target = np.stack([standing(), standing()])
    pred = target.copy()
    pred[0, 4] += (6.0, 0)  # right wrist off by 6 px in x: head width 10, alpha 0.5 -> 5 px: wrong
    pred[1, 4] += (4.0, 0)  # 4 px: right
    pred[:, 7] = -1  # left wrist not found: wrong
    pred[0, 3] += (0, 5.9)  # right elbow off by 5.9 in y: head height 12 -> 6 px: right
    got = pckh_per_joint(pred, target)
    assert got["right_wrist"] == 0.5 and got["left_wrist"] == 0.0 and got["right_elbow"] == 1.0
    assert got["arms"] == (2 + 1 + 2 + 0) / 8  # elbows 2 + 2, right wrist 1, left wrist 0
    assert got["nose"] == 1.0 and np.isnan(got["right_knee"])  # never visible in the target: NaN
    assert set(got) == {*KEYPOINT_NAMES, "arms"}


def test_ghost_and_missing_body_on_hand_made_pictures():
    h, w = 40, 40
    bg, person = 200, 50
    source_person = np.zeros((1, h, w), bool)
    target_person = np.zeros((1, h, w), bool)
    source_person[0, 10:30, 5:15] = True  # the figure on the left in the source
    target_person[0, 10:30, 20:35] = True  # on the right in the target, with an arm at 35:38
    target_person[0, 15:18, 35:38] = True
    target = np.full((1, h, w, 3), bg, np.uint8)
    target[target_person] = person
    generated = target.copy()
    generated[source_person] = 125  # a half-transparent ghost of the source figure: (200 + 50) / 2
    generated[0, 15:18, 35:38] = bg  # and the arm not drawn
    got = silhouette_l1(generated, target, source_person, target_person)
    assert got["ghost"][0] == pytest.approx(75 / 255)  # |125 - 200| on every ghost pixel
    # missing body: target person & ~source person = the body (15 x 20 = 300 px, right) + the arm (9 px, wrong)
    assert got["missing_body"][0] == pytest.approx(9 * 150 / 255 / 309)
    truth = silhouette_l1(target, target, source_person, target_person)
    assert truth["ghost"][0] == 0 and truth["missing_body"][0] == 0
    none = silhouette_l1(target, target, target_person, target_person)
    assert np.isnan(none["ghost"][0]) and np.isnan(none["missing_body"][0])  # no such pixels


def test_head_box_and_scores():
    k = standing()
    # head points span x 25..35, y 8..20: side 12, centre (30, 14), half 6 + 0.35 * 12 = 10.2
    assert head_box(k, 80, 60) == (19, 3, 42, 26)
    assert head_box(np.full((18, 2), -1.0), 80, 60) is None
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (1, 80, 60, 3), dtype=np.uint8)
    smeared = target.copy()
    smeared[0, 3:26, 19:42] = target[0, 3:26, 19:42].mean((0, 1)).round().astype(np.uint8)  # a flat face
    same = head_scores(target, target, k[None])
    assert same["head_l1"][0] == 0 and same["head_ssim"][0] == pytest.approx(1.0)
    got = head_scores(smeared, target, k[None])
    want_l1 = np.abs(smeared[0, 3:26, 19:42].astype(float) - target[0, 3:26, 19:42]).mean() / 255
    assert got["head_l1"][0] == pytest.approx(want_l1) and got["head_ssim"][0] < 0.1
    outside = target.copy()
    outside[0, 40:] = 0  # changes below the head box do not count
    assert head_scores(outside, target, k[None])["head_l1"][0] == 0
