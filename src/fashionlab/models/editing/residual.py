"""ResGAN's parts (Shen & Liu, CVPR 2017): the residual transformation networks, the three-class
discriminator, the contrast an editor learns, and the editor ``fashionlab.load`` returns.

Transformation network (as the public re-implementations build it, papers.md section 3): 5x5 conv to
``width``, two 4x4 stride-2 convs to 2x and 4x ``width``, two 3x3 stride-2 transposed convs back to 2x and
1x ``width`` (TensorFlow "SAME": padding 1, output padding 1), each followed by instance norm and
LeakyReLU(0.2), then a linear 4x4 conv to 3 channels with TensorFlow's "SAME" padding (1 before, 2 after).
Its output is the residual image ``r``; the edit is ``x + r`` (clamped to [-1, 1] for output only).
Weights start from N(0, 0.02) and biases from 0 (the re-implementation: a truncated normal, biases 0.02).

Discriminator: ``layers`` 4x4 stride-2 convs from ``width`` channels doubling up to ``max_width`` (the
re-implementation: 32 to 512 in 5 layers), each with instance norm and LeakyReLU(0.2), then one linear
layer over the whole last map to the three classes (real A, real B, generated). The re-implementation
stacks two linear layers there (a 4x4 valid conv to 512, then a fully connected layer to 3); one linear
layer computes the same family of functions. ``feature_layer`` picks the block whose output the
perceptual term compares (the re-implementation: the 4th of 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...data.imaging import Preprocess
from ...errors import InputError
from .codes import AttributeSpace
from .editor import REGION_THRESHOLD, Editor

#: CelebA's raw label values as its importer stores them (``data/importers/celeba.py``: 1 -> yes, -1 -> no)
_BINARY_ALIASES = {"1": "yes", "+1": "yes", "-1": "no"}


@dataclass
class TransformConfig:
    """``model.generator.*`` (both transformation networks)."""

    width: int = 64  # channels of the first conv (the re-implementations: 64)


@dataclass
class ThreeClassDiscriminatorConfig:
    """``model.discriminator.*``"""

    width: int = 32  # channels of the first conv (the re-implementation: 32)
    layers: int = 5  # 4x4 stride-2 convs (the re-implementation: 5 at 128 px)
    max_width: int = 512  # channel cap (the re-implementation reaches 512 at the 5th layer)
    feature_layer: int = 4  # the block (1-based) whose output the perceptual term compares (re-impl.: 4)


@dataclass
class ResganModelConfig:
    """``model.*``"""

    generator: TransformConfig = field(default_factory=TransformConfig)
    discriminator: ThreeClassDiscriminatorConfig = field(default_factory=ThreeClassDiscriminatorConfig)
    # the editor's edit mask: 1 where the applied change |x* - x|, summed over R, G and B, exceeds this (in
    # [-1, 1] units: 0.05 is about 6.4 grey levels over the three channels); not a training setting
    mask_threshold: float = 0.05


def _norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=True, track_running_stats=False)


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class TransformNet(nn.Module):
    """``forward(x (B, 3, H, W)) -> r (B, 3, H, W)``: the residual image (unbounded); H and W multiples of 4."""

    def __init__(self, cfg: TransformConfig):
        super().__init__()
        w = cfg.width
        act = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 5, 1, 2, bias=False), _norm(w), act(),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), _norm(2 * w), act(),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), _norm(4 * w), act(),
            nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1, bias=False), _norm(2 * w), act(),
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1, bias=False), _norm(w), act(),
            nn.ZeroPad2d((1, 2, 1, 2)),
            nn.Conv2d(w, 3, 4, 1, 0),
        )  # fmt: skip
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 4 and x.shape[1] == 3, tuple(x.shape)
        assert x.shape[-1] % 4 == 0 and x.shape[-2] % 4 == 0, "image sides must be multiples of 4"
        return self.body(x)


class ThreeClassDiscriminator(nn.Module):
    """``forward(x) -> (logits (B, 3), features (B, C, h, w) of block feature_layer)``; classes in
    :mod:`fashionlab.losses.resgan` (real A, real B, generated)."""

    def __init__(self, image_size: tuple[int, int], cfg: ThreeClassDiscriminatorConfig):
        super().__init__()
        h, w = image_size
        n = cfg.layers
        if n < 1 or h % (1 << n) or w % (1 << n):
            raise InputError(
                f"image size {h}x{w} must be divisible by 2^layers = {1 << n}", field="model.discriminator"
            )
        if (h >> n) < 2 or (w >> n) < 2:
            raise InputError(
                f"{n} stride-2 layers leave a {h >> n}x{w >> n} map at {h}x{w}, which instance norm would erase; "
                "use fewer layers",
                field="model.discriminator.layers",
            )
        if not 1 <= cfg.feature_layer <= n:
            raise InputError(f"must lie in 1..{n}", field="model.discriminator.feature_layer")
        self.feature_layer = cfg.feature_layer
        blocks, cin = [], 3
        for k in range(n):
            cout = min(cfg.width << k, cfg.max_width)
            blocks.append(nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), _norm(cout), nn.LeakyReLU(0.2)))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(cin, 3, (h >> n, w >> n))
        _init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = x
        for k, block in enumerate(self.blocks, 1):
            x = block(x)
            if k == self.feature_layer:
                features = x
        return self.head(x).flatten(1), features


@dataclass(frozen=True)
class Contrast:
    """The two values of one attribute a ResGAN learns to swap: G0 turns value ``a`` into ``b`` (removes
    ``a``), G1 turns ``b`` into ``a`` (adds it). ``index``, ``a_index``, ``b_index``: the attribute's column
    and the values' indices in the dataset."""

    attribute: str
    a: str
    b: str
    index: int
    a_index: int
    b_index: int

    def __str__(self) -> str:
        return f"{self.attribute}={self.a},{self.b}"

    def names(self) -> tuple[str, str, str]:
        """``(attribute, a, b)``, as :class:`fashionlab.metrics.editing.EditEvaluation` takes a contrast."""
        return self.attribute, self.a, self.b


