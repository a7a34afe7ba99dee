"""Safety under load and bad input: a bounded worker pool (requests queue, then get 503 with
Retry-After), a time limit per request (504), a limit on the request body (413, checked from
Content-Length before reading and while reading), request ids, and an API key."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("fashionlab.serve")
T = TypeVar("T")


class Busy(Exception):
    """Every worker is busy and the queue is full."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after


class TimedOut(Exception):
    """A request waited and computed longer than the service's time limit."""

    def __init__(self, seconds: float):
        self.seconds = seconds


class WorkerPool:
    """At most ``workers`` computations at once, at most ``queue`` more waiting; the rest are refused at
    once (:class:`Busy`), so a burst of requests costs memory for ``workers + queue`` of them only."""

    def __init__(self, workers: int, queue: int, timeout_s: float):
        self.workers, self.queue, self.timeout_s = workers, queue, timeout_s
        self._limiter = anyio.CapacityLimiter(workers)
        self._admitted = 0
        self._lock = threading.Lock()
        self.served = 0
        self.refused = 0
        self.timed_out = 0
        self._mean_s = 1.0

    @property
    def in_flight(self) -> int:
        return self._admitted

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread, or :class:`Busy` / :class:`TimedOut`."""
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                self.refused += 1
                waiting = self._admitted - self.workers + 1
                raise Busy(max(1, round(self._mean_s * waiting / self.workers)))
            self._admitted += 1
        start = time.perf_counter()
        try:
            task = anyio.to_thread.run_sync(fn, *args, limiter=self._limiter, abandon_on_cancel=True)
            return await asyncio.wait_for(task, self.timeout_s)
        except TimeoutError:
            self.timed_out += 1
            raise TimedOut(self.timeout_s) from None
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self._admitted -= 1
                self.served += 1
                self._mean_s = 0.9 * self._mean_s + 0.1 * elapsed


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestLimits:
    """ASGI middleware: a request id for every request (the client's ``X-Request-ID`` when well formed),
    echoed in the response and logged with method, path, status and time; bodies over ``max_body_bytes``
    answered 413 without reading them (Content-Length) or as soon as they pass the limit (streamed); an API
    key checked on ``/v1/`` (``X-API-Key`` or ``Authorization: Bearer``) when one is set."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, api_key: str | None = None, log_requests: bool = True):
        self.app, self.max_body_bytes, self.api_key, self.log_requests = app, max_body_bytes, api_key, log_requests

    async def _reply(self, send: Send, status: int, message: str, field: str | None, request_id: str) -> None:
        import json

        body = json.dumps({"error": {"message": message, "field": field}, "request_id": request_id}).encode()
        headers = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="fashionlab"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _too_large(self, send: Send, request_id: str) -> None:
        await self._reply(
            send, 413, f"the request body is larger than the {self.max_body_bytes:,} bytes accepted", "body", request_id
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status_box = {"status": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
                message.setdefault("headers", [])
                if not any(k.lower() == b"x-request-id" for k, _ in message["headers"]):
                    message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            path = scope.get("path", "")
            if self.api_key and path.startswith("/v1/") and path != "/v1/health":
                auth = headers.get("authorization", "")
                key = headers.get("x-api-key") or (auth[7:] if auth.lower().startswith("bearer ") else "")
                if not secrets.compare_digest(key.encode(), self.api_key.encode()):
                    status_box["status"] = 401
                    await self._reply(
                        send, 401, "a valid API key is required (X-API-Key header)", "X-API-Key", request_id
                    )
                    return
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                status_box["status"] = 413
                await self._too_large(send, request_id)
                return
            if length is None and scope.get("method") in ("POST", "PUT", "PATCH"):
                # a streamed (chunked) body: read it here, up to the limit, then hand it on
                chunks, received, more = [], 0, True
                while more:
                    message = await receive()
                    if message["type"] != "http.request":
                        break
                    chunks.append(message.get("body", b""))
                    received += len(chunks[-1])
                    more = message.get("more_body", False)
                    if received > self.max_body_bytes:
                        status_box["status"] = 413
                        await self._too_large(send, request_id)
                        return
                body, sent = b"".join(chunks), False

                async def replay() -> Message:
                    nonlocal sent
                    if not sent:
                        sent = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    return await receive()

                await self.app(scope, replay, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            if self.log_requests:
                log.info(
                    "request %s %s %s -> %s in %.1f ms",
                    request_id,
                    scope.get("method"),
                    scope.get("path"),
                    status_box["status"],
                    (time.perf_counter() - start) * 1000,
                )
