"""Request bodies: each endpoint takes either ``multipart/form-data`` (images as file parts, other fields as
form fields; object and list fields as JSON text) or ``application/json`` (images as base64 strings, or
``data:image/...;base64,`` URLs). Both are validated by the same pydantic schema; every error names the
field at fault."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal

from fastapi import Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InputError

Region = Literal["sleeves", "torso", "garment"]


def _changes(value: Any) -> Any:
    """``{"sleeve": "long"}``, its JSON text, or ``sleeve=long,color=red``."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            return json.loads(text)
        out = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in part:
                raise ValueError(f"expected attribute=value, got {part!r}")
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
        return out
    return value


def _where(value: Any) -> Any:
    """``{"color": ["red", "pink"]}``, its JSON text, or ``color=red|pink,sleeve=long``."""
    value = _changes(value)
    if isinstance(value, dict):
        return {k: v.split("|") if isinstance(v, str) and "|" in v else v for k, v in value.items()}
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttributesBody(Body):
    top: int | None = Field(None, ge=1, le=50, description="values per attribute (default: all)")
    attention: bool = Field(False, description="also return each attribute's activation map as a PNG data URL")


class AttentionBody(Body):
    attribute: str = Field(description="e.g. sleeve, color, sleeves.color")
    value: str | None = Field(None, description="the value whose map to draw (default: the predicted one)")


class EditBody(Body):
    changes: dict[str, str] = Field(description='{"sleeve": "long"}, applied in order', min_length=1, max_length=8)
    region: Region | None = Field(None, description="edit only here (found by AMGAN's rule)")
    region_threshold: float | None = Field(
        None, gt=0, lt=1, description="where a named region's probe masks count (default: the model's own)"
    )
    response: Literal["png", "json"] = "png"

    _parse_changes = field_validator("changes", mode="before")(_changes)


class SearchBody(Body):
    changes: dict[str, str] = Field(default_factory=dict, max_length=8)
    k: int = Field(10, ge=1, le=100)
    region: str | None = Field(None, description="apply the changes to this region only (sleeves)")
    method: Literal["fsn", "baseline"] = "fsn"
    where: dict[str, str | list[str]] = Field(
        default_factory=dict,
        max_length=8,
        description='only items with these attribute values: {"color": ["red", "pink"], "sleeves.pattern": "solid"}',
    )

    _parse_changes = field_validator("changes", mode="before")(_changes)
    _parse_where = field_validator("where", mode="before")(_where)


class SearchEditBody(Body):
    changes: dict[str, str] = Field(min_length=1, max_length=8)
    k: int = Field(10, ge=1, le=100)
    region: Region | None = None
    region_threshold: float | None = Field(
        None, gt=0, lt=1, description="where a named region's probe masks count (default: the model's own)"
    )

    _parse_changes = field_validator("changes", mode="before")(_changes)


class PoseBody(Body):
    target_keypoints: list | None = Field(None, description="18 [x, y] or null, OpenPose order")
    target_frame: tuple[int, int] | None = Field(None, description="[height, width] the target pose's pixels refer to")
    target_pose_id: int | None = Field(None, ge=0, description="a pose of GET /v1/poses")
    source_keypoints: list | None = None
    response: Literal["png", "json"] = "png"


class CatalogAddBody(Body):
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    attributes: dict[str, str] | None = None


JSON_FIELDS = {"changes", "target_keypoints", "target_frame", "source_keypoints", "attributes"}


class ParsedRequest:
    """The validated fields and the raw (still encoded) image bytes of a request."""

    def __init__(self, body: BaseModel, images: dict[str, bytes]):
        self.body, self.images = body, images


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise InputError("expected a base64 string (or a data: URL)", field=field)
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("not valid base64", field=field) from None


def _validation_error(e: ValidationError) -> InputError:
    first = e.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "body"
    msg = first.get("msg", "invalid")
    if first.get("type") == "extra_forbidden":
        msg = "unknown field"
    return InputError(msg, field=loc)


async def parse_request(
    request: Request, schema: type[BaseModel], image_fields: tuple[str, ...], required: tuple[str, ...] = ("image",)
) -> ParsedRequest:
    """Read and validate a request (see the module docstring), or raise InputError naming the field."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: dict[str, Any] = {}
    images: dict[str, bytes] = {}
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=len(image_fields), max_fields=32)
        except Exception as e:  # noqa: BLE001 - starlette raises several kinds for a malformed body
            raise InputError(f"malformed multipart body ({e})", field="body") from None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile) or hasattr(value, "read"):
                if key not in image_fields:
                    raise InputError(f"unexpected file; files go in {', '.join(image_fields)}", field=key)
                images[key] = await value.read()
            elif key in image_fields:
                images[key] = _b64(value, key)
            elif key in JSON_FIELDS and isinstance(value, str) and value.strip()[:1] in "[{":
                try:
                    data[key] = json.loads(value)
                except json.JSONDecodeError as e:
                    raise InputError(f"malformed JSON ({e.msg})", field=key) from None
            else:
                data[key] = value
    elif ctype == "application/json":
        try:
            payload = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"malformed JSON ({e})", field="body") from None
        if not isinstance(payload, dict):
            raise InputError("expected a JSON object", field="body")
        for key in image_fields:
            value = payload.pop(key, None)
            if value is not None:
                images[key] = _b64(value, key)
        data = payload
    elif ctype or await request.body():
        raise InputError(
            f"unsupported content type {ctype or '(none)'}; send multipart/form-data or application/json",
            field="content-type",
        )
    for key in required:
        if key not in images:
            raise InputError("missing: upload an image here", field=key)
    try:
        body = schema.model_validate(data)
    except ValidationError as e:
        raise _validation_error(e) from None
    return ParsedRequest(body, images)


def openapi_body(schema: type[BaseModel], image_fields: tuple[str, ...], required: tuple[str, ...]) -> dict:
    """The OpenAPI requestBody of an endpoint: the same schema as multipart (binary images) and JSON
    (base64 images)."""
    props = schema.model_json_schema()
    multipart = json.loads(json.dumps(props))
    as_json = json.loads(json.dumps(props))
    for key in image_fields:
        multipart.setdefault("properties", {})[key] = {"type": "string", "format": "binary"}
        as_json.setdefault("properties", {})[key] = {"type": "string", "format": "byte", "description": "base64"}
    for s in (multipart, as_json):
        s["required"] = sorted(set(s.get("required", [])) | set(required))
        s.pop("additionalProperties", None)
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": multipart}, "application/json": {"schema": as_json}},
        }
    }
