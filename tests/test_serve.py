"""The HTTP service as a client uses it: every endpoint, both body encodings, every bad input as a 4xx with
a message naming the field (and the service still answering afterwards), limits, the worker pool, the API
key, and a catalog add that crashes half way."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

from fashionlab.serve.app import create_app
from fashionlab.serve.config import ServeConfig
from fashionlab.usecases.images import ImageLimits

TestClient = pytest.importorskip("fastapi.testclient").TestClient


def png_bytes(rgb: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    work = tmp_path_factory.mktemp("serve")
    cfg = ServeConfig(
        demo_catalog_items=60,
        work_dir=work,
        limits=ImageLimits(max_bytes=400_000, max_pixels=4_000_000),
        max_body_bytes=1_200_000,
        log_requests=False,
    )
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def garment(client) -> bytes:
    return client.get("/v1/samples/garment-0.png").content


@pytest.fixture(scope="module")
def person(client) -> bytes:
    return client.get("/v1/samples/person-0.png").content


def post(client, path, image: bytes | None = None, files: dict | None = None, **fields):
    files = dict(files or {})
    if image is not None:
        files["image"] = ("image.png", image, "image/png")
    data = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in fields.items()}
    return client.post(path, files=files or None, data=data)


def test_health_models_samples_and_schema(client):
    h = client.get("/v1/health").json()
    assert h["status"] == "ok" and h["models"] == ["attrnet", "editor", "reposer"] and h["catalog_items"] == 60
    models = {m["role"]: m for m in client.get("/v1/models").json()}
    assert models["editor"]["kind"] == "amgan" and "# amgan-synth64" in models["editor"]["card"]
    assert models["reposer"]["kind"] == "deform" and models["attrnet"]["input"]["size"] == [128, 128]
    samples = client.get("/v1/samples").json()
    assert [s["kind"] for s in samples].count("person") == 6 and len(samples) == 18
    with Image.open(io.BytesIO(client.get(samples[0]["url"]).content)) as im:
        assert im.size == (128, 128)
    schema = client.get("/openapi.json").json()
    for path in ("/v1/attributes", "/v1/edit", "/v1/search", "/v1/search/edit", "/v1/pose", "/v1/catalog/items"):
        content = schema["paths"][path]["post"]["requestBody"]["content"]
        assert set(content) == {"multipart/form-data", "application/json"}, path
    assert client.get("/v1/health").headers["x-request-id"]
    assert client.get("/v1/health", headers={"X-Request-ID": "my-id-1"}).headers["x-request-id"] == "my-id-1"


def test_attributes_multipart_and_base64_json_agree(client, garment):
    a = post(client, "/v1/attributes", garment, attention="true").json()
    b = client.post("/v1/attributes", json={"image": base64.b64encode(garment).decode(), "attention": True}).json()
    assert a["attributes"] == b["attributes"]
    sample = client.get("/v1/samples").json()[0]
    best = {name: values[0]["value"] for name, values in a["attributes"].items() if "." not in name}
    assert best == sample["attributes"]  # the shipped network reads the sample's true attributes
    assert sum(v["probability"] for v in a["attributes"]["sleeve"]) == pytest.approx(1, abs=1e-3)
    assert set(a["attention_maps"]) == set(a["attributes"]) and a["attention_maps"]["sleeve"].startswith(
        "data:image/png"
    )
    assert a["domain"]["unusual"] is False
    r = post(client, "/v1/attention", garment, attribute="color")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"


def test_edit_returns_the_png_or_json_with_mask(client, garment):
    from fashionlab.models.registry import load
    from fashionlab.usecases.edit import edit_images

    photo = np.asarray(Image.open(io.BytesIO(garment)).convert("RGB"))
    r = post(client, "/v1/edit", garment, changes="sleeve=long")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(r.content)))
    (want,) = edit_images(load("asset:amgan-synth64"), [photo], {"sleeve": "long"}, domain_check=False)
    assert np.array_equal(got, want.image)  # the API answers what the library computes
    assert np.abs(got.astype(int) - photo).mean() > 1  # and that is an edit
    j = post(client, "/v1/edit", garment, changes={"color": "red"}, response="json").json()
    assert j["image"].startswith("data:image/png;base64,") and j["notes"] == [] and j["region_share"] is None
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(j["mask"].split(",", 1)[1]))))
    assert mask.shape == photo.shape[:2] and mask.max() > 128
    # a region given as a mask image: nothing changes outside it
    region = np.zeros(photo.shape, np.uint8)
    region[64:] = 255
    files = {"region_mask": ("m.png", png_bytes(region), "image/png")}
    got = np.asarray(Image.open(io.BytesIO(post(client, "/v1/edit", garment, files, changes="color=red").content)))
    assert np.array_equal(got[:60], photo[:60])
    # a setting the photo already has: unchanged, and said
    j = post(client, "/v1/edit", garment, changes="sleeve=short", response="json").json()
    assert j["notes"] == ["sleeve is already short: unchanged"]


def test_search_by_image_change_attributes_and_edit(client, garment):
    from fashionlab.usecases.search import search_photo, search_with_edit

    state = client.app.state.holder["state"]
    photo = np.asarray(Image.open(io.BytesIO(garment)).convert("RGB"))

    def ids(hits):
        return [h.item.id for h in hits]

    similar = post(client, "/v1/search", garment, k=5).json()
    assert [h["rank"] for h in similar["results"]] == [1, 2, 3, 4, 5]
    assert [h["id"] for h in similar["results"]] == ids(search_photo(state.searcher, photo, k=5))
    changed = post(client, "/v1/search", garment, k=5, changes="sleeve=long").json()["results"]
    assert [h["id"] for h in changed] == ids(search_photo(state.searcher, photo, {"sleeve": "long"}, k=5))
    assert changed[0]["attributes"]["sleeve"] == "long" and changed != similar["results"]
    by_attributes = post(client, "/v1/search", None, k=3, changes="color=red").json()["results"]
    assert [h["attributes"]["color"] for h in by_attributes] == ["red"] * 3
    r = client.get(changed[0]["image_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    edited = post(client, "/v1/search/edit", garment, changes="sleeve=long", k=5).json()
    want = search_with_edit(state.searcher, state.models["editor"], photo, {"sleeve": "long"}, k=5)
    assert [h["id"] for h in edited["results"]] == ids(want.hits)
    assert edited["edited"].startswith("data:image/png") and edited["results"][0]["attributes"]["sleeve"] == "long"


def test_pose_from_gallery_keypoints_and_reference_image(client, person):
    poses = client.get("/v1/poses").json()
    assert len(poses) == 8 and poses[0]["frame"] == [256, 128] and len(poses[0]["keypoints"]) == 18
    r = post(client, "/v1/pose", person, target_pose_id=3)
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (64, 128)
    j = post(
        client, "/v1/pose", person, target_keypoints=poses[3]["keypoints"], target_frame=[256, 128], response="json"
    )
    assert j.status_code == 200, j.text
    assert j.json()["target_keypoints"] == poses[3]["keypoints"]  # the pose as given, in its frame
    other = client.get("/v1/samples/person-3.png").content
    r = post(client, "/v1/pose", person, {"target_image": ("t.png", other, "image/png")}, response="json")
    assert r.status_code == 200 and len(r.json()["target_keypoints"]) == 18


def test_catalog_add_then_found(client, tmp_path):
    before = client.get("/v1/catalog").json()["items"]
    photo = np.asarray(Image.open(io.BytesIO(client.get("/v1/samples/garment-5.png").content)).convert("RGB"))
    r = post(client, "/v1/catalog/items", png_bytes(photo), id="shop-item-1", attributes={"color": "blue"})
    assert r.status_code == 201, r.text
    assert r.json()["items"] == before + 1
    hits = post(client, "/v1/search", png_bytes(photo), k=1).json()["results"]
    assert hits[0]["id"] == "shop-item-1" and hits[0]["attributes"]["color"] == "blue"  # given attributes win
    again = post(client, "/v1/catalog/items", png_bytes(photo), id="shop-item-1")
    assert again.status_code == 400 and again.json()["error"]["field"] == "id"
    bad = post(client, "/v1/catalog/items", png_bytes(photo), id="../etc/passwd")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "id"  # no path from a client


def test_a_catalog_add_that_crashes_half_way_leaves_the_previous_generation_served(client, monkeypatch):
    import fashionlab.search.catalog as catalog_module

    before = client.get("/v1/catalog").json()
    photo = client.get("/v1/samples/garment-7.png").content
    query = post(client, "/v1/search", photo, k=3).json()["results"]

    def crash(*args, **kwargs):  # after the new vectors file is written, before the switch
        raise OSError("disk full")

    monkeypatch.setattr(catalog_module, "build_index", crash)
    r = post(client, "/v1/catalog/items", photo, id="never-added")
    assert r.status_code == 500 and "keeps running" in r.json()["error"]["message"]
    monkeypatch.undo()
    after = client.get("/v1/catalog").json()
    assert after == before  # same generation, same count
    assert post(client, "/v1/search", photo, k=3).json()["results"] == query
    state = client.app.state.holder["state"]
    reopened = catalog_module.Catalog.open(state.catalog.root)
    assert len(reopened) == before["items"] and not (state.catalog.root / "uploads" / "never-added.png").exists()
    assert post(client, "/v1/catalog/items", photo, id="never-added").status_code == 201  # the retry works


def _truncated(png: bytes) -> bytes:
    return png[: len(png) // 2]


def _bomb() -> bytes:  # 6,000 x 5,000 one-bit pixels: a few KB that would decode to 30 MP
    buf = io.BytesIO()
    Image.new("1", (6000, 5000)).save(buf, format="PNG")
    return buf.getvalue()


BAD = [
    # (name, endpoint, how to build the request, status, field, words in the message)
    (
        "oversize",
        "/v1/attributes",
        lambda g: {"image": np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)},
        400,
        "image",
        "bytes, more than",
    ),
    ("too many pixels", "/v1/attributes", lambda g: {"image_bytes": _bomb()}, 400, "image", "refused before decoding"),
    (
        "wrong type",
        "/v1/attributes",
        lambda g: {"image_bytes": png_bytes(np.zeros((32, 32, 3), np.uint8), "GIF")},
        400,
        "image",
        "format GIF",
    ),
    ("not an image", "/v1/attributes", lambda g: {"image_bytes": b"hello world"}, 400, "image", "not an image"),
    ("truncated", "/v1/attributes", lambda g: {"image_bytes": _truncated(g)}, 400, "image", "truncated"),
    ("missing image", "/v1/attributes", lambda g: {}, 400, "image", "missing"),
    ("unknown attribute", "/v1/edit", lambda g: {"image_bytes": g, "changes": "fit=slim"}, 400, "changes", "fit"),
    (
        "unknown value",
        "/v1/edit",
        lambda g: {"image_bytes": g, "changes": "sleeve=very long"},
        400,
        "changes",
        "no value 'very long'",
    ),
    ("missing field", "/v1/edit", lambda g: {"image_bytes": g}, 400, "changes", "Field required"),
    ("bad changes", "/v1/edit", lambda g: {"image_bytes": g, "changes": "sleeve"}, 400, "changes", "attribute=value"),
    (
        "bad region",
        "/v1/edit",
        lambda g: {"image_bytes": g, "changes": "sleeve=long", "region": "collar"},
        400,
        "region",
        "sleeves",
    ),
    (
        "bad threshold",
        "/v1/edit",
        lambda g: {"image_bytes": g, "changes": "sleeve=long", "region_threshold": "2"},
        400,
        "region_threshold",
        "less than 1",
    ),
    (
        "unknown field",
        "/v1/edit",
        lambda g: {"image_bytes": g, "changes": "sleeve=long", "file": "/etc/passwd"},
        400,
        "file",
        "unknown field",
    ),
    (
        "keypoint count",
        "/v1/pose",
        lambda g: {"image_bytes": g, "target_keypoints": [[1, 2]]},
        400,
        "target_keypoints",
        "list of 18",
    ),
    (
        "keypoint outside",
        "/v1/pose",
        lambda g: {"image_bytes": g, "target_keypoints": [[500, 2]] * 18},
        400,
        "target_keypoints[0]",
        "outside",
    ),
    (
        "keypoint not numbers",
        "/v1/pose",
        lambda g: {"image_bytes": g, "target_keypoints": [["a", 2]] * 18},
        400,
        "target_keypoints[0]",
        "two numbers",
    ),
    (
        "keypoint JSON",
        "/v1/pose",
        lambda g: {"image_bytes": g, "target_keypoints": "[[1, 2"},
        400,
        "target_keypoints",
        "malformed JSON",
    ),
    ("no target", "/v1/pose", lambda g: {"image_bytes": g}, 400, "target", "exactly one"),
    (
        "unknown pose",
        "/v1/pose",
        lambda g: {"image_bytes": g, "target_pose_id": "99"},
        400,
        "target_pose_id",
        "no pose 99",
    ),
    ("bad k", "/v1/search", lambda g: {"image_bytes": g, "k": "0"}, 400, "k", "greater than or equal to 1"),
    (
        "unknown region",
        "/v1/search",
        lambda g: {"image_bytes": g, "changes": "color=red", "region": "hat"},
        400,
        "region",
        "unknown region",
    ),
]


@pytest.mark.parametrize("name, path, build, status, field, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_naming_the_field(client, garment, name, path, build, status, field, words):
    fields = build(garment)
    files = {}
    if "image" in fields:
        files["image"] = ("x.png", png_bytes(fields.pop("image")), "image/png")
    if "image_bytes" in fields:
        files["image"] = ("x.png", fields.pop("image_bytes"), "image/png")
    start = time.perf_counter()
    r = post(client, path, None, files, **fields)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field and words in error["message"], error
    assert r.json()["request_id"]
    if name == "too many pixels":
        assert time.perf_counter() - start < 2.0  # refused from the header, not decoded
    assert client.get("/v1/health").status_code == 200  # still answering


def test_body_level_errors(client, garment):
    r = client.post("/v1/edit", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "content-type"
    r = client.post("/v1/edit", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]["message"]
    r = client.post("/v1/edit", json={"image": "@@@not base64@@@", "changes": {"sleeve": "long"}})
    assert r.status_code == 400 and r.json()["error"] == {"message": "not valid base64", "field": "image"}
    r = client.post("/v1/edit", json=["a list"])
    assert r.status_code == 400 and r.json()["error"]["message"] == "expected a JSON object"
    big = client.post("/v1/attributes", content=b"0" * 1_300_000, headers={"content-type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["field"] == "body"

    def chunks():
        for _ in range(30):
            yield b"0" * 50_000

    r = client.post("/v1/attributes", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413  # a streamed body is cut at the limit too
    assert client.get("/v1/nowhere").status_code == 404
    assert client.get("/v1/samples/nothing.png").json()["error"]["field"] == "sample_id"
    assert client.get("/v1/health").status_code == 200


def test_rgba_grayscale_and_webp_are_accepted(client, garment):
    rgb = np.asarray(Image.open(io.BytesIO(garment)).convert("RGB"))
    want = post(client, "/v1/attributes", garment).json()["attributes"]["sleeve"][0]["value"]
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], -1)
    for data in (png_bytes(rgba), png_bytes(rgb, "WEBP", lossless=True), png_bytes(rgb, "JPEG", quality=95)):
        r = post(client, "/v1/attributes", data)
        assert r.status_code == 200 and r.json()["attributes"]["sleeve"][0]["value"] == want
    r = post(client, "/v1/attributes", png_bytes(rgb.mean(2).astype(np.uint8)))
    assert r.status_code == 200


def test_api_key_and_loopback_rules(tmp_path):
    from fashionlab.errors import InputError

    with pytest.raises(InputError, match="--api-key"):
        ServeConfig(host="0.0.0.0").check()
    ServeConfig(host="::1").check()
    ServeConfig(host="0.0.0.0", api_key="k" * 20).check()
    cfg = ServeConfig(api_key="secret-key-1234567890", attrnet=None, editor=None, reposer=None, log_requests=False)
    with TestClient(create_app(cfg), raise_server_exceptions=False) as c:
        assert c.get("/v1/health").status_code == 200  # health stays open for probes
        r = c.get("/v1/models")
        assert r.status_code == 401 and r.json()["error"]["field"] == "X-API-Key"
        assert c.get("/v1/models", headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"X-API-Key": "secret-key-1234567890"}).json() == []
        assert c.get("/v1/models", headers={"Authorization": "Bearer secret-key-1234567890"}).status_code == 200
        r = c.post("/v1/edit", headers={"X-API-Key": "secret-key-1234567890"}, json={"image": "", "changes": {}})
        assert r.status_code == 400 and "runs without an editor" in r.json()["error"]["message"] or r.status_code == 400


def test_worker_pool_queues_then_refuses_then_times_out():
    from fashionlab.serve.limits import Busy, TimedOut, WorkerPool

    async def scenario():
        pool = WorkerPool(workers=1, queue=1, timeout_s=0.5)
        gate = threading.Event()
        first = asyncio.ensure_future(pool.run(gate.wait, 5))
        second = asyncio.ensure_future(pool.run(lambda: "queued ran"))
        await asyncio.sleep(0.05)
        assert pool.in_flight == 2
        with pytest.raises(Busy) as busy:
            await pool.run(lambda: None)
        assert busy.value.retry_after >= 1
        gate.set()
        assert await first is True and await second == "queued ran"
        with pytest.raises(TimedOut):
            await pool.run(time.sleep, 2)
        return pool

    pool = asyncio.run(scenario())
    assert pool.refused == 1 and pool.timed_out == 1


def test_busy_service_answers_503_with_retry_after(tmp_path):
    cfg = ServeConfig(attrnet=None, editor=None, reposer=None, workers=1, queue=0, log_requests=False)
    app = create_app(cfg)
    with TestClient(app, raise_server_exceptions=False) as c:
        pool = app.state.pool
        gate = threading.Event()
        blocker = threading.Thread(target=lambda: asyncio.run(pool.run(gate.wait, 5)))
        blocker.start()
        while pool.in_flight == 0:
            time.sleep(0.01)
        r = c.get("/v1/poses")
        gate.set()
        blocker.join()
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
        assert c.get("/v1/poses").status_code == 200
