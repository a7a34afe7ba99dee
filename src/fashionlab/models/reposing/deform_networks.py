"""Deformable GAN's generator and discriminator (Siarohin et al., CVPR 2018), as the official Keras code builds them
(AliaksandrSiarohin/pose-gan ``conditional_gan.py``, ``--warp_skip mask --disc_type call``).

Generator (:class:`DeformGenerator`): two encoders of the same architecture and separate weights, the appearance
encoder on concat(source image, source pose) (3 + 18 channels) and the pose encoder on the target pose (18).
Encoder level 0 is a 3x3 conv (stride 1, with bias, no norm or activation); each later level is LeakyReLU 0.2, a
4x4 stride-2 conv (padding 1, no bias) and a norm, the last level without norm. Skip ``i`` is concat(appearance
features, pose features) of level ``i``, the appearance features of the first ``warp_levels`` levels (official:
4, full to 1/8 resolution) first warped part by part (:class:`.part_warp.PartWarp`); the deeper skips are not
warped. The decoder starts from the deepest skip: each up step is ReLU, a 4x4 stride-2 transposed conv (no bias,
``ConvTranspose2d(k=4, s=2, p=1)`` = the official transposed conv cropped by 1 px per side), norm, and Dropout 0.5
on the first three steps; each step after the first reads concat(previous, skip). The last step concatenates the
full-resolution skip, then ReLU, a 3x3 conv with bias and tanh.

Official widths (:class:`DeformGeneratorConfig` defaults, Market 128x64): encoder 64, 128, 256, 512, 512, 512
(bottleneck 4x2), decoder 512, 512, 512, 256, 128 then 3; DeepFashion 256x256 adds a level (encoder
64, 128, 256, 512, 512, 512, 512, decoder 512, 512, 512, 512, 256, 128).

Discriminator (:class:`DeformDiscriminator`, ``--disc_type call``): concat(source image, source pose, image,
target pose) (42 channels); a 4x4 stride-2 conv to ``widths[0]`` without padding (with bias, no norm), then for
each further width LeakyReLU 0.2, padding 1, a 4x4 stride-2 conv without bias and a norm; then LeakyReLU,
padding 1 and a 4x4 stride-2 conv to 1 channel (no bias): a grid of logits (3x1 at 128x64 with the official
widths 64, 128, 256, 512; the official sigmoid is in the loss here). ``forward(x, features=True)`` also returns
the output of every stage before the last conv (for pix2pixHD's feature matching).

Norms (``norm``): ``"sample"`` is the official one: keras-contrib ``InstanceNormalization()`` with its default
``axis=None`` normalises each sample over channels and pixels together (population std, eps 1e-3 added to the
std) with one scalar scale and shift (:class:`SampleNorm`; the closest PyTorch layer is ``GroupNorm(1, C)``, which
has per-channel affine parameters and eps inside the square root). ``"batch"`` and ``"instance"`` are the
per-channel norms of the project's other generators (:mod:`.networks`; instance norm without affine parameters,
convs before it with a bias). Both G and D use ``norm``.

Initialisation: Keras' default, Glorot-uniform weights and zero biases, for every conv of G and D.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from .networks import _conv_bias, _dropout_layers, _norm_layer
from .part_warp import SAMPLING_MODES, PartWarp

DeformNormKind = Literal["sample", "batch", "instance"]
DEFORM_NORM_KINDS: tuple[str, ...] = ("sample", "batch", "instance")


@dataclass
class DeformGeneratorConfig:
    """``generator.*`` for Deformable GAN (defaults: the official Market-1501 generator)."""

    encoder_widths: tuple[int, ...] = (64, 128, 256, 512, 512, 512)  # per level; level i is 1/2^i resolution
    decoder_widths: tuple[int, ...] = (512, 512, 512, 256, 128)  # per up step, deepest first (then 3x3 conv to RGB)
    warp_levels: int = 4  # appearance skips warped part by part (official: 4, full to 1/8 resolution)
    warp_sampling: str = "nearest"  # nearest (official: tf.contrib.image.transform's default) or bilinear
    norm: DeformNormKind = "sample"  # sample (official: over C, H, W with a scalar affine), batch or instance
    dropout: float = 0.5  # on the first `dropout_steps` up steps (official: 0.5; off at inference)
    dropout_steps: int = 3  # official: 3
    pose_channels: int = 18  # heatmaps per pose


@dataclass
class DeformDiscriminatorConfig:
    """``discriminator.*`` for Deformable GAN (defaults: the official ``--disc_type call`` discriminator)."""

    widths: tuple[int, ...] = (64, 128, 256, 512)  # stride-2 stages before the 1-channel conv (3x1 logits at 128x64)
    norm: DeformNormKind = "sample"  # as the generator's


class SampleNorm(nn.Module):
    """The official norm (keras-contrib ``InstanceNormalization(axis=None)``): ``(x - mean) / (std + eps) * gamma +
    beta`` with mean and population std over each sample's channels and pixels together and scalar ``gamma``
    (init 1) and ``beta`` (init 0)."""

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(()))
        self.beta = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.float()  # statistics in float32, also under bf16 autocast
        dims = tuple(range(1, y.dim()))
        mean = y.mean(dims, keepdim=True)
        std = y.var(dims, keepdim=True, unbiased=False).sqrt()
        return ((y - mean) / (std + self.eps) * self.gamma + self.beta).to(x.dtype)


def _check_deform_norm(norm: str) -> None:
    if norm not in DEFORM_NORM_KINDS:
        raise ValueError(f"norm must be one of {DEFORM_NORM_KINDS}, not {norm!r}")


def deform_norm(norm: DeformNormKind, channels: int) -> nn.Module:
    """The norm layer of ``norm`` (see the module docstring)."""
    return SampleNorm() if norm == "sample" else _norm_layer(norm, channels)


def _deform_conv_bias(norm: DeformNormKind) -> bool:
    """The official convs before a norm have no bias; with the project's instance norm they have one (as theirs)."""
    return norm != "sample" and _conv_bias(norm)


