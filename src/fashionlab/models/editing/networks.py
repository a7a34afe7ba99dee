"""Generators and discriminator of the StarGAN family (Choi et al. 2018): StarGAN, AMGAN's and GANimation's
attention heads, and SaGAN's separate attention network.

Generator (the official StarGAN layout): 7x7 conv to ``width``, two 4x4 stride-2 downsamplings, residual
blocks at 4x ``width``, two 4x4 stride-2 transposed convolutions, 7x7 conv to RGB (tanh); instance norm
with affine parameters, no conv biases before a norm. The input is the image concatenated with the tiled
manipulation code. With ``attention=True`` a second 7x7 head gives a one-channel sigmoid mask, in one of two
conventions (``attention_keeps``):

- AMGAN (``attention_keeps=False``): mask ``a``, output ``a * z + (1 - a) * x``: ``a = 1`` means *edited*;
- GANimation (``attention_keeps=True``): mask ``A``, output ``A * x + (1 - A) * C`` (C: the colour head):
  ``A = 1`` *keeps* the input (the official code's form).

The generator returns its *own* mask (``a`` or ``A``); :meth:`Generator.edit_mask` turns it into an edit
mask (1 = edited) and :meth:`Generator.own_mask` turns an edit mask (a region, a CAM) into its own. Every
comparison, crop, overlay, statistic or region of the editing task and the editor goes through these.

SaGAN (:class:`SaganGenerator`): an attribute manipulation network (the generator above without
attention) and a separate spatial attention network (:class:`SpatialAttentionNet`, the same
encoder-decoder with a one-channel sigmoid head) whose mask ``m`` (1 = edited) mixes
``m * AMN(x, c) + (1 - m) * x``.

Discriminator (PatchGAN): ``layers`` 4x4 stride-2 convs with LeakyReLU(0.01), channels doubling from
``width``; a 3x3 conv source head (a map of realness scores) and a class head whose kernel covers the
remaining map (``image_size / 2^layers``), giving logits over all N attribute values. Each conv is built
for the map it sees, without kernel taps that could only ever multiply zero padding (:func:`conv_on_map`).

Instance norm keeps no running statistics here (``track_running_stats=False``; the official StarGAN
keeps them but then normalises differently at test time): a trained generator behaves the same in
training and in eval mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from .lowpass import gaussian_blur


def floor_mask(edit_mask: torch.Tensor, floor: float) -> torch.Tensor:
    """``model.generator.mask_floor``: an edit mask (1 = edited) with its soft tail below ``floor`` cut and the
    rest rescaled, clamp((m - floor) / (1 - floor), 0, 1); the mask itself when ``floor`` is 0."""
    if not floor:
        return edit_mask
    return ((edit_mask - floor) / (1 - floor)).clamp(0, 1)


@dataclass
class GeneratorConfig:
    """``model.generator.*``"""

    width: int = 64  # channels of the first conv (the paper: 64)
    residual_blocks: int = 6  # at 4x width, 1/4 resolution (the paper: 6)
    attention: bool = False  # an attention head (AMGAN: output a*z + (1-a)*x, a = 1 edited)
    # GANimation's convention for that head: output A*x + (1-A)*C, A = 1 *keeps* the input (needs attention)
    attention_keeps: bool = False
    # how the decoder doubles the resolution: "transposed" (the papers: 4x4 stride-2 transposed convs) or
    # "nearest" (nearest-neighbour upsampling then a 3x3 conv; Odena et al. 2016: no checkerboard artifacts)
    upsample: str = "transposed"
    # skip connections from the encoder to the decoder at each resolution (a U-Net's; not in the papers):
    # the decoder sees the input's full-resolution features, so the edited pixels can keep the garment's
    # shading, pattern and outline (docs/edit-comparison.md, "What this generator can draw at all")
    skips: bool = False
    # a fixed Gaussian low-pass of this sigma (pixels; 0: none, the papers) on the content head's image z,
    # before the mask composes it with the input: the content cannot carry detail finer than about a pixel
    # (the speckle every AMGAN run paints lives in z, not in the mask: docs/edit-comparison.md, "Where does
    # the speckle come from?"); part of the network, so it applies in training, export and inference alike.
    # Set at export (`fashionlab export RUN model.generator.content_blur=0.5`), it removes what the weights
    # added to be read; set in training, the generator learnt to paint around it (hypothesis 6 there)
    content_blur: float = 0.0
    # the learnt edit mask's soft tail cut at inference: clamp((m - floor) / (1 - floor), 0, 1) on the edit
    # mask (1 = edited; for SaGAN its SAN's mask) before it composes the output (0: none, the papers); a mask
    # given to the generator (a region, the CAM ablation) is used as given. Set at export like content_blur
    # (docs/edit-comparison.md)
    mask_floor: float = 0.0


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


@dataclass
class SanConfig:
    """``model.san.*``: SaGAN's spatial attention network (the encoder-decoder of :class:`Generator`). The
    re-implementation's SAN is its AMN's network (32 wide, three downsamplings, 4 residual blocks at 256
    channels); with StarGAN's two downsamplings, width 64 reaches the same 256 channels."""

    width: int = 64  # channels of the first conv
    residual_blocks: int = 4  # at 4x width, 1/4 resolution (the re-implementation: 4)
    # the mask's value at initialisation: None = the re-implementation's head (no bias: about 0.5); a value in
    # (0, 1) gives the head a bias starting at its logit, so the SAN starts by editing (about) everywhere
    initial_mask: float | None = None


