"""Garment attributes of a photo with their probabilities, and where each one lives (attribute activation
maps), as ``fashionlab predict`` and ``GET/POST /v1/attributes`` give them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.imaging import denormalise
from ..errors import InputError
from ..models.attrnet import AttrNet
from ..models.domain import DomainReport
from ..viz import overlay
from .domain import domain_reports


def check_attrnet(model: object, where=None) -> AttrNet:
    """``model`` as an :class:`AttrNet`, or an InputError saying what it is instead."""
    if not isinstance(model, AttrNet):
        raise InputError(
            f"this export is a {type(model).__name__}, not an attribute network (train attrnet)", path=where
        )
    return model


@dataclass
class Prediction:
    """``attributes``: per attribute (garment ones, then region ones such as ``sleeves.color``), the values
    with their probabilities, most probable first; ``model_image``: the photo as the model saw it."""

    attributes: dict[str, list[tuple[str, float]]]
    model_image: np.ndarray
    domain: DomainReport | None = None
    heads: list[str] = field(default_factory=list)


@torch.no_grad()
def predict_attributes(
    net: AttrNet, photo: np.ndarray, top: int | None = None, domain_check: bool = True
) -> Prediction:
    """Attribute probabilities of one (H, W, 3) uint8 photo (``top`` values per attribute; all by default)."""
    if top is not None and top < 1:
        raise InputError("must be at least 1", field="top")
    x = net.preprocess.image(photo)[None]
    o = net(x)
    heads = [
        *zip(net.attributes, o.rep_logits, strict=True),
        *zip(net.region_attributes, o.region_rep_logits, strict=True),
    ]
    out: dict[str, list[tuple[str, float]]] = {}
    for (name, values), logits in heads:
        p = torch.softmax(logits.float(), dim=1)[0]
        order = torch.argsort(p, descending=True)[: top or len(values)]
        out[name] = [(values[int(i)], round(float(p[i]), 4)) for i in order]
    report = domain_reports([photo])[0] if domain_check else None
    return Prediction(out, denormalise(x[0]), report, [name for (name, _), _ in heads])


def attention_map(net: AttrNet, photo: np.ndarray, attribute: str, value: str | None = None) -> np.ndarray:
    """The attribute activation map of ``attribute`` (for ``value``; default: the predicted one) over the
    photo as the model sees it, as an RGB overlay (uint8, the model's size)."""
    names = [n for n, _ in net.attributes] + [n for n, _ in net.region_attributes]
    if attribute not in names:
        raise InputError(f"unknown attribute {attribute!r}; this model has: {', '.join(names)}", field="attribute")
    values = dict(net.attributes + net.region_attributes)[attribute]
    index = None
    if value is not None:
        if value not in values:
            raise InputError(f"unknown value {value!r} for {attribute}; valid: {', '.join(values)}", field="value")
        index = values.index(value)
    return attention_maps(net, photo, [attribute], index)[attribute]


@torch.no_grad()
def attention_maps(
    net: AttrNet, photo: np.ndarray, attributes: list[str], value: int | None = None
) -> dict[str, np.ndarray]:
    """The activation maps of several attributes (each for its predicted value, or ``value``) over one
    photo as RGB overlays, from one pass of the network."""
    x = net.preprocess.image(photo)[None]
    conv7 = net.features(x, "conv7")
    shown = denormalise(x[0])
    return {a: overlay(shown, net.cam(x, a, value, conv7=conv7)[0].numpy()) for a in attributes}
