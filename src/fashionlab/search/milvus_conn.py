"""A connection to Milvus (Lite or a server) that turns its failures into errors a user can act on, and a
small key -> text store in a collection beside the items (the catalog's description and prototypes)."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import InputError
from .uri import MilvusLocation

#: seconds to wait for a Milvus server before saying it cannot be reached
CONNECT_TIMEOUT = 10.0
#: characters per row of the key -> text store (Milvus VARCHAR holds at most 65,535 bytes)
CHUNK = 60_000


def connect(loc: MilvusLocation, token: str | None = None) -> Any:
    """A ``pymilvus.MilvusClient`` for ``loc``, or an InputError naming what was expected."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise InputError(
            "Milvus catalogs need pymilvus and milvus-lite (pip install 'pymilvus==3.0.*' 'milvus-lite==3.2.*')",
            path=str(loc),
        ) from None
    # they log the errors we report ourselves (with tracebacks); pymilvus sets its levels when imported
    for name in ("pymilvus", "pymilvus.milvus_client", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if loc.lite:
        from pathlib import Path

        parent = Path(loc.uri).parent
        if not parent.is_dir():
            raise InputError(f"the folder {parent} does not exist; expected a Milvus Lite file in an existing folder")
    try:
        return MilvusClient(uri=loc.uri, token=token or "", timeout=CONNECT_TIMEOUT)
    except Exception as e:  # pymilvus raises MilvusException, gRPC or OS errors depending on what failed
        reason = getattr(e, "message", None) or str(e) or type(e).__name__
        if loc.lite:
            raise InputError(
                f"could not open the Milvus Lite catalog ({reason}); a Milvus Lite file is used by one process at a "
                "time: is a `fashionlab serve` or another command using it?",
                path=str(loc),
            ) from None
        raise InputError(
            f"cannot reach Milvus at {loc.uri} ({reason}); expected a running Milvus Standalone or Distributed "
            "there (docs/scale.md), or a local path ending in .db for Milvus Lite",
            path=str(loc),
        ) from None


#: open connections per Milvus Lite file: its embedded server is stopped when the last one closes
_LITE_USERS: dict[str, int] = {}


class MilvusConn:
    """A client and its location; :meth:`call` runs one pymilvus method, errors as InputErrors."""

    def __init__(self, loc: MilvusLocation, token: str | None = None):
        self.loc = loc
        self.client = connect(loc, token)
        self._open = True
        if loc.lite:
            _LITE_USERS[loc.uri] = _LITE_USERS.get(loc.uri, 0) + 1

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<method>(*args, **kwargs)``; a Milvus failure becomes an InputError saying ``what`` failed."""
        from pymilvus.exceptions import MilvusException

        try:
            return getattr(self.client, method)(*args, **kwargs)
        except MilvusException as e:
            raise InputError(f"Milvus could not {what}: {e.message}", path=str(self.loc)) from None

    def close(self) -> None:
        """Close the client; for Milvus Lite, the last one to close stops the embedded server, so that another
        process may open the file."""
        if not self._open:
            return
        self._open = False
        try:
            self.client.close()
        finally:
            if self.loc.lite:
                _LITE_USERS[self.loc.uri] -= 1
            if self.loc.lite and _LITE_USERS[self.loc.uri] == 0:
                try:
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(self.loc.uri)
                except Exception:  # an older milvus-lite: the file is released at process exit
                    pass


class TextStore:
    """Key -> text rows in a collection of their own (texts longer than a VARCHAR are split into rows)."""

    def __init__(self, conn: MilvusConn, collection: str):
        self.conn, self.collection = conn, collection

    def exists(self) -> bool:
        """Whether the collection is there."""
        return bool(self.conn.call("list collections", "has_collection", self.collection))

    def create(self) -> None:
        """Create the collection (a 2-d dummy vector: Milvus wants one in every collection)."""
        from pymilvus import DataType

        schema = self.conn.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("text", DataType.VARCHAR, max_length=65_535)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        index = self.conn.client.prepare_index_params()
        index.add_index("v", index_type="FLAT", metric_type="L2")
        self.conn.call(
            "create a collection",
            "create_collection",
            self.collection,
            schema=schema,
            index_params=index,
            consistency_level="Strong",
        )

    def load(self) -> None:
        """Load the collection (Milvus serves only loaded collections; a restart releases them)."""
        self.conn.call("load the catalog's description", "load_collection", self.collection)

    def put(self, key: str, text: str) -> int:
        """Store ``text`` under ``key`` (one atomic row when it fits in :data:`CHUNK`); returns its rows."""
        parts = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
        rows = [{"key": f"{key}/{i}", "text": p, "v": [0.0, 0.0]} for i, p in enumerate(parts)]
        self.conn.call("write the catalog's description", "upsert", self.collection, rows)
        return len(rows)

    def get(self, key: str, rows: int = 1) -> str | None:
        """The text under ``key`` stored in ``rows`` rows (None if absent)."""
        keys = [f"{key}/{i}" for i in range(rows)]
        got = self.conn.call("read the catalog's description", "get", self.collection, ids=keys)
        by_key = {r["key"]: r["text"] for r in got}
        if len(by_key) != rows:
            return None
        return "".join(by_key[k] for k in keys)

    def drop(self) -> None:
        """Remove the collection."""
        self.conn.call("drop a collection", "drop_collection", self.collection)
