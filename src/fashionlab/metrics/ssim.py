"""SSIM exactly as the editing and pose papers compute it: scikit-image's ``structural_similarity`` with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False`` (Wang et al. 2004), per channel, then
averaged; also as a per-pixel map, so it can be averaged inside or outside a region.

scikit-image filters with an 11x11 Gaussian (sigma 1.5, truncated at 3.5 sigma) and averages the SSIM map
after cropping 5 pixels at each border; those are exactly the pixels whose window lies inside the image,
so a "valid" convolution gives the same numbers without any padding rule. ``tests/test_metrics_ssim.py``
checks the agreement with scikit-image to 1e-5.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SIGMA = 1.5
TRUNCATE = 3.5
RADIUS = int(TRUNCATE * SIGMA + 0.5)  # 5: an 11x11 window
K1, K2 = 0.01, 0.03


def _kernel(dtype=torch.float64) -> torch.Tensor:
    x = torch.arange(-RADIUS, RADIUS + 1, dtype=dtype)
    k = torch.exp(-0.5 * (x / SIGMA) ** 2)
    return k / k.sum()


def _filter(x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian, valid region only: (N, 1, H, W) -> (N, 1, H - 10, W - 10)."""
    k = _kernel(x.dtype).to(x.device)
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def ssim_map(a, b, data_range: float | None = None) -> torch.Tensor:
    """Per-pixel SSIM (N, H - 10, W - 10), averaged over channels, of two batches of images (N, H, W, C) or
    (H, W, C) (uint8 or float, numpy or torch). ``data_range`` defaults to 255 for uint8 input, else to
    ``b.max() - b.min()`` per image (the pose papers' choice: the generated image's range). Pixel (i, j) of
    the map is pixel (i + 5, j + 5) of the image."""
    a_t = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a)
    b_t = torch.as_tensor(np.asarray(b) if not isinstance(b, torch.Tensor) else b)
    if a_t.shape != b_t.shape:
        raise ValueError(f"images differ in shape: {tuple(a_t.shape)} vs {tuple(b_t.shape)}")
    is_uint8 = a_t.dtype == torch.uint8
    if a_t.dim() == 3:
        a_t, b_t = a_t[None], b_t[None]
    n, h, w, c = a_t.shape
    if h <= 2 * RADIUS or w <= 2 * RADIUS:
        raise ValueError(f"images of {h}x{w} are too small for an 11x11 SSIM window")
    x = a_t.double().permute(0, 3, 1, 2).reshape(n * c, 1, h, w)
    y = b_t.double().permute(0, 3, 1, 2).reshape(n * c, 1, h, w)
    if data_range is None:
        if is_uint8:
            rng = torch.full((n,), 255.0, dtype=torch.float64)
        else:
            rng = (b_t.double().reshape(n, -1).amax(1) - b_t.double().reshape(n, -1).amin(1)).clamp_min(1e-12)
    else:
        rng = torch.full((n,), float(data_range), dtype=torch.float64)
    rng = rng.repeat_interleave(c).view(n * c, 1, 1, 1)
    c1, c2 = (K1 * rng) ** 2, (K2 * rng) ** 2
    ux, uy = _filter(x), _filter(y)
    vx = _filter(x * x) - ux * ux
    vy = _filter(y * y) - uy * uy
    vxy = _filter(x * y) - ux * uy
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.view(n, c, h - 2 * RADIUS, w - 2 * RADIUS).mean(1)


def ssim(a, b, data_range: float | None = None, mask=None) -> np.ndarray:
    """Mean SSIM per image pair, (N,) (or a scalar array for one pair). ``mask`` (N, H, W) or (H, W),
    boolean: average the SSIM map only where it is true (e.g. outside an edit region); an image whose mask
    has no pixel inside the valid area gives NaN."""
    s = ssim_map(a, b, data_range)
    if mask is None:
        out = s.flatten(1).mean(1)
    else:
        m = torch.as_tensor(np.asarray(mask, bool) if not isinstance(mask, torch.Tensor) else mask).bool()
        if m.dim() == 2:
            m = m[None]
        m = m[:, RADIUS:-RADIUS, RADIUS:-RADIUS].expand_as(s)
        cnt = m.flatten(1).sum(1)
        out = (s * m).flatten(1).sum(1) / cnt.clamp_min(1)
        out[cnt == 0] = float("nan")
    out = out.numpy()
    return out if np.asarray(a).ndim == 4 else out[0]
