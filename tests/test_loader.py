"""The packed cache and the torch loader: round trip, staleness, corrupt files, sharding, resume."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fashionlab.data.format import AttributeSpec, DatasetSchema, DatasetWriter, Item
from fashionlab.data.imaging import load_rgb, normalise, resize_rgb
from fashionlab.data.loader import FashionDataset, ShardedInfiniteSampler, make_loader
from fashionlab.data.pack import open_pack, pack_dataset
from fashionlab.errors import ProblemList


def make(tmp_path, n=10, size=(16, 16), name="ds", sizes=None):
    schema = DatasetSchema(
        name="t", attributes=[AttributeSpec("color", ["red", "blue"])], image_size=None if sizes else size
    )
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / name, schema) as w:
        (w.root / "images").mkdir()
        for i in range(n):
            h, w_ = sizes[i] if sizes else size
            Image.fromarray(rng.integers(0, 255, (h, w_, 3), np.uint8)).save(w.root / f"images/{i}.png")
            w.add(
                Item(
                    id=str(i),
                    path=f"images/{i}.png",
                    split="train" if i < n - 2 else "val",
                    attributes={"color": ["red", "blue", "unknown"][i % 3]},
                )
            )
    return tmp_path / name


def test_pack_round_trip_and_dataset_items(tmp_path):
    root = make(tmp_path)
    pack = open_pack(root, progress=False)
    assert pack.images.shape == (10, 16, 16, 3) and not pack.images.flags.writeable
    src = np.array(Image.open(root / "images/3.png"))
    assert np.array_equal(pack.images[3], src)
    ds = FashionDataset(root, split="train", progress=False)
    assert len(ds) == 8
    it = ds[3]
    assert it["image"].shape == (3, 16, 16) and it["image"].dtype == torch.float32
    assert float(it["image"].min()) >= -1 and float(it["image"].max()) <= 1
    assert torch.allclose((it["image"] + 1) * 127.5, torch.from_numpy(src).permute(2, 0, 1).float(), atol=1e-3)
    assert ds[2]["attributes"].tolist() == [-1]  # unknown
    assert ds.value_counts()["color"] == {"red": 3, "blue": 3, "unknown": 2}


def test_stale_pack_is_rebuilt(tmp_path):
    root = make(tmp_path)
    p1 = pack_dataset(root, progress=False)
    stamp = (p1 / "index.json").stat().st_mtime_ns
    assert pack_dataset(root, progress=False) == p1 and (p1 / "index.json").stat().st_mtime_ns == stamp
    lines = (root / "items.jsonl").read_text().splitlines()[:-1]
    (root / "items.jsonl").write_text("\n".join(lines) + "\n")
    pack = open_pack(root, progress=False)
    assert pack.images.shape[0] == 9


@pytest.mark.parametrize("when", ["before the check", "between the check and the rename"])
def test_a_pack_made_meanwhile_by_another_process_is_used(tmp_path, monkeypatch, when):
    """Two trainings started at once on fresh data both pack it; the one that finishes second uses the first's
    pack instead of failing (it did: "Directory not empty" from the rename) or deleting a pack in use."""
    import fashionlab.data.pack as pack_module

    root = make(tmp_path)
    theirs = pack_dataset(root, progress=False)  # what the other process wrote
    saved = tmp_path / "theirs"
    shutil.copytree(theirs, saved)
    shutil.rmtree(theirs)
    real_replace, real_current = os.replace, pack_module._is_current
    calls = {"current": 0}

    def is_current(path, fp):  # the first check (at the start) sees no pack; the other process lands after it
        result = real_current(path, fp)
        calls["current"] += 1
        if calls["current"] == 1 and when == "before the check":
            shutil.copytree(saved, path)
            calls["inode"] = (path / "images.npy").stat().st_ino
        return result

    def replace(src, dst):
        if when == "between the check and the rename" and not Path(dst).exists():
            shutil.copytree(saved, dst)
            calls["inode"] = (Path(dst) / "images.npy").stat().st_ino
        return real_replace(src, dst)

    monkeypatch.setattr(pack_module, "_is_current", is_current)
    monkeypatch.setattr(pack_module.os, "replace", replace)
    stamp_file = saved / "index.json"
    assert pack_dataset(root, progress=False) == theirs
    assert (theirs / "index.json").read_bytes() == stamp_file.read_bytes()
    assert (theirs / "images.npy").stat().st_ino == calls["inode"], "their pack (in use) is kept, not rebuilt"
    assert not list((root / "cache").glob(".pack-*")), "our temporary pack is removed"
    assert open_pack(root, progress=False).images.shape == (10, 16, 16, 3)


def test_corrupt_images_reported_all_at_once(tmp_path):
    root = make(tmp_path)
    (root / "images/2.png").write_bytes(b"garbage")
    (root / "images/7.png").write_bytes(b"")
    with pytest.raises(ProblemList) as e:
        pack_dataset(root, progress=False)
    assert "2.png" in str(e.value) and "7.png" in str(e.value)
    assert not list((root / "cache").glob("pack-*")), "no half-built pack is left"


@pytest.mark.parametrize("mode", ["fit", "crop", "stretch"])
def test_variable_sizes(tmp_path, mode):
    root = make(tmp_path, n=3, sizes=[(20, 10), (10, 30), (16, 16)])
    with pytest.raises(Exception, match="size"):
        open_pack(root, progress=False)
    ds = FashionDataset(root, split=None, size=(12, 12), resize=mode, progress=False)
    for i in range(3):  # each image resized on the fly exactly as resize_rgb does it
        want = normalise(resize_rgb(load_rgb(root / f"images/{i}.png"), (12, 12), mode))
        assert torch.allclose(ds[i]["image"], want, atol=1e-6), (mode, i)
    if mode == "fit":  # padding is white: the 20x10 image fills the middle 6 columns of 12
        assert (ds[0]["image"][:, :, :3] == 1.0).all() and (ds[0]["image"][:, :, 9:] == 1.0).all()


def test_sampler_shards_are_disjoint_and_cover_each_epoch():
    n, world = 11, 3
    shards = [
        list(itertools.islice(iter(ShardedInfiniteSampler(n, seed=4, rank=r, world_size=world)), 4))
        for r in range(world)
    ]
    flat = [i for s in shards for i in s]
    assert sorted(set(flat)) == list(range(n)) and len(flat) == 12  # one wrapped duplicate
    assert all(len(s) == 4 for s in shards)


def test_sampler_resume_continues_identically():
    full = list(itertools.islice(iter(ShardedInfiniteSampler(7, seed=1)), 30))
    s = ShardedInfiniteSampler(7, seed=1)
    first = list(itertools.islice(iter(s), 12))
    state = json.loads(json.dumps(s.state_dict()))
    s2 = ShardedInfiniteSampler(7, seed=1)
    s2.load_state_dict(state)
    rest = list(itertools.islice(iter(s2), 18))
    assert first + rest == full
    assert list(itertools.islice(iter(ShardedInfiniteSampler(7, seed=1, start=12)), 18)) == rest


def test_loader_batches(tmp_path):
    root = make(tmp_path)
    ds = FashionDataset(root, progress=False)
    batch = next(iter(make_loader(ds, 4, seed=0)))
    # the first 4 indices the seeded sampler draws, stacked
    order = list(itertools.islice(iter(ShardedInfiniteSampler(len(ds), seed=0)), 4))
    assert batch["id"] == [ds[i]["id"] for i in order]
    assert torch.equal(batch["image"], torch.stack([ds[i]["image"] for i in order]))
    assert batch["attributes"].dtype == torch.int64
    assert torch.equal(batch["attributes"], torch.stack([ds[i]["attributes"] for i in order]))


def test_region_attributes_labels(tmp_path):
    """sleeves.color is the sleeves' own colour, else the garment's; unknown when there are no sleeves."""
    from fashionlab.data.format import Annotations
    from fashionlab.data.regions import region_value

    schema = DatasetSchema(
        name="t",
        attributes=[AttributeSpec("sleeve", ["sleeveless", "long"]), AttributeSpec("color", ["red", "blue"])],
        image_size=(8, 8),
        annotations=Annotations(region_attributes=["sleeves"]),
    )
    rows = [
        ({"sleeve": "long", "color": "red"}, {"sleeves": {"color": "blue"}}),
        ({"sleeve": "long", "color": "red"}, None),
        ({"sleeve": "sleeveless", "color": "blue"}, None),
    ]
    with DatasetWriter(tmp_path / "r", schema) as w:
        (w.root / "images").mkdir()
        for i, (attrs, regions) in enumerate(rows):
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(w.root / f"images/{i}.png")
            w.add(Item(id=str(i), path=f"images/{i}.png", split="train", attributes=attrs, region_attributes=regions))
    ds = FashionDataset(tmp_path / "r", split="train", progress=False)
    assert ds.region_attributes == [("sleeves.color", ["red", "blue"])]  # only what some item overrides
    assert ds.region_labels.tolist() == [[1], [0], [-1]]
    assert ds[0]["region_attributes"].tolist() == [1]
    assert region_value(ds.items[1], "sleeves", "color") == "red"
