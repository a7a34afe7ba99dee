"""Pose pairs as training and test samples: (source image, target image, both poses) of one person.

A dataset with pose pairs (``pairs-<split>.csv``, written by ``fashionlab data synth --poses-per-person K``
or the ``pose-pairs`` importer for Market-1501 / DeepFashion In-shop) gives one sample per listed pair. As
in the official XingGAN / PATN code an "epoch" is a run over random pairs; here the order comes from the
trainer's deterministic sampler, and the pair list and the split are fixed by the dataset.

The pose heatmaps are not stored: :func:`fashionlab.data.keypoints.heatmaps_torch` makes them from the keypoints of a
batch on the fly (18 Gaussians of ``sigma`` 6 pixels, an all-zero channel for a missing point; 0.24 ms for a
batch of 8 at 128x64 on one thread, ``bench/bench_pose_speed.py heatmaps``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from .keypoints import HEAD_POINTS
from .loader import FashionDataset


class PosePairDataset(Dataset):
    """The pose pairs of one split. Item ``k`` is a dict: ``source_image`` and ``target_image`` float32
    (3, H, W) in [-1, 1]; ``source_keypoints`` and ``target_keypoints`` float32 (18, 2) in the packed
    images' pixels (-1 missing); ``attributes`` int64 (A,) of the source item; ``source_index`` /
    ``target_index`` (positions in :attr:`items`) and ``source_id`` / ``target_id``; with ``with_masks``
    also ``source_mask`` / ``target_mask`` uint8 (H, W) region bits (SynthFashion's: bit 0 is the person)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        size: tuple[int, int] | None = None,
        resize: str = "fit",
        progress: bool = True,
        with_masks: bool = False,
    ):
        self.images = FashionDataset(
            root, split=split, size=size, resize=resize, with_keypoints=True, with_masks=with_masks, progress=progress
        )
        self.with_masks = with_masks
        self.root = self.images.root
        self.size = self.images.size
        position = {item.id: k for k, item in enumerate(self.images.items)}
        pairs = self.images.ds.pairs(split)
        if not pairs:
            raise InputError(
                f"no pose pairs for split {split!r} (pairs-{split}.csv); make them with "
                "'fashionlab data synth --poses-per-person 4' or the pose-pairs importer",
                path=self.root,
            )
        unknown = [(a, b) for a, b in pairs if a not in position or b not in position]
        if unknown:
            a, b = unknown[0]
            raise InputError(
                f"{len(unknown)} pose pair(s) name items that are not in split {split!r}, e.g. {a},{b}",
                path=self.root / f"pairs-{split}.csv",
            )
        self.pairs = np.asarray([(position[a], position[b]) for a, b in pairs], np.int64).reshape(-1, 2)
        self._keypoints: torch.Tensor | None = None

    @property
    def items(self):
        """The split's items (the images the pairs point to)."""
        return self.images.items

    def __len__(self) -> int:
        return len(self.pairs)

    def keypoints(self, index: int) -> torch.Tensor:
        """(18, 2) keypoints of item ``index`` of the split, in the packed images' pixels."""
        if self._keypoints is None:
            self._keypoints = torch.stack(
                [self.images._scale_keypoints(it.keypoints, k) for k, it in enumerate(self.images.items)]
            )
        return self._keypoints[index]

    def __getitem__(self, k: int) -> dict[str, Any]:
        source, target = (int(i) for i in self.pairs[k])
        src, tgt = self.images[source], self.images[target]
        return {
            "source_image": src["image"],
            "target_image": tgt["image"],
            "source_keypoints": src["keypoints"],
            "target_keypoints": tgt["keypoints"],
            "attributes": src["attributes"],
            "source_index": source,
            "target_index": target,
            "source_id": src["id"],
            "target_id": tgt["id"],
            **({"source_mask": src["mask"], "target_mask": tgt["mask"]} if self.with_masks else {}),
        }


def head_size(keypoints: np.ndarray) -> np.ndarray:
    """Per pose of ``(N, 18, 2)`` keypoints, the head size PCKh normalises by: the larger side of the
    bounding box of the visible head points (nose, neck, eyes, ears); NaN with fewer than two."""
    kps = np.asarray(keypoints, np.float64)
    head = kps[:, list(HEAD_POINTS)]
    visible = (head >= 0).all(-1)
    out = np.full(len(kps), np.nan)
    for n in range(len(kps)):
        pts = head[n][visible[n]]
        if len(pts) >= 2:
            out[n] = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))
    return out


def pair_displacement(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per pair of ``(N, 18, 2)`` poses, the mean distance a keypoint moves from the source to the target
    image, in head sizes of the target (points visible in both; NaN where none or no head box)."""
    src, tgt = np.asarray(source, np.float64), np.asarray(target, np.float64)
    both = (src >= 0).all(-1) & (tgt >= 0).all(-1)
    dist = np.linalg.norm(src - tgt, axis=-1)
    with np.errstate(invalid="ignore"):
        mean = np.where(both.any(1), (dist * both).sum(1) / np.maximum(both.sum(1), 1), np.nan)
    return mean / head_size(tgt)
