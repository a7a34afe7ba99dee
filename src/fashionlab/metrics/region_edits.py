"""Region-specific edits (AMGAN's "red sleeves only") scored against SynthFashion's exact ground truth.

For each eligible image (it has sleeves, and the region does not already have the wanted value) the edit
``{attribute: value}`` is applied in one region:

- ``sleeves``: the exact target is ``render(seed, attributes, regions={"sleeves": {attribute: value}})``;
- ``torso``: the garment takes the value everywhere but the sleeves keep theirs,
  ``render(seed, {attribute: value, ...}, regions={"sleeves": {attribute: the sleeves' current value}})``.

The renderer overrides colour and pattern per region, so those two attributes can be region-edited.
The exact region is where the noise-free target rendering differs from the noise-free source rendering.
Each method is run three ways, so the table says what finding the region is worth:

- ``found``: the editor finds the region itself (``Editor.region_mask``: AMGAN's rule, the attention mask
  of a manipulation covering the region thresholded, at the editor's own threshold unless one is given;
  editors with attention only);
- ``exact mask``: the exact region given as the mask (what ``--region MASK.png`` does with a perfect mask);
- ``whole image``: the same edit without a region (the garment-wide edit: how much a region matters).

Metrics per way: L1, PSNR and SSIM (scikit-image's) to the exact target on the whole image, SSIM outside
the exact region (what must not change), and for ``found`` the region mask's IoU with the exact region.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..data.imaging import Preprocess, denormalise, resize_mask, resize_rgb
from ..data.loader import FashionDataset
from ..errors import InputError
from ..parallel import imap
from .editing import ground_truth_scores, mask_iou

REGIONS = ("sleeves", "torso")
#: attributes the renderer can set per region
REGION_ATTRIBUTES = ("color", "pattern")


def region_target(item: Any, region: str, attribute: str, value: str) -> tuple[dict, dict] | None:
    """``(attributes, regions)`` for ``render`` that give the exact result of setting ``attribute`` to
    ``value`` in ``region`` of a SynthFashion ``item``, or ``None`` when the edit does not apply (no
    sleeves, or the region already has the value)."""
    from ..synth.ground_truth import item_render_args

    if region not in REGIONS:
        raise InputError(f"unknown region {region!r}; valid: {', '.join(REGIONS)}", field="region")
    if attribute not in REGION_ATTRIBUTES:
        raise InputError(
            f"region edits are scored for {', '.join(REGION_ATTRIBUTES)} only, got {attribute!r}", field="attribute"
        )
    args = item_render_args(item)
    if args is None:
        raise InputError("not a SynthFashion item: no exact ground truth for region edits")
    attrs, regions = dict(args["attributes"]), {k: dict(v) for k, v in (args["regions"] or {}).items()}
    if attrs.get("sleeve") == "sleeveless":
        return None
    sleeves = regions.get("sleeves", {})
    sleeve_value = sleeves.get(attribute, attrs[attribute])
    if region == "sleeves":
        if sleeve_value == value:
            return None
        regions["sleeves"] = {**sleeves, attribute: value}
        return attrs, regions
    if attrs[attribute] == value:
        return None
    regions["sleeves"] = {**sleeves, attribute: sleeve_value}
    return {**attrs, attribute: value}, regions


def exact_region_edit(item: Any, target: tuple[dict, dict], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The exact result of a region edit of a SynthFashion ``item`` (``target``: :func:`region_target`'s
    ``(attributes, regions)``) rendered at ``size``: (image (H, W, 3) uint8, the pixels it changes (H, W)
    bool, from the noise-free renderings before and after)."""
    from ..synth.ground_truth import item_render_args
    from ..synth.render import render

    args = item_render_args(item)
    kw = dict(size=size, framing=args["framing"], pose=args["pose"])
    image = render(args["seed"], target[0], regions=target[1], **kw).image
    before = render(args["seed"], args["attributes"], regions=args["regions"], noise=False, **kw).image
    after = render(args["seed"], target[0], regions=target[1], noise=False, **kw).image
    return image, (before != after).any(-1)


def _render_region_job(job):
    item, target, native, size, mode = job
    image, region = exact_region_edit(item, target, native)
    return resize_rgb(image, size, mode), resize_mask(region.astype(np.uint8), size, mode).astype(bool)


