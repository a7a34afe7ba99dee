"""A bounded load test of ``fashionlab serve`` on loopback (issue #14, "Load").

    OMP_NUM_THREADS=1 python bench/bench_serve_load.py
    python bench/bench_serve_load.py --requests 800 --clients 32 --queue 16   # 32 > 2 + 16: expect 503s

Starts the service itself (``fashionlab serve --host 127.0.0.1 --port 0 --demo-catalog-items N --work-dir
TMP``, the service's default workers and queue unless ``--workers`` / ``--queue`` are given), waits for
``GET /v1/health``, then:

1. warm-up: each kind of request below once, then ``--warmup`` times more, one at a time (not counted in the
   load figures); the median of those is the kind's latency *alone*, used to show where the compute goes;
2. load: a deterministic mix of ``--requests`` requests (equal shares of the eight kinds, shuffled with
   ``--seed``) sent by ``--clients`` threads, one ``httpx.Client`` each, every request with a time limit
   and the whole phase with ``--time-limit``. Images are the service's own SynthFashion samples
   (``GET /v1/samples``); multipart and base64 JSON bodies alternate.

The kinds: attributes (plain), attributes with attention maps, edit answered as PNG, edit answered as JSON,
search by image, search by image with an attribute change, search by an edited image (``/v1/search/edit``),
re-pose to a gallery pose (``target_pose_id``). Edits and search changes always ask for a value the sample
does not have, so no request is an "already so: unchanged" shortcut.

Per request: kind, HTTP status, latency, and the server process's resident memory (``VmRSS`` of
``/proc/PID/status``, or psutil when installed) right after it completed. Prints a markdown table per kind
(requests, failures, 503 refusals, p50 / p99 latency) with the throughput and the mean RSS over the first and
the last 100 completed requests. A failure is a non-2xx answer other than 503, a transport error or timeout,
or a 2xx whose body is not what the endpoint promises; 503 (the bounded queue refusing) is counted apart as
"refused". Exits 1 if any request failed or was not sent in time, 3 if the service did not start.

Only ever talks to 127.0.0.1 (the client ignores proxy settings). The server is stopped at the end (SIGINT,
then SIGKILL after ``--stop-grace`` seconds), also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import math
import os
import platform
import queue
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from serve_process import Server  # bench/serve_process.py (python puts bench/ first on sys.path)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: kind -> (method path, what it exercises); the table's rows, in this order
KINDS: dict[str, str] = {
    "attributes": "POST /v1/attributes",
    "attributes+maps": "POST /v1/attributes attention=true",
    "edit png": "POST /v1/edit",
    "edit json": "POST /v1/edit response=json",
    "search": "POST /v1/search",
    "search+change": "POST /v1/search changes",
    "search/edit": "POST /v1/search/edit",
    "pose": "POST /v1/pose target_pose_id",
}


# ---------------------------------------------------------------------------------------------- the requests


@dataclass
class Spec:
    """One request to send: its kind, the endpoint, the body encoding, the fields and the images."""

    index: int
    kind: str
    path: str
    encoding: str  # "multipart" or "json"
    fields: dict[str, Any]
    images: dict[str, bytes]
    expect: str  # "png" or a JSON key the answer must have


@dataclass
class Record:
    """What one request did: status 0 for a transport error or timeout (``error`` says which)."""

    index: int
    kind: str
    status: int
    latency_ms: float
    done_at: float
    order: int = -1  # completion order in the load phase
    rss_mib: float | None = None
    error: str | None = None
    request_id: str | None = None


def _other_value(values: list[str], current: str | None, rng: random.Random) -> str:
    """A value of ``values`` other than ``current`` (any when there is no other)."""
    choices = [v for v in values if v != current] or list(values)
    return rng.choice(choices)


@dataclass
class Material:
    """What the requests are built from, fetched from the running service."""

    garments: list[tuple[dict[str, str], bytes]] = field(default_factory=list)  # (attributes, PNG)
    persons: list[bytes] = field(default_factory=list)
    editable: dict[str, list[str]] = field(default_factory=dict)
    searchable: dict[str, list[str]] = field(default_factory=dict)
    poses: int = 0


def fetch_material(client: httpx.Client) -> Material:
    """The service's SynthFashion samples, its editable and searchable attributes and its pose count."""
    m = Material()
    for s in client.get("/v1/samples").raise_for_status().json():
        png = client.get(s["url"]).raise_for_status().content
        if s["kind"] == "garment":
            m.garments.append((s["attributes"], png))
        elif s["kind"] == "person":
            m.persons.append(png)
    m.editable = {k: list(v) for k, v in client.get("/v1/health").json()["editable"].items()}
    m.searchable = {k: list(v) for k, v in client.get("/v1/catalog").raise_for_status().json()["attributes"].items()}
    m.poses = len(client.get("/v1/poses").raise_for_status().json())
    if not (m.garments and m.persons and m.editable and m.searchable and m.poses):
        raise RuntimeError("the service offers no garment or person samples, editor, catalog or poses to load-test")
    return m


