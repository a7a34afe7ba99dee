"""Catalogs in Milvus (Milvus Lite, no server) beside folder catalogs: the same hits on both for every kind of
query and filter, adds and deletes by batch, a kill in the middle of an add, bad input named plainly, and
the CLI and the API on a Milvus location."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from fashionlab.cli.demo import SHIPPED_ATTRNET
from fashionlab.errors import InputError, OutputExistsError
from fashionlab.search.build import embed_dataset, labelled_prototypes, load_model_for_search
from fashionlab.search.locations import create_catalog, is_milvus, open_catalog, parse_milvus
from fashionlab.search.query import Searcher, model_identity
from fashionlab.synth.generate import SynthConfig, generate_dataset

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


def make_catalog(location, model, protos, ds, items, vecs, index_kind="flat"):
    cat = create_catalog(
        location,
        model_path=str(SHIPPED_ATTRNET),
        attributes=model.attributes,
        prototypes=protos,
        index_kind=index_kind,
        extra={"model_id": model_identity(model)},
    )
    if items:
        cat.add(*item_fields(ds, items), vecs)
    return cat


def item_fields(ds, items, prefix=""):
    return (
        [prefix + it.id for it in items],
        [str(ds.image_path(it)) for it in items],
        [it.attributes for it in items],
        [it.region_attributes for it in items],
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """80 SynthFashion renders (half with sleeves of their own colour) embedded by the shipped network; the
    catalog (train + val items) built twice from the same vectors: as a folder and in Milvus Lite."""
    base = tmp_path_factory.mktemp("milvus")
    data = generate_dataset(
        base / "data", SynthConfig(n=80, size=(128, 128), seed=11, workers=1, region_mix=0.5), progress=False
    )
    model = load_model_for_search(SHIPPED_ATTRNET)
    ds, items, vecs = embed_dataset(model, data, None, progress=False)
    train = [i for i, it in enumerate(items) if it.split == "train"]
    protos = labelled_prototypes(model, [items[i] for i in train], {k: v[train] for k, v in vecs.items()})
    in_cat = [i for i, it in enumerate(items) if it.split != "test"]
    queries = [i for i, it in enumerate(items) if it.split == "test"]
    cat_vecs = {k: v[in_cat] for k, v in vecs.items()}
    cat_items = [items[i] for i in in_cat]
    folder = make_catalog(base / "folder", model, protos, ds, cat_items, cat_vecs)
    milvus = make_catalog(f"{base / 'catalog.db'}", model, protos, ds, cat_items, cat_vecs)
    yield {
        "base": base,
        "data": data,
        "model": model,
        "protos": protos,
        "ds": ds,
        "items": cat_items,
        "vecs": cat_vecs,
        "queries": [{k: v[i] for k, v in vecs.items()} for i in queries],
        "folder": folder,
        "milvus": milvus,
    }
    milvus.close()


QUERIES = {
    "similar": dict(),
    "with a change": dict(changes={"sleeve": "long"}),
    "two changes, baseline": dict(changes={"sleeve": "long", "color": "red"}, method="baseline"),
    "red sleeves only": dict(changes={"color": "red"}, region="sleeves"),
    "filtered": dict(changes={"sleeve": "long"}, where={"color": ["red", "blue", "navy"]}),
    "filtered on a region attribute": dict(where={"sleeves.color": ["red", "blue"]}),
    "region + filter": dict(changes={"pattern": "solid"}, region="sleeves", where={"collar": ["crew", "v_neck"]}),
    "baseline + filter": dict(method="baseline", where={"pattern": "solid"}),
}


@pytest.mark.parametrize("kind", list(QUERIES))
def test_both_backends_give_the_same_hits(world, kind):
    spec = QUERIES[kind]
    folder, milvus = Searcher(world["folder"], world["model"]), Searcher(world["milvus"], world["model"])
    where = spec.get("where")
    for q in world["queries"][:6]:
        args = dict(k=8, region=spec.get("region"), method=spec.get("method", "fsn"), where=where)
        a = folder.query(q, spec.get("changes"), **args)
        b = milvus.query(q, spec.get("changes"), **args)
        assert [h.item.id for h in a] == [h.item.id for h in b] and len(a) > 0
        assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-4)
        assert [h.item.attributes for h in a] == [h.item.attributes for h in b]
        for h in b:  # the filter holds
            for name, allowed in (where or {}).items():
                region, _, attribute = name.partition(".")
                value = h.item.region_attributes[region][attribute] if attribute else h.item.attributes[name]
                assert value in allowed
    if where:  # and it really restricted the hits: unfiltered, some hits fall outside it
        plain = milvus.query(world["queries"][0], spec.get("changes"), k=8, region=spec.get("region"))
        assert [h.item.id for h in plain] != [h.item.id for h in b]


def test_attribute_search_and_listing_agree(world):
    folder, milvus = Searcher(world["folder"], world["model"]), Searcher(world["milvus"], world["model"])
    for wanted, where in [({"color": "red"}, None), ({"sleeve": "long", "color": "blue"}, {"pattern": "solid"})]:
        a, b = folder.query_attributes(wanted, k=6, where=where), milvus.query_attributes(wanted, k=6, where=where)
        assert [h.item.id for h in a] == [h.item.id for h in b]
    assert world["folder"].items() == world["milvus"].items()
    ids = [world["items"][3].id, "not-there", world["items"][7].id]
    assert sorted(world["folder"].get(ids), key=lambda x: x.id) == sorted(world["milvus"].get(ids), key=lambda x: x.id)
    assert len(world["milvus"]) == len(world["items"]) and world["milvus"].vector_kinds() == set(world["vecs"])


def test_adds_and_deletes_by_batch_and_reopen(world, tmp_path):
    loc = f"{tmp_path / 'shop.db'}#spring"
    first, more = world["items"][:20], world["items"][20:30]
    cat = make_catalog(
        loc, world["model"], world["protos"], world["ds"], first, {k: v[:20] for k, v in world["vecs"].items()}
    )
    with pytest.raises(OutputExistsError, match="already holds a catalog"):
        make_catalog(loc, world["model"], world["protos"], world["ds"], [], {})
    gen = cat.add(*item_fields(world["ds"], more), {k: v[20:30] for k, v in world["vecs"].items()})
    assert gen == 2 and len(cat) == 30
    with pytest.raises(InputError, match="already in the catalog"):
        cat.add(*item_fields(world["ds"], more[:2]), {k: v[20:22] for k, v in world["vecs"].items()})
    s = Searcher(cat, world["model"])
    q = world["vecs"]
    self_hit = s.query({k: v[25] for k, v in q.items()}, k=1)[0]
    assert self_hit.item.id == more[5].id and self_hit.item.position == 25
    assert cat.delete([more[5].id, "never-there"]) == 1 and len(cat) == 29
    assert more[5].id not in [h.item.id for h in s.query({k: v[25] for k, v in q.items()}, k=29)]
    assert cat.delete([more[5].id]) == 0
    cat.close()
    again = open_catalog(loc)
    assert len(again) == 29 and [it.id for it in again.items()] == [it.id for it in first + more if it != more[5]]
    assert again.meta["model_id"] == model_identity(world["model"])
    again.close()


def test_another_model_is_refused_on_both_backends(world):
    other = load_model_for_search(SHIPPED_ATTRNET)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    for cat in (world["folder"], world["milvus"]):
        with pytest.raises(InputError, match="built with another attribute network") as e:
            Searcher(cat, other)
        assert e.value.path == cat.location


def test_bad_input_is_named(world, tmp_path):
    s = Searcher(world["milvus"], world["model"])
    q = world["queries"][0]
    with pytest.raises(InputError, match="expected one of: .*red") as e:
        s.query(q, where={"color": ["scarlet"]})
    assert e.value.field == "--where color"
    with pytest.raises(InputError, match="cannot filter on 'material'"):
        s.query(q, where={"material": "silk"})
    with pytest.raises(InputError, match="cannot reach Milvus at http://127.0.0.1:1 .*expected a running Milvus"):
        open_catalog("http://127.0.0.1:1")
    with pytest.raises(InputError, match="no Milvus Lite catalog here"):
        open_catalog(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(InputError, match="collection name"):
        parse_milvus("catalog.db#2-bad")
    with pytest.raises(InputError, match="expected a catalog folder, a Milvus Lite file"):
        parse_milvus("http://host:port/x")
    with pytest.raises(InputError, match="no fashionlab catalog in collection 'other'"):
        open_catalog(f"{world['milvus'].loc.uri}#other")
    assert is_milvus("x.db#c") and is_milvus("https://milvus.example.com:19530") and not is_milvus("catalog")


KILLED_ADD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from fashionlab.search import milvus
    from fashionlab.search.locations import open_catalog

    milvus.BATCH = 10
    write = milvus.MilvusCatalog._upsert
    done = []

    def upsert_then_report(self, rows):  # the parent kills this process after the third batch
        write(self, rows)
        done.append(len(rows))
        print(f"wrote batch {len(done)}", flush=True)
        if sys.argv[3] == "stop" and len(done) == 3:
            time.sleep(120)

    milvus.MilvusCatalog._upsert = upsert_then_report
    cat = open_catalog(sys.argv[1])
    spec = json.loads(open(sys.argv[2] + ".json").read())
    with np.load(sys.argv[2] + ".npz") as z:
        vectors = {k: z[k] for k in z.files}
    cat.add(spec["ids"], spec["images"], spec["attributes"], spec["regions"], vectors)
    print("committed", len(cat), flush=True)
    cat.close()
    """
)


