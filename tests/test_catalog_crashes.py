"""Folder catalogs that crash: an add or a merge that raises half way, or is killed (SIGKILL) in the middle,
leaves the catalog answering as it was (or with the committed add), and the next writer cleans up."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers.catalog_world import World, answers, assert_no_debris, assert_same_as_exact, listed_files, random_vectors

from fashionlab.search import catalog as catalog_mod
from fashionlab.search import segments as seg_mod
from fashionlab.search.catalog import Catalog


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
from helpers.catalog_world import random_vectors

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
