"""Class activation maps of the frozen attribute classifier, as the editors use them: AMGAN's attention target
(the CAM of the target value, or the contrast of the source value against it) and the CAM-as-mask ablation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _raw_cams(classifier, x: torch.Tensor, attribute: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """(B, h, w) raw CAMs at the classifier's conv7 resolution for each sample's own ``attribute`` and
    ``value`` (value -1: zeros)."""
    return classifier.value_cams(classifier.preprocess.fit_batch(x), attribute, value)


def _normalised(maps: torch.Tensor, size: tuple[int, int], valid: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W): ``maps`` (B, h, w) upsampled to ``size`` and min-max normalised per sample; zero where
    not ``valid`` (B,)."""
    m = F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)
    lo = m.flatten(1).min(1).values[:, None, None, None]
    hi = m.flatten(1).max(1).values[:, None, None, None]
    return ((m - lo) / (hi - lo).clamp_min(1e-6)) * valid.float()[:, None, None, None]


def target_cams(classifier, x: torch.Tensor, attribute: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) min-max normalised CAMs of the frozen classifier on ``x`` for each sample's own
    ``attribute`` (B,) and ``value`` (B,) indices (value -1: zeros), at ``x``'s size."""
    return _normalised(_raw_cams(classifier, x, attribute, value), tuple(x.shape[-2:]), value >= 0)


def contrast_cams(
    classifier, x: torch.Tensor, attribute: torch.Tensor, source: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """(B, 1, H, W) the CAM of the logit difference source - target (CAM(source) - CAM(target), the
    classifier's last layer being linear): where the classifier finds that ``x`` has its source value
    *rather than* the target, min-max normalised; zeros where either value is unknown."""
    raw = _raw_cams(classifier, x, attribute, source) - _raw_cams(classifier, x, attribute, target)
    return _normalised(raw, tuple(x.shape[-2:]), (source >= 0) & (target >= 0))
