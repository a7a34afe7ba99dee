"""Folder catalogs as segments: results equal to one exact search over all vectors across many adds and
merges, the merge policy's bounds, adds that never read the catalog, version 1 catalogs, crashes (raised
and SIGKILL) in the middle of an add or a merge, duplicate ids."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import faiss
import numpy as np
import pytest

from fashionlab.errors import InputError
from fashionlab.search import catalog as catalog_mod
from fashionlab.search import segments as seg_mod
from fashionlab.search.catalog import Catalog
from fashionlab.search.scoring import score_dim, score_vectors
from fashionlab.search.segments import SegmentData, plan_merge
from fashionlab.search.store import item_value

ATTRS = [("color", ["red", "blue", "green", "black"]), ("sleeve", ["long", "short", "none"])]
COLORS = ATTRS[0][1]


def unit(rng, *shape: int) -> np.ndarray:
    """Random L2-normalised float32 vectors (along the last axis)."""
    x = rng.standard_normal(shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def random_vectors(rng, n: int) -> dict[str, np.ndarray]:
    """Every kind of vector of ``n`` items, shaped as an attribute network's (small)."""
    return {
        "global": unit(rng, n, 16),
        "reps": unit(rng, n, 2, 8),
        "baseline": unit(rng, n, 16),
        "region_sleeves": unit(rng, n, 1, 8),
    }


def prototypes(rng) -> dict[str, np.ndarray]:
    return {
        "rep__color": unit(rng, 4, 8),
        "rep__sleeve": unit(rng, 3, 8),
        "baseline__color": unit(rng, 4, 16),
        "baseline__sleeve": unit(rng, 3, 16),
        "region__sleeves.color": unit(rng, 4, 8),
    }


class World:
    """A catalog and the truth: every vector and item it was given, in order."""

    def __init__(self, root: Path, seed: int = 0, index_kind: str = "auto"):
        self.rng = np.random.default_rng(seed)
        self.protos = prototypes(self.rng)
        self.cat = Catalog.create(root, model_path="m", attributes=ATTRS, prototypes=self.protos, index_kind=index_kind)
        self.vectors: dict[str, list[np.ndarray]] = {}
        self.ids: list[str] = []
        self.attrs: list[dict] = []
        self.regions: list[dict | None] = []

    def batch(self, n: int, prefix: str):
        """(ids, images, attributes, region attributes, vectors) of ``n`` new random items."""
        rng = self.rng
        ids = [f"{prefix}-{i}" for i in range(n)]
        attrs = [{"color": COLORS[rng.integers(4)], "sleeve": ATTRS[1][1][rng.integers(3)]} for _ in range(n)]
        regions = [{"sleeves": {"color": COLORS[rng.integers(4)]}} if rng.random() < 0.5 else None for _ in range(n)]
        vecs = random_vectors(rng, n)
        return ids, [f"{i}.png" for i in ids], attrs, regions, vecs

    def add(self, n: int, prefix: str) -> int:
        ids, images, attrs, regions, vecs = self.batch(n, prefix)
        gen = self.cat.add(ids, images, attrs, regions, vecs)
        self.remember(ids, attrs, regions, vecs)
        return gen

    def remember(self, ids, attrs, regions, vecs) -> None:
        for k, v in vecs.items():
            self.vectors.setdefault(k, []).append(v)
        self.ids += ids
        self.attrs += attrs
        self.regions += regions

    def all(self, kind: str) -> np.ndarray:
        return np.concatenate(self.vectors[kind])

    def exact(self, field: str, q: np.ndarray, k: int, where=None, temperature: float = 20.0):
        """(id, score) of the ``k`` best by one exhaustive search over every vector (ties: lower position)."""
        vec = {kind: self.all(kind) for kind in self.vectors}
        if field == "score":
            matrix = score_vectors(vec, ATTRS, self.protos, temperature)
        else:
            matrix = vec[field].reshape(len(vec[field]), -1)
        scores = matrix @ q
        if where:
            for name, allowed in where.items():
                values = [item_value(a, r, name) for a, r in zip(self.attrs, self.regions, strict=True)]
                scores[~np.isin(values, allowed)] = -np.inf
        order = np.lexsort((np.arange(len(scores)), -scores))
        return [(self.ids[i], float(scores[i])) for i in order[:k] if np.isfinite(scores[i])]


