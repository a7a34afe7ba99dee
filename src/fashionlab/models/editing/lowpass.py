"""A Gaussian low-pass for the images a classification loss reads (``loss.cls_blur``).

A classifier's gradient with respect to its input has every spatial frequency; a generator trained to be
classified as the target attributes can satisfy it with high-frequency colour noise (speckle) that the
classifier reads but a person does not (docs/edit-comparison.md). Reading a blurred image instead, the
loss's gradient reaches the generator through the blur's transpose (the same symmetric kernel): a
low-passed gradient, which no longer rewards speckle, while the adversarial head still sees every pixel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """The 1-D normalised Gaussian of standard deviation ``sigma`` pixels, radius ceil(3 sigma)."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-(t**2) / (2 * sigma * sigma))
    return kernel / kernel.sum()


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """``images`` (B, C, H, W) blurred by a separable Gaussian of ``sigma`` pixels (edges reflected, so a
    constant image stays constant); ``sigma`` 0 returns the input itself. Differentiable."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return images
    kernel = gaussian_kernel(sigma, images.dtype, images.device)
    radius, channels = len(kernel) // 2, images.shape[1]
    if radius >= min(images.shape[-2:]):
        raise ValueError(f"sigma {sigma} is too wide for {tuple(images.shape[-2:])} images (reflect padding)")
    rows = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    cols = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    out = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="reflect"), rows, groups=channels)
    return F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), cols, groups=channels)
