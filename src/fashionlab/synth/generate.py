"""Write SynthFashion datasets in the fashionlab format, in parallel, with ground-truth metadata.

Every item records the seed, pose and framing it was rendered from (``extra``), so any edit of it can
be re-rendered exactly: ``render(extra["seed"], edited_attributes, Pose.from_dict(extra["pose"]))``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..data.format import (
    Annotations,
    DatasetSchema,
    DatasetWriter,
    Item,
)
from ..data.imaging import save_png
from ..errors import InputError
from ..parallel import imap
from .attributes import ATTRIBUTES, MASK_BITS, REGION_ATTRIBUTES, attribute_specs, validate_attributes
from .figure import FRAMINGS, POSE_RANGES, Pose
from .ground_truth import SYNTH_GENERATOR
from .render import render


@dataclass
class SynthConfig:
    """Options of ``fashionlab data synth``."""

    n: int = 20000  # images (with pose pairs: people x poses_per_person)
    size: tuple[int, int] = (128, 128)  # (height, width)
    framing: str | None = None  # "upper" | "full"; default by aspect (full when taller than wide)
    seed: int = 0  # dataset seed: everything follows from it
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train / val / test
    holdout: list[dict[str, str]] = field(default_factory=list)  # combinations never rendered in train
    region_mix: float = 0.0  # share of sleeved garments whose sleeves get their own colour/pattern
    poses_per_person: int = 1  # > 1 writes pose pairs (all ordered pairs of a person's poses)
    pose_range: str | None = None  # "standard" | "wide" (Pose.sample); default: wide for pose pairs, else standard
    workers: int = 0  # processes (0: one per CPU core)
    name: str = "synthfashion"

    def validate(self) -> None:
        h, w = self.size
        if not (16 <= h <= 1024 and 16 <= w <= 1024):
            raise InputError(f"size {h}x{w} out of range (16..1024)", field="size")
        if self.n < 1:
            raise InputError("n must be at least 1", field="n")
        if self.framing is not None and self.framing not in FRAMINGS:
            raise InputError(f"unknown framing {self.framing!r}; valid: {', '.join(FRAMINGS)}", field="framing")
        fr = self.split_fractions
        if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1) > 1e-6:
            raise InputError(
                f"split fractions must be 3 non-negative numbers summing to 1, got {fr}", field="split_fractions"
            )
        for combo in self.holdout:
            validate_attributes(combo, complete=False, where="holdout")
            if len(combo) < 1:
                raise InputError("an empty holdout combination would hold out everything", field="holdout")
        if not 0 <= self.region_mix <= 1:
            raise InputError("region_mix must be in [0, 1]", field="region_mix")
        if self.poses_per_person < 1:
            raise InputError("poses_per_person must be >= 1", field="poses_per_person")
        if self.pose_range is not None and self.pose_range not in POSE_RANGES:
            raise InputError(
                f"unknown pose range {self.pose_range!r}; valid: {', '.join(POSE_RANGES)}", field="pose_range"
            )

    @property
    def poses(self) -> str:
        """The pose range used: ``pose_range``, or wide for pose pairs and standard otherwise."""
        return self.pose_range or ("wide" if self.poses_per_person > 1 else "standard")


def item_seed(dataset_seed: int, person: int) -> int:
    """The render seed of person ``person`` of a dataset (well mixed, stable)."""
    return int(np.random.SeedSequence([dataset_seed, person]).generate_state(1, np.uint64)[0] >> 1)


def _matches(attrs: dict[str, str], combo: dict[str, str]) -> bool:
    return all(attrs.get(k) == v for k, v in combo.items())


def plan_person(cfg: SynthConfig, person: int, split: str) -> dict[str, Any]:
    """Decide everything about one person (seed, garment, region overrides) without rendering."""
    seed = item_seed(cfg.seed, person)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, person, 7]))
    for _ in range(1000):
        attrs = {name: values[int(rng.integers(len(values)))] for name, values in ATTRIBUTES.items()}
        if split != "train" or not any(_matches(attrs, c) for c in cfg.holdout):
            break
    else:  # pragma: no cover - validate() forbids combos that cover everything in practice
        raise InputError("holdout combinations leave nothing to render in train", field="holdout")
    regions: dict[str, dict[str, str]] = {}
    if cfg.region_mix > 0 and attrs["sleeve"] != "sleeveless" and rng.random() < cfg.region_mix:
        own = {k: ATTRIBUTES[k][int(rng.integers(len(ATTRIBUTES[k])))] for k in REGION_ATTRIBUTES}
        if any(own[k] != attrs[k] for k in own):
            regions["sleeves"] = own
    return {"person": person, "seed": seed, "attributes": attrs, "regions": regions, "split": split}


def _split_of(cfg: SynthConfig, people: int) -> list[str]:
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1]))
    order = rng.permutation(people)
    n_train = int(round(cfg.split_fractions[0] * people))
    n_val = int(round(cfg.split_fractions[1] * people))
    splits = ["test"] * people
    for rank, p in enumerate(order):
        splits[p] = "train" if rank < n_train else ("val" if rank < n_train + n_val else "test")
    return splits


def _render_person(job: tuple[dict[str, Any], SynthConfig, str]) -> list[dict[str, Any]]:
    plan, cfg, root = job
    framing = cfg.framing or ("full" if cfg.size[0] > cfg.size[1] else "upper")
    out = []
    for k in range(cfg.poses_per_person):
        pose = Pose.sample(plan["seed"], framing, variant=k, pose_range=cfg.poses)
        r = render(plan["seed"], plan["attributes"], pose, size=cfg.size, framing=framing, regions=plan["regions"])
        stem = f"{plan['person']:07d}" + (f"_{k}" if cfg.poses_per_person > 1 else "")
        save_png(Path(root) / "images" / f"{stem}.png", r.image)
        save_png(Path(root) / "masks" / f"{stem}.png", r.mask)
        kps = [[round(float(x), 2), round(float(y), 2)] for x, y in r.keypoints]
        item = Item(
            id=stem,
            path=f"images/{stem}.png",
            split=plan["split"],
            attributes=plan["attributes"],
            keypoints=kps,
            mask=f"masks/{stem}.png",
            identity=f"p{plan['person']:07d}" if cfg.poses_per_person > 1 else None,
            region_attributes=plan["regions"] or None,
            extra={"seed": plan["seed"], "pose": pose.to_dict(), "framing": framing, "pose_range": cfg.poses},
        )
        out.append(asdict(item))
    return out


def synth_schema(cfg: SynthConfig) -> DatasetSchema:
    return DatasetSchema(
        name=cfg.name,
        attributes=attribute_specs(),
        image_size=tuple(cfg.size),
        annotations=Annotations(
            keypoints=True,
            masks=dict(MASK_BITS),
            identity=cfg.poses_per_person > 1,
            region_attributes=["sleeves"] if cfg.region_mix > 0 else [],
        ),
        source={"generator": SYNTH_GENERATOR, "config": {**asdict(cfg), "size": list(cfg.size)}},
    )


def generate_dataset(out: str | Path, cfg: SynthConfig, *, progress: bool = True) -> Path:
    """Render a SynthFashion dataset into the new folder ``out`` and return it.

    ``cfg.n`` is the number of images; with ``poses_per_person = K > 1`` it renders ``ceil(n / K)``
    people in K poses each and writes every ordered pair of a person's poses as a pose pair.
    """
    cfg.validate()
    people = -(-cfg.n // cfg.poses_per_person)
    splits = _split_of(cfg, people)
    writer = DatasetWriter(out, synth_schema(cfg))
    try:
        (writer.root / "images").mkdir()
        (writer.root / "masks").mkdir()
        jobs = [(plan_person(cfg, p, splits[p]), cfg, str(writer.root)) for p in range(people)]
        workers = cfg.workers or (os.cpu_count() or 1)
        rows = _run(jobs, workers, progress, total=people)
        for batch in rows:
            for d in batch:
                writer.add(Item(**d))
            if cfg.poses_per_person > 1:
                ids = [d["id"] for d in batch]
                writer.add_pairs(batch[0]["split"], [(a, b) for a in ids for b in ids if a != b])
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def _run(jobs: list, workers: int, progress: bool, total: int) -> Iterator[list[dict[str, Any]]]:
    bar = tqdm(total=total, desc="rendering", unit="person", disable=not progress, smoothing=0.1)
    results: list[list[dict[str, Any]]] = []
    for res in imap(_render_person, jobs, 1 if len(jobs) < 64 else workers, chunksize=32):
        results.append(res)
        bar.update(1)
    bar.close()
    return iter(results)
