"""``fashionlab eval pose``: re-posing models scored with the pose papers' protocol on a dataset's test pairs.

For each test pair (source image, source pose, target pose; the target image is the reference, and on
SynthFashion it is the exact ground truth of the re-posing) every method makes an image, scored by:

- ``ssim``: SSIM to the target image exactly as the official ``getMetrics_*.py`` (:func:`.pose.pose_ssim`);
- ``mask_ssim``: the same within the target pose's person mask (:func:`.pose.mask_ssim`, Market's);
- ``l1``: mean absolute error in [0, 1] units (half the official ``l1_score``, which works in [-1, 1]);
- ``pckh``: the keypoint estimator run on the generated image against the target pose (:func:`.pose.pckh`);
- ``fid_like``: the Frechet distance between the evaluator's pooled conv features of the generated images
  and of the real target images (an IS / FID stand-in in our own feature space, named so);
- ``preservation``: the share of garment attributes the independent attribute evaluator reads on the
  result as it reads them on the source image (per attribute and their mean).

Two reference rows come with every table: ``identity`` (output = source image: how far the pairs' poses are
apart; what a model must beat) and ``ground truth`` (output = target image: the keypoint estimator's own PCKh,
the ceiling of every model's, and the evaluator's self-agreement). The pairs are a fixed, seeded sample of
the split's pairs; their keypoint displacement (in head sizes) is reported with the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..data.imaging import denormalise
from ..data.loader import collate
from ..data.pairs import PosePairDataset, pair_displacement
from .editing import _evaluator_outputs, frechet_distance
from .pose import l1, mask_ssim, pckh, pose_mask, pose_ssim

#: a method: a batch of pose pairs (``PosePairDataset`` items, collated) -> (B, 3, H, W) images in [-1, 1]
PoseMethod = Callable[[dict[str, Any]], torch.Tensor]


def identity_method(batch: dict[str, Any]) -> torch.Tensor:
    """Output = the source image (the pairs' difficulty: the floor a model must beat)."""
    return batch["source_image"]


def ground_truth_method(batch: dict[str, Any]) -> torch.Tensor:
    """Output = the target image (the ceiling: the keypoint estimator's and evaluator's own scores)."""
    return batch["target_image"]


def reposer_method(model) -> PoseMethod:
    """A loaded re-posing model (:class:`~fashionlab.models.reposing.reposer.Reposer`) as a method, fed the
    dataset's keypoints for both poses (as the official test scripts feed the annotated poses)."""
    return lambda batch: model.generate(batch["source_image"], batch["source_keypoints"], batch["target_keypoints"])


@dataclass
class PoseReport:
    """One method's scores (means over the pairs; ``per_pair`` keeps the per-pair arrays)."""

    name: str
    pairs: int
    ssim: float
    mask_ssim: float
    l1: float
    pckh: float
    pckh_counts: dict[str, int]
    fid_like: float
    preservation: dict[str, float] = field(default_factory=dict)
    per_pair: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "per_pair"}