def init_glorot(module: nn.Module) -> None:
    """Keras' default initialisation: Glorot-uniform conv and transposed-conv weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _down_step(in_channels: int, out_channels: int, norm: DeformNormKind | None) -> nn.Sequential:
    """LeakyReLU 0.2, 4x4 stride-2 conv (padding 1), then ``norm`` unless None (the official ``block``)."""
    layers: list[nn.Module] = [
        nn.LeakyReLU(0.2),
        nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=norm is not None and _deform_conv_bias(norm)),
    ]
    if norm is not None:
        layers.append(deform_norm(norm, out_channels))
    return nn.Sequential(*layers)


class SkipEncoder(nn.Module):
    """``(B, in_channels, H, W)`` -> one feature map per level (``widths[i]`` channels at 1/2^i resolution)."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], norm: DeformNormKind):
        super().__init__()
        last = len(widths) - 1
        self.levels = nn.ModuleList([nn.Conv2d(in_channels, widths[0], 3, 1, 1)])
        for i in range(1, len(widths)):
            self.levels.append(_down_step(widths[i - 1], widths[i], None if i == last else norm))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features


class DeformGenerator(nn.Module):
    """``forward(source_image (B, 3, H, W), source_pose (B, 18, H, W), target_pose (B, 18, H, W), source_keypoints
    (B, 18, 2), target_keypoints (B, 18, 2)) -> image (B, 3, H, W)`` in [-1, 1]; keypoints are ``[x, y]`` pixels of
    the images (-1: missing). See the module docstring.

    With the defaults (the official Market settings) it has 61,109,085 parameters; the discriminator 2,803,782."""

    uses_keypoints: ClassVar[bool] = True  # the re-posing task and Reposer pass the keypoints too

    def __init__(self, cfg: DeformGeneratorConfig | None = None):
        super().__init__()
        cfg = cfg or DeformGeneratorConfig()
        _check_deform_norm(cfg.norm)
        enc, dec = tuple(int(c) for c in cfg.encoder_widths), tuple(int(c) for c in cfg.decoder_widths)
        if len(enc) < 2 or len(dec) != len(enc) - 1:
            raise ValueError(f"need at least 2 encoder widths and one decoder width fewer, got {enc} and {dec}")
        if not 0 <= cfg.warp_levels <= len(enc):
            raise ValueError(f"warp_levels must be between 0 and {len(enc)}, got {cfg.warp_levels}")
        if cfg.warp_sampling not in SAMPLING_MODES:
            raise ValueError(f"warp_sampling must be one of {SAMPLING_MODES}, not {cfg.warp_sampling!r}")
        self.cfg = cfg
        self.appearance_encoder = SkipEncoder(3 + cfg.pose_channels, enc, cfg.norm)
        self.pose_encoder = SkipEncoder(cfg.pose_channels, enc, cfg.norm)
        skips = [2 * c for c in enc]  # concat(appearance, pose) per level
        self.up_steps = nn.ModuleList()
        previous = 0
        for i, width in enumerate(dec):
            layers: list[nn.Module] = [
                nn.ReLU(),
                nn.ConvTranspose2d(previous + skips[-1 - i], width, 4, 2, 1, bias=_deform_conv_bias(cfg.norm)),
                deform_norm(cfg.norm, width),
            ]
            if i < cfg.dropout_steps:
                layers += _dropout_layers(cfg.dropout)
            self.up_steps.append(nn.Sequential(*layers))
            previous = width
        self.to_image = nn.Sequential(nn.ReLU(), nn.Conv2d(previous + skips[0], 3, 3, 1, 1), nn.Tanh())
        init_glorot(self)

    @property
    def levels(self) -> int:
        return len(self.cfg.encoder_widths)

    def forward(
        self,
        source_image: torch.Tensor,
        source_pose: torch.Tensor,
        target_pose: torch.Tensor,
        source_keypoints: torch.Tensor,
        target_keypoints: torch.Tensor,
    ) -> torch.Tensor:
        height, width = source_image.shape[-2:]
        factor = 2 ** (self.levels - 1)
        if height % factor or width % factor:
            raise ValueError(f"image sides must be multiples of {factor}, got {(height, width)}")
        appearance = self.appearance_encoder(torch.cat([source_image, source_pose], 1))
        pose = self.pose_encoder(target_pose)
        warp = PartWarp.fit(source_keypoints, target_keypoints, (height, width), self.cfg.warp_sampling)
        skips = [
            torch.cat([warp(a) if i < self.cfg.warp_levels else a, p], 1)
            for i, (a, p) in enumerate(zip(appearance, pose, strict=True))
        ]
        out = self.up_steps[0](skips[-1])
        for i, step in enumerate(self.up_steps[1:], start=2):
            out = step(torch.cat([out, skips[-i]], 1))
        return self.to_image(torch.cat([out, skips[0]], 1))


class DeformDiscriminator(nn.Module):
    """``forward(x (B, 42, H, W)) -> logits (B, 1, h, w)``; with ``features=True``, ``(logits, [stage outputs])``.
    ``x`` is concat(source image, source pose, image, target pose). See the module docstring."""

    def __init__(self, in_channels: int, cfg: DeformDiscriminatorConfig | None = None):
        super().__init__()
        cfg = cfg or DeformDiscriminatorConfig()
        _check_deform_norm(cfg.norm)
        widths = tuple(int(c) for c in cfg.widths)
        if not widths:
            raise ValueError("the discriminator needs at least one width")
        self.cfg = cfg
        self.stages = nn.ModuleList([nn.Conv2d(in_channels, widths[0], 4, 2, 0)])
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            self.stages.append(_down_step(c_in, c_out, cfg.norm))
        self.to_logits = _down_step(widths[-1], 1, None)
        init_glorot(self)

    def forward(self, x: torch.Tensor, features: bool = False):
        stage_outputs = []
        for stage in self.stages:
            x = stage(x)
            stage_outputs.append(x)
        logits = self.to_logits(x)
        return (logits, stage_outputs) if features else logits
