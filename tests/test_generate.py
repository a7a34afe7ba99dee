"""Dataset generation: format, splits, holdout, pose pairs, re-rendering from the stored seed."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from fashionlab.data.format import load_dataset
from fashionlab.data.imaging import load_mask, load_rgb
from fashionlab.errors import InputError, OutputExistsError
from fashionlab.synth.figure import Pose
from fashionlab.synth.generate import SynthConfig, generate_dataset
from fashionlab.synth.render import render


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("g") / "ds"
    cfg = SynthConfig(
        n=120,
        size=(64, 64),
        seed=3,
        workers=1,
        region_mix=0.5,
        holdout=[{"color": "red"}, {"sleeve": "long", "collar": "crew"}],
    )
    return generate_dataset(out, cfg, progress=False)


def test_dataset_loads_with_splits_and_annotations(small):
    ds = load_dataset(small)
    assert len(ds.items) == 120
    counts = Counter(it.split for it in ds.items)
    assert counts == {"train": 96, "val": 12, "test": 12}
    assert ds.schema.image_size == (64, 64)
    # the mask PNG's bit of each region, as docs/dataset-format.md lists them
    bits = {"person": 0, "garment": 1, "torso": 2, "left_sleeve": 3, "right_sleeve": 4, "collar": 5, "fastening": 6}
    assert ds.schema.annotations.masks == bits
    it = ds.items[0]
    assert load_rgb(ds.image_path(it)).shape == (64, 64, 3)
    assert load_mask(ds.mask_path(it)).shape == (64, 64)
    assert len(it.keypoints) == 18


def test_holdout_combinations_never_in_train(small):
    ds = load_dataset(small)
    train = [it.attributes for it in ds.items if it.split == "train"]
    assert not any(a["color"] == "red" for a in train)
    assert not any(a["sleeve"] == "long" and a["collar"] == "crew" for a in train)
    other = [it.attributes for it in ds.items if it.split != "train"]
    assert any(a["color"] == "red" for a in other)  # held-out values still appear in val/test


def test_items_rerender_exactly_from_their_seed(small):
    ds = load_dataset(small)
    for it in ds.items[:5]:
        r = render(
            it.extra["seed"],
            it.attributes,
            Pose.from_dict(it.extra["pose"]),
            size=(64, 64),
            framing=it.extra["framing"],
            regions=it.region_attributes,
        )
        assert np.array_equal(r.image, load_rgb(ds.image_path(it)))
        assert np.array_equal(r.mask, load_mask(ds.mask_path(it)))


def test_region_mix_records_sleeve_values(small):
    ds = load_dataset(small)
    mixed = [it for it in ds.items if it.region_attributes]
    assert mixed, "region_mix=0.5 should give some garments with their own sleeve colour/pattern"
    for it in mixed:
        assert it.attributes["sleeve"] != "sleeveless"
        sl = it.region_attributes["sleeves"]
        assert sl["color"] != it.attributes["color"] or sl["pattern"] != it.attributes["pattern"]
    assert ds.schema.annotations.region_attributes == ["sleeves"]


def test_same_seed_same_dataset(tmp_path):
    cfg = SynthConfig(n=20, size=(64, 64), seed=9, workers=1)
    a = generate_dataset(tmp_path / "a", cfg, progress=False)
    b = generate_dataset(tmp_path / "b", cfg, progress=False)
    assert (a / "items.jsonl").read_text() == (b / "items.jsonl").read_text()
    assert (a / "images/0000007.png").read_bytes() == (b / "images/0000007.png").read_bytes()


def test_parallel_matches_serial(tmp_path):
    base = dict(n=70, size=(64, 64), seed=4)
    a = generate_dataset(tmp_path / "a", SynthConfig(**base, workers=1), progress=False)
    b = generate_dataset(tmp_path / "b", SynthConfig(**base, workers=2), progress=False)
    assert (a / "items.jsonl").read_text() == (b / "items.jsonl").read_text()
    assert (a / "images/0000069.png").read_bytes() == (b / "images/0000069.png").read_bytes()


def test_pose_pairs(tmp_path):
    cfg = SynthConfig(n=24, size=(128, 64), seed=1, poses_per_person=3, workers=1)
    ds = load_dataset(generate_dataset(tmp_path / "p", cfg, progress=False))
    assert len(ds.items) == 24 and ds.schema.annotations.identity
    by_id = {it.id: it for it in ds.items}
    pairs = [p for split in ds.schema.splits for p in ds.pairs(split)]
    assert len(pairs) == 8 * 3 * 2
    for a, b in pairs:
        ia, ib = by_id[a], by_id[b]
        assert ia.identity == ib.identity and ia.split == ib.split and ia.attributes == ib.attributes
        assert ia.keypoints != ib.keypoints
        assert ia.extra["framing"] == "full"


def test_never_overwrites_and_leaves_no_partial(tmp_path, small):
    before = (small / "items.jsonl").read_text()
    with pytest.raises(OutputExistsError):
        generate_dataset(small, SynthConfig(n=5, size=(64, 64), workers=1), progress=False)
    assert (small / "items.jsonl").read_text() == before
    with pytest.raises(InputError, match="split"):
        generate_dataset(tmp_path / "bad", SynthConfig(n=5, split_fractions=(0.5, 0.1, 0.1)), progress=False)
    assert not any(p.name.startswith(".bad") for p in tmp_path.iterdir())
    assert not (tmp_path / "bad").exists()


def test_schema_records_provenance(small):
    schema = json.loads((small / "dataset.json").read_text())
    assert schema["source"]["generator"] == "fashionlab.synth"
    assert schema["source"]["config"]["seed"] == 3


def test_synthfashion_is_recognised_by_its_schema(small):
    from dataclasses import replace

    from fashionlab.synth.ground_truth import SYNTH_GENERATOR, is_synthfashion

    ds = load_dataset(small)
    assert ds.schema.source["generator"] == SYNTH_GENERATOR
    assert is_synthfashion(ds.schema) and is_synthfashion(ds.schema, ds.items)
    stripped = [replace(it, extra={}) for it in ds.items]
    assert not is_synthfashion(ds.schema, stripped)  # a copy without seeds/poses cannot be re-rendered
    assert not is_synthfashion(ds.schema, [])
    # an imported dataset or another generator's is not SynthFashion, whatever its items' extras say
    imported = replace(ds.schema, source={"importer": "csv", "src": "/x"})
    assert not is_synthfashion(imported, ds.items)
    assert not is_synthfashion(replace(ds.schema, source={"generator": "other.synth"}), ds.items)
    # a schema without provenance (hand-written): the items decide
    bare = replace(ds.schema, source={})
    assert is_synthfashion(bare, ds.items) and not is_synthfashion(bare, stripped)
    assert not is_synthfashion(bare)  # nothing to go on
    foreign = replace(ds.schema, attributes=[*ds.schema.attributes[:4], replace(ds.schema.attributes[4], name="fit")])
    assert not is_synthfashion(foreign, ds.items)  # not SynthFashion's attributes