def build_spec(index: int, kind: str, nth: int, m: Material, rng: random.Random) -> Spec:
    """The ``nth`` request of ``kind`` (multipart for even ``nth``, base64 JSON for odd)."""
    attrs, garment = m.garments[nth % len(m.garments)]
    encoding = "multipart" if nth % 2 == 0 else "json"
    images = {"image": garment}
    if kind in ("edit png", "edit json", "search/edit"):
        name = rng.choice(sorted(m.editable))
        fields: dict[str, Any] = {"changes": {name: _other_value(m.editable[name], attrs.get(name), rng)}}
    else:
        fields = {}
    if kind == "attributes":
        path, expect = "/v1/attributes", "attributes"
    elif kind == "attributes+maps":
        path, expect, fields = "/v1/attributes", "attention_maps", {"attention": True}
    elif kind == "edit png":
        path, expect = "/v1/edit", "png"
    elif kind == "edit json":
        path, expect = "/v1/edit", "mask"
        fields["response"] = "json"
    elif kind in ("search", "search+change"):
        path, expect, fields = "/v1/search", "results", {"k": 10}
        if kind == "search+change":
            name = rng.choice(sorted(m.searchable))
            fields["changes"] = {name: _other_value(m.searchable[name], attrs.get(name), rng)}
    elif kind == "search/edit":
        path, expect = "/v1/search/edit", "edited"
        fields["k"] = 10
    elif kind == "pose":
        path, expect = "/v1/pose", "png"
        images = {"image": m.persons[nth % len(m.persons)]}
        fields = {"target_pose_id": nth % m.poses}
    else:
        raise ValueError(kind)
    return Spec(index, kind, path, encoding, fields, images, expect)


def build_mix(n: int, m: Material, seed: int) -> list[Spec]:
    """``n`` requests in equal shares of the kinds (the first ``n % 8`` kinds one more), shuffled with ``seed``."""
    rng = random.Random(seed)
    names = list(KINDS)
    kinds = [names[i % len(names)] for i in range(n)]
    rng.shuffle(kinds)
    seen: collections.Counter[str] = collections.Counter()
    specs = []
    for i, kind in enumerate(kinds):
        specs.append(build_spec(i, kind, seen[kind], m, rng))
        seen[kind] += 1
    return specs


def request_id(spec: Spec) -> str:
    """``load-N`` for the load phase's N-th request, ``warm-N`` for the warm-up's."""
    return f"load-{spec.index}" if spec.index >= 0 else f"warm-{-spec.index}"


def send(client: httpx.Client, spec: Spec) -> httpx.Response:
    """POST ``spec`` as multipart (images as file parts, dicts as JSON text) or as JSON (images as base64), with
    its request id (``load-N``, or ``warm-N`` in the warm-up) for finding it in the service's log."""
    headers = {"X-Request-ID": request_id(spec)}
    if spec.encoding == "json":
        body = {**spec.fields, **{k: base64.b64encode(v).decode() for k, v in spec.images.items()}}
        return client.post(spec.path, json=body, headers=headers)
    files = {k: (f"{k}.png", v, "image/png") for k, v in spec.images.items()}
    data = {k: json.dumps(v) if isinstance(v, dict | list | bool) else str(v) for k, v in spec.fields.items()}
    return client.post(spec.path, files=files, data=data, headers=headers)


