"""SSIM agrees with scikit-image's structural_similarity (the papers' reference) to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from fashionlab.metrics.ssim import ssim


def reference(a, b, data_range):
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=2, data_range=data_range
    )


@pytest.mark.parametrize("hw", [(64, 64), (128, 64), (37, 53)])
def test_matches_scikit_image_on_uint8(hw):
    rng = np.random.default_rng(hw[0])
    a = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    noise = rng.integers(-40, 41, a.shape)
    b = np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)
    b[: hw[0] // 2] = rng.integers(0, 256, (hw[0] // 2, hw[1], 3))  # half unrelated
    assert abs(float(ssim(a, b)) - reference(a, b, 255)) < 1e-5
    rng_b = float(b.max()) - float(b.min())  # the pose papers: the generated image's range
    assert abs(float(ssim(a, b, data_range=rng_b)) - reference(a, b, rng_b)) < 1e-5
    assert abs(float(ssim(a, a)) - 1.0) < 1e-12


def test_batches_and_masks():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    b = a.copy()
    b[:, :, 20:] = 255 - b[:, :, 20:]  # the right half changed
    batch = ssim(a, b)
    assert batch.shape == (3,)
    for i in range(3):
        assert abs(batch[i] - reference(a[i], b[i], 255)) < 1e-5
    left = np.zeros((40, 40), bool)
    left[:, :10] = True  # far from the change: its windows see only unchanged pixels
    assert np.allclose(ssim(a, b, mask=left), 1.0)
    assert np.isnan(ssim(a[0], b[0], mask=np.zeros((40, 40), bool)))
