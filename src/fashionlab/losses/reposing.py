"""Losses of the re-posing GANs (XingGAN, PATN), as the official Pose-Transfer / XingGAN code computes them.
Each returns ``(loss, {name: detached scalar tensor})``.

- :func:`gan_loss`: the official ``GANLoss``: binary cross-entropy against all-ones / all-zeros maps
  (``bce``, Market: ``--no_lsgan``) or the squared error to them (``lsgan``, DeepFashion). The official BCE
  runs end the discriminators with a sigmoid and use ``nn.BCELoss``; here the discriminators output logits
  and the loss is ``binary_cross_entropy_with_logits``: the same function, stable under bf16 autocast.
- :func:`l1_plus_perceptual`: the official ``L1_plus_perceptualLoss``: ``lambda_A * |fake - target|_1`` and
  ``lambda_B * |phi(fake) - phi(target)|_1`` with ``phi`` a frozen network's early features (official: VGG19
  up to relu1_2; here the caller passes its own, see :class:`fashionlab.models.reposing.task.ReposeTask`).
- :func:`nearest_neighbour_loss`: Deformable GAN's loss (official ``nn_loss``): each generated position is
  compared with the closest position of the real target in an ``n x n`` window around it.
- :func:`feature_matching_loss`: pix2pixHD's discriminator feature matching, for any of the re-posing GANs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def nearest_neighbour_loss(
    fake: torch.Tensor, real: torch.Tensor, window: int = 3, name: str = "nearest_neighbour"
) -> tuple[torch.Tensor, dict]:
    """Deformable GAN's nearest-neighbour loss (AliaksandrSiarohin/pose-gan ``conditional_gan.py`` ``nn_loss``):
    at each position p of ``fake`` (B, C, H, W), ``min over q in the window x window neighbourhood of p of
    sum_channels |real(q) - fake(p)|``, averaged over batch and positions (channels summed, positions averaged).
    Neighbours outside the image never count (the official code pads ``real`` with -10000). ``window`` must be odd;
    1 compares each position with the same one only."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"the nearest-neighbour window must be a positive odd number, got {window}")
    fake, real = fake.float(), real.float()
    height, width = fake.shape[-2:]
    pad = window // 2
    padded = F.pad(real, (pad, pad, pad, pad))
    inside = F.pad(torch.ones_like(real[:, :1]), (pad, pad, pad, pad)) > 0
    distances = []
    for dy in range(window):
        for dx in range(window):
            shifted = padded[..., dy : dy + height, dx : dx + width]
            distance = (shifted - fake).abs().sum(1)
            distances.append(distance.masked_fill(~inside[:, 0, dy : dy + height, dx : dx + width], float("inf")))
    loss = torch.stack(distances).amin(0).mean()
    return loss, {name: loss.detach()}


def feature_matching_loss(
    fake_features: Sequence[Sequence[torch.Tensor]],
    real_features: Sequence[Sequence[torch.Tensor]],
    name: str = "feature_matching",
) -> tuple[torch.Tensor, dict]:
    """pix2pixHD's discriminator feature matching (NVIDIA/pix2pixHD ``pix2pixHD_model.py``): for each discriminator,
    ``4 / n x sum over its n intermediate features of mean|fake - real|`` (the real features are detached), averaged
    over the discriminators. pix2pixHD weighs each layer by ``4 / (n_layers_D + 1)``, which is 1 for its default
    discriminator (four intermediate features): there the loss is the plain sum over layers; other depths keep that
    scale. Weight it with ``loss.feature_matching`` (pix2pixHD: 10)."""
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError("need the features of the same discriminators for fake and real inputs")
    per_discriminator = []
    for fake_layers, real_layers in zip(fake_features, real_features, strict=True):
        if len(fake_layers) != len(real_layers) or not fake_layers:
            raise ValueError("need the same, non-empty list of layers for fake and real inputs")
        total = sum(
            (f.float() - r.detach().float()).abs().mean() for f, r in zip(fake_layers, real_layers, strict=True)
        )
        per_discriminator.append(4.0 / len(fake_layers) * total)
    loss = torch.stack(per_discriminator).mean()
    return loss, {name: loss.detach()}
