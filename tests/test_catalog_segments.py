"""Folder catalogs as segments: results equal to one exact search over all vectors across many adds and
merges, the merge policy's bounds, adds that never read the catalog, version 1 catalogs, duplicate ids
(crashes in the middle of an add or a merge: test_catalog_crashes.py)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest
from helpers.catalog_world import (
    ATTRS,
    QUERY_DIMS,
    WHERES,
    World,
    assert_no_debris,
    assert_same_as_exact,
    listed_files,
)

from fashionlab.errors import InputError
from fashionlab.search import catalog as catalog_mod
from fashionlab.search import segments as seg_mod
from fashionlab.search.catalog import Catalog
from fashionlab.search.scoring import score_dim
from fashionlab.search.segments import SegmentData, plan_merge


# ---------------------------------------------------------------------------------------------- results
def test_many_adds_and_merges_give_the_results_of_one_exact_search(tmp_path):
    world = World(tmp_path / "cat")
    sizes = [int(n) for n in np.random.default_rng(1).integers(1, 120, 31)]
    merged = False
    for b, n in enumerate(sizes):
        world.add(n, f"b{b}")
        merged |= len(world.cat.segments) < b + 1
        if b in (0, 4, 9, 10, 30):  # one segment, several, the first merge, after it, the end
            assert_same_as_exact(world, world.cat)
    assert merged and len(world.cat.segments) < 10
    cat = world.cat
    assert len(cat) == sum(sizes) and [it.id for it in cat.items()] == world.ids
    assert [it.position for it in cat.items()] == list(range(len(cat)))
    for kind, v in cat.vectors().items():
        np.testing.assert_array_equal(v, world.all(kind))
    assert cat.index().ntotal == len(cat) and cat.vector_kinds() == set(world.vectors)
    reopened = Catalog.open(cat.root)  # another process sees the same
    assert_same_as_exact(world, reopened, n_queries=1)
    assert_no_debris(reopened)
    some = [world.ids[i] for i in (0, 57, len(world.ids) - 1)]
    assert sorted(it.id for it in reopened.get([*some, "missing"])) == sorted(some)


def test_a_merge_changes_no_result(tmp_path):
    world = World(tmp_path / "cat")
    for b in range(9):  # nine segments in the floor band: the tenth add merges
        world.add(30 + b, f"b{b}")
    cat = world.cat
    assert len(cat.segments) == 9
    rng = np.random.default_rng(5)
    dims = QUERY_DIMS | {"score": score_dim(ATTRS, world.protos, 16)}
    queries = {f: rng.standard_normal(d).astype(np.float32) for f, d in dims.items()}
    before = {(f, w): cat.search(f, q, 15, WHERES[w]) for f, q in queries.items() for w in range(len(WHERES))}
    old_files = listed_files(cat)
    cat.compact()  # the same merge the policy does, of every segment
    assert len(cat.segments) == 1 and not old_files & {p.name for p in cat.root.iterdir()}
    for reader in (cat, Catalog.open(cat.root)):
        for (f, w), hits in before.items():
            after = reader.search(f, queries[f], 15, WHERES[w])
            assert [it.id for _, it in after] == [it.id for _, it in hits]
            np.testing.assert_allclose([s for s, _ in after], [s for s, _ in hits], rtol=1e-6, atol=1e-6)
    world.add(5, "after")  # and the policy's own merge, checked against exact search
    for b in range(10):
        world.add(3, f"more{b}")
    assert len(cat.segments) < 11
    assert_same_as_exact(world, cat, n_queries=1)
    assert_no_debris(cat)


# ---------------------------------------------------------------------------------------------- policy
def simulate(batches: list[int]) -> dict:
    """Segment sizes through a run of adds of these sizes, with every merge the policy asks for."""
    segs: list[int] = []
    written = most = 0
    spikes = []
    for b in batches:
        segs.append(b)
        written += b
        spike = 0
        while (w := plan_merge(segs)) is not None:
            merged = sum(segs[w[0] : w[1]])
            segs[w[0] : w[1]] = [merged]
            written += merged
            spike += merged
        most = max(most, len(segs))
        spikes.append(spike)
    return {"segments": segs, "amplification": written / sum(batches), "most": most, "spikes": spikes}


def test_merge_policy_bounds():
    assert plan_merge([1] * 9) is None and plan_merge([1] * 10) == (0, 10)
    assert plan_merge([1_000_000, *[1000] * 9]) is None and plan_merge([1_000_000, *[1000] * 10]) == (1, 11)
    # a catalog built in a few large adds: 1,000-item adds never merge anything big (the figures that
    # segments.py's docstring gives)
    for built in ([1_000_000], [500_000] * 2, [250_000] * 4, [100_000] * 10, [50_000] * 20):
        run = simulate(built + [1000] * 50)
        assert max(run["spikes"][len(built) :]) <= 10_000, built
    one = simulate([1_000_000, 1000])
    assert one["segments"] == [1_000_000, 1000] and one["spikes"][-1] == 0
    # built by many small adds: logarithmic segments and writes; the worst add is a cascade over everything
    many = simulate([1000] * 1000)
    assert many["most"] <= 27 and many["amplification"] <= 4.0
    assert many["spikes"][-1] == 1_110_000 and many["segments"] == [1_000_000]  # the honest worst case
    singles = simulate([1] * 10_000)
    assert singles["most"] <= 14 and singles["amplification"] <= 210 and max(singles["spikes"]) < 6_000


def test_an_add_reads_no_old_vectors_or_rows(tmp_path, monkeypatch):
    """The add path costs O(batch): it never loads another segment's vectors, index or rows."""
    world = World(tmp_path / "cat")
    world.add(200, "big")
    world.add(20, "small")
    cat = Catalog.open(world.cat.root)

    def forbidden(*a, **k):
        raise AssertionError("the add read the catalog")

    for obj, name in [
        (SegmentData, "vectors"),
        (SegmentData, "index"),
        (seg_mod, "load_kind"),
        (seg_mod, "npz_shapes"),
        (np, "load"),
        (Catalog, "items"),
        (Catalog, "_segment_items"),
        (Catalog, "vectors"),
    ]:
        monkeypatch.setattr(obj, name, forbidden)
    ids, images, attrs, regions, vecs = world.batch(50, "new")
    cat.add(ids, images, attrs, regions, vecs)
    with pytest.raises(InputError, match="already in the catalog"):
        cat.add(ids[:1], images[:1], attrs[:1], regions[:1], {k: v[:1] for k, v in vecs.items()})
    monkeypatch.undo()
    world.remember(ids, attrs, regions, vecs)
    assert len(cat) == 270 and len(cat.segments) == 3
    assert_same_as_exact(world, Catalog.open(cat.root), n_queries=1)
    with sqlite3.connect(cat.root / catalog_mod.DB_FILE) as db:  # ids are looked up through an index
        plan = db.execute("EXPLAIN QUERY PLAN SELECT position FROM items WHERE id IN ('a', 'b')").fetchall()
    assert "items_id" in str(plan)