def parse_contrast(text: str, attributes: list[tuple[str, list[str]]], field: str = "contrast") -> Contrast:
    """``"sleeve=long,short"`` -> :class:`Contrast` over ``attributes`` ([(name, values)], the dataset's), or an
    InputError naming ``field`` and what is wrong. The attribute name may differ in case. A two-valued
    attribute may be named alone: CelebA's ``Eyeglasses`` means ``Eyeglasses=yes,no`` (G0 removes the
    glasses); CelebA's raw labels 1 / -1 are accepted for its yes / no."""
    text = (text or "").strip()
    example = "ATTRIBUTE=A,B, e.g. sleeve=long,short (on CelebA: Eyeglasses=yes,no)"
    if not text:
        raise InputError(f"no contrast given: {example}", field=field)
    name, _, rest = text.partition("=")
    name = name.strip()
    names = [n for n, _ in attributes]
    if name not in names:
        folded = {n.lower(): n for n in names}
        if name.lower() not in folded:
            raise InputError(f"unknown attribute {name!r}; the dataset has: {', '.join(names)}", field=field)
        name = folded[name.lower()]
    index = names.index(name)
    values = attributes[index][1]
    if not rest.strip():
        if len(values) != 2:
            raise InputError(
                f"{name} has {len(values)} values ({', '.join(values)}): name the two, {name}=A,B", field=field
            )
        pair = ["yes", "no"] if set(values) == {"yes", "no"} else list(values)
    else:
        pair = [v.strip() for v in rest.split(",")]
        if len(pair) != 2 or not all(pair):
            raise InputError(f"expected two values after '{name}=', got {rest!r}: {example}", field=field)
    if set(values) == {"yes", "no"}:
        pair = [_BINARY_ALIASES.get(v, v) for v in pair]
    for v in pair:
        if v not in values:
            raise InputError(f"{name} has no value {v!r}; its values: {', '.join(values)}", field=field)
    if pair[0] == pair[1]:
        raise InputError(f"the two values must differ, got {pair[0]!r} twice", field=field)
    return Contrast(name, pair[0], pair[1], index, values.index(pair[0]), values.index(pair[1]))


class ContrastSpace(AttributeSpace):
    """The dataset's attributes (codes and labels keep their columns), of which only the contrast is editable:
    :meth:`parse_settings` refuses any other setting, naming what this editor can do."""

    def __init__(self, attributes: list[tuple[str, list[str]]], contrast: Contrast):
        super().__init__(attributes)
        self.contrast = contrast

    def can_do(self) -> str:
        c, name = self.contrast, self.contrast.attribute
        return f"this resgan edits only {name} between {c.a} and {c.b} ({name}={c.a} or {name}={c.b})"

    def parse_settings(self, settings: dict[str, str]) -> list[tuple[int, int]]:
        order = super().parse_settings(settings)
        c = self.contrast
        for (a, v), (name, value) in zip(order, settings.items(), strict=True):
            if a != c.index or v not in (c.a_index, c.b_index):
                raise InputError(f"{self.can_do()}; {name}={value} is outside it", field=name)
        return order


