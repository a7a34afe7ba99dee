"""A trained attribute editor, as ``fashionlab.load`` returns it: ``editor.edit(images, {"sleeve": "long"})``.

The export holds the generator and the attribute network the editor was trained with (frozen): the
latter reads the current attributes of a user's image, which the manipulation code needs (the target
code keeps every other attribute at its current value).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...config import from_dict
from ...data.imaging import Preprocess
from ...errors import InputError
from ..attrnet import AttrNet, AttrNetModelConfig
from .codes import AttributeSpace
from .networks import Generator, SaganGenerator

#: which manipulation's attention mask finds a region (AMGAN's region-specific edits), and the paper's
#: threshold (an export may carry its own, measured: ``model.region_threshold``)
REGION_PROBES = {"sleeves": ("sleeve", "sleeveless"), "garment": ("color", None)}
REGION_THRESHOLD = 0.9


@dataclass
class EditResult:
    """``images`` (B, 3, H, W) in [-1, 1]; ``masks`` (B, 1, H, W) in [0, 1], where the edits acted (the
    union over sequential edits; an editor without attention reports ones where it changed the image);
    ``notes``: per image, what was not done and why (e.g. the setting already held)."""

    images: torch.Tensor
    masks: torch.Tensor
    notes: list[list[str]] = field(default_factory=list)


class Editor(nn.Module):
    """See the module docstring."""

    def __init__(
        self,
        kind: str,
        attributes: list[tuple[str, list[str]]],
        generator: Generator | SaganGenerator,
        preprocess: Preprocess,
        classifier: AttrNet | None = None,
        region_threshold: float = REGION_THRESHOLD,
    ):
        super().__init__()
        self.kind = kind
        self.space = AttributeSpace(attributes)
        self.G = generator
        self.preprocess = preprocess
        self.classifier = classifier
        self.region_threshold = region_threshold  # the default of region_mask (the export's, else the paper's)

    @property
    def has_attention(self) -> bool:
        return self.G.has_attention

    def load_exported(self, states: dict[str, dict[str, torch.Tensor]]) -> None:
        self.G.load_state_dict(states["G"])
        if self.classifier is not None and "classifier" in states:  # else loaded from a shipped asset
            self.classifier.load_state_dict(states["classifier"])

    @torch.no_grad()
    def read_attributes(self, x: torch.Tensor) -> torch.Tensor:
        """(B, M) value indices the editor's attribute network reads on ``x``."""
        if self.classifier is None:
            raise InputError(f"this {self.kind} export has no attribute network to read the images' attributes")
        probs = self.classifier.predict(self.classifier.preprocess.fit_batch(x))
        return torch.stack([p.argmax(1) for p in probs], 1)

    @property
    def editable(self) -> dict[str, list[str]]:
        """``{attribute: values a setting may take}``: every attribute and value the editor knows."""
        return {n: list(v) for n, v in self.space.attributes}

    def generate(
        self, x: torch.Tensor, targets: torch.Tensor, changed: torch.Tensor, region: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One manipulation at the model's size: ``(x*, edit mask or None)`` for target labels ``targets``
        (B, M) with attribute ``changed`` (B,) being manipulated. The mask is always an *edit* mask (1: the
        pixel was edited), whatever the method's own convention; ``region`` (B, 1, H, W) replaces it where
        the method has one. Every editor kind (and evaluation) goes through this.

        GANimation's generator keeps the input where its mask A is 1: a region r (1 = edit here) becomes
        A = 1 - r, and the mask returned is 1 - A (:meth:`Generator.own_mask`, :meth:`Generator.edit_mask`)."""
        own = None if region is None else self.G.own_mask(region)
        out, mask = self.G(x, self.space.code(targets, changed), own)
        return out, None if mask is None else self.G.edit_mask(mask)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != self.preprocess.size:
            raise InputError(
                f"expected images of shape (B, 3, {self.preprocess.size[0]}, {self.preprocess.size[1]}) in [-1, 1], "
                f"got {tuple(x.shape)} (fashionlab.usecases.edit.edit_images fits photos of any size)"
            )

    def reads_sleeveless(self, labels: torch.Tensor) -> torch.Tensor:
        """(B,) bool: ``labels`` (B, M) say the garment has the "sleeves" probe's value (sleeveless), so it has
        no sleeves to find or edit."""
        a, v = self.space.value_index(*REGION_PROBES["sleeves"])
        return labels[:, a] == v

    @torch.no_grad()
    def region_mask(
        self, x: torch.Tensor, region: str, labels: torch.Tensor | None = None, threshold: float | None = None
    ) -> torch.Tensor:
        """(B, 1, H, W) binary mask of a garment region found by AMGAN's rule: the attention mask of a
        manipulation that covers it, thresholded at ``threshold`` (default: the export's
        ``model.region_threshold``, else the paper's 0.9). ``garment``: a colour change's mask;
        ``sleeves``: "sleeveless"'s mask within the garment (the probe's mask also spills onto the arm and
        the background beside it; within the garment the shipped AMGAN's sleeves are found with IoU 0.43
        instead of 0.29, docs/edit-comparison.md "Region edits"), empty for a garment read as sleeveless;
        ``torso``: the garment without the sleeves' probe ("long sleeves" for a sleeveless one)."""
        threshold = self.region_threshold if threshold is None else threshold
        if not 0 < threshold < 1:
            raise InputError(f"the region threshold must lie in (0, 1), got {threshold}", field="region_threshold")
        if not self.has_attention:
            raise InputError(
                f"region {region!r} needs an editor with attention masks (amgan, ganimation, sagan); "
                "give a MASK.png instead"
            )
        if region not in ("sleeves", "torso", "garment"):
            raise InputError(f"unknown region {region!r}; valid: sleeves, torso, garment or a mask image")
        labels = self.read_attributes(x) if labels is None else labels

        def probe(name: str) -> torch.Tensor:
            attr, value = REGION_PROBES[name]
            a = self.space.index(attr)
            targets = labels.clone()
            if value is None:  # any other value: the next one
                targets[:, a] = (labels[:, a].clamp_min(0) + 1) % self.space.sizes[a]
            else:
                targets[:, a] = self.space.value_index(attr, value)[1]
                if (labels[:, a] == targets[:, a]).any():  # already sleeveless: probe with long sleeves
                    long = self.space.attributes[a][1].index("long") if "long" in self.space.attributes[a][1] else 0
                    targets[:, a] = torch.where(labels[:, a] == targets[:, a], long, targets[:, a])
            _, mask = self.generate(x, targets, torch.full_like(labels[:, 0], a))
            return (mask >= threshold).float()

        garment = probe("garment")
        if region == "garment":
            return garment
        sleeves = probe("sleeves")
        if region == "torso":
            return garment * (1 - sleeves)
        # a garment read as sleeveless has no sleeves: its probe ("long") would draw them onto the arms
        return garment * sleeves * (~self.reads_sleeveless(labels)).to(garment.dtype)[:, None, None, None]

    @torch.no_grad()
    def edit(
        self,
        images: torch.Tensor,
        settings: dict[str, str],
        region: str | torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        region_threshold: float | None = None,
    ) -> EditResult:
        """Apply ``settings`` (``{"sleeve": "long", "color": "red"}``) in order to ``images`` (B, 3, H, W) in
        [-1, 1] at the model's size. ``region``: ``sleeves``, ``torso``, ``garment`` or a (B or 1, 1, H, W)
        binary mask: the edits act only there (AMGAN's region-specific manipulation). ``labels`` (B, M):
        the images' current attribute values, when known (else read by the editor's attribute network).
        ``region_threshold``: where a named region's probe mask counts as the region (default: the export's,
        else the paper's 0.9).
        A setting an image already has leaves that image unchanged and is reported in ``notes``."""
        self._check(images)
        order = self.space.parse_settings(settings)
        x = images
        labels = self.read_attributes(x) if labels is None else labels.to(x.device).clone()
        region_mask = None
        if isinstance(region, str):
            region_mask = self.region_mask(x, region, labels, region_threshold)
        elif region is not None:
            region_mask = region.to(x.device, x.dtype).expand(x.shape[0], 1, *x.shape[-2:])
        masks = torch.zeros(x.shape[0], 1, *x.shape[-2:], device=x.device)
        notes: list[list[str]] = [[] for _ in range(x.shape[0])]
        for a, v in order:
            name, values = self.space.attributes[a]
            same = labels[:, a] == v
            for i in torch.nonzero(same).flatten().tolist():
                notes[i].append(f"{name} is already {values[v]}: unchanged")
            targets = labels.clone()
            targets[:, a] = v
            out, mask = self.generate(x, targets, torch.full_like(labels[:, 0], a), region_mask)
            if mask is None:  # no attention: the generator re-synthesises the whole image
                mask = torch.ones_like(out[:, :1])
            keep = same[:, None, None, None]
            x = torch.where(keep, x, out)
            masks = torch.where(keep, masks, torch.maximum(masks, mask.float()))
            labels = targets
        return EditResult(images=x, masks=masks, notes=notes)


def _shipped_classifier(c: dict[str, Any]) -> AttrNet:
    """The shipped attribute network an export references (``extra.classifier.asset``), checked to be
    the very network the editor was trained with (``source.tensor_sha256``: the hash of its values; older
    exports name its weights file's ``sha256``)."""
    from ..registry import load

    source = c.get("source") or {}
    return load(
        f"asset:{c['asset']}",
        tensor_sha256=source.get("tensor_sha256"),
        file_sha256=source.get("sha256"),
        what=f"the shipped attribute network {c['asset']!r}",
    )


def load_editor(
    kind: str, config: dict[str, Any], extra: dict[str, Any], preprocess: Preprocess, model_config: type | None = None
) -> Editor:
    """An untrained editor of an export's architecture (``fashionlab.load`` fills the weights). ``model_config``:
    the class of the export's ``model.*`` config (default :class:`EditModelConfig`; SaGAN's adds its SAN),
    whose ``build_generator`` makes the generator."""
    from .config import EditModelConfig

    model_cfg = from_dict(model_config or EditModelConfig, config)
    attributes = [(n, list(v)) for n, v in extra["attributes"]]
    space = AttributeSpace(attributes)
    classifier = None
    if "classifier" in extra and extra["classifier"].get("asset"):
        classifier = _shipped_classifier(extra["classifier"])
    elif "classifier" in extra:
        c = extra["classifier"]
        classifier = AttrNet(
            [(n, v) for n, v in c["attributes"]],
            from_dict(AttrNetModelConfig, c["config"]),
            [(n, v) for n, v in c.get("region_attributes", [])],
            preprocess=Preprocess.from_dict(c["preprocess"]),
        )
    generator = model_cfg.build_generator(space.code_dim)
    return Editor(kind, attributes, generator, preprocess, classifier, model_cfg.region_threshold)


def infer_editor(editor: Editor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Each image's first attribute set to its next value (labels from the batch)."""
    labels = batch["attributes"]
    name, values = editor.space.attributes[0]
    value = values[(int(labels[0, 0].clamp_min(0)) + 1) % len(values)]
    result = editor.edit(batch["image"], {name: value}, labels=labels)
    return {"image": result.images, "mask": result.masks}