def test_segment_index_kinds():
    assert catalog_mod.segment_index_kind("ivf", 500) == "flat"
    assert catalog_mod.segment_index_kind("ivfpq", catalog_mod.IVF_MIN_SEGMENT) == "ivfpq"
    assert (
        catalog_mod.segment_index_kind("auto", 10) == "auto" and catalog_mod.segment_index_kind("flat", 10**7) == "flat"
    )


# ---------------------------------------------------------------------------------------------- version 1
def write_v1_catalog(root: Path, world: World, n: int, gen: int = 3) -> None:
    """A catalog as the version 1 code wrote it: one vectors/index pair named by the generation, no index
    on ids, rows tagged with the generations of their adds; plus the debris of a crashed add."""
    ids, images, attrs, regions, vecs = world.batch(n, "old")
    world.remember(ids, attrs, regions, vecs)
    root.mkdir(parents=True)
    with sqlite3.connect(root / "meta.sqlite") as db:
        db.execute(
            "CREATE TABLE items (position INTEGER PRIMARY KEY, id TEXT NOT NULL, image TEXT NOT NULL, "
            "attributes TEXT NOT NULL, region_attributes TEXT, generation INTEGER NOT NULL)"
        )
        db.execute("CREATE INDEX items_gen ON items(generation)")
        rows = [
            (i, ids[i], images[i], json.dumps(attrs[i]), json.dumps(regions[i]) if regions[i] else None, 1 + i % gen)
            for i in range(n)
        ]
        rows.append((n, "crashed-item", "x.png", "{}", None, gen + 1))  # a crashed add's row
        db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", rows)
    np.savez(root / "prototypes.npz", **world.protos)
    np.savez(root / f"vectors-{gen:06d}.npz", **vecs)
    index = faiss.IndexFlatIP(16)
    index.add(vecs["global"])
    (root / f"index-{gen:06d}.faiss").write_bytes(faiss.serialize_index(index).tobytes())
    (root / f"vectors-{gen + 1:06d}.npz").write_bytes(b"half written")  # the crashed add's files
    meta = {
        "format": "fashionlab-catalog",
        "version": 1,
        "model": "m",
        "attributes": [[a, v] for a, v in ATTRS],
        "index_kind": "auto",
        "generation": gen,
        "count": n,
        "index": "IndexFlatIP",
    }
    (root / "catalog.json").write_text(json.dumps(meta))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_version_1_catalog_opens_searches_and_takes_adds(tmp_path):
    world = World(tmp_path / "unused")
    root = tmp_path / "v1"
    write_v1_catalog(root, world, 80)
    legacy = {name: sha(root / name) for name in ("vectors-000003.npz", "index-000003.faiss")}
    cat = Catalog.open(root)
    assert len(cat) == 80 and [it.id for it in cat.items()] == world.ids  # not the crashed add's row
    assert cat.vector_kinds() == set(world.vectors) and cat.index().ntotal == 80
    assert not cat.get(["crashed-item"]) and len(cat.get(world.ids[:3])) == 3
    assert_same_as_exact(world, cat, n_queries=1)
    world.cat = cat
    world.add(25, "new")  # the first add: format 2, the legacy pair kept as the first segment, untouched
    meta = json.loads((root / "catalog.json").read_text())
    assert meta["version"] == catalog_mod.FORMAT_VERSION and len(meta["segments"]) == 2
    assert meta["segments"][0]["vectors"] == "vectors-000003.npz" and meta["vector_shapes"]["reps"] == [2, 8]
    assert {name: sha(root / name) for name in legacy} == legacy
    assert_no_debris(cat)  # the crashed add's row and file are gone
    with sqlite3.connect(root / "meta.sqlite") as db:
        assert "items_id" in [r[1] for r in db.execute("PRAGMA index_list(items)")]
    reopened = Catalog.open(root)
    assert len(reopened) == 105 and [it.id for it in reopened.items()] == world.ids
    assert_same_as_exact(world, reopened, n_queries=1)
    with pytest.raises(InputError, match=r"1 item\(s\) are already in the catalog \(e.g. old-5\)"):
        reopened.add(["old-5"], ["x.png"], [{}], [None], {k: v[:1] for k, v in world.batch(1, "x")[4].items()})
    reopened.compact()  # a merge takes the legacy pair: its files go
    assert len(reopened.segments) == 1 and not (root / "vectors-000003.npz").exists()
    assert_same_as_exact(world, Catalog.open(root), n_queries=1)


