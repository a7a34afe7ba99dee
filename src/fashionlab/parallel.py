"""Ordered parallel map over worker processes, with the pool closed when iteration ends."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import get_context
from typing import Any


def imap(fn: Callable[[Any], Any], jobs: Iterable[Any], workers: int, chunksize: int = 64) -> Iterator[Any]:
    """``map(fn, jobs)`` in order, in ``workers`` processes when ``workers > 1`` (fork where available)."""
    if workers <= 1:
        yield from map(fn, jobs)
        return
    with get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
        yield from pool.imap(fn, jobs, chunksize=chunksize)