class ResganEditor(Editor):
    """A trained ResGAN as ``fashionlab.load`` returns it, with the public surface of :class:`Editor`
    (``kind``, ``space``, ``preprocess``, ``classifier``, ``has_attention``, ``read_attributes``, ``edit``,
    ``generate``, ``region_mask``) for the one contrast it knows (``contrast``).

    It needs no attribute network: each of its two networks knows its direction, so the target value alone
    picks G0 (to value b) or G1 (to value a); ``read_attributes`` reads nothing (every label unknown), so
    :meth:`Editor.edit` edits every image (it only skips, with a note, images whose given ``labels``
    already hold the setting). The edit mask is where the applied change ``|x* - x|`` summed over R, G
    and B exceeds ``mask_threshold``; the output itself is ``x + r`` clamped, not thresholded."""

    needs_attribute_reader = False  # usecases.edit.check_editor: no attribute network needed

    @property
    def editable(self) -> dict[str, list[str]]:
        """Only the contrast: ``{attribute: [a, b]}``."""
        return {self.contrast.attribute: [self.contrast.a, self.contrast.b]}

    def __init__(
        self,
        attributes: list[tuple[str, list[str]]],
        contrast: Contrast,
        g0: TransformNet,
        g1: TransformNet,
        preprocess: Preprocess,
        mask_threshold: float = 0.05,
    ):
        nn.Module.__init__(self)  # Editor's own __init__ builds a StarGAN generator; this one has two nets
        self.kind = "resgan"
        self.space = ContrastSpace(attributes, contrast)
        self.contrast = contrast
        self.G0, self.G1 = g0, g1
        self.preprocess = preprocess
        self.classifier = None
        self.mask_threshold = mask_threshold
        self.region_threshold = REGION_THRESHOLD  # (no attention: named regions are refused)

    @property
    def has_attention(self) -> bool:
        return False

    def load_exported(self, states: dict[str, dict[str, torch.Tensor]]) -> None:
        self.G0.load_state_dict(states["G0"])
        self.G1.load_state_dict(states["G1"])

    def read_attributes(self, x: torch.Tensor) -> torch.Tensor:
        """(B, M) all -1 (unknown): a ResGAN has no attribute network and needs none."""
        return torch.full((x.shape[0], self.space.n_attributes), -1, dtype=torch.long, device=x.device)

    @torch.no_grad()
    def generate(
        self, x: torch.Tensor, targets: torch.Tensor, changed: torch.Tensor, region: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x*, edit mask)`` for target labels ``targets`` (B, M) with attribute ``changed`` (B,) (or (B, M)
        booleans) being edited, which must be the contrast attribute with target value a or b; a target b
        runs G0, a runs G1. ``region`` (B, 1, H, W): the residual acts only there (``x + region * r``)."""
        c = self.contrast
        if changed.dim() == 1:  # one attribute index per image -> (B, M) booleans
            changed = torch.nn.functional.one_hot(changed.long(), self.space.n_attributes).bool()
        asked = {self.space.names[int(a)] for a in changed.nonzero()[:, 1].unique()}
        if asked != {c.attribute} or not bool(changed[:, c.index].all()):
            raise InputError(f"{self.space.can_do()}; asked to edit {', '.join(sorted(asked))}", field="changed")
        t = targets[:, c.index]
        if bool(((t != c.a_index) & (t != c.b_index)).any()):
            values = self.space.attributes[c.index][1]
            asked = sorted({values[int(v)] if 0 <= v < len(values) else str(int(v)) for v in t})
            raise InputError(f"{self.space.can_do()}; asked for {c.attribute} = {', '.join(asked)}", field="targets")
        r = residuals(self.G0, self.G1, x, t == c.b_index)
        if region is not None:
            r = r * region.to(r.dtype)
        out = (x + r).clamp(-1, 1)
        mask = ((out - x).abs().sum(1, keepdim=True) > self.mask_threshold).to(x.dtype)
        return out, mask

    def region_mask(self, x, region, labels=None, threshold=None) -> torch.Tensor:
        raise InputError(
            f"region {region!r} is found from attention masks, which a resgan has not; give a mask image",
            field="region",
        )


def residuals(g0: nn.Module, g1: nn.Module, x: torch.Tensor, to_b: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float32 residuals: G0's for the images whose ``to_b`` (B,) is true (value a -> b), G1's for
    the others (b -> a). Each network sees only its own images (instance norm: exactly as one by one)."""
    r = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
    for net, rows in ((g0, torch.nonzero(to_b).flatten()), (g1, torch.nonzero(~to_b).flatten())):
        if len(rows):
            r = r.index_copy(0, rows, net(x[rows]).float())
    return r


def load_resgan_editor(config: dict, extra: dict, preprocess: Preprocess) -> ResganEditor:
    """An untrained editor of an export's architecture (``fashionlab.load`` fills the weights)."""
    from ...config import from_dict

    cfg = from_dict(ResganModelConfig, config)
    attributes = [(n, list(v)) for n, v in extra["attributes"]]
    contrast = parse_contrast("{}={},{}".format(*extra["contrast"]), attributes, field="extra.contrast")
    g0, g1 = TransformNet(cfg.generator), TransformNet(cfg.generator)
    return ResganEditor(attributes, contrast, g0, g1, preprocess, cfg.mask_threshold)


def infer_resgan(editor: ResganEditor, batch: dict) -> dict[str, torch.Tensor]:
    """Each image's contrast value swapped (a -> b, anything else -> a), labels from the batch."""
    c = editor.contrast
    labels = batch["attributes"]
    targets = labels.clone()
    targets[:, c.index] = torch.where(labels[:, c.index] == c.a_index, c.b_index, c.a_index)
    out, mask = editor.generate(batch["image"], targets, torch.full_like(labels[:, 0], c.index))
    return {"image": out, "mask": mask}
