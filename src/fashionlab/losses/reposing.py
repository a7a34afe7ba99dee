"""Losses of the re-posing GANs (XingGAN, PATN), as the official Pose-Transfer / XingGAN code computes them.
Each returns ``(loss, {name: detached scalar tensor})``.

- :func:`gan_loss`: the official ``GANLoss``: binary cross-entropy against all-ones / all-zeros maps
  (``bce``, Market: ``--no_lsgan``) or the squared error to them (``lsgan``, DeepFashion). The official BCE
  runs end the discriminators with a sigmoid and use ``nn.BCELoss``; here the discriminators output logits
  and the loss is ``binary_cross_entropy_with_logits``: the same function, stable under bf16 autocast.
- :func:`l1_plus_perceptual`: the official ``L1_plus_perceptualLoss``: ``lambda_A * |fake - target|_1`` and
  ``lambda_B * |phi(fake) - phi(target)|_1`` with ``phi`` a frozen network's early features (official: VGG19
  up to relu1_2; here the caller passes its own, see :class:`fashionlab.models.reposing.task.ReposeTask`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

GAN_MODES = ("bce", "lsgan")


def gan_loss(scores: torch.Tensor, real: bool, mode: str = "bce", name: str = "gan") -> tuple[torch.Tensor, dict]:
    """The discriminator ``scores`` (logits for ``bce``, raw for ``lsgan``) against the label ``real``."""
    scores = scores.float()
    target = torch.full_like(scores, 1.0 if real else 0.0)
    if mode == "bce":
        loss = F.binary_cross_entropy_with_logits(scores, target)
    elif mode == "lsgan":
        loss = F.mse_loss(scores, target)
    else:
        raise ValueError(f"gan mode must be one of {GAN_MODES}, not {mode!r}")
    return loss, {name: loss.detach()}


def l1_plus_perceptual(
    fake: torch.Tensor,
    target: torch.Tensor,
    features: Callable[[torch.Tensor], torch.Tensor] | None,
    l1_weight: float,
    perceptual_weight: float,
) -> tuple[torch.Tensor, dict]:
    """``l1_weight * mean|fake - target| + perceptual_weight * mean|features(fake) - features(target)|``
    (the perceptual term is skipped when its weight is 0 or ``features`` is None)."""
    l1 = (fake.float() - target.float()).abs().mean()
    loss = l1_weight * l1
    scalars = {"l1": l1.detach()}
    if perceptual_weight and features is not None:
        with torch.no_grad():
            want = features(target).float()
        perceptual = (features(fake).float() - want).abs().mean()
        loss = loss + perceptual_weight * perceptual
        scalars["perceptual"] = perceptual.detach()
    return loss, scalars
