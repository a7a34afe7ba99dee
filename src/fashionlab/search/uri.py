"""Where a catalog lives: a folder (SQLite + FAISS, the default) or a Milvus URI, told apart and parsed.

Milvus locations:

- ``catalog.db``: Milvus Lite, embedded in this process (no server; one process at a time);
- ``http://HOST:19530`` or ``https://HOST:PORT``: Milvus Standalone or Distributed (a token, if the server
  wants one, comes from ``$FASHIONLAB_MILVUS_TOKEN``).

Either may end in ``#COLLECTION`` (default ``fashionlab_catalog``) to keep several catalogs in one Milvus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

DEFAULT_COLLECTION = "fashionlab_catalog"
_COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
EXPECTED = (
    "a catalog folder, a Milvus Lite file ending in .db, or a Milvus server URI http://HOST:19530 "
    "(optionally followed by #COLLECTION)"
)


@dataclass(frozen=True)
class MilvusLocation:
    """A parsed Milvus location: ``uri`` as pymilvus takes it, the collection, and whether it is Lite."""

    uri: str
    collection: str
    lite: bool

    def __str__(self) -> str:
        return f"{self.uri}#{self.collection}" if self.collection != DEFAULT_COLLECTION else self.uri


def is_milvus(location: str | Path) -> bool:
    """True when ``location`` names a Milvus catalog rather than a folder."""
    text = str(location).split("#", 1)[0]
    return text.endswith(".db") or text.startswith(("http://", "https://", "tcp://", "grpc://"))


def parse_milvus(location: str | Path) -> MilvusLocation:
    """Split a Milvus location into URI and collection, or an InputError saying what was expected."""
    text = str(location)
    uri, _, collection = text.partition("#")
    collection = collection or DEFAULT_COLLECTION
    if not _COLLECTION_NAME.match(collection):
        raise InputError(
            f"a Milvus collection name is letters, digits and underscores, starting with a letter; got {collection!r}",
            field="catalog",
        )
    if uri.startswith(("tcp://", "grpc://")):
        raise InputError(f"expected {EXPECTED}; got {text!r} (Milvus URIs start with http:// or https://)")
    lite = uri.endswith(".db")
    if lite:
        uri = str(Path(uri).expanduser().resolve())
    elif not re.match(r"^https?://[^/\s:]+(:\d+)?/?$", uri):
        raise InputError(f"expected {EXPECTED}; got {text!r}", field="catalog")
    return MilvusLocation(uri, collection, lite)
