"""What ``fashionlab serve`` runs with: the models, the catalog, the limits, and the address."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..usecases.images import ImageLimits


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServeConfig:
    """Models are export folders, run folders or ``asset:NAME``; ``None`` switches that capability off.
    ``catalog``: a catalog folder or Milvus location (a ``.db`` file, ``http://HOST:19530``), or None to
    build a SynthFashion demo catalog of ``demo_catalog_items`` items in ``work_dir`` at start-up (0: no
    catalog)."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # required for any bind outside loopback
    attrnet: str | None = "asset:attrnet-synth128"
    editor: str | None = "asset:amgan-synth64"
    reposer: str | None = "asset:deform-synth128x64"
    catalog: Path | str | None = None
    demo_catalog_items: int = 400
    work_dir: Path | None = None  # where a demo catalog and uploads go (default: a temporary folder)
    workers: int = 2  # requests computed at once (threads)
    queue: int = 16  # requests waiting beyond those; more get 503 with Retry-After
    timeout_s: float = 60.0  # a request still waiting or computing after this gets 504
    torch_threads: int = 1  # per worker
    limits: ImageLimits = field(default_factory=ImageLimits)
    max_body_bytes: int = 24 * 1024 * 1024  # a whole request (base64 JSON is 4/3 of the image)
    log_requests: bool = True

    def check(self) -> None:
        """Refuse settings that cannot work or are unsafe, naming the option."""
        if not is_loopback(self.host) and not self.api_key:
            raise InputError(
                f"binding to {self.host} exposes the service beyond this machine: give --api-key KEY "
                "(or FASHIONLAB_API_KEY), or bind to 127.0.0.1",
                field="--host",
            )
        if self.api_key is not None and len(self.api_key) < 16:
            raise InputError("the API key must be at least 16 characters", field="--api-key")
        if not 0 <= self.port < 65536:
            raise InputError(f"expected a port in 0..65535, got {self.port}", field="--port")
        for name in ("workers", "torch_threads"):
            if getattr(self, name) < 1:
                raise InputError("must be at least 1", field=f"--{name.replace('_', '-')}")
        if self.queue < 0:
            raise InputError("must be at least 0", field="--queue")
        if self.timeout_s <= 0:
            raise InputError("must be positive", field="--timeout")
        if self.catalog is None:
            return
        from ..search.locations import is_milvus

        if not is_milvus(self.catalog) and not (Path(self.catalog) / "catalog.json").is_file():
            raise InputError("not a fashionlab catalog (no catalog.json)", path=self.catalog, field="--catalog")
