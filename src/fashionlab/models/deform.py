"""Deformable GAN: pose-guided person image generation with deformable skip connections (Siarohin, Sangineto,
Lathuilière, Sebe; CVPR 2018): ``fashionlab train deform``.

The body is cut into ten rigid parts from the keypoints; one affine transform per part maps the target pose onto
the source pose, and the appearance encoder's features are warped part by part and merged (max) into the
decoder's skip connections (:mod:`.reposing.part_warp`, :mod:`.reposing.deform_networks`). Trained as the official
code (AliaksandrSiarohin/pose-gan with its ``gan`` submodule), "full" model:

1. **D**: the real pairs and the fake pairs are two *different* random batches (``gan/train.py``); the fakes come
   from G in training mode (dropout on) without gradients; both halves are judged in one call on concat(source
   image, source pose, image, target pose); loss ``BCE(real) + BCE(fake)`` (the official cross-entropy on sigmoid
   outputs; here on logits, the same function). Through an image pool when ``pool_size > 0`` (official: none).
2. **G**, on a third batch: ``loss.gan * BCE(D(fake), real)`` (non-saturating) ``+ loss.nearest_neighbour *``
   :func:`~fashionlab.losses.reposing.nearest_neighbour_loss` ``+ loss.l1 * |fake - target| + loss.perceptual *
   |phi(fake) - phi(target)| + loss.feature_matching *`` :func:`~fashionlab.losses.reposing.feature_matching_loss`.

One D update per G update, Adam 2e-4 (0.5, 0.999) for both, no lr decay, batch 4, 90 "epochs" of 1,000
iterations.

The official nearest-neighbour loss compares VGG19 ``block1_conv2`` features (weight 0.01). No ImageNet VGG can be
had here, so it compares pixels by default (``loss.nearest_neighbour_on: pixels``; RGB summed, images in [-1, 1]),
with the weight converted from the official pixel-L1 run (DSC: 100 x the mean over RGB = 33.3 x the RGB sum);
``nearest_neighbour_on: perceptual`` compares the first layer of a frozen attribute network (``perceptual_network``,
as the XingGAN / PATN perceptual term; 32 channels at half resolution, so the window covers twice the pixels).
``loss.l1=100 loss.nearest_neighbour=0`` is the official DSC ablation (pixel L1 instead of the nearest-neighbour
loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..engine.task import OptimizerConfig, StepContext
from ..engine.trainer import TrainConfig
from ..errors import InputError
from ..losses.reposing import gan_loss, l1_plus_perceptual, nearest_neighbour_loss
from .reposing.deform_networks import (
    DEFORM_NORM_KINDS,
    DeformDiscriminator,
    DeformDiscriminatorConfig,
    DeformGenerator,
    DeformGeneratorConfig,
)
from .reposing.networks import run_generator
from .reposing.part_warp import SAMPLING_MODES
from .reposing.registration import register_reposer
from .reposing.task import ReposeConfig, ReposeLossWeights, ReposeOptimizers, ReposeTask

NEAREST_NEIGHBOUR_INPUTS = ("pixels", "perceptual")


@dataclass
class DeformLossWeights(ReposeLossWeights):
    """``loss.*`` (defaults: the official full model, with the nearest-neighbour loss on pixels)."""

    l1: float = 0.0  # pixel L1, mean over all elements (official full model: none; DSC ablation: 100)
    perceptual: float = 0.0  # L1 on the perceptual features phi (not in the official code)
    gan: float = 1.0  # --gan_penalty_weight (official: 1), on G only
    nearest_neighbour: float = 33.33  # official 0.01 on VGG19 block1_conv2; on pixels 100 / 3 (see the module doc)
    nearest_neighbour_window: int = 3  # n of the n x n window (official: 3 for Market 128x64, 5 for DeepFashion 256)
    nearest_neighbour_on: str = "pixels"  # pixels, or perceptual (the first layer of perceptual_network)


def _constant_adam() -> OptimizerConfig:
    return OptimizerConfig(lr=2e-4, betas=(0.5, 0.999), lr_decay_start=1.0)


@dataclass
class DeformOptimizers(ReposeOptimizers):
    """``optim.G`` and ``optim.D`` (official: Adam 2e-4 (0.5, 0.999), no lr decay)."""

    G: OptimizerConfig = field(default_factory=_constant_adam)
    D: OptimizerConfig = field(default_factory=_constant_adam)


@dataclass
class DeformConfig(ReposeConfig):
    """Deformable GAN's options: the shared re-posing options with the official defaults (Market-1501)."""

    pool_size: int = 0  # image pool of fakes for D (official: none)
    generator: DeformGeneratorConfig = field(default_factory=DeformGeneratorConfig)
    discriminator: DeformDiscriminatorConfig = field(default_factory=DeformDiscriminatorConfig)
    loss: DeformLossWeights = field(default_factory=DeformLossWeights)
    optim: DeformOptimizers = field(default_factory=DeformOptimizers)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=90000, batch_size=4))