def check_body(spec: Spec, r: httpx.Response) -> str | None:
    """None when a 2xx answer is what the endpoint promises, else what is wrong with it."""
    if spec.expect == "png":
        ok = r.headers.get("content-type", "").startswith("image/png") and r.content.startswith(PNG_MAGIC)
        return None if ok else f"expected a PNG, got {r.headers.get('content-type')} ({len(r.content)} bytes)"
    try:
        body = r.json()
    except ValueError:
        return "expected JSON, got something else"
    if spec.expect not in body:
        return f"no {spec.expect!r} in the answer (keys: {sorted(body)[:8]})"
    if spec.expect == "results" and len(body["results"]) != spec.fields.get("k"):
        return f"{len(body['results'])} results, asked for {spec.fields.get('k')}"
    return None


def timed(client: httpx.Client, spec: Spec) -> Record:
    """Send ``spec``; its record (status, latency, and a body check for 2xx)."""
    t0 = time.perf_counter()
    try:
        r = send(client, spec)
        ms = (time.perf_counter() - t0) * 1000
        error = check_body(spec, r) if 200 <= r.status_code < 300 else r.text[:300]
        return Record(spec.index, spec.kind, r.status_code, ms, time.monotonic(), error=error,
                      request_id=request_id(spec))  # fmt: skip
    except httpx.HTTPError as e:
        ms = (time.perf_counter() - t0) * 1000
        return Record(spec.index, spec.kind, 0, ms, time.monotonic(), error=f"{type(e).__name__}: {e}",
                      request_id=request_id(spec))  # fmt: skip


def is_ok(r: Record) -> bool:
    """A 2xx answer with the body its endpoint promises."""
    return 200 <= r.status < 300 and r.error is None


def is_refused(r: Record) -> bool:
    """Refused by the bounded queue (503 + Retry-After): counted apart from failures."""
    return r.status == 503


# ---------------------------------------------------------------------------------------------- the run


def warm_up(client: httpx.Client, m: Material, repeat: int, seed: int) -> tuple[dict[str, float], list[Record]]:
    """One untimed request of each kind (first-call costs), then each kind ``repeat`` times, one request at a
    time: the median latency of each kind alone, and all the records (for failures)."""
    rng = random.Random(seed + 1)
    records = [timed(client, build_spec(-1 - i, kind, 0, m, rng)) for i, kind in enumerate(KINDS)]
    alone = {}
    for kind in KINDS:
        times = []
        for i in range(repeat):
            rec = timed(client, build_spec(-1 - len(records), kind, i, m, rng))
            records.append(rec)
            times.append(rec.latency_ms)
        alone[kind] = statistics.median(times)
    return alone, records