def _encoder_decoder_stages(
    in_channels: int, width: int, residual_blocks: int, upsample: str
) -> tuple[list[nn.Module], list[list[nn.Module]], list[nn.Module], list[list[nn.Module]]]:
    """The layers of StarGAN's generator body, by stage: the 7x7 stem, the two downsamplings, the residual
    blocks and the two upsamplings (each stage's conv, norm and ReLU); shared by :func:`encoder_decoder`
    and :class:`SkipEncoderDecoder`."""
    if upsample not in ("transposed", "nearest"):
        raise InputError(f"expected transposed or nearest, got {upsample!r}", field="model.generator.upsample")
    w = width
    stem: list[nn.Module] = [nn.Conv2d(in_channels, w, 7, 1, 3, bias=False), _norm(w), nn.ReLU(inplace=True)]
    downs = [
        [nn.Conv2d(w << k, w << (k + 1), 4, 2, 1, bias=False), _norm(w << (k + 1)), nn.ReLU(inplace=True)]
        for k in range(2)
    ]
    middle: list[nn.Module] = [ResidualBlock(w * 4) for _ in range(residual_blocks)]
    ups = []
    for k in (2, 1):
        if upsample == "transposed":
            up: list[nn.Module] = [nn.ConvTranspose2d(w << k, w << (k - 1), 4, 2, 1, bias=False)]
        else:
            up = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w << k, w << (k - 1), 3, 1, 1, bias=False)]
        ups.append([*up, _norm(w << (k - 1)), nn.ReLU(inplace=True)])
    return stem, downs, middle, ups


def encoder_decoder(in_channels: int, width: int, residual_blocks: int, upsample: str = "transposed") -> nn.Sequential:
    """The body of StarGAN's generator: (B, in_channels, H, W) -> (B, width, H, W) features; ``upsample``:
    ``transposed`` (4x4 stride-2 transposed convs, the papers') or ``nearest`` (x2 nearest, 3x3 conv)."""
    stem, downs, middle, ups = _encoder_decoder_stages(in_channels, width, residual_blocks, upsample)
    return nn.Sequential(*stem, *(m for d in downs for m in d), *middle, *(m for u in ups for m in u))