def _check_settings(cfg: DeformConfig) -> None:
    """The settings the networks and losses would refuse, as errors that name the key."""
    choices = [
        ("loss.nearest_neighbour_on", cfg.loss.nearest_neighbour_on, NEAREST_NEIGHBOUR_INPUTS),
        ("generator.norm", cfg.generator.norm, DEFORM_NORM_KINDS),
        ("discriminator.norm", cfg.discriminator.norm, DEFORM_NORM_KINDS),
        ("generator.warp_sampling", cfg.generator.warp_sampling, SAMPLING_MODES),
    ]
    for key, value, valid in choices:
        if value not in valid:
            raise InputError(f"expected one of {valid}, got {value!r}", field=key)
    window = cfg.loss.nearest_neighbour_window
    if window < 1 or window % 2 == 0:
        raise InputError(f"must be a positive odd number, got {window}", field="loss.nearest_neighbour_window")
    levels = len(cfg.generator.encoder_widths)
    if levels < 2 or len(cfg.generator.decoder_widths) != levels - 1:
        raise InputError(
            f"need at least 2 encoder widths and one decoder width fewer, got {levels} and "
            f"{len(cfg.generator.decoder_widths)}",
            field="generator.decoder_widths",
        )
    if not 0 <= cfg.generator.warp_levels <= levels:
        raise InputError(f"must be between 0 and {levels}", field="generator.warp_levels")
    factor = 2 ** (levels - 1)
    if any(int(side) % factor for side in cfg.image_size):
        raise InputError(
            f"image_size {tuple(cfg.image_size)}: both sides must be multiples of {factor} for {levels} encoder levels",
            field="image_size",
        )
    sides = [int(side) for side in cfg.image_size]
    for stage in range(len(cfg.discriminator.widths)):  # 4x4 stride-2 convs, the first without padding
        sides = [(s - 4) // 2 + 1 if stage == 0 else s // 2 for s in sides]
    if min(sides) < 2 or not cfg.discriminator.widths:  # the last conv (padding 1) needs 2 pixels for 1 logit
        raise InputError(
            f"{len(cfg.discriminator.widths)} discriminator stages leave no 4x4 window at {tuple(cfg.image_size)}",
            field="discriminator.widths",
        )


class DeformTask(ReposeTask):
    """Deformable GAN training (see the module docstring): the re-posing task with one conditional discriminator
    ``D`` and the official D-then-G step."""

    name = "deform"
    generator_type = DeformGenerator

    def __init__(self, cfg: DeformConfig):
        _check_settings(cfg)
        super().__init__(cfg)

    def build_discriminators(self, pose_channels: int) -> dict[str, torch.nn.Module]:
        """One conditional discriminator on concat(source image, source pose, image, target pose)."""
        return {"D": DeformDiscriminator(2 * (3 + pose_channels), self.cfg.discriminator)}

    def perceptual_loss_names(self) -> list[str]:
        names = super().perceptual_loss_names()
        if self.cfg.loss.nearest_neighbour and self.cfg.loss.nearest_neighbour_on == "perceptual":
            names.append("loss.nearest_neighbour_on=perceptual")
        return names

    def _pairs(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """A batch of pose pairs with both heatmaps and the discriminator's condition concat(source, source pose)."""
        source_pose, target_pose = self.heatmaps(batch["source_keypoints"]), self.heatmaps(batch["target_keypoints"])
        return {
            "generator_inputs": (
                batch["source_image"],
                source_pose,
                target_pose,
                batch["source_keypoints"],
                batch["target_keypoints"],
            ),
            "condition": torch.cat([batch["source_image"], source_pose], 1),
            "target_image": batch["target_image"],
            "target_pose": target_pose,
        }

    def _reconstruction(self, fake: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The nearest-neighbour loss plus pixel L1 and the perceptual term, weighted."""
        w = self.cfg.loss
        loss, scalars = l1_plus_perceptual(fake, target, self.features, w.l1, w.perceptual)
        if w.nearest_neighbour:
            if w.nearest_neighbour_on == "perceptual":
                with torch.no_grad():
                    target = self.features(target)
                fake = self.features(fake)
            nn_loss, nn_scalars = nearest_neighbour_loss(fake, target, w.nearest_neighbour_window)
            loss = loss + w.nearest_neighbour * nn_loss
            scalars.update(nn_scalars)
        return loss, scalars

    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        """One D update (real and fake halves from two different batches), then one G update on a third batch."""
        w = self.cfg.loss
        D = self.ddp["D"]

        # --- D
        real, other = self._pairs(ctx.next_batch()), self._pairs(ctx.next_batch())
        with torch.no_grad(), ctx.autocast():
            fake_image = run_generator(self.nets["G"], *other["generator_inputs"])
        real_input = torch.cat([real["condition"], real["target_image"], real["target_pose"]], 1)
        fake_input = torch.cat([other["condition"], fake_image.float(), other["target_pose"]], 1)
        fake_input = self.pools["D"].query(fake_input)
        with ctx.autocast():
            scores = D(torch.cat([real_input, fake_input], 0))
        d_real, _ = gan_loss(scores[: len(real_input)], True, w.gan_mode)
        d_fake, _ = gan_loss(scores[len(real_input) :], False, w.gan_mode)
        self.update("D", d_real + d_fake)

        # --- G
        pairs = self._pairs(ctx.next_batch())
        self.nets["D"].requires_grad_(False)
        matching = bool(w.feature_matching)
        with ctx.autocast():
            fake = run_generator(self.ddp["G"], *pairs["generator_inputs"])
            out = D(torch.cat([pairs["condition"], fake, pairs["target_pose"]], 1), features=matching)
            reconstruction, scalars = self._reconstruction(fake, pairs["target_image"])
        g_gan, _ = gan_loss(out[0] if matching else out, True, w.gan_mode)
        g_loss = w.gan * g_gan + reconstruction
        if matching:
            real_input = torch.cat([pairs["condition"], pairs["target_image"], pairs["target_pose"]], 1)
            fm, fm_scalars = self.feature_matching([out[1]], {"D": real_input}, ctx)
            g_loss = g_loss + fm
            scalars.update(fm_scalars)
        self.update("G", g_loss)
        self.nets["D"].requires_grad_(True)
        return {
            **scalars,
            "g_gan": g_gan.detach(),
            "g_total": g_loss.detach(),
            "D_real": d_real.detach(),
            "D_fake": d_fake.detach(),
        }


register_reposer(
    "deform",
    config=DeformConfig,
    task=DeformTask,
    help="Deformable GAN pose transfer: part-wise affine warps of the skip connections, nearest-neighbour loss "
    "(CVPR 2018)",
)
