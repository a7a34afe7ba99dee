"""Atomic file writes: the one helper every writer of checkpoints, exports, catalogs and datasets uses.

A file is written to ``NAME.tmp`` in the same folder, flushed and fsync'ed, then renamed over ``NAME``:
a kill or a crash mid-write leaves the previous file intact, never half a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], *, suffix: str = ".tmp") -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, fsync it, then rename it over ``path``.

    ``suffix`` names the temporary file (``NAME + suffix``); use one that keeps the extension a library
    insists on (``numpy.savez`` adds ``.npz`` unless the name ends with it)."""
    path = Path(path)
    tmp = path.with_name(path.name + suffix)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))