QUERY_DIMS = {"global": 16, "baseline": 16, "reps": 16}
WHERES = [None, {"color": ["red", "blue"]}, {"sleeves.color": ["green"]}, {"color": ["black"], "sleeve": ["long"]}]


def assert_same_as_exact(world: World, cat: Catalog, n_queries: int = 3, k: int = 12) -> None:
    """Every field, with and without filters, equals one exact search over all vectors."""
    rng = np.random.default_rng(99)
    dims = QUERY_DIMS | {"score": score_dim(ATTRS, world.protos, 16)}
    for field, dim in dims.items():
        for _ in range(n_queries):
            q = rng.standard_normal(dim).astype(np.float32)
            for where in WHERES:
                got = [(it.id, s) for s, it in cat.search(field, q, k, where)]
                want = world.exact(field, q, k, where)
                assert [i for i, _ in got] == [i for i, _ in want], (field, where)
                np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5, atol=1e-5)
    # the global field against one FAISS flat index over every vector
    flat = faiss.IndexFlatIP(16)
    flat.add(world.all("global"))
    q = rng.standard_normal((4, 16)).astype(np.float32)
    _, idx = flat.search(q, 20)
    for row, query in zip(idx, q, strict=True):
        assert [it.id for _, it in cat.search("global", query, 20)] == [world.ids[i] for i in row]


def listed_files(cat: Catalog) -> set[str]:
    return {name for s in cat.segments for name in (s.vectors, s.index)}


