"""Generator and discriminator of the StarGAN family (Choi et al. 2018), with AMGAN's attention head.

Generator (the official StarGAN layout): 7x7 conv to ``width``, two 4x4 stride-2 downsamplings, residual
blocks at 4x ``width``, two 4x4 stride-2 transposed convolutions, 7x7 conv to RGB (tanh); instance norm
with affine parameters, no conv biases before a norm. The input is the image concatenated with the tiled
manipulation code. With ``attention=True`` (AMGAN) a second 7x7 head gives a one-channel sigmoid mask
``a`` and the output is ``a * z + (1 - a) * x``: ``a = 1`` means edited.

Discriminator (PatchGAN): ``layers`` 4x4 stride-2 convs with LeakyReLU(0.01), channels doubling from
``width``; a 3x3 conv source head (a map of realness scores) and a class head whose kernel covers the
remaining map (``image_size / 2^layers``), giving logits over all N attribute values.

Instance norm keeps no running statistics here (``track_running_stats=False``; the official StarGAN
keeps them but then normalises differently at test time): a trained generator behaves the same in
training and in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class GeneratorConfig:
    """``model.generator.*``"""

    width: int = 64  # channels of the first conv (the paper: 64)
    residual_blocks: int = 6  # at 4x width, 1/4 resolution (the paper: 6)
    attention: bool = False  # AMGAN's attention head (output a*z + (1-a)*x)


@dataclass
class DiscriminatorConfig:
    """``model.discriminator.*``"""

    width: int = 64  # channels of the first conv (the paper: 64)
    layers: int = 6  # 4x4 stride-2 convs (the paper: 6 at 128 px)
    max_width: int = 2048  # channel cap (the official code doubles without a cap: 2048 at 6 layers)


def _norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=True, track_running_stats=False)


class ResidualBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, 1, 1, bias=False),
            _norm(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, 1, 1, bias=False),
            _norm(c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """``forward(x, code, mask=None) -> (output, attention or None)``; see the module docstring. A given
    ``mask`` (B, 1, H, W) replaces the attention head's (AMGAN's "CAM as the mask" ablation, region edits)."""

    def __init__(self, code_dim: int, cfg: GeneratorConfig):
        super().__init__()
        self.code_dim, self.cfg = code_dim, cfg
        w = cfg.width
        layers: list[nn.Module] = [nn.Conv2d(3 + code_dim, w, 7, 1, 3, bias=False), _norm(w), nn.ReLU(inplace=True)]
        for k in range(2):
            layers += [nn.Conv2d(w << k, w << (k + 1), 4, 2, 1, bias=False), _norm(w << (k + 1)), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(w * 4) for _ in range(cfg.residual_blocks)]
        for k in (2, 1):
            layers += [
                nn.ConvTranspose2d(w << k, w << (k - 1), 4, 2, 1, bias=False),
                _norm(w << (k - 1)),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers)
        self.to_rgb = nn.Sequential(nn.Conv2d(w, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.to_attention = nn.Sequential(nn.Conv2d(w, 1, 7, 1, 3, bias=False), nn.Sigmoid()) if cfg.attention else None

    def forward(
        self, x: torch.Tensor, code: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert x.dim() == 4 and x.shape[1] == 3 and code.shape == (x.shape[0], self.code_dim), (x.shape, code.shape)
        assert x.shape[-1] % 4 == 0 and x.shape[-2] % 4 == 0, "image sides must be multiples of 4"
        tiled = code.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        h = self.body(torch.cat([x, tiled], 1))
        z = self.to_rgb(h)
        if mask is None and self.to_attention is None:
            return z, None
        a = self.to_attention(h) if mask is None else mask.to(z.dtype)
        return a * z + (1 - a) * x, a


class Discriminator(nn.Module):
    """``forward(x) -> (source scores (B, 1, h, w), class logits (B, N))``."""

    def __init__(self, image_size: tuple[int, int], n_values: int, cfg: DiscriminatorConfig):
        super().__init__()
        h, w = image_size
        if h % (1 << cfg.layers) or w % (1 << cfg.layers):
            raise ValueError(f"image size {image_size} must be divisible by 2^layers = {1 << cfg.layers}")
        layers: list[nn.Module] = []
        cin = 3
        for k in range(cfg.layers):
            cout = min(cfg.width << k, cfg.max_width)
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.01)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.source = nn.Conv2d(cin, 1, 3, 1, 1, bias=False)
        self.classes = nn.Conv2d(cin, n_values, (h >> cfg.layers, w >> cfg.layers), bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.source(h), self.classes(h).flatten(1)