@dataclass
class RegionReport:
    """One method's figures for one region edit; ``ways``: way -> metric -> value."""

    name: str
    region: str
    setting: str
    n_edits: int
    ways: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RegionEditEvaluation:
    """The images, exact targets and regions of one region edit, shared by the methods compared."""

    def __init__(
        self,
        data: str,
        preprocess: Preprocess,
        region: str,
        attribute: str = "color",
        value: str = "red",
        *,
        split: str = "test",
        limit: int = 200,
        workers: int = 1,
        progress: bool = True,
    ):
        from ..synth.ground_truth import is_synthfashion

        ds = FashionDataset(data, split=split, size=preprocess.size, resize=preprocess.resize, progress=progress)
        if not is_synthfashion(ds.schema, ds.items[:1]):
            raise InputError("region edits are scored against exact ground truth: a SynthFashion dataset", path=data)
        if attribute not in ds.attribute_names:
            raise InputError(f"the dataset has no attribute {attribute!r}", path=data, field="attribute")
        values = ds.specs[ds.attribute_names.index(attribute)].values
        if value not in values:
            raise InputError(f"{attribute} has no value {value!r}; valid: {', '.join(values)}", field="value")
        self.region, self.attribute, self.value, self.progress = region, attribute, value, progress
        rows, targets = [], []
        for i in range(len(ds)):
            t = region_target(ds.items[i], region, attribute, value)
            if t is not None:
                rows.append(i)
                targets.append(t)
            if len(rows) == limit:
                break
        if not rows:
            raise InputError(f"no {split!r} image of {data} can take {attribute}={value} in the {region}", path=data)
        self.rows = np.asarray(rows)
        self.images = torch.stack([ds[i]["image"] for i in rows])
        self.labels = torch.from_numpy(ds.labels[self.rows].copy())
        native = tuple(ds.schema.image_size)
        jobs = (
            (ds.items[i], t, native, preprocess.size, preprocess.resize) for i, t in zip(rows, targets, strict=True)
        )
        done = list(
            tqdm(
                imap(_render_region_job, jobs, workers, 16),
                total=len(rows),
                desc="region targets",
                disable=not progress,
            )
        )
        self.targets_uint8 = np.stack([d[0] for d in done])
        self.exact_regions = np.stack([d[1] for d in done])

    @property
    def setting(self) -> str:
        return f"{self.attribute}={self.value} in the {self.region}"

    def _score(self, outs: np.ndarray, masks: np.ndarray | None = None) -> dict[str, float]:
        per = ground_truth_scores(outs, self.targets_uint8, self.exact_regions)
        scores = {metric: float(np.nanmean(values)) for metric, values in per.items()}
        if masks is not None:
            scores["region_iou"] = float(np.mean(mask_iou(masks, self.exact_regions)))
        return scores

    def reference(self, name: str) -> RegionReport:
        """The floor and ceiling rows: ``identity`` (output = input) or ``ground truth``."""
        if name == "identity":
            outs = denormalise(self.images)
        elif name == "ground truth":
            outs = self.targets_uint8
        else:
            raise ValueError(name)
        return RegionReport(name, self.region, self.setting, len(self.rows), {"-": self._score(outs)})

    @torch.no_grad()
    def run(
        self, editor, name: str, batch_size: int = 64, threshold: float | None = None
    ) -> tuple[RegionReport, dict[str, np.ndarray]]:
        """Score a loaded editor (``fashionlab.load``) the three ways; returns the report and each way's
        edited images (n, H, W, 3) uint8. ``threshold``: the found region's (``Editor.region_mask``; default:
        the editor's own)."""
        ways = ["found", "exact mask", "whole image"] if editor.has_attention else ["exact mask", "whole image"]
        settings = {self.attribute: self.value}
        report = RegionReport(name, self.region, self.setting, len(self.rows))
        images: dict[str, np.ndarray] = {}
        for way in ways:
            outs, masks = [], []
            for s in tqdm(range(0, len(self.rows), batch_size), desc=f"{name} {way}", disable=not self.progress):
                x, labels = self.images[s : s + batch_size], self.labels[s : s + batch_size]
                region: Any = None
                if way == "found":
                    region = editor.region_mask(x, self.region, labels, threshold)
                    masks.append(region[:, 0].float().numpy())
                elif way == "exact mask":
                    region = torch.from_numpy(self.exact_regions[s : s + batch_size]).float()[:, None]
                result = editor.edit(x, settings, region=region, labels=labels)
                outs.append(denormalise(result.images.float().clamp(-1, 1)))
            images[way] = np.concatenate(outs)
            report.ways[way] = self._score(images[way], np.concatenate(masks) if masks else None)
        return report, images


def region_table(reports: list[RegionReport]) -> str:
    """One markdown table (rows: method and way)."""
    head = ["method", "way", "GT L1", "GT PSNR", "GT SSIM", "GT SSIM outside region", "region IoU"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        for way, s in r.ways.items():
            iou = f"{s['region_iou']:.3f}" if "region_iou" in s else "-"
            lines.append(
                f"| {r.name} | {way} | {s['l1']:.4f} | {s['psnr']:.2f} | {s['ssim']:.4f} | "
                f"{s['ssim_outside']:.4f} | {iou} |"
            )
    return "\n".join(lines)


__all__ = ["RegionEditEvaluation", "RegionReport", "exact_region_edit", "region_table", "region_target"]
