"""FashionSearchNet's attribute network with localisation (Ak et al., CVPR 2018), from scratch.

conv1-5 (a registered backbone) -> conv6, conv7 -> global average pooling -> one linear classifier per
attribute. The classifier weights turn conv7 into class activation maps (attribute activation maps,
AAMs) for every value: ``CAM_v(i, j) = sum_k w_vk f_k(i, j)``. For each attribute, the AAM of the
predicted value is thresholded (``aam_threshold`` x its max) and the box of its largest connected region
pools conv5 features (ROIAlign); three FC layers give that attribute's representation, trained with
classification and triplet losses. The L2-normalised attribute representations are concatenated and
compressed into a global representation (global triplet loss). Search replaces one attribute's
representation by the wanted value's prototype and recompresses (see ``fashionlab.search``).

One network serves three later uses through one API:
- :meth:`AttrNet.cam` gives min-max normalised CAMs at image resolution (AMGAN's attention target);
- :meth:`AttrNet.features` gives conv5 / pooled features (perceptual losses, reference matching);
- a second AttrNet trained with another seed is the independent *evaluator* of editing methods
  (:meth:`AttrNet.predict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..data.imaging import Preprocess
from .backbones import BACKBONES, conv_bn
from .roi import largest_component_boxes, roi_align


@dataclass
class AttrNetModelConfig:
    """Architecture of the attribute network (``model.*``)."""

    backbone: str = "alexnet"  # a name from BACKBONES (alexnet, resnet18, resnet50)
    width: float = 1.0  # channel multiplier of the backbone
    output_stride: int = 8  # conv5 stride (alexnet: 8; resnets: 8, 16 or 32)
    conv67_channels: int = 512  # channels of conv6 and conv7 (the AAM layer)
    roi_size: int = 3  # ROI pooling output is roi_size x roi_size
    fc_dim: int = 256  # hidden width of the three FC layers per attribute
    rep_dim: int = 64  # per-attribute representation size
    global_dim: int = 128  # compressed global representation size
    aam_threshold: float = 0.5  # AAM region: >= this fraction of the map's max (largest component)


@dataclass
class AttrNetOutput:
    logits: list[torch.Tensor]  # per attribute (B, n_values): GAP classifier (AAM branch)
    rep_logits: list[torch.Tensor]  # per attribute (B, n_values): classifier on the representation
    reps: torch.Tensor  # (B, A, rep_dim), L2-normalised
    global_rep: torch.Tensor  # (B, global_dim), L2-normalised
    boxes: torch.Tensor  # (B, A, 4) AAM boxes in conv5 cells (x0, y0, x1, y1)
    conv5: torch.Tensor  # (B, C5, h, w)
    conv7: torch.Tensor  # (B, C7, h, w)
    pooled: torch.Tensor  # (B, C7)
    # region attributes (``sleeves.color`` ...), the same pieces; empty when the model has none
    region_logits: list[torch.Tensor] = field(default_factory=list)
    region_rep_logits: list[torch.Tensor] = field(default_factory=list)
    region_reps: torch.Tensor | None = None  # (B, R, rep_dim), L2-normalised
    region_boxes: torch.Tensor | None = None  # (B, R, 4)


class AttrNet(nn.Module):
    """See the module docstring. ``attributes`` is ``[(name, [values...]), ...]``.

    ``region_attributes`` (``[("sleeves.color", [values...]), ...]``) are attributes of one region of the
    garment (see :mod:`fashionlab.data.regions`). Each gets its own AAM classifier, AAM box and
    representation head, exactly like a garment attribute, but stays out of the global representation:
    region-aware search ranks by them ("red sleeves, body unchanged")."""

    def __init__(
        self,
        attributes: list[tuple[str, list[str]]],
        cfg: AttrNetModelConfig | None = None,
        region_attributes: list[tuple[str, list[str]]] | None = None,
        *,
        preprocess: Preprocess | None = None,
    ):
        super().__init__()
        self.cfg = cfg or AttrNetModelConfig()
        #: the input this network expects (size, resize mode); set by the training task and by ``load``
        self.preprocess = preprocess
        self.attributes = [(n, list(v)) for n, v in attributes]
        self.region_attributes = [(n, list(v)) for n, v in (region_attributes or [])]
        if not self.attributes:
            raise ValueError("AttrNet needs at least one attribute")
        c = self.cfg
        self.backbone = BACKBONES.get(c.backbone)(width=c.width, output_stride=c.output_stride)
        c5 = self.backbone.out_channels
        self.conv67 = nn.Sequential(conv_bn(c5, c.conv67_channels, 3), conv_bn(c.conv67_channels, c.conv67_channels, 3))
        self.classifiers = nn.ModuleList(nn.Linear(c.conv67_channels, len(v)) for _, v in self.attributes)
        roi_in = c5 * c.roi_size * c.roi_size

        def rep_head() -> nn.Sequential:  # three FC layers: ROI-pooled conv5 -> attribute representation
            return nn.Sequential(
                nn.Linear(roi_in, c.fc_dim),
                nn.ReLU(inplace=True),
                nn.Linear(c.fc_dim, c.fc_dim),
                nn.ReLU(inplace=True),
                nn.Linear(c.fc_dim, c.rep_dim),
            )

        self.rep_heads = nn.ModuleList(rep_head() for _ in self.attributes)
        self.rep_classifiers = nn.ModuleList(nn.Linear(c.rep_dim, len(v)) for _, v in self.attributes)
        self.region_classifiers = nn.ModuleList(nn.Linear(c.conv67_channels, len(v)) for _, v in self.region_attributes)
        self.region_rep_heads = nn.ModuleList(rep_head() for _ in self.region_attributes)
        self.region_rep_classifiers = nn.ModuleList(nn.Linear(c.rep_dim, len(v)) for _, v in self.region_attributes)
        self.compress = nn.Sequential(
            nn.Linear(c.rep_dim * len(self.attributes), c.fc_dim),
            nn.ReLU(inplace=True),
            nn.Linear(c.fc_dim, c.global_dim),
        )

    @property
    def attribute_names(self) -> list[str]:
        return [n for n, _ in self.attributes]

    def region_index(self, name: str) -> int:
        """Index of a region attribute such as ``sleeves.color``."""
        from ..errors import InputError

        for i, (n, _) in enumerate(self.region_attributes):
            if n == name:
                return i
        known = ", ".join(n for n, _ in self.region_attributes) or "none"
        raise InputError(f"unknown region attribute {name!r}; this model knows: {known}")

    def attribute_index(self, name: str) -> int:
        from ..errors import InputError

        for i, (n, _) in enumerate(self.attributes):
            if n == name:
                return i
        raise InputError(f"unknown attribute {name!r}; this model knows: {', '.join(self.attribute_names)}")

    # ------------------------------------------------------------------ pieces
    def cams_raw(self, conv7: torch.Tensor, a: int, region: bool = False) -> torch.Tensor:
        """(B, n_values, h, w) class activation maps of attribute ``a`` (of region attribute ``a``)."""
        clf = self.region_classifiers[a] if region else self.classifiers[a]
        return torch.einsum("vc,bchw->bvhw", clf.weight.to(conv7.dtype), conv7)

    def _heads(self, conv5, conv7, pooled, classifiers, heads, rep_classifiers, region: bool):
        """(logits, AAM boxes, L2-normalised representations, representation logits) of a head group."""
        logits = [clf(pooled) for clf in classifiers]
        b, _, h, w = conv7.shape
        if not logits:
            empty = conv7.new_zeros(b, 0, self.cfg.rep_dim).float()
            return logits, conv7.new_zeros(b, 0, 4).float(), empty, []
        aams = []
        for a, lg in enumerate(logits):
            cams = self.cams_raw(conv7, a, region)
            aams.append(cams[torch.arange(b), lg.argmax(dim=1)])
        boxes = largest_component_boxes(
            torch.stack(aams, 1).reshape(-1, h, w).detach().float(), self.cfg.aam_threshold
        ).reshape(b, len(logits), 4)
        pooled_rois = roi_align(conv5, boxes.to(conv5.dtype), self.cfg.roi_size)  # (B, A, C5, r, r)
        reps = torch.stack([head(pooled_rois[:, a].flatten(1)) for a, head in enumerate(heads)], 1)
        reps = F.normalize(reps.float(), dim=2)
        rep_logits = [clf(reps[:, a].to(clf.weight.dtype)) for a, clf in enumerate(rep_classifiers)]
        return logits, boxes, reps, rep_logits

    def compress_reps(self, reps: torch.Tensor) -> torch.Tensor:
        """Global representation of (B, A, rep_dim) L2-normalised attribute representations."""
        return F.normalize(self.compress(reps.flatten(1)).float(), dim=1)

    def forward(self, x: torch.Tensor) -> AttrNetOutput:
        assert x.dim() == 4 and x.shape[1] == 3, f"expected (B, 3, H, W) images, got {tuple(x.shape)}"
        conv5 = self.backbone(x)
        conv7 = self.conv67(conv5)
        pooled = conv7.mean(dim=(2, 3))
        logits, boxes, reps, rep_logits = self._heads(
            conv5, conv7, pooled, self.classifiers, self.rep_heads, self.rep_classifiers, False
        )
        r_logits, r_boxes, r_reps, r_rep_logits = self._heads(
            conv5, conv7, pooled, self.region_classifiers, self.region_rep_heads, self.region_rep_classifiers, True
        )
        return AttrNetOutput(
            logits=logits,
            rep_logits=rep_logits,
            reps=reps,
            global_rep=self.compress_reps(reps),
            boxes=boxes,
            conv5=conv5,
            conv7=conv7,
            pooled=pooled,
            region_logits=r_logits,
            region_rep_logits=r_rep_logits,
            region_reps=r_reps,
            region_boxes=r_boxes,
        )

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per attribute, (B, n_values) probabilities (from the representation classifiers)."""
        out = self(x)
        return [F.softmax(lg.float(), dim=1) for lg in out.rep_logits]

    def cam(
        self,
        x: torch.Tensor,
        attribute: str | int,
        value: torch.Tensor | int | None = None,
        size: tuple[int, int] | None = None,
        conv7: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Min-max normalised CAM in [0, 1], (B, H, W) at image size, of ``attribute`` for ``value``
        (an index or a (B,) tensor of indices; default: the predicted value). Differentiable in ``x``
        only if the caller needs it; AMGAN uses it under ``torch.no_grad`` as an attention target.
        ``conv7``: :meth:`features` ``(x, "conv7")`` when already computed (several maps of one image)."""
        region = isinstance(attribute, str) and "." in attribute
        if isinstance(attribute, int):
            a = attribute
        else:
            a = self.region_index(attribute) if region else self.attribute_index(attribute)
        conv7 = self.conv67(self.backbone(x)) if conv7 is None else conv7
        cams = self.cams_raw(conv7, a, region).float()
        b = x.shape[0]
        if value is None:
            clf = self.region_classifiers[a] if region else self.classifiers[a]
            value = clf(conv7.mean(dim=(2, 3))).argmax(dim=1)
        elif isinstance(value, int):
            value = torch.full((b,), value, dtype=torch.long, device=x.device)
        m = cams[torch.arange(b, device=x.device), value]
        m = F.interpolate(m[:, None], size=size or tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
        lo = m.flatten(1).min(1).values[:, None, None]
        hi = m.flatten(1).max(1).values[:, None, None]
        return (m - lo) / (hi - lo).clamp_min(1e-6)

    def value_cams(self, x: torch.Tensor, attribute: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """(B, h, w) raw class activation maps at conv7's resolution (not normalised, differentiable in ``x``)
        of each sample's own garment ``attribute`` (B,) index and ``value`` (B,) index; zeros where the value
        is -1. ``x`` is already the model's input (fitted, [-1, 1])."""
        conv7 = self.conv67(self.backbone(x))
        out = conv7.new_zeros(x.shape[0], *conv7.shape[-2:]).float()
        for a in attribute.unique().tolist():
            rows = torch.nonzero((attribute == a) & (value >= 0)).flatten()
            if len(rows):
                out[rows] = self.cams_raw(conv7[rows], a).float()[torch.arange(len(rows)), value[rows]]
        return out

    def classifier_logits(self, conv5: torch.Tensor) -> torch.Tensor:
        """(B, sum of the attributes' value counts) logits of the GAP classifiers (the ones that make the
        CAMs), concatenated in attribute order, from conv5 features (:meth:`features`)."""
        pooled = self.conv67(conv5).mean(dim=(2, 3))
        return torch.cat([c(pooled) for c in self.classifiers], 1)

    def features(self, x: torch.Tensor, layer: str = "conv5") -> torch.Tensor:
        """Features for perceptual losses and reference matching: ``conv5`` (B, C, h, w), ``conv7`` or
        ``pooled`` (B, C)."""
        conv5 = self.backbone(x)
        if layer == "conv5":
            return conv5
        conv7 = self.conv67(conv5)
        if layer == "conv7":
            return conv7
        if layer == "pooled":
            return conv7.mean(dim=(2, 3))
        raise ValueError(f"unknown layer {layer!r}; valid: conv5, conv7, pooled")

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(attribute representations (B, A, rep_dim), global representation (B, global_dim))."""
        out = self(x)
        return out.reps, out.global_rep


@dataclass
class LossWeights:
    """Weights of the attribute-network losses (``loss.*``)."""

    cls: float = 1.0  # GAP classifiers (they make the AAMs)
    rep_cls: float = 1.0  # classifiers on the attribute representations
    triplet: float = 1.0  # per-attribute triplet ranking (batch-hard)
    global_triplet: float = 1.0  # global triplet ranking on the compressed representation
    margin: float = 0.2  # triplet margin (cosine distance units)
    class_weights: bool = False  # weight CE by inverse class frequency of the training split
    extra: dict = field(default_factory=dict)


def batch_hard_triplet(emb: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Batch-hard triplet loss on L2-normalised ``emb`` (N, D); ``labels`` (N,) with -1 = unknown. Anchors
    without both a positive and a negative in the batch are left out."""
    known = labels >= 0
    if known.sum() < 3:
        return emb.sum() * 0.0
    e, y = emb[known], labels[known]
    dist = (1.0 - e @ e.t()).clamp_min(0.0)
    same = y[:, None] == y[None, :]
    eye = torch.eye(len(y), dtype=torch.bool, device=e.device)
    pos_mask, neg_mask = same & ~eye, ~same
    valid = pos_mask.any(1) & neg_mask.any(1)
    if not valid.any():
        return emb.sum() * 0.0
    hardest_pos = (dist * pos_mask).max(1).values
    hardest_neg = dist.masked_fill(~neg_mask, float("inf")).min(1).values
    return F.relu(hardest_pos - hardest_neg + margin)[valid].mean()


def ranking_triplet(emb: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Global ranking: for each anchor, a sample sharing more known attributes must be closer than one
    sharing fewer. Mines, per anchor, the hardest pair across the best-matching and worse-matching sets
    (works on small batches where exact duplicates are rare). ``labels`` (N, A) with -1 unknown."""
    both = (labels[:, None, :] >= 0) & (labels[None, :, :] >= 0)
    match = ((labels[:, None, :] == labels[None, :, :]) & both).sum(-1).float()  # (N, N)
    n = len(labels)
    eye = torch.eye(n, dtype=torch.bool, device=emb.device)
    match = match.masked_fill(eye, -1)
    best = match.max(1, keepdim=True).values
    pos_mask = (match == best) & ~eye
    neg_mask = (match < best) & ~eye & (match >= 0)
    valid = pos_mask.any(1) & neg_mask.any(1)
    if not valid.any():
        return emb.sum() * 0.0
    dist = (1.0 - emb @ emb.t()).clamp_min(0.0)
    hardest_pos = (dist * pos_mask).max(1).values
    hardest_neg = dist.masked_fill(~neg_mask, float("inf")).min(1).values
    return F.relu(hardest_pos - hardest_neg + margin)[valid].mean()


def _head_losses(logits, rep_logits, reps, labels, w: LossWeights, class_weights=None):
    """Sum of classification (GAP and representation) and triplet losses of one head group, and the
    per-group means (cls, rep_cls, triplet, accuracy) for logging, as detached tensors (no device sync)."""
    total = reps.sum() * 0.0
    parts: list[list[torch.Tensor]] = [[], [], [], []]
    for a in range(len(logits)):
        y = labels[:, a]
        cw = class_weights[a].to(logits[a].device) if class_weights else None
        known = y >= 0
        if known.any():
            lc = F.cross_entropy(logits[a].float(), y, weight=cw, ignore_index=-1)
            lr = F.cross_entropy(rep_logits[a].float(), y, weight=cw, ignore_index=-1)
            acc = (rep_logits[a].argmax(1)[known] == y[known]).float().mean()
        else:
            lc = logits[a].float().sum() * 0.0  # keeps every head in the graph (DDP)
            lr = rep_logits[a].float().sum() * 0.0
            acc = torch.full((), float("nan"), device=reps.device)
        lt = batch_hard_triplet(reps[:, a], y, w.margin)
        total = total + w.cls * lc + w.rep_cls * lr + w.triplet * lt
        for part, v in zip(parts, (lc, lr, lt, acc), strict=True):
            part.append(v.detach().float())
    means = [torch.stack(p).mean() if p else total.detach() * 0.0 for p in parts]
    return total, means


def attrnet_losses(
    out: AttrNetOutput,
    labels: torch.Tensor,
    w: LossWeights,
    class_weights: list[torch.Tensor] | None = None,
    region_labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """All FashionSearchNet losses; unknown labels (-1) are masked out. ``region_labels`` (B, R) train the
    region attributes' heads the same way. Returns (loss, {name: detached scalar tensor})."""
    total, (cls_m, rep_m, tri_m, acc_m) = _head_losses(out.logits, out.rep_logits, out.reps, labels, w, class_weights)
    lg = ranking_triplet(out.global_rep, labels, w.margin)
    total = total + w.global_triplet * lg
    scalars = dict(cls=cls_m, rep_cls=rep_m, triplet=tri_m, global_triplet=lg.detach(), train_acc=acc_m)
    if out.region_logits and region_labels is not None:
        r_total, (r_cls, _, r_tri, r_acc) = _head_losses(
            out.region_logits, out.region_rep_logits, out.region_reps, region_labels, w
        )
        total = total + r_total
        scalars.update(region_cls=r_cls, region_triplet=r_tri, region_train_acc=r_acc)
    return total, {"loss": total.detach(), **scalars}
