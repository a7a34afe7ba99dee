"""Generators and discriminator for re-posing: XingGAN (Tang et al. 2020) and its PATN baseline (Zhu et al. 2019).

Built as the official code builds them (Ha0Tang/XingGAN ``models/model_variants.py`` and ``models/networks.py``,
itself built on tengteng95/Pose-Transfer, which is PATN); the numbers below are the official Market settings.

Encoders (both generators, one per stream): reflection pad 3, 7x7 conv to ``width``, norm, ReLU, then two 3x3
stride-2 convs (zero padding 1) to 2x and 4x ``width``, each with norm and ReLU. The appearance encoder reads
the source image (3 channels), the shape encoder concat(source pose, target pose) (2 x 18 heatmaps).

Xing block (``C = 4 width``): appearance stream reflect-pad, 3x3 conv C -> C, norm, ReLU, dropout, reflect-pad,
3x3 conv C -> C, norm; shape stream the same without the last norm, reading ``C`` channels in block 1 and
``2C`` after (its first conv keeps 2C, its second goes 2C -> C); then the crossing attention of
:mod:`.attention`. No residual to the block's input; the shape state passed on is concat(appearance',
shape') (2C).

PATN block: the same two streams; ``appearance' = appearance_in + appearance_stream(appearance_in) *
sigmoid(shape_stream(shape_in))`` (a residual to the block's input) and the shape state passed on is
concat(shape_stream_out, appearance') - shape first, the reverse of Xing's order.

Decoders: two 3x3 stride-2 transposed convs (padding 1, output padding 1) with norm and ReLU back to
``width``, reflection pad 3, 7x7 conv (with bias) and tanh. PATN decodes the appearance state to RGB. XingGAN's
co-attention fusion decodes the appearance state to ``candidates`` RGB images, the shape state (first a
1x1 transposed conv 2C -> C, norm, ReLU) to ``candidates`` more, and concat(appearance, shape state) (3C,
so the appearance appears twice) through two stride-2 transposed convs (3C -> C -> C/2, norm, ReLU) and a
1x1 transposed conv to ``2 candidates + 1`` maps, softmax over channels; the output is the sum of the
candidates weighted by their maps plus the source image weighted by the last map.

Norms: ``"batch"`` is BatchNorm with affine parameters and convs before a norm have no bias; ``"instance"``
is InstanceNorm without affine parameters or running statistics and those convs have biases (the official
``get_norm_layer`` and ``use_bias``). The attention convs and the final 7x7 convs always have biases.

Discriminator (``ResnetDiscriminator``): the encoder's layers then ``blocks`` residual blocks (``x +
[pad, conv, norm, ReLU, dropout, pad, conv, norm](x)``), optionally a sigmoid (the official BCE runs, Market,
``--no_lsgan`` -> ``use_sigmoid``); there is no final 1-channel conv, the output is a (B, 4 width, H/4, W/4)
map of scores, each compared with the real/fake label.

Initialisation: the official generator gets N(0, 0.02) conv weights and N(1, 0.02) batch-norm scales
(``init_weights(netG, 'normal')``; conv biases and ``gamma`` keep their defaults); the official discriminators
are never passed to ``init_weights`` and keep PyTorch's default initialisation. Both are mirrored here.

Departures: the official attention convs and the fusion layers hard-code 256/512/768 channels (only ngf=64
runs); here they follow ``width``. Image sides must be multiples of 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .attention import AttentionImplementation, CrossAttention

NormKind = Literal["batch", "instance"]
NORM_KINDS: tuple[str, ...] = ("batch", "instance")


@dataclass
class XingGeneratorConfig:
    """``model.generator.*`` for XingGAN (defaults: the official Market run)."""

    width: int = 64  # channels of the first conv (official ngf 64); the blocks run at 4x width
    blocks: int = 9  # Xing blocks (official: 9)
    norm: NormKind = "batch"  # Market: batch, DeepFashion: instance
    dropout: float = 0.5  # in the blocks' streams (official: 0.5, active); 0 = off
    candidates: int = 10  # RGB candidates per decoder (official: 10 + 10, plus the source image: 21 maps)
    attention: AttentionImplementation = "auto"  # "auto" (plain on the CPU, else sdpa), "sdpa" or "plain"
    pose_channels: int = 18  # heatmaps per pose (OpenPose's 18 keypoints)


@dataclass
class PatnGeneratorConfig:
    """``model.generator.*`` for the PATN baseline (defaults: the official Pose-Transfer Market run)."""

    width: int = 64  # channels of the first conv (official ngf 64)
    blocks: int = 9  # PATN blocks (official: 9)
    norm: NormKind = "batch"  # Market: batch, DeepFashion: instance
    dropout: float = 0.5  # in the blocks' streams (official: 0.5, active); 0 = off
    pose_channels: int = 18  # heatmaps per pose


@dataclass
class PoseDiscriminatorConfig:
    """``model.discriminator.*`` (both discriminators; defaults: the official Market run)."""

    width: int = 64  # channels of the first conv (official ndf 64); the blocks run at 4x width
    blocks: int = 3  # residual blocks (official n_layers_D 3)
    norm: NormKind = "batch"  # Market: batch, DeepFashion: instance
    dropout: float = 0.5  # in the residual blocks (official: 0.5, active); 0 = off
    sigmoid: bool = True  # end with a sigmoid (BCE GAN, Market); False for LSGAN (DeepFashion) or BCE-with-logits


def _check_norm(norm: str) -> None:
    if norm not in NORM_KINDS:
        raise ValueError(f"norm must be one of {NORM_KINDS}, not {norm!r}")


def _norm_layer(norm: NormKind, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def _conv_bias(norm: NormKind) -> bool:
    """Whether convs followed by a norm carry a bias (the official ``use_bias``: only with instance norm)."""
    return norm == "instance"


def _dropout_layers(dropout: float) -> list[nn.Module]:
    return [nn.Dropout(dropout)] if dropout > 0 else []


def _check_image_size(image: torch.Tensor) -> None:
    if image.shape[-2] % 4 or image.shape[-1] % 4:
        raise ValueError(f"image sides must be multiples of 4, got {tuple(image.shape[-2:])}")


class DownsamplingEncoder(nn.Sequential):
    """Reflection pad 3, 7x7 conv to ``width``, two 3x3 stride-2 convs to 4x ``width`` (norm + ReLU after each):
    (B, in_channels, H, W) -> (B, 4 width, H/4, W/4)."""

    def __init__(self, in_channels: int, width: int, norm: NormKind):
        bias = _conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, width, 7, bias=bias),
            _norm_layer(norm, width),
            nn.ReLU(inplace=True),
        ]
        for level in range(2):
            c_in, c_out = width << level, width << (level + 1)
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1, bias=bias), _norm_layer(norm, c_out), nn.ReLU(inplace=True)]
        super().__init__(*layers)


def _block_stream(
    in_channels: int, out_channels: int, norm: NormKind, dropout: float, final_norm: bool
) -> nn.Sequential:
    """Reflect-pad, 3x3 conv in -> in, norm, ReLU, (dropout), reflect-pad, 3x3 conv in -> out, (norm)."""
    bias = _conv_bias(norm)
    layers: list[nn.Module] = [
        nn.ReflectionPad2d(1),
        nn.Conv2d(in_channels, in_channels, 3, bias=bias),
        _norm_layer(norm, in_channels),
        nn.ReLU(inplace=True),
        *_dropout_layers(dropout),
        nn.ReflectionPad2d(1),
        nn.Conv2d(in_channels, out_channels, 3, bias=bias),
    ]
    if final_norm:
        layers.append(_norm_layer(norm, out_channels))
    return nn.Sequential(*layers)


class XingBlock(nn.Module):
    """One crossing block: ``forward(appearance (B, C, h, w), shape (B, C or 2C, h, w)) -> (appearance' (B, C),
    shape state (B, 2C) = concat(appearance', shape'))``. See the module docstring and :mod:`.attention`."""

    def __init__(
        self,
        channels: int,
        shape_in_channels: int,
        norm: NormKind,
        dropout: float,
        attention: AttentionImplementation = "auto",
    ):
        super().__init__()
        self.appearance_stream = _block_stream(channels, channels, norm, dropout, final_norm=True)
        self.shape_stream = _block_stream(shape_in_channels, channels, norm, dropout, final_norm=False)
        self.cross_attention = CrossAttention(channels, attention)

    def forward(self, appearance: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        appearance_out, shape_out = self.cross_attention(self.appearance_stream(appearance), self.shape_stream(shape))
        return appearance_out, torch.cat([appearance_out, shape_out], 1)


class PatnBlock(nn.Module):
    """One pose-attention transfer block: ``forward(appearance (B, C), shape (B, C or 2C)) -> (appearance',
    shape state (B, 2C) = concat(shape_stream_out, appearance'))`` with ``appearance' = appearance +
    appearance_stream(appearance) * sigmoid(shape_stream(shape))``."""

    def __init__(self, channels: int, shape_in_channels: int, norm: NormKind, dropout: float):
        super().__init__()
        self.appearance_stream = _block_stream(channels, channels, norm, dropout, final_norm=True)
        self.shape_stream = _block_stream(shape_in_channels, channels, norm, dropout, final_norm=False)

    def forward(self, appearance: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape_out = self.shape_stream(shape)
        appearance_out = appearance + self.appearance_stream(appearance) * torch.sigmoid(shape_out)
        return appearance_out, torch.cat([shape_out, appearance_out], 1)


def _upsampling_layers(in_channels: int, out_channels: int, norm: NormKind) -> list[nn.Module]:
    """3x3 stride-2 transposed conv (padding 1, output padding 1: exactly 2x), norm, ReLU."""
    return [
        nn.ConvTranspose2d(in_channels, out_channels, 3, 2, 1, output_padding=1, bias=_conv_bias(norm)),
        _norm_layer(norm, out_channels),
        nn.ReLU(inplace=True),
    ]


class ImageDecoder(nn.Sequential):
    """Two 2x upsamplings 4 width -> width, reflection pad 3, 7x7 conv (with bias) to ``out_channels``, tanh:
    (B, 4 width, H/4, W/4) -> (B, out_channels, H, W) in [-1, 1]."""

    def __init__(self, width: int, out_channels: int, norm: NormKind):
        super().__init__(
            *_upsampling_layers(4 * width, 2 * width, norm),
            *_upsampling_layers(2 * width, width, norm),
            nn.ReflectionPad2d(3),
            nn.Conv2d(width, out_channels, 7),
            nn.Tanh(),
        )


def init_generator_weights(module: nn.Module) -> None:
    """The official ``init_weights(netG, 'normal')``: conv and transposed-conv weights N(0, 0.02), batch-norm
    scales N(1, 0.02) and shifts 0; conv biases and the attention ``gamma`` keep their initial values."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def run_generator(
    generator: nn.Module,
    source_image: torch.Tensor,
    source_pose: torch.Tensor,
    target_pose: torch.Tensor,
    source_keypoints: torch.Tensor,
    target_keypoints: torch.Tensor,
) -> torch.Tensor:
    """Call a re-posing generator (or its DDP wrapper): one that warps by keypoints (``uses_keypoints``, Deformable
    GAN) gets them after the heatmaps; XingGAN and PATN see the heatmaps only."""
    module = getattr(generator, "module", generator)
    if getattr(module, "uses_keypoints", False):
        return generator(source_image, source_pose, target_pose, source_keypoints, target_keypoints)
    return generator(source_image, source_pose, target_pose)


def fuse_candidates(candidates: torch.Tensor, source_image: torch.Tensor, fusion_logits: torch.Tensor) -> torch.Tensor:
    """Co-attention fusion: ``candidates`` (B, 3N, H, W) RGB images, ``fusion_logits`` (B, N + 1, H, W); the
    softmax over the N + 1 maps weights each candidate and, last, the source image: returns (B, 3, H, W)."""
    batch, _, height, width = candidates.shape
    weights = torch.softmax(fusion_logits, dim=1)
    images = torch.cat([candidates, source_image], 1).view(batch, -1, 3, height, width)
    return (images * weights.unsqueeze(2)).sum(1)


class TwoStreamGenerator(nn.Module):
    """What XingGAN and PATN share: the appearance encoder (source image), the shape encoder (both poses'
    heatmaps) and ``blocks`` blocks that carry the two states; subclasses add their decoders and ``decode``."""

    def __init__(self, cfg: XingGeneratorConfig | PatnGeneratorConfig, block):
        super().__init__()
        _check_norm(cfg.norm)
        self.cfg = cfg
        width, norm, channels = cfg.width, cfg.norm, 4 * cfg.width
        self.appearance_encoder = DownsamplingEncoder(3, width, norm)
        self.shape_encoder = DownsamplingEncoder(2 * cfg.pose_channels, width, norm)
        self.blocks = nn.ModuleList(
            block(channels, channels if index == 0 else 2 * channels) for index in range(cfg.blocks)
        )

    def encode(
        self, source_image: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The (appearance, shape) states after the last block."""
        _check_image_size(source_image)
        appearance = self.appearance_encoder(source_image)
        shape = self.shape_encoder(torch.cat([source_pose, target_pose], 1))
        for block in self.blocks:
            appearance, shape = block(appearance, shape)
        return appearance, shape


class XingGenerator(TwoStreamGenerator):
    """XingGAN's generator: ``forward(source_image (B, 3, H, W), source_pose (B, 18, H, W), target_pose (B, 18,
    H, W)) -> image (B, 3, H, W)``, the source person rendered in the target pose (see the module docstring).

    With the defaults (the official Market settings) it has 44,853,189 parameters."""

    def __init__(self, cfg: XingGeneratorConfig | None = None):
        cfg = cfg or XingGeneratorConfig()
        super().__init__(cfg, lambda c, c_shape: XingBlock(c, c_shape, cfg.norm, cfg.dropout, cfg.attention))
        width, norm, channels = cfg.width, cfg.norm, 4 * cfg.width
        shape_state_channels = 2 * channels if cfg.blocks else channels
        self.appearance_decoder = ImageDecoder(width, 3 * cfg.candidates, norm)
        self.shape_reducer = nn.Sequential(
            nn.ConvTranspose2d(shape_state_channels, channels, 1, bias=_conv_bias(norm)),
            _norm_layer(norm, channels),
            nn.ReLU(inplace=True),
        )
        self.shape_decoder = ImageDecoder(width, 3 * cfg.candidates, norm)
        self.fusion_decoder = nn.Sequential(
            *_upsampling_layers(channels + shape_state_channels, channels, norm),
            *_upsampling_layers(channels, channels // 2, norm),
            nn.ConvTranspose2d(channels // 2, 2 * cfg.candidates + 1, 1, bias=_conv_bias(norm)),
        )
        init_generator_weights(self)

    def forward(self, source_image: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor) -> torch.Tensor:
        appearance, shape = self.encode(source_image, source_pose, target_pose)
        fusion_logits = self.fusion_decoder(torch.cat([appearance, shape], 1))
        candidates = torch.cat([self.appearance_decoder(appearance), self.shape_decoder(self.shape_reducer(shape))], 1)
        return fuse_candidates(candidates, source_image, fusion_logits)


class PatnGenerator(TwoStreamGenerator):
    """The PATN baseline's generator (Pose-Transfer ``PATNModel``): same signature as :class:`XingGenerator`;
    the two encoders, ``blocks`` :class:`PatnBlock` and one :class:`ImageDecoder` from the appearance state.

    With the defaults (the official Market settings) it has 41,365,763 parameters."""

    def __init__(self, cfg: PatnGeneratorConfig | None = None):
        cfg = cfg or PatnGeneratorConfig()
        super().__init__(cfg, lambda c, c_shape: PatnBlock(c, c_shape, cfg.norm, cfg.dropout))
        self.decoder = ImageDecoder(cfg.width, 3, cfg.norm)
        init_generator_weights(self)

    def forward(self, source_image: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor) -> torch.Tensor:
        appearance, _ = self.encode(source_image, source_pose, target_pose)
        return self.decoder(appearance)


class DiscriminatorResidualBlock(nn.Module):
    """``x + [reflect-pad, 3x3 conv, norm, ReLU, (dropout), reflect-pad, 3x3 conv, norm](x)``, no ReLU after."""

    def __init__(self, channels: int, norm: NormKind, dropout: float):
        super().__init__()
        self.body = _block_stream(channels, channels, norm, dropout, final_norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PoseDiscriminator(nn.Module):
    """The official ``ResnetDiscriminator``: ``forward(x (B, in_channels, H, W)) -> scores (B, 4 width, H/4,
    W/4)``, probabilities with ``sigmoid=True``, otherwise unbounded scores.

    XingGAN uses two: the shape one on concat(image, target pose) (``in_channels = 3 + 18``) and the appearance
    one on concat(image, source image) (``3 + 3``). PyTorch's default initialisation, as the official code."""

    def __init__(self, in_channels: int, cfg: PoseDiscriminatorConfig | None = None):
        super().__init__()
        cfg = cfg or PoseDiscriminatorConfig()
        _check_norm(cfg.norm)
        self.cfg = cfg
        layers: list[nn.Module] = [
            DownsamplingEncoder(in_channels, cfg.width, cfg.norm),
            *(DiscriminatorResidualBlock(4 * cfg.width, cfg.norm, cfg.dropout) for _ in range(cfg.blocks)),
        ]
        if cfg.sigmoid:
            layers.append(nn.Sigmoid())
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, features: bool = False):
        """The scores; with ``features=True``, ``(scores, [intermediate features])``: the outputs of the encoder's
        three stages and of every residual block but the last (whose output is the scores), for feature
        matching."""
        if not features:
            return self.body(x)
        encoder, *rest = self.body
        outputs = []
        for layer in encoder:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                outputs.append(x)
        for layer in rest:
            x = layer(x)
            if isinstance(layer, DiscriminatorResidualBlock):
                outputs.append(x)
        return x, outputs[:-1]
