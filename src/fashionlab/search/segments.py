"""The immutable segments of a folder catalog (:mod:`.catalog`): their files, the merge policy, and what a
process keeps in memory of each.

A segment holds the vectors of a contiguous run of item positions ``[start, start + count)``: a vectors
file (``segment-GGGGGG.npz``: every kind of vector of those items) and a FAISS index file
(``segment-GGGGGG.faiss``: their global representations), both written once by the generation ``G`` that
created the segment (an add, or a merge) and never changed. ``catalog.json`` lists the current segments in
position order; a catalog of format version 1 has one implicit segment, its ``vectors-GGGGGG.npz`` and
``index-GGGGGG.faiss`` pair (:func:`segments_of`).

**Merge policy** (:func:`plan_merge`): Lucene's LogMergePolicy over adjacent segments. A segment's level
is ``log10(max(count, MERGE_FLOOR))``. Going from the first segment, the segments whose level lies within
:data:`LEVEL_SPAN` of the highest level of those left form a band (a smaller segment inside the band is
swept along); any :data:`MERGE_FACTOR` adjacent segments of a band are merged into one, and the policy runs
again until nothing is left to merge. Only adjacent segments merge, so every segment keeps a contiguous run
of positions and the SQLite rows are never touched by a merge.

Costs, with ``F = MERGE_FACTOR = 10`` and ``N`` items (simulated figures: ``simulate`` in
tests/test_catalog_segments.py):

- An add writes its batch as one segment and looks its ids up in SQLite's index: O(batch), plus the
  merges it triggers.
- Amortised, an item is rewritten about once per band it climbs, ``log10(N / 1,000)`` times: 1,000 adds of
  1,000 items write 4.0 items per item added (the add's own write included). Below the floor, single-item
  adds rewrite the small segments they land in: about 200 items written per item added, whatever ``N``
  (the floor band's segments stay under about 5,600 items).
- Segments: at most ``F - 1`` per band and O(log N) bands: at most 27 over 1,000 adds of 1,000 items, 14
  over 10,000 single-item adds, 2 for a catalog built in one add and grown by a 1,000-item add.
- A merge an add triggers starts in the new segment's band, and each further merge of the same add (a
  cascade) lies in the band of the previous merge's result. So small adds to a catalog built in a few
  large adds (fewer than ``F`` large segments) only ever merge what small adds wrote: 50 adds of 1,000 to
  a 1M catalog built in 1, 2, 4, 10 or 20 adds merge at most 10,000 items at once.
- Worst case of one add: the cascade through every band. In a catalog grown only by equal adds, the add
  that completes ``F`` segments in every band at once rewrites the whole catalog: the 1,000th add of 1,000
  items rewrites all 1M items (once in 1,000 adds; such a merge, measured as ``merge_all_s`` in
  bench/bench_catalog_scale.py, took 28.7 s at 1M on the 2-core machine).
"""

from __future__ import annotations

import bisect
import math
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..errors import InputError
from ..fileio import atomic_write

#: segments merged at once, and the ratio of sizes between bands
MERGE_FACTOR = 10
#: segments below this many items all count as this size (so single-item adds merge quickly)
MERGE_FLOOR = 1_000
#: segments within this many levels (powers of MERGE_FACTOR) of the largest one form one band
LEVEL_SPAN = 0.75
#: Above this many items (of a segment) the default index is IVF (approximate) instead of exact flat search.
IVF_THRESHOLD = 50_000
#: Segments below this many items are flat even when the catalog asks for ``ivf`` or ``ivfpq`` (too few
#: vectors to train the coarse quantiser; exact search over them costs little).
IVF_MIN_SEGMENT = 10_000
#: file names of segments (this format) and of version 1's single vectors/index pair
SEGMENT_PREFIXES = ("segment-", "vectors-", "index-")


