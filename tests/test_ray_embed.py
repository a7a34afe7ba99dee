"""Embedding catalogs on Ray Data (search/ray_embed.py): the same catalog as the single-process path, every
kind of source, a resume after a real SIGKILL, and bad input as errors that name it.

One local Ray (2 CPUs) serves the module; the killed run starts its own in a subprocess."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

from fashionlab.errors import InputError, ProblemList  # noqa: E402
from fashionlab.search.build import build_catalog  # noqa: E402
from fashionlab.search.catalog import Catalog  # noqa: E402
from fashionlab.search.ray_embed import connect_ray, embed_with_ray, prepare_catalog  # noqa: E402
from fashionlab.search.ray_sources import list_source  # noqa: E402
from fashionlab.synth.generate import SynthConfig, generate_dataset  # noqa: E402

MODEL = "asset:attrnet-synth64"
N = 40


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("rayembed")
    data = generate_dataset(base / "sf", SynthConfig(n=N, size=(64, 64), seed=7, workers=1), progress=False)
    reference = build_catalog(MODEL, data, base / "reference", splits=None, progress=False)
    return {"base": base, "data": data, "reference": reference}


@pytest.fixture(scope="module")
def local_ray():
    import ray

    started = connect_ray(None, num_cpus=2)
    yield
    if started:
        ray.shutdown()


def new_catalog(world, name: str) -> Catalog:
    return prepare_catalog(MODEL, world["base"] / name, prototype_data=world["data"], progress=False)


def assert_same_catalog(cat: Catalog, reference: Catalog) -> None:
    """Same ids in the same order, and the same vectors item by item up to float rounding."""
    assert [it.id for it in cat.items()] == [it.id for it in reference.items()]
    rv, cv = reference.vectors(), cat.vectors()
    assert set(rv) == set(cv)
    for k in rv:
        np.testing.assert_allclose(cv[k], rv[k], atol=1e-5)


def test_same_catalog_as_single_process(world, local_ray):
    cat = new_catalog(world, "same")
    stats = embed_with_ray(world["data"], MODEL, cat, batch_size=8, actors=2, write_batch=16, progress=False)
    assert (stats.total, stats.embedded, stats.skipped, stats.failed) == (N, N, 0, 0)
    assert stats.writes == 3 and stats.images_per_s > 0 and "images/s" in stats.summary()
    assert_same_catalog(Catalog.open(cat.root), world["reference"])
    again = embed_with_ray(world["data"], MODEL, cat.location, batch_size=8, actors=2, progress=False)
    assert (again.embedded, again.skipped, again.writes) == (0, N, 0)  # nothing left: nothing embedded
    assert prepare_catalog(MODEL, cat.root, prototype_data=world["data"]).generation == cat.generation  # reopened


def _serve(folder: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_folder_and_list_sources(world, local_ray):
    """A folder of images (nested) and a list of relative paths and http URLs give the reference's vectors
    of the same images, under ids from the folder and the list."""
    ref = {Path(it.image).name: it for it in world["reference"].items()}
    rv = world["reference"].vectors()
    names = sorted(ref)[:6]
    folder = world["base"] / "shop"
    (folder / "tops").mkdir(parents=True)
    for k, n in enumerate(names[:3]):
        shutil.copy(ref[n].image, folder / ("tops" if k else "") / n)
    (folder / "notes.txt").write_text("not an image")
    cat = new_catalog(world, "from-folder")
    stats = embed_with_ray(folder, MODEL, cat, batch_size=2, actors=1, progress=False)
    assert stats.embedded == 3
    assert sorted(it.id for it in cat.items()) == sorted(
        [f"shop/{names[0]}", f"shop/tops/{names[1]}", f"shop/tops/{names[2]}"]
    )
    server = _serve(folder)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tops/{names[1]}"
        listing = world["base"] / "lists" / "images.txt"
        listing.parent.mkdir()
        listing.write_text(f"# catalog\n../shop/{names[0]}\n\n{url}\n")
        cat2 = new_catalog(world, "from-list")
        embed_with_ray(listing, MODEL, cat2, batch_size=2, actors=1, progress=False)
    finally:
        server.shutdown()
    assert [it.id for it in cat2.items()] == [f"../shop/{names[0]}", url]
    assert cat2.items()[1].image == url
    for c in (cat, cat2):
        got = {Path(it.image).name: it.position for it in c.items()}
        for name, pos in got.items():
            np.testing.assert_allclose(c.vectors()["global"][pos], rv["global"][ref[name].position], atol=1e-5)


CHILD = textwrap.dedent(
    """
    import sys, time
    from fashionlab.search.locations import open_catalog
    from fashionlab.search.ray_embed import embed_with_ray

    cat = open_catalog(sys.argv[2])
    add = cat.add

    def slow_add(*args, **kwargs):  # slow writes, so the kill lands between batches
        gen = add(*args, **kwargs)
        time.sleep(0.5)
        return gen

    cat.add = slow_add
    embed_with_ray(sys.argv[1], "asset:attrnet-synth64", cat, batch_size=4, actors=1, write_batch=8, progress=False)
    """
)


def _count(root: Path) -> int:
    return json.loads((root / "catalog.json").read_text())["count"]


def test_resume_after_sigkill(world, local_ray, tmp_path):
    """A run killed with SIGKILL (its Ray with it) after some batches were written; the re-run embeds only
    the rest, and the catalog equals the single-process one."""
    cat = new_catalog(world, "killed")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, str(script), str(world["data"]), str(cat.root)], env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while _count(cat.root) < 16 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the driver and the Ray it started (its process group)
        child.wait()
    written = _count(cat.root)
    assert 16 <= written < N, "the kill should land half way"
    cat = Catalog.open(cat.root)
    assert len(cat) == written and len(cat.items()) == written  # every written batch whole
    stats = embed_with_ray(world["data"], MODEL, cat, batch_size=8, actors=2, write_batch=16, progress=False)
    assert (stats.skipped, stats.embedded) == (written, N - written)  # only the rest embedded
    assert_same_catalog(Catalog.open(cat.root), world["reference"])


def test_unreadable_image_named_others_written(world, local_ray):
    folder = world["base"] / "broken"
    folder.mkdir()
    good = world["reference"].items()[:3]
    for it in good:
        shutil.copy(it.image, folder / Path(it.image).name)
    (folder / "zz-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    cat = new_catalog(world, "broken-cat")
    with pytest.raises(ProblemList, match=r"zz-broken\.png: not a readable image") as e:
        embed_with_ray(folder, MODEL, cat, batch_size=2, actors=1, progress=False)
    assert "3 others were written" in str(e.value)
    assert len(Catalog.open(cat.root)) == 3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_input_is_named(world, tmp_path):
    cat = new_catalog(world, "bad")
    with pytest.raises(InputError, match="not found; expected a fashionlab dataset folder"):
        embed_with_ray(tmp_path / "nowhere", MODEL, cat, progress=False)
    with pytest.raises(InputError, match="no image files"):
        embed_with_ray(tmp_path, MODEL, cat, progress=False)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError, match="lists no images"):
        embed_with_ray(empty, MODEL, cat, progress=False)
    with pytest.raises(InputError, match="unknown split"):
        embed_with_ray(world["data"], MODEL, cat, splits=["nope"], progress=False)
    t = time.monotonic()
    with pytest.raises(InputError, match="no Ray cluster answers at ray://127.0.0.1"):
        embed_with_ray(world["data"], MODEL, cat, address=f"ray://127.0.0.1:{_closed_port()}", progress=False)
    assert time.monotonic() - t < 10
    with pytest.raises(InputError, match="expected a Ray address"):
        embed_with_ray(world["data"], MODEL, cat, address="nonsense", progress=False)
    with pytest.raises(InputError, match="built with another attribute network"):
        embed_with_ray(world["data"], "asset:attrnet-synth64-eval", cat, progress=False)
    with pytest.raises(InputError, match="batch_size"):
        embed_with_ray(world["data"], MODEL, cat, batch_size=0, progress=False)
    assert len(Catalog.open(cat.root)) == 0


def test_list_source_ids(world, tmp_path):
    items = list_source(world["data"], splits=["test"])
    assert items and all(it.id.startswith("sf/") and it.attributes for it in items)
    listing = tmp_path / "l.txt"
    listing.write_text("a.png\na.png\n")
    with pytest.raises(InputError, match="listed twice"):
        list_source(listing)


def test_milvus_lite_catalog(world, local_ray):
    """The same engine writes into a Milvus catalog (Lite here) through the same interface."""
    test_ids = [it.id for it in list_source(world["data"], splits=["test"])]
    cat = new_catalog(world, "milvus.db")
    try:
        stats = embed_with_ray(world["data"], MODEL, cat, splits=["test"], batch_size=4, actors=1, progress=False)
        assert stats.embedded == len(test_ids) == len(cat)
        assert sorted(it.id for it in cat.get(test_ids)) == sorted(test_ids)
        ref = {it.id: it.position for it in world["reference"].items()}
        for i in test_ids:
            hit = cat.search("global", world["reference"].vectors()["global"][ref[i]], 1)[0]
            assert hit[1].id == i and hit[0] == pytest.approx(1.0, abs=1e-4)
    finally:
        cat.close()


def test_cli_build_with_ray_then_add(world, local_ray, tmp_path):
    """`fashionlab index build --engine ray` makes the catalog the local engine makes; it records an
    `asset:NAME` model as the name, so `index add` finds the network again (it used to record /cwd/asset:NAME
    and refuse); a re-run of the build is a resume that embeds nothing again; a bad engine is named."""
    from typer.testing import CliRunner

    from fashionlab.cli import app

    runner = CliRunner()
    out = tmp_path / "cat"
    args = ["index", "build", "--model", MODEL, "--data", str(world["data"]), "--out", str(out), "--split", "train"]
    res = runner.invoke(app, [*args, "--engine", "ray", "--actors", "1", "--batch-size", "8"])
    assert res.exit_code == 0, res.output
    cat = Catalog.open(out)
    assert cat.meta["model"] == MODEL
    train = [it.id for it in list_source(world["data"], splits=["train"])]
    assert [it.id for it in cat.items()] == train
    cat.close()
    again = runner.invoke(app, [*args, "--engine", "ray", "--actors", "1"])
    assert again.exit_code == 0 and "0 embedded" in again.output, again.output
    res = runner.invoke(app, ["index", "add", str(out), "--data", str(world["data"]), "--split", "test"])
    assert res.exit_code == 0, res.output
    assert len(Catalog.open(out)) == len(train) + len(list_source(world["data"], splits=["test"]))
    bad = runner.invoke(app, [*args, "--engine", "spark"])
    assert isinstance(bad.exception, InputError) and "unknown engine 'spark'" in str(bad.exception)
