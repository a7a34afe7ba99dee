"""ResGAN's losses (Shen & Liu, CVPR 2017): a three-class discriminator, the residual's L1 sparsity, and the
conversion of weights written for sums over [0, 255] pixels into weights on our means over [-1, 1] ones.

The discriminator has three classes: a real image with value A of the contrast (:data:`REAL_A`), a real
image with value B (:data:`REAL_B`), a generated image (:data:`FAKE`). It learns them by cross-entropy; a
generator wants its output classified as the *real* class of its target value. Each function returns
``(loss, {name: detached scalar})``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: the discriminator's classes
REAL_A, REAL_B, FAKE = 0, 1, 2

#: half the [0, 255] range: a difference of 1 in [-1, 1] units is 127.5 grey levels
GREY_LEVELS_PER_UNIT = 127.5


def discriminator_loss(
    real_logits: torch.Tensor, real_class: torch.Tensor, fake_logits: torch.Tensor
) -> tuple[torch.Tensor, dict]:
    """``CE(real_logits, real_class) + CE(fake_logits, FAKE)``, each the mean over its batch. ``real_logits``
    and ``fake_logits`` (B, 3); ``real_class`` (B,) :data:`REAL_A` or :data:`REAL_B`."""
    assert real_logits.shape[-1] == 3 and fake_logits.shape[-1] == 3, (real_logits.shape, fake_logits.shape)
    real = F.cross_entropy(real_logits.float(), real_class.long())
    fake_class = torch.full((fake_logits.shape[0],), FAKE, dtype=torch.long, device=fake_logits.device)
    fake = F.cross_entropy(fake_logits.float(), fake_class)
    acc_real = (real_logits.argmax(1) == real_class).float().mean()
    acc_fake = (fake_logits.argmax(1) == FAKE).float().mean()
    scalars = {"d_real": real.detach(), "d_fake": fake.detach(), "d_acc_real": acc_real, "d_acc_fake": acc_fake}
    return real + fake, scalars


def generator_loss(logits: torch.Tensor, wanted_class: torch.Tensor, name: str = "g_adv") -> tuple[torch.Tensor, dict]:
    """``CE(logits, wanted_class)``: the generated images classified as the real class of their target
    value (:data:`REAL_A` or :data:`REAL_B`); also the share of them the discriminator already does."""
    loss = F.cross_entropy(logits.float(), wanted_class.long())
    fooled = (logits.argmax(1) == wanted_class).float().mean()
    return loss, {name: loss.detach(), f"{name}_fooled": fooled}


def residual_l1(r: torch.Tensor, name: str = "residual_l1") -> tuple[torch.Tensor, dict]:
    """The residual's sparsity term, ``mean |r|`` over every element (images in [-1, 1])."""
    loss = r.float().abs().mean()
    return loss, {name: loss.detach()}


def sum_weight_as_mean(weight_on_sum: float, n_elements: int, scale: float = 1.0) -> float:
    """The weight on a *mean* over ``n_elements`` that gives the same loss as ``weight_on_sum`` on the *sum*
    of the same values multiplied by ``scale``: ``weight_on_sum * scale * n_elements``.

    ResGAN's residual L1 in the public re-implementations: alpha = 5e-5 on the sum of |r| over the pixels
    and channels of a [0, 255] image (``scale`` :data:`GREY_LEVELS_PER_UNIT` = 127.5, ``n_elements`` 3 H W):
    313.344 on our mean at 128 px, 78.336 at 64 px. Its perceptual term, beta = 0.1 alpha on the sum over
    the discriminator's features (``scale`` 1: instance-normalised features do not depend on the pixel
    range), ``n_elements`` C h w of the feature map."""
    return float(weight_on_sum) * float(scale) * int(n_elements)