@dataclass(frozen=True)
class Segment:
    """One segment: its two files (names inside the catalog folder), the positions it holds and its index
    type (for messages)."""

    vectors: str
    index: str
    start: int
    count: int
    index_type: str = ""

    @property
    def end(self) -> int:
        """One past its last position."""
        return self.start + self.count

    def to_json(self) -> dict[str, Any]:
        """The segment's entry in ``catalog.json``."""
        return {
            "vectors": self.vectors,
            "index": self.index,
            "start": self.start,
            "count": self.count,
            "index_type": self.index_type,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Segment:
        """The segment of a ``catalog.json`` entry."""
        return cls(d["vectors"], d["index"], int(d["start"]), int(d["count"]), d.get("index_type", ""))


def build_index(vectors: np.ndarray, kind: str = "auto", nprobe: int = 16) -> faiss.Index:
    """Inner-product index over L2-normalised ``vectors``: ``flat`` (exact), ``ivf`` (IVF-Flat) or
    ``ivfpq``; ``auto`` is flat below :data:`IVF_THRESHOLD` items, IVF above."""
    n, d = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if kind == "auto":
        kind = "ivf" if n >= IVF_THRESHOLD else "flat"
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind in ("ivf", "ivfpq"):
        nlist = max(16, int(4 * np.sqrt(n)))
        quant = faiss.IndexFlatIP(d)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            m = next(m for m in (16, 8, 4, 2, 1) if d % m == 0)
            index = faiss.IndexIVFPQ(quant, d, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        train = vectors if n <= 100_000 else vectors[np.random.default_rng(0).choice(n, 100_000, replace=False)]
        index.train(train)
        index.nprobe = nprobe
    else:
        raise InputError(f"unknown index kind {kind!r}; valid: auto, flat, ivf, ivfpq", field="index")
    index.add(vectors)
    return index


def segment_index_kind(kind: str, n: int) -> str:
    """The index kind of a segment of ``n`` items in a catalog of index kind ``kind``: ``auto`` as
    :func:`build_index` decides it, ``ivf``/``ivfpq`` only from :data:`IVF_MIN_SEGMENT` items."""
    if kind in ("ivf", "ivfpq") and n < IVF_MIN_SEGMENT:
        return "flat"
    return kind


def segment_files(gen: int) -> tuple[str, str]:
    """The vectors and index file names of the segment written by generation ``gen``."""
    return f"segment-{gen:06d}.npz", f"segment-{gen:06d}.faiss"


def segments_of(meta: dict[str, Any]) -> list[Segment]:
    """The segments a ``catalog.json`` lists; for format version 1, its one vectors/index pair."""
    if "segments" in meta:
        return [Segment.from_json(d) for d in meta["segments"]]
    gen, count = int(meta["generation"]), int(meta.get("count", 0))
    if gen == 0:
        return []
    return [Segment(f"vectors-{gen:06d}.npz", f"index-{gen:06d}.faiss", 0, count, meta.get("index", ""))]


def level(count: int) -> float:
    """A segment's level: ``log10`` (base :data:`MERGE_FACTOR`) of its size, at least the floor's."""
    return math.log(max(count, MERGE_FLOOR)) / math.log(MERGE_FACTOR)


def plan_merge(counts: list[int]) -> tuple[int, int] | None:
    """The first window ``[i, j)`` of adjacent segments (of these sizes, in position order) that the merge
    policy merges now, or None (see the module's docstring)."""
    levels = [level(c) for c in counts]
    floor_level = level(MERGE_FLOOR)
    start = 0
    while start < len(levels):
        top = max(levels[start:])
        bottom = -1.0 if top <= floor_level else top - LEVEL_SPAN
        upto = len(levels) - 1
        while levels[upto] < bottom:
            upto -= 1
        if upto + 1 - start >= MERGE_FACTOR:
            return start, start + MERGE_FACTOR
        start = upto + 1
    return None


# ---------------------------------------------------------------------------------------------- files
def save_npz(path: Path, arrays: Iterable[tuple[str, Callable[[], np.ndarray]]]) -> None:
    """Write an ``.npz`` (uncompressed, as ``numpy.savez``) atomically, making one array at a time (so a
    merge holds one kind of vector in memory, not all of them)."""

    def write(f) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, make in arrays:
                with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, np.ascontiguousarray(make()), allow_pickle=False)

    atomic_write(path, write)


def save_index(path: Path, index: faiss.Index) -> None:
    """Write a FAISS index atomically (streamed: no second copy of it in memory)."""
    atomic_write(path, lambda f: faiss.write_index(index, faiss.PyCallbackIOWriter(f.write)))


def npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """``{kind: shape}`` of the arrays of an ``.npz``, read from their headers only."""
    shapes = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with zf.open(info) as f:
                major, _ = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shapes[info.filename.removesuffix(".npy")] = tuple(read(f)[0])
    return shapes


def load_kind(path: Path, kind: str) -> np.ndarray:
    """One kind of vector of a segment's vectors file."""
    with np.load(path) as z:
        return z[kind]


# ---------------------------------------------------------------------------------------------- memory
class SegmentData:
    """What a process has read or derived of one segment, loaded on first use and kept while the segment
    is listed (segments never change, so nothing here goes stale when the catalog grows)."""

    def __init__(self, root: Path, segment: Segment):
        self.root = root
        self.segment = segment
        self._index: faiss.Index | None = None
        self._vectors: dict[str, np.ndarray] | None = None
        self.items: list | None = None  # CatalogItem of its positions, filled by the catalog
        self.derived: dict[tuple, np.ndarray] = {}  # search matrices and filter columns

    def index(self) -> faiss.Index:
        """Its FAISS index (global representations)."""
        if self._index is None:
            self._index = faiss.read_index(str(self.root / self.segment.index))
        return self._index

    def set_index(self, index: faiss.Index) -> None:
        """Keep ``index`` (just written by this process) instead of reading it back."""
        self._index = index

    def vectors(self) -> dict[str, np.ndarray]:
        """All kinds of its vectors."""
        if self._vectors is None:
            with np.load(self.root / self.segment.vectors) as z:
                self._vectors = {k: z[k] for k in z.files}
        return self._vectors

    def loaded_vectors(self) -> dict[str, np.ndarray] | None:
        """Its vectors if they are in memory already, else None."""
        return self._vectors


def locate(segments: list[Segment], position: int) -> int:
    """The index in ``segments`` (in position order) of the segment holding ``position``."""
    return bisect.bisect_right([s.start for s in segments], position) - 1