class SkipEncoderDecoder(nn.Module):
    """:func:`encoder_decoder` with U-Net skip connections: each decoder level concatenates the encoder's
    features at its resolution and fuses them with a 3x3 conv (norm, ReLU). (B, in, H, W) -> (B, width, H, W)."""

    def __init__(self, in_channels: int, width: int, residual_blocks: int, upsample: str = "transposed"):
        super().__init__()
        stem, downs, middle, ups = _encoder_decoder_stages(in_channels, width, residual_blocks, upsample)
        self.stem = nn.Sequential(*stem)
        self.down = nn.ModuleList(nn.Sequential(*d) for d in downs)
        self.middle = nn.Sequential(*middle)
        self.up = nn.ModuleList(nn.Sequential(*u) for u in ups)
        w = width
        self.fuse = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w << k, w << (k - 1), 3, 1, 1, bias=False), _norm(w << (k - 1)), nn.ReLU(True))
            for k in (2, 1)
        )

    def forward(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` with the stem's full input, or the image with ``code`` to tile (:func:`conv_with_tiled_code`)."""
        skips = [self.stem(x) if code is None else _sequential_with_code(self.stem, x, code)]
        for down in self.down:
            skips.append(down(skips[-1]))
        h = self.middle(skips.pop())
        for up, fuse in zip(self.up, self.fuse, strict=True):
            h = fuse(torch.cat([up(h), skips.pop()], 1))
        return h


def _mask_head(width: int, initial: float | None = None) -> nn.Sequential:
    """A 7x7 conv to one channel and a sigmoid: an attention mask in [0, 1]; with ``initial`` the conv has a
    bias set to its logit (the mask starts near ``initial``), else no bias (it starts near 0.5)."""
    conv = nn.Conv2d(width, 1, 7, 1, 3, bias=initial is not None)
    if initial is not None:
        if not 0.0 < initial < 1.0:
            raise InputError(f"the initial mask must lie in (0, 1), got {initial}", field="model.san.initial_mask")
        nn.init.constant_(conv.bias, math.log(initial / (1.0 - initial)))
    return nn.Sequential(conv, nn.Sigmoid())


def _check_inputs(x: torch.Tensor, code: torch.Tensor, code_dim: int) -> None:
    """``x`` (B, 3, H, W) with sides divisible by 4 and ``code`` (B, code_dim)."""
    assert x.dim() == 4 and x.shape[1] == 3 and code.shape == (x.shape[0], code_dim), (x.shape, code.shape)
    assert x.shape[-1] % 4 == 0 and x.shape[-2] % 4 == 0, "image sides must be multiples of 4"


def _taps_inside(size: int, kernel: int, padding: int, like: torch.Tensor) -> torch.Tensor:
    """(outputs, kernel): 1 where a stride-1 conv's tap lands inside a map of ``size`` (not in the padding)."""
    where = torch.arange(size + 2 * padding - kernel + 1)[:, None] + torch.arange(kernel)[None, :] - padding
    return ((where >= 0) & (where < size)).to(like)


def conv_with_tiled_code(conv: nn.Conv2d, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """``conv(cat[x, code tiled over the image])`` without building the tiled input. The code's channels are
    constant over the image, so their response at each position is the code times the sum of the kernel
    taps that land inside the image (all of them away from the border): a (B, code) x (code, out, H, W)
    product instead of a 7x7 convolution over every code channel. The same result up to summation order;
    AMGAN's 37 -> 32 stem runs 4x faster, forward and backward (``bench/bench_conv_variants.py``)."""
    assert conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1, conv
    n = x.shape[1]
    (kh, kw), (ph, pw) = conv.kernel_size, conv.padding
    out = F.conv2d(x, conv.weight[:, :n], conv.bias, padding=conv.padding)
    rows = _taps_inside(x.shape[-2], kh, ph, conv.weight)
    cols = _taps_inside(x.shape[-1], kw, pw, conv.weight)
    response = torch.einsum("yi,ocij,xj->ocyx", rows, conv.weight[:, n:], cols)  # (out, code, H, W)
    return out + torch.einsum("bc,ocyx->boyx", code.to(out.dtype), response.to(out.dtype))


def _sequential_with_code(layers: nn.Sequential, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """``layers`` on ``x`` with the tiled ``code``: the first (the stem conv) by :func:`conv_with_tiled_code`."""
    h = conv_with_tiled_code(layers[0], x, code)
    for layer in layers[1:]:
        h = layer(h)
    return h


def _body_with_code(body: nn.Module, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """An encoder-decoder body (:func:`encoder_decoder` or :class:`SkipEncoderDecoder`) on ``x`` with the
    tiled ``code``, its stem computed by :func:`conv_with_tiled_code`."""
    if isinstance(body, SkipEncoderDecoder):
        return body(x, code)
    return _sequential_with_code(body, x, code)


class Generator(nn.Module):
    """``forward(x, code, mask=None) -> (output, own mask or None)``; see the module docstring. A given
    ``mask`` (B, 1, H, W), in the generator's *own* convention (:meth:`own_mask` of an edit mask), replaces
    the attention head's (AMGAN's "CAM as the mask" ablation, region edits)."""

    def __init__(self, code_dim: int, cfg: GeneratorConfig):
        super().__init__()
        if cfg.attention_keeps and not cfg.attention:
            raise InputError(
                "attention_keeps (GANimation's mask convention) needs attention=true", field="model.generator"
            )
        self.code_dim, self.cfg = code_dim, cfg
        body = SkipEncoderDecoder if cfg.skips else encoder_decoder
        self.body = body(3 + code_dim, cfg.width, cfg.residual_blocks, cfg.upsample)
        self.to_rgb = nn.Sequential(nn.Conv2d(cfg.width, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.to_attention = _mask_head(cfg.width) if cfg.attention else None

    @property
    def has_attention(self) -> bool:
        return self.to_attention is not None

    def edit_mask(self, own: torch.Tensor) -> torch.Tensor:
        """The edit mask (1 = edited) of a mask in this generator's own convention: ``1 - A`` for
        GANimation's keep mask, the mask itself for AMGAN's."""
        return 1 - own if self.cfg.attention_keeps else own

    def own_mask(self, edit: torch.Tensor) -> torch.Tensor:
        """This generator's own mask for an edit mask ``edit`` (1 = edit here): for GANimation
        ``A = 1 - edit``, for AMGAN the edit mask itself (the inverse of :meth:`edit_mask`)."""
        return self.edit_mask(edit)  # 1 - (1 - m) = m: the conversion is its own inverse

    def forward(
        self, x: torch.Tensor, code: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.features(x, code)
        if mask is None and isinstance(self.to_attention, nn.Sequential):  # the built heads: one conv for both
            z, a = self._both_heads(h)
        else:
            z = self.to_rgb(h)
            head = self.to_attention
            a = mask.to(z.dtype) if mask is not None else None if head is None else head(h)
        z = gaussian_blur(z, self.cfg.content_blur)  # the input itself when content_blur is 0
        if a is None:  # no attention head (StarGAN, SaGAN's AMN): the output is the content image
            return z, None
        if self.cfg.mask_floor and mask is None:
            a = self.own_mask(floor_mask(self.edit_mask(a), self.cfg.mask_floor))
        if self.cfg.attention_keeps:  # GANimation: A = 1 keeps the input
            return a * x + (1 - a) * z, a
        return a * z + (1 - a) * x, a

    def features(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """The body's features (B, width, H, W) of ``x`` with ``code``, the heads' input (channels-last: the
        7x7 heads run faster on it, ``bench/bench_conv_variants.py``)."""
        _check_inputs(x, code, self.code_dim)
        return _body_with_code(self.body, x, code).contiguous(memory_format=torch.channels_last)

    def _both_heads(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The RGB and attention heads as one 7x7 conv to 4 channels (their weights stacked; tanh on the first
        three, sigmoid on the last): the same outputs for about the cost of one head."""
        rgb, attention = self.to_rgb[0], self.to_attention[0]
        bias = None
        if attention.bias is not None:
            bias = torch.cat([attention.bias.new_zeros(3), attention.bias])
        y = F.conv2d(h, torch.cat([rgb.weight, attention.weight]), bias, padding=rgb.padding)
        return torch.tanh(y[:, :3]), torch.sigmoid(y[:, 3:])


class SpatialAttentionNet(nn.Module):
    """SaGAN's SAN: ``forward(x, code=None) -> m`` (B, 1, H, W) in [0, 1], 1 = edit here. With ``code_dim``
    > 0 the tiled manipulation code is an input too (``model.san_takes_code``), else the image alone."""

    def __init__(self, code_dim: int, cfg: SanConfig):
        super().__init__()
        self.code_dim = code_dim
        self.body = encoder_decoder(3 + code_dim, cfg.width, cfg.residual_blocks)
        self.head = _mask_head(cfg.width, cfg.initial_mask)

    def forward(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        if not self.code_dim:
            return self.head(self.body(x))
        _check_inputs(x, code, self.code_dim)
        return self.head(_body_with_code(self.body, x, code))


class SaganGenerator(nn.Module):
    """SaGAN (Zhang et al., ECCV 2018): ``forward(x, code, mask=None) -> (m * AMN(x, code) + (1 - m) * x, m)``
    with ``m`` the SAN's mask (1 = edited, AMGAN's convention; ``model.generator.mask_floor`` cuts its soft tail
    as for AMGAN), or the given ``mask`` instead (then the SAN is not run). ``amn``: :class:`Generator` without
    attention; ``san``: :class:`SpatialAttentionNet`, which sees the code too when ``san_takes_code``."""

    def __init__(self, code_dim: int, amn: GeneratorConfig, san: SanConfig, san_takes_code: bool):
        super().__init__()
        if amn.attention:
            raise InputError(
                "SaGAN's manipulation network has no attention head (the SAN gives the mask)",
                field="model.generator.attention",
            )
        self.code_dim = code_dim
        self.amn = Generator(code_dim, amn)
        self.san = SpatialAttentionNet(code_dim if san_takes_code else 0, san)

    @property
    def has_attention(self) -> bool:
        return True

    def edit_mask(self, own: torch.Tensor) -> torch.Tensor:
        """SaGAN's mask is already an edit mask (1 = edited)."""
        return own

    def own_mask(self, edit: torch.Tensor) -> torch.Tensor:
        return edit

    def forward(
        self, x: torch.Tensor, code: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z, _ = self.amn(x, code)
        # a given mask (a region) is used as given; the SAN's learnt one gets model.generator.mask_floor
        m = mask.to(z.dtype) if mask is not None else floor_mask(self.san(x, code), self.amn.cfg.mask_floor)
        return m * z + (1 - m) * x, m


def _live_taps(size: int, kernel: int, stride: int, padding: int) -> tuple[int, int]:
    """The first and last kernel tap along one axis that reach the input at some output position (the taps
    outside that range only ever multiply zero padding)."""
    outputs = (size + 2 * padding - kernel) // stride + 1
    live = [t for t in range(kernel) if any(0 <= i * stride - padding + t < size for i in range(outputs))]
    return live[0], live[-1]


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same state dict) computed as one matrix product over the unfolded
    input. On maps of at most 2x2 outputs with many channels (a critic's last layers) CPU convolution kernels
    spend their time on the large weight rather than the arithmetic: forward, input gradient and the gradient
    penalty's double backward together run 1.5-5x faster this way (``bench/bench_conv_variants.py``); the
    result is the same up to summation order. Ungrouped, undilated, zero padding only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oh, ow = (x.shape[-2] + 2 * ph - kh) // sh + 1, (x.shape[-1] + 2 * pw - kw) // sw + 1
        columns = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # (B, C*kh*kw, oh*ow)
        # one (B*oh*ow, C*kh*kw) x (C*kh*kw, out) product: a weight broadcast over the batch (weight @ columns)
        # would run its backward as a batched product over B copies of the weight
        y = F.linear(columns.transpose(1, 2), self.weight.flatten(1), self.bias)  # (B, oh*ow, out)
        return y.transpose(1, 2).reshape(x.shape[0], -1, oh, ow)


#: the smallest output channels for which :class:`SmallMapConv2d` pays (a 1-channel source head does not)
SMALL_MAP_MIN_CHANNELS = 64


def conv_on_map(
    cin: int, cout: int, kernel: int, stride: int, padding: int, size: tuple[int, int], bias: bool = True
) -> nn.Conv2d:
    """``nn.Conv2d(cin, cout, kernel, stride, padding)`` for an input map of ``size``, without the kernel taps
    that can only ever multiply zero padding there: the same function of the input, the same gradients for
    every weight that reaches it, and weights that never could are not stored (their gradient is exactly
    zero in the full conv, so Adam never moves them). At 64 px with 6 critic layers (the official StarGAN
    architecture timed in issue #15), the last 4x4 stride-2 conv sees a 2x2 map and keeps its 2x2 centre, a
    quarter of its 33.6M weights, and the 3x3 source head on the 1x1 map keeps its centre tap; elsewhere (the
    ``cpu`` and ``paper`` presets) every tap is live. A conv with at most 2x2 outputs and many channels is a
    :class:`SmallMapConv2d` (the same parameters, computed as a matrix product). The weight's
    ``saved_slice`` says where it sits in the full kernel, so a state dict with full kernels still loads
    (:meth:`Discriminator._load_full_kernels`) and a run saved with them resumes (its Adam state is cropped
    by :func:`fashionlab.engine.task.crop_optimizer_state`)."""
    spans = [_live_taps(n, kernel, stride, padding) for n in size]
    kernels = tuple(hi - lo + 1 for lo, hi in spans)
    paddings = tuple(padding - lo for lo, _ in spans)
    outputs = [(n + 2 * padding - kernel) // stride + 1 for n in size]
    same_outputs = all(
        p >= 0 and (n + 2 * p - k) // stride + 1 == o
        for n, k, p, o in zip(size, kernels, paddings, outputs, strict=True)
    )
    kind = SmallMapConv2d if math.prod(outputs) <= 4 and cout >= SMALL_MAP_MIN_CHANNELS else nn.Conv2d
    full = kind(cin, cout, kernel, stride, padding, bias=bias)
    if kernels == (kernel, kernel) or not same_outputs:
        return full
    conv = nn.utils.skip_init(kind, cin, cout, kernels, stride, paddings, bias=bias)  # no draws
    live = (..., *(slice(lo, hi + 1) for lo, hi in spans))
    with torch.no_grad():  # the full conv's initialisation (its fan-in), the same draws as before trimming
        conv.weight.copy_(full.weight[live])
        if bias:
            conv.bias.copy_(full.bias)
    conv.weight.saved_slice = live  # see the docstring
    return conv


class Discriminator(nn.Module):
    """``forward(x) -> (source scores (B, 1, h, w), class logits (B, N))``. Convolutions are built for the
    map each one sees (:func:`conv_on_map`)."""

    def __init__(self, image_size: tuple[int, int], n_values: int, cfg: DiscriminatorConfig):
        super().__init__()
        h, w = image_size
        if h % (1 << cfg.layers) or w % (1 << cfg.layers):
            raise ValueError(f"image size {image_size} must be divisible by 2^layers = {1 << cfg.layers}")
        layers: list[nn.Module] = []
        cin = 3
        for k in range(cfg.layers):
            cout = min(cfg.width << k, cfg.max_width)
            layers += [conv_on_map(cin, cout, 4, 2, 1, (h >> k, w >> k)), nn.LeakyReLU(0.01)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.source = conv_on_map(cin, 1, 3, 1, 1, (h >> cfg.layers, w >> cfg.layers), bias=False)
        self.classes = nn.Conv2d(cin, n_values, (h >> cfg.layers, w >> cfg.layers), bias=False)
        self._register_load_state_dict_pre_hook(self._load_full_kernels)

    def _load_full_kernels(self, state_dict, prefix, *_args) -> None:
        """Crop full kernels (a state dict written before :func:`conv_on_map`, or by the official layout) to
        the live taps this discriminator stores; the taps dropped only ever saw zero padding."""
        for name, param in self.named_parameters():
            index, key = getattr(param, "saved_slice", None), prefix + name
            if index is not None and key in state_dict and state_dict[key].shape != param.shape:
                state_dict[key] = state_dict[key][index].contiguous()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.source(h), self.classes(h).flatten(1)