def load(server: Server, specs: list[Spec], clients: int, request_timeout: float, time_limit: float) -> list[Record]:
    """Send ``specs`` from ``clients`` threads (one httpx.Client each); a request not started before
    ``time_limit`` is not sent. The server's RSS is read after each completion."""
    todo: queue.Queue[Spec] = queue.Queue()
    for s in specs:
        todo.put(s)
    records: list[Record] = []
    lock = threading.Lock()
    deadline = time.monotonic() + time_limit

    def client_thread() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=server.base_url, timeout=request_timeout, trust_env=False, limits=limits) as c:
            while time.monotonic() < deadline:
                try:
                    spec = todo.get_nowait()
                except queue.Empty:
                    return
                rec = timed(c, spec)
                with lock:
                    rec.order = len(records)
                    rec.rss_mib = server.rss_mib()
                    records.append(rec)

    threads = [threading.Thread(target=client_thread, name=f"client-{i}", daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + request_timeout + 5)
    with lock:
        return list(records)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _ms(v: float) -> str:
    """Milliseconds as text ("-" when there were none)."""
    return "-" if math.isnan(v) else f"{v:,.0f}"


def mean_rss(records: list[Record]) -> float | None:
    """Mean server RSS (MiB) read after ``records`` completed, or None."""
    vals = [r.rss_mib for r in records if r.rss_mib is not None]
    return statistics.fmean(vals) if vals else None


def _mib(v: float | None) -> str:
    """``v`` MiB as text."""
    return "n/a" if v is None else f"{v:,.0f} MiB"


def report(
    records: list[Record], specs: list[Spec], alone: dict[str, float], wall_s: float, rss: dict[str, float | None]
) -> tuple[str, int]:
    """The markdown report, and the number of failed or unsent requests."""
    by_kind: dict[str, list[Record]] = collections.defaultdict(list)
    for r in records:
        by_kind[r.kind].append(r)
    planned = collections.Counter(s.kind for s in specs)
    service_ms = {k: alone[k] * sum(1 for r in by_kind[k] if is_ok(r)) for k in KINDS}
    total_service = sum(service_ms.values()) or 1.0
    lines = [
        "| endpoint | requests | failed | refused (503) | p50 ms | p99 ms | alone ms | share of compute |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, label in KINDS.items():
        rs = by_kind[kind]
        ok = [r.latency_ms for r in rs if is_ok(r)]
        failed = sum(1 for r in rs if not is_ok(r) and not is_refused(r)) + (planned[kind] - len(rs))
        lines.append(
            f"| {kind} (`{label}`) | {planned[kind]} | {failed} | {sum(map(is_refused, rs))} | "
            f"{_ms(percentile(ok, 50))} | {_ms(percentile(ok, 99))} | {alone[kind]:,.0f} | "
            f"{100 * service_ms[kind] / total_service:.0f}% |"
        )
    ok_all = [r.latency_ms for r in records if is_ok(r)]
    failed_all = sum(1 for r in records if not is_ok(r) and not is_refused(r))
    unsent = len(specs) - len(records)
    refused = sum(map(is_refused, records))
    lines.append(
        f"| **all** | {len(specs)} | {failed_all + unsent} | {refused} | {_ms(percentile(ok_all, 50))} | "
        f"{_ms(percentile(ok_all, 99))} | | |"
    )
    done = sorted(records, key=lambda r: r.order)
    first, last = mean_rss(done[:100]), mean_rss(done[-100:])
    growth = "n/a" if first is None or last is None else f"{last - first:+,.1f} MiB ({100 * (last / first - 1):+.1f}%)"
    lines += [
        "",
        f"- throughput: **{len(ok_all) / wall_s:.2f} req/s** ({len(ok_all)} answered 2xx in {wall_s:.1f} s)",
        f"- failed: **{failed_all + unsent}** (not sent in the time limit: {unsent}); refused (503): {refused}",
        f"- server RSS: before warm-up {_mib(rss['before'])}, after warm-up {_mib(rss['warm'])}; mean over the "
        f"first 100 requests **{_mib(first)}**, over the last 100 **{_mib(last)}** ({growth}); "
        f"peak (VmHWM) {_mib(rss['peak'])}",
        f"- the mix's compute alone (sum over answered requests of their kind's median latency alone): "
        f"{total_service / 1000:.1f} s, against {wall_s:.1f} s of wall time: {total_service / 1000 / wall_s:.2f} "
        "requests computing at a time on average",
    ]
    return "\n".join(lines), failed_all + unsent


def failure_examples(records: list[Record], limit: int = 8) -> list[str]:
    """A few failed requests, 503 refusals left out (kind, status, request id, the start of the answer)."""
    out = []
    for r in records:
        if not is_ok(r) and not is_refused(r) and len(out) < limit:
            out.append(f"  {r.kind}: status {r.status}, request id {r.request_id}: {r.error}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=400, help="requests in the load phase")
    ap.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    ap.add_argument("--workers", type=int, default=None, help="passed to serve --workers (default: serve's own)")
    ap.add_argument("--queue", type=int, default=None, help="passed to serve --queue (default: serve's own)")
    ap.add_argument("--catalog-items", type=int, default=400, help="serve --demo-catalog-items")
    ap.add_argument("--work-dir", type=Path, default=None, help="serve --work-dir (default: a temporary folder)")
    ap.add_argument("--warmup", type=int, default=3, help="sequential requests of each kind before the load")
    ap.add_argument("--seed", type=int, default=0, help="the mix's shuffle and attribute choices")
    ap.add_argument("--request-timeout", type=float, default=120.0, help="seconds per request")
    ap.add_argument("--time-limit", type=float, default=1200.0, help="seconds for the load phase")
    ap.add_argument("--startup-timeout", type=float, default=900.0, help="seconds for the service to start")
    ap.add_argument("--stop-grace", type=float, default=15.0, help="seconds after SIGINT before SIGKILL")
    ap.add_argument("--server-log-level", default="warning", help="serve --log-level")
    ap.add_argument("--records", type=Path, default=None, help="write every request's record here (JSON lines)")
    args = ap.parse_args()
    if args.requests < 1 or args.clients < 1:
        ap.error("--requests and --clients must be at least 1")

    tmp = None
    if args.work_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-serve-load-"))
        work_dir = tmp
    else:
        work_dir = args.work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
    server = None
    code = 0
    try:
        started = time.monotonic()
        server = Server(args, work_dir, work_dir / "server.log")
        print(f"starting: {' '.join(server.command)}", flush=True)
        try:
            server.wait_listening(args.startup_timeout)
        except RuntimeError as e:
            print(f"the service did not start: {e}\n--- its last output:\n" + "\n".join(server.tail), file=sys.stderr)
            return 3
        print(f"listening on {server.base_url} after {time.monotonic() - started:.0f} s (pid {server.proc.pid})")
        rss: dict[str, float | None] = {"before": server.rss_mib()}
        with httpx.Client(base_url=server.base_url, timeout=max(60.0, args.request_timeout), trust_env=False) as c:
            try:
                health = c.get("/v1/health").json()
                material = fetch_material(c)
            except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as e:
                print(f"could not read the samples, catalog or poses from the service: {e}", file=sys.stderr)
                return 3
        with httpx.Client(base_url=server.base_url, timeout=args.request_timeout, trust_env=False) as c:
            alone, warm_records = warm_up(c, material, max(1, args.warmup), args.seed)
        rss["warm"] = server.rss_mib()
        bad_warm = [r for r in warm_records if not is_ok(r)]
        specs = build_mix(args.requests, material, args.seed)
        print(f"warm-up done ({len(warm_records)} requests, {len(bad_warm)} failed); sending {len(specs)} requests "
              f"from {args.clients} clients ...", flush=True)  # fmt: skip
        t0 = time.monotonic()
        records = load(server, specs, args.clients, args.request_timeout, args.time_limit)
        wall_s = (max((r.done_at for r in records), default=t0) - t0) or 1e-9
        rss["peak"] = server.peak_rss_mib()
        alive = server.proc.poll() is None

        table, failed = report(records, specs, alone, wall_s, rss)
        print()
        print(f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {platform.node()}, {os.cpu_count()} CPUs, "
              f"load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}; OMP_NUM_THREADS="
              f"{os.environ.get('OMP_NUM_THREADS', '(unset)')}")  # fmt: skip
        print(f"service: workers {health['workers']}, queue {health['queue']}, catalog {health['catalog_items']} "
              f"items, models {', '.join(health['models'])}; {len(specs)} requests from {args.clients} clients, "
              f"seed {args.seed}; alone = median of {max(1, args.warmup)} sequential warm-up requests")  # fmt: skip
        print()
        print(table)
        examples = failure_examples([*bad_warm, *records])
        if examples:
            print("\nfailed requests (first few):\n" + "\n".join(examples))
        if bad_warm:
            print(f"\n{len(bad_warm)} warm-up requests failed")
        if not alive:
            print(f"\nthe service exited during the run (code {server.proc.returncode})")
        if args.records:
            with args.records.open("w") as f:
                for r in sorted(records, key=lambda r: r.order):
                    f.write(json.dumps(r.__dict__) + "\n")
        code = 1 if failed or bad_warm or not alive else 0
    except KeyboardInterrupt:
        code = 130
    finally:
        if server is not None:
            rc = server.stop(args.stop_grace)
            if code:
                print("--- the service's last output:\n" + "\n".join(server.tail), file=sys.stderr)
            print(f"service stopped (exit code {rc}); its log: {server.log_path if tmp is None else 'removed'}")
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
