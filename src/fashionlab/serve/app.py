"""The FastAPI application: ``create_app(config)`` (or ``create_app(state=...)`` in tests).

Endpoints (all under ``/v1``; the generated schema is at ``/openapi.json``):

- ``GET /v1/health``, ``GET /v1/models`` (with their cards), ``GET /v1/samples``, ``GET /v1/poses``
- ``POST /v1/attributes`` (probabilities; ``attention=true`` adds activation maps), ``POST /v1/attention`` (PNG)
- ``POST /v1/edit`` (PNG, or JSON with the mask), ``POST /v1/search``, ``POST /v1/search/edit`` (the edited image
  as the query), ``POST /v1/pose`` (PNG or JSON)
- ``GET /v1/catalog``, ``POST /v1/catalog/items`` (add an uploaded image), ``GET /v1/catalog/items/{id}/image``

Every model computation runs in the bounded :class:`~.limits.WorkerPool`. Client errors are JSON
``{"error": {"message", "field"}, "request_id"}`` with 4xx; the studio (``/``) is static files served from
this package (no CDN, no build step).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import FashionlabError, InputError, OutputExistsError
from ..version import __version__
from . import requests as rq
from .config import ServeConfig
from .limits import Busy, RequestLimits, TimedOut, WorkerPool
from .state import POSE_FRAME, ServiceState, model_card, pose_gallery, render_sample, start

log = logging.getLogger("fashionlab.serve")
STUDIO = Path(__file__).resolve().parent / "studio"


def _error(status: int, message: str, field: str | None, request: Request, headers: dict | None = None) -> JSONResponse:
    rid = request.scope.get("state", {}).get("request_id")
    return JSONResponse(
        {"error": {"message": message, "field": field}, "request_id": rid}, status_code=status, headers=headers
    )


def _png(data: bytes, headers: dict | None = None) -> Response:
    return Response(content=data, media_type="image/png", headers=headers)


def _item_url(item_id: str) -> str:
    """Where a catalog item's image is served."""
    return f"/v1/catalog/items/{quote(item_id, safe='')}/image"


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def keypoints_json(keypoints: np.ndarray) -> list:
    """(18, 2) keypoints as JSON: ``[x, y]`` or null where missing."""
    return [None if p[0] < 0 else [float(p[0]), float(p[1])] for p in keypoints]