def test_a_catalog_of_a_newer_version_is_refused(tmp_path):
    world = World(tmp_path / "cat")
    meta = json.loads((world.cat.root / "catalog.json").read_text())
    (world.cat.root / "catalog.json").write_text(json.dumps({**meta, "version": catalog_mod.FORMAT_VERSION + 1}))
    with pytest.raises(InputError, match="newer than this fashionlab reads"):
        Catalog.open(world.cat.root)


# ---------------------------------------------------------------------------------------------- duplicates
def test_duplicate_ids_are_refused_with_the_same_errors(tmp_path):
    world = World(tmp_path / "cat")
    for b in range(12):  # across segments and merges
        world.add(15, f"b{b}")
    cat = world.cat
    gen, n = cat.generation, len(cat)
    ids, images, attrs, regions, vecs = world.batch(3, "fresh")
    for dup in ("b0-0", "b11-14", "b5-7"):
        with pytest.raises(InputError, match=rf"1 item\(s\) are already in the catalog \(e.g. {dup}\)"):
            cat.add([*ids[:2], dup], images, attrs, regions, vecs)
    with pytest.raises(InputError, match="'fresh-0' is given twice"):
        cat.add([ids[0], ids[0], ids[2]], images, attrs, regions, vecs)
    assert (cat.generation, len(cat)) == (gen, n) and not cat.get(ids)
    assert cat.add([], [], [], [], {k: v[:0] for k, v in vecs.items()}) == gen  # nothing to add: no segment
    assert_no_debris(cat)
