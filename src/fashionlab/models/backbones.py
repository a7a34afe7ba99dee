"""Convolutional backbones (conv1..conv5 feature extractors), trained from scratch, by name.

``BACKBONES.get(name)(width=..)`` returns a module with ``out_channels`` and ``stride`` attributes whose
forward maps (B, 3, H, W) images to (B, out_channels, H/stride, W/stride) conv5 features.
"""

from __future__ import annotations

from torch import nn

from ..registry import Registry

BACKBONES: Registry = Registry("backbone")


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class AlexNetStyle(nn.Module):
    """FashionSearchNet's conv1-5 (AlexNet layout: kernels 11/5/3/3/3, widths 64/192/384/256/256).

    Deviations, for training from scratch on small images: batch norm after every conv (no LRN), and
    conv1 has stride 2 instead of 4 so conv5 is 1/8 of the input (16x16 at 128 px, about the 13x13 the
    paper gets at 224 px), which keeps attribute activation maps fine enough to localise sleeves.
    ``width`` scales every channel count. ``output_stride`` 4 drops the second pooling's stride (for small
    inputs: 16x16 maps at 64 px, as stride 8 gives at 128 px).
    """

    def __init__(self, width: float = 1.0, output_stride: int = 8):
        super().__init__()
        if output_stride not in (4, 8):
            raise ValueError(f"alexnet has output stride 8 or 4, not {output_stride}")
        c = [max(8, int(round(w * width))) for w in (64, 192, 384, 256, 256)]
        self.features = nn.Sequential(
            conv_bn(3, c[0], 11, 2),
            nn.MaxPool2d(3, 2, 1),
            conv_bn(c[0], c[1], 5),
            nn.MaxPool2d(3, output_stride // 4, 1),
            conv_bn(c[1], c[2], 3),
            conv_bn(c[2], c[3], 3),
            conv_bn(c[3], c[4], 3),
        )
        self.out_channels = c[4]
        self.stride = output_stride

    def forward(self, x):
        return self.features(x)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, planes, 3, stride), conv_bn(planes, planes, 3, relu=False))
        self.skip = nn.Identity() if stride == 1 and cin == planes else conv_bn(cin, planes, 1, stride, relu=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.skip(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * 4
        self.body = nn.Sequential(
            conv_bn(cin, planes, 1), conv_bn(planes, planes, 3, stride), conv_bn(planes, out, 1, relu=False)
        )
        self.skip = nn.Identity() if stride == 1 and cin == out else conv_bn(cin, out, 1, stride, relu=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.skip(x))


class ResNet(nn.Module):
    """ResNet-18/50 (He et al.), from scratch. ``output_stride`` 8 or 16 keeps conv5 maps larger by not
    striding the last stage(s), as CAM-based localisation wants."""

    def __init__(self, block: type[nn.Module], layers: list[int], width: float = 1.0, output_stride: int = 16):
        super().__init__()
        w = [max(8, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.stem = nn.Sequential(conv_bn(3, w[0], 7, 2), nn.MaxPool2d(3, 2, 1))
        strides = {32: [1, 2, 2, 2], 16: [1, 2, 2, 1], 8: [1, 2, 1, 1]}[output_stride]
        cin = w[0]
        stages = []
        for planes, n, s in zip(w, layers, strides, strict=True):
            blocks = []
            for i in range(n):
                blocks.append(block(cin, planes, s if i == 0 else 1))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_channels = cin
        self.stride = output_stride

    def forward(self, x):
        return self.stages(self.stem(x))


@BACKBONES.register("alexnet", help="FashionSearchNet's AlexNet-style conv1-5 (stride 8 or 4, batch norm)")
def alexnet(width: float = 1.0, output_stride: int = 8) -> nn.Module:
    return AlexNetStyle(width, output_stride)


@BACKBONES.register("resnet18", help="ResNet-18 from scratch (output stride 8/16/32)")
def resnet18(width: float = 1.0, output_stride: int = 16) -> nn.Module:
    return ResNet(BasicBlock, [2, 2, 2, 2], width, output_stride)


@BACKBONES.register("resnet50", help="ResNet-50 from scratch (output stride 8/16/32)")
def resnet50(width: float = 1.0, output_stride: int = 16) -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 6, 3], width, output_stride)