def create_app(config: ServeConfig | None = None, state: ServiceState | None = None) -> FastAPI:
    """The service for ``config`` (models loaded at start-up), or over an already started ``state``."""
    from ..usecases import images as img
    from ..usecases.domain import report_dict

    cfg = state.config if state is not None else (config or ServeConfig())
    holder: dict[str, Any] = {"state": state}
    pool = WorkerPool(cfg.workers, cfg.queue, cfg.timeout_s)
    started = time.time()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if holder["state"] is None:
            holder["state"] = start(cfg)
        yield

    app = FastAPI(
        title="fashionlab",
        version=__version__,
        description="Understand, search, edit and re-pose garment images (FashionSearchNet, AMGAN, Deformable GAN).",
        docs_url=None,  # Swagger UI loads from a CDN; the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(
        RequestLimits, max_body_bytes=cfg.max_body_bytes, api_key=cfg.api_key, log_requests=cfg.log_requests
    )

    def st() -> ServiceState:
        return holder["state"]

    # ------------------------------------------------------------------ errors
    @app.exception_handler(InputError)
    async def _input_error(request: Request, e: InputError):
        return _error(400, e.message, e.field, request)

    @app.exception_handler(OutputExistsError)
    async def _exists(request: Request, e: OutputExistsError):
        return _error(409, str(e), None, request)

    @app.exception_handler(FashionlabError)
    async def _fl_error(request: Request, e: FashionlabError):
        return _error(400, str(e), None, request)

    @app.exception_handler(Busy)
    async def _busy(request: Request, e: Busy):
        return _error(503, "the service is busy; retry later", None, request, {"Retry-After": str(e.retry_after)})

    @app.exception_handler(TimedOut)
    async def _timeout(request: Request, e: TimedOut):
        return _error(504, f"the request took longer than {e.seconds:g} s", None, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        first = e.errors()[0]
        return _error(422, first.get("msg", "invalid"), ".".join(str(p) for p in first.get("loc", ())), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        return _error(e.status_code, str(e.detail), None, request)

    @app.exception_handler(Exception)
    async def _crash(request: Request, e: Exception):
        log.exception("request %s failed", request.scope.get("state", {}).get("request_id"))
        return _error(500, f"internal error ({type(e).__name__}); the service keeps running", None, request)

    def decode(parsed: rq.ParsedRequest, key: str) -> np.ndarray | None:
        data = parsed.images.get(key)
        return None if data is None else img.decode_upload(data, key, cfg.limits)

    # ------------------------------------------------------------------ about
    @app.get("/v1/health", tags=["about"])
    async def health() -> dict:
        s = st()
        return {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.time() - started, 1),
            "models": sorted(s.models),
            "catalog_items": len(s.catalog) if s.catalog is not None else None,
            "in_flight": pool.in_flight,
            "workers": cfg.workers,
            "queue": cfg.queue,
            "editable": s.models["editor"].editable if "editor" in s.models else {},
        }

    @app.get("/v1/models", tags=["about"])
    async def models() -> list[dict]:
        s = st()
        return [{"role": role, "source": source, **model_card(source)} for role, source in s.sources.items()]

    @app.get("/v1/samples", tags=["about"])
    async def samples() -> list[dict]:
        return [
            {"id": x.id, "kind": x.kind, "attributes": x.attributes, "url": f"/v1/samples/{x.id}.png"}
            for x in st().samples
        ]

    @app.get("/v1/samples/{sample_id}.png", tags=["about"], response_class=Response)
    async def sample_png(sample_id: str, request: Request):
        sample = next((x for x in st().samples if x.id == sample_id), None)
        if sample is None:
            return _error(404, f"no sample {sample_id!r}", "sample_id", request)
        return _png(img.encode_png(await pool.run(render_sample, sample)))

    @app.get("/v1/poses", tags=["about"])
    async def poses() -> list[dict]:
        gallery = await pool.run(pose_gallery)
        return [
            {"id": i, "frame": list(POSE_FRAME), "keypoints": keypoints_json(k), "url": f"/v1/poses/{i}.png"}
            for i, k in enumerate(gallery)
        ]

    @app.get("/v1/poses/{pose_id}.png", tags=["about"], response_class=Response)
    async def pose_png(pose_id: int, request: Request):
        gallery = await pool.run(pose_gallery)
        if not 0 <= pose_id < len(gallery):
            return _error(404, f"no pose {pose_id}; there are {len(gallery)}", "pose_id", request)
        from ..models.keypoints import draw_skeleton

        canvas = np.full((*POSE_FRAME, 3), 24, np.uint8)
        return _png(img.encode_png(draw_skeleton(canvas, gallery[pose_id], scale=3)))

    # ------------------------------------------------------------------ understand
    @app.post(
        "/v1/attributes", tags=["understand"], openapi_extra=rq.openapi_body(rq.AttributesBody, ("image",), ("image",))
    )
    async def attributes(request: Request) -> dict:
        parsed = await rq.parse_request(request, rq.AttributesBody, ("image",))

        def work() -> dict:
            from ..usecases.predict import attention_maps, predict_attributes

            net = st().model("attrnet", "an attribute network")
            photo = decode(parsed, "image")
            pred = predict_attributes(net, photo, parsed.body.top)
            out = {
                "attributes": {
                    name: [{"value": v, "probability": p} for v, p in vals] for name, vals in pred.attributes.items()
                },
                "domain": report_dict(pred.domain),
            }
            if parsed.body.attention:
                maps = attention_maps(net, photo, pred.heads)
                out["attention_maps"] = {name: _data_url(img.encode_png(m)) for name, m in maps.items()}
            return out

        return await pool.run(work)

    @app.post("/v1/attention", tags=["understand"], response_class=Response,
              openapi_extra=rq.openapi_body(rq.AttentionBody, ("image",), ("image",)))  # fmt: skip
    async def attention(request: Request):
        parsed = await rq.parse_request(request, rq.AttentionBody, ("image",))

        def work() -> bytes:
            from ..usecases.predict import attention_map

            net = st().model("attrnet", "an attribute network")
            return img.encode_png(attention_map(net, decode(parsed, "image"), parsed.body.attribute, parsed.body.value))

        return _png(await pool.run(work))

    # ------------------------------------------------------------------ edit
    def _edit(parsed: rq.ParsedRequest):
        from ..usecases.edit import edit_images

        editor = st().model("editor", "an editor")
        try:
            editor.space.parse_settings(parsed.body.changes)
        except InputError as e:
            raise InputError(e.message, field="changes") from None
        photo = decode(parsed, "image")
        region: Any = parsed.body.region
        mask = decode(parsed, "region_mask") if "region_mask" in parsed.images else None
        if mask is not None:
            if region is not None:
                raise InputError("give a named region or a region mask, not both", field="region_mask")
            if mask.shape[:2] != photo.shape[:2]:
                raise InputError(
                    f"the mask is {mask.shape[1]}x{mask.shape[0]}, the image {photo.shape[1]}x{photo.shape[0]}",
                    field="region_mask",
                )
            region = mask.mean(axis=2) >= 128
        if isinstance(region, str) and not editor.has_attention:
            raise InputError(
                f"this {editor.kind} has no attention masks to find a region; send region_mask", field="region"
            )
        return photo, edit_images(editor, [photo], parsed.body.changes, region=region,
                                  region_threshold=getattr(parsed.body, "region_threshold", None))[0]  # fmt: skip

    def _notes(result) -> list[str]:
        return [n for n in result.notes if not (result.domain is not None and n == result.domain.message)]

    edit_fields = ("image", "region_mask")

    @app.post("/v1/edit", tags=["edit"], response_class=Response,
              openapi_extra=rq.openapi_body(rq.EditBody, edit_fields, ("image",)))  # fmt: skip
    async def edit(request: Request):
        parsed = await rq.parse_request(request, rq.EditBody, edit_fields)

        def work():
            from ..viz import overlay

            photo, result = _edit(parsed)
            notes = _notes(result)
            if parsed.body.response == "png":
                headers = {
                    "X-Fashionlab-Notes": json.dumps(notes),
                    "X-Fashionlab-Domain": json.dumps(report_dict(result.domain)),
                }
                return _png(img.encode_png(result.image), headers)
            return JSONResponse(
                {
                    "image": _data_url(img.encode_png(result.image)),
                    "mask": _data_url(img.encode_png((np.clip(result.mask, 0, 1) * 255).round().astype(np.uint8))),
                    "mask_overlay": _data_url(img.encode_png(overlay(photo, result.mask))),
                    "notes": notes,
                    "region_share": result.region_share,
                    "domain": report_dict(result.domain),
                }
            )

        return await pool.run(work)

    # ------------------------------------------------------------------ search
    def _hits(hits) -> list[dict]:
        from ..usecases.search import hit_dict

        return [{**hit_dict(h), "image_url": _item_url(h.item.id)} for h in hits]

    @app.post("/v1/search", tags=["search"], openapi_extra=rq.openapi_body(rq.SearchBody, ("image",), ()))
    async def search(request: Request) -> dict:
        parsed = await rq.parse_request(request, rq.SearchBody, ("image",), required=())

        def work() -> dict:
            from ..usecases.domain import domain_reports
            from ..usecases.search import search_photo

            s = st()
            _, searcher = s.require_catalog()
            photo = decode(parsed, "image")
            b = parsed.body
            with s.catalog_lock:
                hits = search_photo(searcher, photo, b.changes, k=b.k, region=b.region, method=b.method, where=b.where)
                latency = searcher.last_latency_ms
            out = {"results": _hits(hits), "latency_ms": round(latency, 3)}
            if photo is not None:
                out["domain"] = report_dict(domain_reports([photo])[0])
            return out

        try:
            return await pool.run(work)
        except InputError as e:
            option = (e.field or "").split(" ")[0]
            if option in ("--set", "--region", "--where"):
                field = {"--set": "changes", "--region": "region"}.get(option, "where")
                raise InputError(e.message, field=field) from None
            raise

    @app.post(
        "/v1/search/edit", tags=["search"], openapi_extra=rq.openapi_body(rq.SearchEditBody, ("image",), ("image",))
    )
    async def search_edit(request: Request) -> dict:
        parsed = await rq.parse_request(request, rq.SearchEditBody, ("image",))

        def work() -> dict:
            from ..usecases.search import search_photo

            s = st()
            _, searcher = s.require_catalog()
            _, result = _edit(parsed)
            with s.catalog_lock:
                hits = search_photo(searcher, result.image, {}, k=parsed.body.k)
            return {
                "edited": _data_url(img.encode_png(result.image)),
                "notes": _notes(result),
                "domain": report_dict(result.domain),
                "results": _hits(hits),
            }

        return await pool.run(work)

    @app.get("/v1/catalog", tags=["search"])
    async def catalog_info(request: Request) -> dict:
        cat, _ = st().require_catalog()
        return {"items": len(cat), "attributes": {n: v for n, v in cat.attributes}, "generation": cat.generation}

    @app.get("/v1/catalog/items/{item_id:path}/image", tags=["search"], response_class=Response)
    async def catalog_image(item_id: str, request: Request):
        s = st()
        cat, _ = s.require_catalog()
        with s.catalog_lock:
            item = next(iter(cat.get([item_id])), None)
        if item is None:
            return _error(404, f"no catalog item {item_id!r}", "item_id", request)
        path = Path(item.image)
        if not path.is_file():
            return _error(404, f"the image of {item_id!r} is missing from the catalog's storage", "item_id", request)
        return FileResponse(path)

    @app.post("/v1/catalog/items", tags=["search"], status_code=201,
              openapi_extra=rq.openapi_body(rq.CatalogAddBody, ("image",), ("image",)))  # fmt: skip
    async def catalog_add(request: Request) -> dict:
        parsed = await rq.parse_request(request, rq.CatalogAddBody, ("image",))

        def work() -> dict:
            import uuid

            from ..fileio import atomic_write_bytes
            from ..usecases.search import add_photo

            s = st()
            cat, searcher = s.require_catalog()
            photo = decode(parsed, "image")
            item_id = parsed.body.id or f"upload-{uuid.uuid4().hex[:12]}"
            uploads = s.uploads_dir()
            uploads.mkdir(parents=True, exist_ok=True)
            stored = uploads / f"{item_id}.png"
            with s.catalog_lock:
                if stored.exists() or cat.get([item_id]):
                    raise InputError(f"an item with id {item_id!r} is already in the catalog", field="id")
                atomic_write_bytes(stored, img.encode_png(photo))
                try:
                    count = add_photo(cat, searcher, photo, item_id, str(stored), parsed.body.attributes)
                except BaseException:
                    stored.unlink(missing_ok=True)
                    raise
            return {"id": item_id, "items": count, "image_url": _item_url(item_id)}

        return await pool.run(work)

    # ------------------------------------------------------------------ re-pose
    pose_fields = ("image", "target_image")

    @app.post("/v1/pose", tags=["re-pose"], response_class=Response,
              openapi_extra=rq.openapi_body(rq.PoseBody, pose_fields, ("image",)))  # fmt: skip
    async def pose(request: Request):
        parsed = await rq.parse_request(request, rq.PoseBody, pose_fields)

        def work():
            from ..data.keypoints import parse_keypoints
            from ..usecases.pose import find_pose, repose_images

            reposer = st().model("reposer", "a re-posing model")
            b = parsed.body
            photo = decode(parsed, "image")
            given = [b.target_keypoints is not None, b.target_pose_id is not None, "target_image" in parsed.images]
            if sum(given) != 1:
                raise InputError(
                    "give exactly one of target_keypoints, target_pose_id and target_image", field="target"
                )
            frame = tuple(b.target_frame) if b.target_frame else None
            if b.target_pose_id is not None:
                gallery = pose_gallery()
                if b.target_pose_id >= len(gallery):
                    raise InputError(f"no pose {b.target_pose_id}; there are {len(gallery)}", field="target_pose_id")
                target, frame = gallery[b.target_pose_id], POSE_FRAME
            elif b.target_keypoints is not None:
                if frame is not None and min(frame) < 1:
                    raise InputError("expected [height, width] of positive integers", field="target_frame")
                target = parse_keypoints(b.target_keypoints, frame or photo.shape[:2], field="target_keypoints")
            else:
                reference = decode(parsed, "target_image")
                target, frame = find_pose(reposer, reference, field="target_image"), reference.shape[:2]
            source = None
            if b.source_keypoints is not None:
                source = parse_keypoints(b.source_keypoints, photo.shape[:2], field="source_keypoints")
            posed = repose_images(reposer, [photo], [target], sources=[source], target_frame=frame)[0]
            if b.response == "png":
                return _png(img.encode_png(posed.image), {"X-Fashionlab-Domain": json.dumps(report_dict(posed.domain))})
            return JSONResponse(
                {
                    "image": _data_url(img.encode_png(posed.image)),
                    "source_keypoints": keypoints_json(posed.source_keypoints),
                    "target_keypoints": keypoints_json(posed.target_keypoints),
                    "target_frame": list(posed.target_frame),
                    "domain": report_dict(posed.domain),
                }
            )

        return await pool.run(work)

    # ------------------------------------------------------------------ the studio
    app.mount("/static", StaticFiles(directory=STUDIO), name="static")

    @app.get("/", include_in_schema=False)
    async def studio_page():
        return FileResponse(STUDIO / "index.html", headers={"Cache-Control": "no-cache"})

    app.state.pool = pool
    app.state.holder = holder
    return app