class PoseEvaluation:
    """Score re-posing methods on ``pairs`` fixed test pairs of ``data`` (see the module docstring).

    ``keypoint_net``: a loaded keypoint estimator (PCKh); ``evaluator``: a loaded attribute network (FID-like
    and preservation; None skips both)."""

    def __init__(
        self,
        data: str,
        size: tuple[int, int],
        keypoint_net,
        evaluator=None,
        split: str = "test",
        pairs: int = 1000,
        batch_size: int = 32,
        seed: int = 0,
        resize: str = "fit",
        progress: bool = True,
    ):
        self.dataset = PosePairDataset(data, split=split, size=size, resize=resize, progress=progress)
        n = min(pairs, len(self.dataset)) if pairs > 0 else len(self.dataset)
        self.order = np.sort(np.random.default_rng(seed).permutation(len(self.dataset))[:n])
        self.keypoint_net, self.evaluator = keypoint_net, evaluator
        self.batch_size, self.progress = batch_size, progress
        src = np.stack([self.dataset.keypoints(int(self.dataset.pairs[k, 0])).numpy() for k in self.order])
        tgt = np.stack([self.dataset.keypoints(int(self.dataset.pairs[k, 1])).numpy() for k in self.order])
        self.target_keypoints = tgt
        #: per pair, how far the keypoints move from source to target, in head sizes of the target
        self.displacement = pair_displacement(src, tgt)
        h, w = self.dataset.size
        self.masks = np.stack([pose_mask(k, h, w) for k in tgt])
        self._reference: dict[str, np.ndarray] | None = None

    def batches(self):
        for start in range(0, len(self.order), self.batch_size):
            yield collate([self.dataset[int(k)] for k in self.order[start : start + self.batch_size]])

    def displacement_summary(self) -> dict[str, float]:
        d = self.displacement[np.isfinite(self.displacement)]
        if not len(d):
            return {}
        q = np.percentile(d, [10, 50, 90])
        return {"mean": float(d.mean()), "p10": float(q[0]), "median": float(q[1]), "p90": float(q[2])}

    def _attributes(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        dev = next(self.evaluator.parameters()).device
        preds, _, pooled = _evaluator_outputs(self.evaluator, x.to(dev))
        return preds.numpy(), pooled.numpy()

    def _references(self) -> dict[str, np.ndarray]:
        """The evaluator's readings of the source images and its features of the real target images."""
        if self._reference is None:
            readings, features = [], []
            for batch in self.batches():
                readings.append(self._attributes(batch["source_image"])[0])
                features.append(self._attributes(batch["target_image"])[1])
            self._reference = {"source_readings": np.concatenate(readings), "target_features": np.concatenate(features)}
        return self._reference

    @torch.no_grad()
    def run(self, name: str, method: PoseMethod) -> PoseReport:
        """Score one method on the fixed pairs."""
        outs, predictions, readings, features = [], [], [], []
        targets = []
        bar = tqdm(total=len(self.order), desc=f"eval pose {name}", unit="pair", disable=not self.progress)
        for batch in self.batches():
            images = method(batch).float().cpu().clamp(-1, 1)
            outs.append(denormalise(images))
            targets.append(denormalise(batch["target_image"]))
            dev = next(self.keypoint_net.parameters()).device
            predictions.append(self.keypoint_net.predict(images.to(dev)).cpu().numpy())
            if self.evaluator is not None:
                r, f = self._attributes(images)
                readings.append(r)
                features.append(f)
            bar.update(len(images))
        bar.close()
        gen, tgt = np.concatenate(outs), np.concatenate(targets)
        ssims = pose_ssim(gen, tgt)
        mssims = mask_ssim(gen, tgt, self.masks)
        l1s = np.array([l1(g, t) for g, t in zip(gen, tgt, strict=True)])
        p = pckh(np.concatenate(predictions), self.target_keypoints)
        fid, preservation = float("nan"), {}
        if self.evaluator is not None:
            ref = self._references()
            fid = frechet_distance(
                np.concatenate(features).astype(np.float64), ref["target_features"].astype(np.float64)
            )
            kept = np.concatenate(readings) == ref["source_readings"]
            names = [n for n, _ in self.evaluator.attributes]
            preservation = {n: float(kept[:, a].mean()) for a, n in enumerate(names)}
            preservation["mean"] = float(kept.mean())
        return PoseReport(
            name=name,
            pairs=len(gen),
            ssim=float(np.mean(ssims)),
            mask_ssim=float(np.mean(mssims)),
            l1=float(l1s.mean()),
            pckh=float(p["pckh"]),
            pckh_counts={k: int(v) for k, v in p.items() if k != "pckh"},
            fid_like=fid,
            preservation=preservation,
            per_pair={"ssim": ssims.tolist(), "mask_ssim": np.asarray(mssims).tolist(), "l1": l1s.tolist()},
        )


def pose_table(reports: list[PoseReport]) -> str:
    """One markdown table of pose reports (rows: methods)."""

    def num(v: float, fmt: str) -> str:
        return "-" if v is None or not np.isfinite(v) else format(v, fmt)

    head = ["method", "SSIM", "Mask-SSIM", "L1", "PCKh", "FID-like", "attribute preservation"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        row = [r.name, num(r.ssim, ".4f"), num(r.mask_ssim, ".4f"), num(r.l1, ".4f"), num(r.pckh, ".3f")]
        row += [num(r.fid_like, ".2f"), num(100 * r.preservation["mean"], ".1f") + "%" if r.preservation else "-"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
