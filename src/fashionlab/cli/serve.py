"""``fashionlab serve``: the HTTP API (``/v1``) and the web studio (``/``) on the shipped or your models."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one, printed).")] = 8000,
    api_key: Annotated[
        str | None, typer.Option(help="Key clients send as X-API-Key (default: $FASHIONLAB_API_KEY).")
    ] = None,
    attrnet: Annotated[str, typer.Option(help="Attribute network (attributes, maps, search); 'none' for none.")] = (
        "asset:attrnet-synth128"
    ),
    editor: Annotated[str, typer.Option(help="Editor (AMGAN, StarGAN); 'none' for none.")] = "asset:amgan-synth64",
    reposer: Annotated[
        str, typer.Option(help="Re-posing model (Deformable GAN, XingGAN, PATN); 'none' for none.")
    ] = "asset:deform-synth128x64",
    catalog: Annotated[
        str | None,
        typer.Option(
            help="A catalog: a folder, a Milvus Lite .db file or a Milvus URI http://HOST:19530 (default: a "
            "SynthFashion demo catalog)."
        ),
    ] = None,
    demo_catalog_items: Annotated[int, typer.Option(help="Items of the demo catalog built when no --catalog.")] = 400,
    work_dir: Annotated[Path | None, typer.Option(help="Folder for the demo catalog (kept, reused next time).")] = None,
    workers: Annotated[int, typer.Option(help="Requests computed at once.")] = 2,
    queue: Annotated[int, typer.Option(help="Requests waiting beyond those; more get 503 + Retry-After.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds before a request gets 504.")] = 60.0,
    max_upload_mb: Annotated[float, typer.Option(help="Largest image upload, MB.")] = 10.0,
    max_pixels: Annotated[int, typer.Option(help="Largest image, pixels (checked before decoding).")] = 25_000_000,
    log_level: Annotated[str, typer.Option(help="debug, info, warning.")] = "info",
) -> None:
    """Serve the HTTP API and the web studio (FastAPI + uvicorn). Models load once, at start-up."""
    from ..errors import InputError
    from ..serve.config import ServeConfig
    from ..usecases.images import ImageLimits

    none = lambda v: None if v.lower() == "none" else v  # noqa: E731
    if max_upload_mb <= 0 or max_pixels <= 0:
        raise InputError("upload limits must be positive", field="--max-upload-mb")
    limit_bytes = int(max_upload_mb * 1024 * 1024)
    cfg = ServeConfig(
        host=host,
        port=port,
        api_key=api_key or os.environ.get("FASHIONLAB_API_KEY") or None,
        attrnet=none(attrnet),
        editor=none(editor),
        reposer=none(reposer),
        catalog=catalog,
        demo_catalog_items=demo_catalog_items,
        work_dir=work_dir,
        workers=workers,
        queue=queue,
        timeout_s=timeout,
        limits=ImageLimits(max_bytes=limit_bytes, max_pixels=max_pixels),
        max_body_bytes=int(limit_bytes * 4 / 3 * 2 + 65536),
    )
    run_service(cfg, log_level)


def run_service(cfg, log_level: str = "info", any_port: bool = False, open_browser: bool = False) -> None:
    """Start the service of ``cfg`` and serve until Ctrl-C: models loaded first, then the port bound (``any_port``:
    a free one when ``cfg.port`` is taken), the studio's URL printed (and opened in a browser when asked and a
    display exists)."""
    import logging
    import socket

    import uvicorn

    from ..errors import InputError
    from ..serve.app import create_app
    from ..serve.state import start

    cfg.check()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out.print("loading models ...")
    state = start(cfg)
    sock = socket.socket(socket.AF_INET6 if ":" in cfg.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # uvicorn takes the socket as given (fd=) and never sets TCP_NODELAY on it: without this, every response
    # waits ~40 ms for the client's delayed ACK (measured: health 43.9 ms -> 0.6 ms)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((cfg.host, cfg.port))
    except OSError as e:
        if not any_port:
            raise InputError(f"cannot listen on {cfg.host}:{cfg.port} ({e.strerror})", field="--port") from None
        sock.bind((cfg.host, 0))
    bound = sock.getsockname()[1]
    shown = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    url = f"http://{shown}:{bound}/"
    out.print(f"fashionlab studio: {url}   (API: {url}v1, schema {url}openapi.json)")
    models = ", ".join(f"{k}={v}" for k, v in state.sources.items()) or "none"
    items = len(state.catalog) if state.catalog is not None else "no"
    out.print(f"models: {models}; catalog: {items} items; Ctrl-C stops")
    if open_browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform == "darwin"):
        import webbrowser

        webbrowser.open(url)
    app = create_app(state=state)
    uvicorn.run(app, fd=sock.fileno(), log_level=log_level.lower(), access_log=False)