def run_add(loc: str, batch: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", KILLED_ADD, loc, str(batch), mode]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_an_add_killed_half_way_leaves_the_catalog_whole_and_a_rerun_adds_once(world, tmp_path):
    loc = str(tmp_path / "killed.db")
    old, new = world["items"][:20], world["items"][20:60]
    cat = make_catalog(
        loc, world["model"], world["protos"], world["ds"], old, {k: v[:20] for k, v in world["vecs"].items()}
    )
    cat.close()
    ids, images, attributes, regions = item_fields(world["ds"], new, prefix="new/")
    (tmp_path / "batch.json").write_text(
        json.dumps(dict(ids=ids, images=images, attributes=attributes, regions=regions))
    )
    np.savez(tmp_path / "batch.npz", **{k: v[20:60] for k, v in world["vecs"].items()})

    proc = run_add(loc, tmp_path / "batch", "stop")
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith("wrote batch 3"):
            os.kill(proc.pid, signal.SIGKILL)  # 30 of the 40 rows are in Milvus, not committed
            break
    assert proc.wait(timeout=60) == -signal.SIGKILL, (lines, proc.stderr.read())

    cat = open_catalog(loc)
    rows = cat.conn.client.query(cat.collection, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert rows == 50  # the kill landed in the middle: 30 uncommitted rows are there...
    assert len(cat) == 20 and [it.id for it in cat.items()] == [it.id for it in old]  # ...and not served
    assert cat.get(ids[:5]) == []
    s = Searcher(cat, world["model"])
    hits = s.query({k: v[25] for k, v in world["vecs"].items()}, k=30)
    assert len(hits) == 20 and {h.item.id for h in hits} == {it.id for it in old}
    cat.close()

    proc = run_add(loc, tmp_path / "batch", "run")  # the re-run
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "committed 60" in out, err
    cat = open_catalog(loc)
    listed = [it.id for it in cat.items()]
    rows = cat.conn.client.query(cat.collection, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert len(cat) == 60 and rows == 60 and len(set(listed)) == 60 and listed[20:] == ids
    assert Searcher(cat, world["model"]).query({k: v[25] for k, v in world["vecs"].items()}, k=1)[0].item.id == ids[5]
    cat.close()


def test_cli_and_api_take_a_milvus_location(world, tmp_path, capsys):
    from fashionlab.cli import main

    loc = str(tmp_path / "cli.db")
    with pytest.raises(SystemExit) as e:
        main(
            [
                "index",
                "build",
                "--model",
                str(SHIPPED_ATTRNET),
                "--data",
                str(world["data"]),
                "--out",
                loc,
                "--split",
                "train",
            ]
        )
    assert e.value.code == 0 and "items" in capsys.readouterr().out
    image = str(world["ds"].image_path(world["items"][0]))
    with pytest.raises(SystemExit) as e:
        main(
            [
                "search",
                image,
                "--catalog",
                loc,
                "--set",
                "sleeve=long",
                "--where",
                "color=red|blue",
                "--json",
                "--k",
                "3",
            ]
        )
    res = json.loads(capsys.readouterr().out)
    assert e.value.code == 0 and res["where"] == {"color": ["red", "blue"]}
    assert res["results"] and all(r["attributes"]["color"] in ("red", "blue") for r in res["results"])
    with pytest.raises(SystemExit) as e:
        main(["search", image, "--catalog", loc, "--where", "color=scarlet"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "scarlet" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:
        main(["search", image, "--catalog", "http://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "cannot reach Milvus" in err and "Traceback" not in err

    from fastapi.testclient import TestClient

    from fashionlab.serve.app import create_app
    from fashionlab.serve.config import ServeConfig

    cfg = ServeConfig(attrnet=str(SHIPPED_ATTRNET), editor=None, reposer=None, catalog=loc, work_dir=tmp_path / "w")
    with TestClient(create_app(cfg)) as client:
        assert client.get("/v1/catalog").json()["items"] == len(open_catalog_ids(world, "train"))
        png = Path(image).read_bytes()
        files = {"image": ("q.png", png, "image/png")}
        r = client.post("/v1/search", files=files, data={"k": "4", "where": json.dumps({"color": ["red", "blue"]})})
        assert r.status_code == 200 and all(h["attributes"]["color"] in ("red", "blue") for h in r.json()["results"])
        r = client.post("/v1/search", files=files, data={"where": "color=scarlet"})
        assert r.status_code == 400 and r.json()["error"]["field"] == "where" and "red" in r.json()["error"]["message"]
        r = client.post("/v1/catalog/items", files=files, data={"id": "upload-1"})
        assert r.status_code == 201 and r.json()["items"] == len(open_catalog_ids(world, "train")) + 1
        assert client.get(r.json()["image_url"]).content == png


def open_catalog_ids(world, split):
    return [it for it in world["ds"].items if it.split == split]