def assert_no_debris(cat: Catalog) -> None:
    """The folder holds the listed segment files only, and SQLite the committed rows only."""
    names = {p.name for p in cat.root.iterdir()}
    assert {n for n in names if n.startswith(seg_mod.SEGMENT_PREFIXES)} == listed_files(cat)
    assert not [n for n in names if ".tmp" in n]
    with sqlite3.connect(cat.root / catalog_mod.DB_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == len(cat)


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


# ---------------------------------------------------------------------------------------------- crashes
def answers(cat: Catalog) -> list:
    q = np.random.default_rng(3).standard_normal(16).astype(np.float32)
    return [it.id for _, it in cat.search("global", q, 10)] + [it.id for _, it in cat.search("reps", q, 10)]


@pytest.mark.parametrize("where", ["save_npz", "build_index", "save_index", "_atomic_json"])
def test_an_add_that_dies_half_way_leaves_the_catalog_as_it_was(tmp_path, monkeypatch, where):
    world = World(tmp_path / "cat")
    for b in range(3):
        world.add(40, f"b{b}")
    cat = world.cat
    before = (len(cat), cat.generation, [it.id for it in cat.items()], answers(cat))

    def die(*a, **k):
        raise KeyboardInterrupt  # the process dies at this point of the add

    monkeypatch.setattr(catalog_mod, where, die)
    batch = world.batch(30, "lost")
    with pytest.raises(KeyboardInterrupt):
        cat.add(*batch)
    monkeypatch.undo()
    reopened = Catalog.open(cat.root)
    assert (len(reopened), reopened.generation, [it.id for it in reopened.items()], answers(reopened)) == before
    assert not reopened.get(batch[0][:3])
    world.cat = reopened
    world.add(30, "lost")  # the same ids again: accepted, once
    assert len(reopened) == before[0] + 30 and len(reopened.get(batch[0])) == 30
    assert_same_as_exact(world, Catalog.open(cat.root), n_queries=1)
    assert_no_debris(reopened)


def test_a_merge_that_fails_keeps_the_committed_add(tmp_path, monkeypatch, caplog):
    world = World(tmp_path / "cat")
    for b in range(9):
        world.add(20, f"b{b}")
    cat = world.cat
    real = catalog_mod.save_index

    def fail_on_merge(path, index):
        if index.ntotal > 20:  # the merged segment's index, after its vectors file was written
            raise OSError("disk full")
        real(path, index)

    monkeypatch.setattr(catalog_mod, "save_index", fail_on_merge)
    with caplog.at_level(logging.WARNING, logger="fashionlab.search.catalog"):
        world.add(20, "b9")  # committed; its merge fails
    monkeypatch.undo()
    assert "disk full" in caplog.text and len(cat.segments) == 10 and len(cat) == 200
    assert (cat.root / seg_mod.segment_files(cat.generation + 1)[0]).exists()  # the merge's debris
    reopened = Catalog.open(cat.root)
    assert_same_as_exact(world, reopened, n_queries=1)
    world.cat = reopened
    world.add(5, "next")  # cleans the debris and merges
    assert len(reopened.segments) < 10
    assert_same_as_exact(world, Catalog.open(cat.root), n_queries=1)
    assert_no_debris(reopened)


def test_a_merge_that_dies_after_its_switch_leaves_old_files_for_the_next_writer(tmp_path, monkeypatch):
    world = World(tmp_path / "cat")
    for b in range(9):
        world.add(20, f"b{b}")
    cat = world.cat
    old_files = listed_files(cat)
    real = catalog_mod._atomic_json

    def switch_then_die(path, meta):
        real(path, meta)
        if len(meta["segments"]) == 1:  # the merge's switch: the process dies before deleting the old files
            raise KeyboardInterrupt

    monkeypatch.setattr(catalog_mod, "_atomic_json", switch_then_die)
    ids, images, attrs, regions, vecs = world.batch(20, "b9")
    with pytest.raises(KeyboardInterrupt):
        cat.add(ids, images, attrs, regions, vecs)
    monkeypatch.undo()
    world.remember(ids, attrs, regions, vecs)  # committed before the merge
    reopened = Catalog.open(cat.root)
    assert len(reopened.segments) == 1 and len(reopened) == 200
    assert old_files <= {p.name for p in cat.root.iterdir()}  # unlisted now, still there
    assert_same_as_exact(world, reopened, n_queries=1)
    world.cat = reopened
    world.add(3, "next")
    assert not old_files & {p.name for p in cat.root.iterdir()}
    assert_no_debris(reopened)


CHILD = """
import sys, time
import numpy as np
from fashionlab.search import catalog as catalog_mod
from fashionlab.search.catalog import Catalog
from test_catalog_segments import random_vectors

root, mode = sys.argv[1], sys.argv[2]
real = catalog_mod.build_index
def slow_build(vectors, kind="auto", nprobe=16):
    if (mode == "add") == (len(vectors) == 7):  # the add's own index, or the merge's
        print("building", flush=True)
        time.sleep(120)
    return real(vectors, kind, nprobe)
catalog_mod.build_index = slow_build
vecs = random_vectors(np.random.default_rng(7), 7)
ids = [f"killed-{i}" for i in range(7)]
Catalog.open(root).add(ids, [i + ".png" for i in ids], [{"color": "red"}] * 7, [None] * 7, vecs)
print("done", flush=True)
"""


@pytest.mark.parametrize("mode", ["add", "merge"])
def test_sigkill_in_the_middle_of_an_add_or_a_merge(tmp_path, mode):
    """A real kill: in the add (its vectors file written, its index being built: the catalog answers as it
    was) or in the merge after it (the add committed, the merged vectors file written: the catalog answers
    with the add, over its unmerged segments). The next add cleans up either way."""
    world = World(tmp_path / "cat")
    for b in range(9):
        world.add(20, f"b{b}")
    root = world.cat.root
    before = (len(world.cat), answers(world.cat))
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    child = subprocess.Popen(
        [sys.executable, str(script), str(root), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "building", (line, child.stderr.read() if child.poll() is not None else "")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    cat = Catalog.open(root)
    debris = {p.name for p in root.iterdir() if p.name.startswith("segment-")} - listed_files(cat)
    assert debris == {seg_mod.segment_files(cat.generation + 1)[0]}  # a vectors file, never listed
    (root / "catalog.json.tmp").write_bytes(b"{partial")  # what a kill inside the switch leaves
    if mode == "add":
        assert (len(cat), answers(cat)) == before and len(cat.segments) == 9
    else:
        assert len(cat) == before[0] + 7 and len(cat.segments) == 10 and len(cat.get(["killed-3"])) == 1
        vecs = random_vectors(np.random.default_rng(7), 7)  # the child's vectors, drawn the same way
        world.remember([f"killed-{i}" for i in range(7)], [{"color": "red"}] * 7, [None] * 7, vecs)
        assert_same_as_exact(world, cat, n_queries=1)
    world.cat = cat
    world.add(4, "after")
    assert_no_debris(cat)
    assert len(cat.segments) < 10
    assert_same_as_exact(world, Catalog.open(root), n_queries=1)


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
