"""Regularisers of an editor's attention mask (GANimation, Pumarola et al. ECCV 2018) and the collapse check.

GANimation's generator keeps the input where its mask A is 1 (output ``A * x + (1 - A) * C``), and A tends
to saturate at 1 (the generator then does nothing), so the official code adds, for the forward mask and the
cycle mask alike, ``lambda_mask`` (0.1) x the *mean* of A and ``lambda_mask_smooth`` (1e-5) x its total
variation *summed* over every element (batch, rows, columns): those are its reductions, kept here, so the
smoothness term grows with the batch and the image size as it does there.

Each loss returns ``(loss, {name: detached scalar})``.
"""

from __future__ import annotations

import torch

#: a mask whose batch mean lies outside this range has collapsed: all-keep or all-edit (GANimation's users'
#: most repeated problem; the author's advice is to keep the mean near 0.5)
MASK_COLLAPSE_RANGE = (0.02, 0.98)


def mask_mean(mask: torch.Tensor, name: str = "mask_mean") -> tuple[torch.Tensor, dict]:
    """GANimation's mask regulariser: the mean of ``mask`` (B, 1, H, W) over every element."""
    loss = mask.float().mean()
    return loss, {name: loss.detach()}


def mask_total_variation(mask: torch.Tensor, name: str = "mask_tv") -> tuple[torch.Tensor, dict]:
    """GANimation's smoothness term: the sum over the whole batch of the absolute differences between
    horizontally and between vertically neighbouring values of ``mask`` (B, 1, H, W) (not a mean)."""
    m = mask.float()
    loss = (m[..., :, 1:] - m[..., :, :-1]).abs().sum() + (m[..., 1:, :] - m[..., :-1, :]).abs().sum()
    return loss, {name: loss.detach()}


def mask_collapse(mean: torch.Tensor, low: float = MASK_COLLAPSE_RANGE[0], high: float = MASK_COLLAPSE_RANGE[1]):
    """1.0 (a float tensor) where the mask mean ``mean`` lies outside ``[low, high]`` (the mask is all-keep or
    all-edit), else 0.0; elementwise, so a (B,) tensor of per-image means gives a (B,) flag."""
    mean = mean.detach().float()
    return ((mean < low) | (mean > high)).float()
