"""The torch side of datasets: a Dataset over the packed cache and a deterministic sharded sampler."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import InputError
from .format import UNKNOWN, load_dataset
from .geometry import MISSING, Placement
from .imaging import normalise
from .pack import open_pack


class FashionDataset(Dataset):
    """Items of one split of a fashionlab dataset, read from the packed cache (built on first use).

    Each item is a dict: ``image`` float32 (3, H, W) in [-1, 1]; ``attributes`` int64 (A,) value indices
    (-1 unknown); ``index`` and ``id``; with ``with_masks`` a uint8 (H, W) ``mask`` of region bits; with
    ``with_keypoints`` float32 (18, 2) ``keypoints`` in packed pixels (-1 stays -1), moved as the pixels were.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = "train",
        size: tuple[int, int] | None = None,
        resize: str = "fit",
        with_masks: bool = False,
        with_keypoints: bool = False,
        attributes: list[str] | None = None,
        progress: bool = True,
    ):
        self.root = Path(root)
        self.ds = load_dataset(self.root)
        self.schema = self.ds.schema
        if split is not None and split not in self.schema.splits:
            raise InputError(f"unknown split {split!r}; this dataset has {self.schema.splits}", path=self.root)
        names = attributes or self.schema.attribute_names
        self.specs = [self.schema.attribute(n) for n in names]
        self.pack = open_pack(self.root, size, resize, progress=progress)
        self.size = tuple(self.pack.images.shape[1:3])
        positions = [k for k, it in enumerate(self.ds.items) if split is None or it.split == split]
        self.positions = np.asarray(positions, np.int64)
        self.items = [self.ds.items[k] for k in positions]
        self.labels = np.asarray(
            [[s.index(it.attributes.get(s.name, UNKNOWN)) for s in self.specs] for it in self.items], np.int64
        ).reshape(len(self.items), len(self.specs))
        from .regions import region_attribute_name, region_attribute_specs, region_labels

        #: region attributes (``sleeves.color`` ...) with their values; their labels come as "region_attributes"
        self.region_attributes = [
            (region_attribute_name(r, a), list(spec.values))
            for r, a, spec in region_attribute_specs(self.schema, self.ds.items)
        ]
        self.region_labels = np.asarray(region_labels(self.items, self.region_attributes), np.int64).reshape(
            len(self.items), len(self.region_attributes)
        )
        if with_masks and self.pack.masks is None:
            raise InputError("this dataset has no masks", path=self.root)
        self.with_masks, self.with_keypoints = with_masks, with_keypoints
        if with_keypoints and not self.schema.annotations.keypoints:
            raise InputError("this dataset has no keypoints", path=self.root)
        self.resize = resize

    @property
    def attribute_names(self) -> list[str]:
        return [s.name for s in self.specs]

    def __len__(self) -> int:
        return len(self.items)

    def value_counts(self) -> dict[str, dict[str, int]]:
        """Per attribute, how many items of this split have each value (and ``unknown``)."""
        out = {}
        for a, s in enumerate(self.specs):
            c = Counter(self.labels[:, a].tolist())
            out[s.name] = {(s.values[v] if v >= 0 else UNKNOWN): n for v, n in sorted(c.items())}
        return out

    def _scale_keypoints(self, kps: list[list[float]] | None, k: int) -> torch.Tensor:
        """Item ``k``'s keypoints in the packed image's pixels: moved exactly as the pack's resize moved the
        pixels (:class:`~fashionlab.data.geometry.Placement`, pixel centres aligned). Points cropped away lie
        outside the frame; a point with a negative coordinate is missing (-1). (Before issue #14 this used the
        unrounded scale and offset and no pixel-centre shift: off by ``(1 - s) / 2`` px when scaling by ``s``,
        0.25 px for a halving, more with fit's whole-pixel offset or an extreme aspect.)"""
        if kps is None:
            return torch.full((18, 2), -1.0)
        arr = np.asarray(kps, np.float32)
        item = self.items[k]
        h0, w0 = self.schema.image_size or (None, None)
        if h0 is None:  # variable-size dataset: the original size is needed
            from PIL import Image

            with Image.open(self.ds.image_path(item)) as im:
                w0, h0 = im.size
        out = Placement.of((h0, w0), self.size, self.resize).to_target(arr).astype(np.float32)
        out[(arr < 0).any(axis=1)] = MISSING
        return torch.from_numpy(out)

    def __getitem__(self, k: int) -> dict[str, Any]:
        p = int(self.positions[k])
        img = normalise(np.array(self.pack.images[p]))
        out: dict[str, Any] = {
            "image": img,
            "attributes": torch.from_numpy(self.labels[k].copy()),
            "region_attributes": torch.from_numpy(self.region_labels[k].copy()),
            "index": k,
            "id": self.items[k].id,
        }
        if self.with_masks:
            out["mask"] = torch.from_numpy(np.array(self.pack.masks[p]))
        if self.with_keypoints:
            out["keypoints"] = self._scale_keypoints(self.items[k].keypoints, k)
        return out


class ShardedInfiniteSampler(Sampler[int]):
    """Endless indices: epoch ``e`` is a permutation seeded by (seed, e); process ``rank`` of
    ``world_size`` takes every ``world_size``-th index of it (wrapped so all ranks get equal counts).
    ``start`` skips that many of this rank's samples, so training resumes mid-epoch exactly."""

    def __init__(
        self,
        n: int,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        start: int = 0,
        shuffle: bool = True,
    ):
        if n <= 0:
            raise InputError("cannot sample from an empty dataset")
        if world_size is None:
            world_size = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if rank is None:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self.n, self.seed, self.rank, self.world_size, self.shuffle = n, seed, rank, world_size, shuffle
        self.per_rank = -(-n // world_size)
        self.yielded = start

    def _epoch(self, e: int) -> np.ndarray:
        order = np.random.default_rng([self.seed, e]).permutation(self.n) if self.shuffle else np.arange(self.n)
        total = self.per_rank * self.world_size
        order = np.resize(order, total)  # wrap
        return order[self.rank :: self.world_size]

    def __iter__(self):
        while True:
            e, offset = divmod(self.yielded, self.per_rank)
            mine = self._epoch(e)
            for i in range(offset, self.per_rank):
                self.yielded += 1
                yield int(mine[i])

    def state_dict(self) -> dict[str, int]:
        return {"yielded": self.yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.yielded = int(state["yielded"])


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch a list of item dicts: tensors are stacked, numbers become a tensor, anything else a list."""
    out: dict[str, Any] = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        if isinstance(vals[0], torch.Tensor):
            out[k] = torch.stack(vals)
        elif isinstance(vals[0], int | float):
            out[k] = torch.tensor(vals)
        else:
            out[k] = vals
    return out


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int = 0,
    rank: int | None = None,
    world_size: int | None = None,
    num_workers: int = 0,
    start_sample: int = 0,
) -> DataLoader:
    """An endless DataLoader over ``dataset`` (per-process ``batch_size``), deterministic in ``seed``."""
    sampler = ShardedInfiniteSampler(len(dataset), seed, rank, world_size, start=start_sample)
    # its own generator: creating an iterator must not draw from the global torch RNG (exact resume)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        drop_last=True,
        persistent_workers=num_workers > 0,
        generator=gen,
    )
