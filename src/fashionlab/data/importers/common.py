"""Helpers shared by the importers: reading list files, checking images, placing them, splitting.

Every error names the file and line it comes from. Nothing here ever writes inside the source folder:
images are either referenced in place (``image_root`` = their absolute folder) or copied into the new
dataset folder.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputError, OutputExistsError, ProblemList
from ..format import SPLITS, Item

#: How many missing images an error lists before it only counts them.
MISSING_SHOWN = 20
#: Most problems collected before giving up (the first ones are the useful ones).
MAX_PROBLEMS = 200

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}


class SkippedItemsWarning(UserWarning):
    """Some source rows were dropped (``skip_missing=True`` and their image is missing)."""


class MissingImagesError(ProblemList):
    """Images named by the source lists are not on disk; ``problems`` holds one InputError for each."""

    def __init__(self, problems: list[InputError], root: Path):
        super().__init__(problems, "images")
        shown = "\n".join(f"  - {p}" for p in problems[:MISSING_SHOWN])
        more = f"\n  ... and {len(problems) - MISSING_SHOWN} more" if len(problems) > MISSING_SHOWN else ""
        self.args = (
            f"{len(problems)} image file(s) not found under {root} (pass skip_missing=True, "
            f"--skip-missing, to drop those items):\n{shown}{more}",
        )

    def __str__(self) -> str:
        return self.args[0]


# --------------------------------------------------------------------------------------------- paths


def prepare(src: str | Path, out: str | Path) -> tuple[Path, Path]:
    """Check SRC exists and OUT is usable (new or empty, and not inside SRC); return both as Paths."""
    src, out = Path(src), Path(out)
    if not src.exists():
        raise InputError("source not found", path=src)
    if not src.is_dir():
        raise InputError("expected a folder (the dataset as you have it)", path=src)
    s, o = src.resolve(), out.resolve()
    if o == s or s in o.parents:
        raise InputError("the output folder is inside the source folder; importers never write into SRC", path=out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputExistsError(
            f"{out} already exists and is not empty; choose a new --out (fashionlab never overwrites a dataset)"
        )
    return src, out


def require_file(path: Path, what: str = "") -> Path:
    """Return ``path`` if it is a file, else raise an InputError naming it."""
    if not path.is_file():
        raise InputError(f"missing required file{' (' + what + ')' if what else ''}", path=path)
    return path


def resolve_under(src: Path, given: str | Path | None, default: str | Path) -> Path:
    """SRC/``default``, or ``given``: absolute, relative to SRC, or (if only that exists) to the cwd."""
    if given is None:
        return src / default
    p = Path(given)
    if p.is_absolute() or (src / p).exists() or not p.exists():
        return p if p.is_absolute() else src / p
    return p


def check_relative(rel: str, path: Path, line: int) -> str:
    """An image path from a list must be relative and stay below its folder."""
    rel = rel.strip()
    if not rel:
        raise InputError("empty image path", path=path, line=line)
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise InputError(
            f"image path {rel!r} must be relative to the image folder and not contain '..'", path=path, line=line
        )
    return p.as_posix()


def slug(name: str) -> str:
    """``"A-Line"`` -> ``"a_line"``: lower case, runs of other characters become one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_") or "attribute"


def unique_slugs(names: Sequence[str], taken: Iterable[str] = ()) -> list[str]:
    """Slug each name; a slug already used gets ``_2``, ``_3`` ... appended (deterministically)."""
    used = set(taken)
    out = []
    for name in names:
        base = s = slug(name)
        k = 2
        while s in used:
            s, k = f"{base}_{k}", k + 1
        used.add(s)
        out.append(s)
    return out


def json_safe(value: Any) -> Any:
    """Options as plain JSON (paths as strings, tuples as lists) for ``schema.source``."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def source_info(kind: str, src: Path, **options: Any) -> dict[str, Any]:
    return {"importer": kind, "src": str(src.resolve()), "options": json_safe(options)}


# ----------------------------------------------------------------------------------------- list files


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 text file; a BOM is dropped and CRLF / CR line ends accepted."""
    require_file(path)
    lineno = 0
    try:
        with open(path, encoding="utf-8-sig", newline=None) as f:
            for lineno, line in enumerate(f, 1):  # noqa: B007 (used in the except clause)
                yield lineno, line.rstrip("\n")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason})", path=path, line=lineno + 1) from None


class ListFile:
    """A whitespace-separated list file: optional count line, optional header line, then rows.

    Iterating yields ``(line number, tokens)`` for each non-blank row; when the iteration ends, a count
    line that disagrees with the number of rows is an error naming line 1.
    """

    def __init__(self, path: Path, *, count: bool = True, header: bool = True):
        self.path = Path(path)
        self.has_count = count
        self.has_header = header
        self.count: int | None = None
        self.header: list[str] = []
        self.rows = 0

    def _read_head(self, lines: Iterator[tuple[int, str]]) -> None:
        if self.has_count:
            first = next(lines, None)
            text = first[1].strip() if first else ""
            if not re.fullmatch(r"\d+", text):
                raise InputError(f"expected the number of rows on line 1, got {text[:40]!r}", self.path, 1)
            self.count = int(text)
        if self.has_header:
            second = next(lines, None)
            if second is None:
                line = 2 if self.has_count else 1
                raise InputError("expected a header line (column names)", self.path, line)
            self.header = second[1].split()

    def read_header(self) -> list[str]:
        """Read only the count and header lines."""
        lines = text_lines(self.path)
        try:
            self._read_head(lines)
        finally:
            lines.close()
        return self.header

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        lines = text_lines(self.path)
        self._read_head(lines)
        n = 0
        for lineno, text in lines:
            tokens = text.split()
            if tokens:
                n += 1
                yield lineno, tokens
        self.rows = n
        if self.count is not None and n != self.count:
            raise InputError(
                f"line 1 says {self.count} rows but the file has {n} (expected {self.count}, "
                f"found {n}): is the file truncated or edited?",
                self.path,
                1,
            )


def expect_tokens(tokens: list[str], n: int, path: Path, line: int, what: str = "values") -> None:
    if len(tokens) != n:
        kind = "truncated row: " if len(tokens) < n else ""
        raise InputError(f"{kind}expected {n} {what}, found {len(tokens)}", path, line)


def parse_int(token: str, path: Path, line: int, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise InputError(f"expected an integer {what}, got {token!r}", path, line) from None


def parse_split(token: str, path: Path, line: int) -> str:
    split = SPLIT_ALIASES.get(token.strip().lower())
    if split is None:
        raise InputError(f"unknown split {token!r}; expected one of {', '.join(SPLITS)}", path, line)
    return split


def raise_problems(problems: list[InputError], what: str) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ProblemList(problems, what)


class Problems:
    """Collects InputErrors and stops (raising them all) after :data:`MAX_PROBLEMS`."""

    def __init__(self, what: str):
        self.what = what
        self.items: list[InputError] = []

    def add(self, err: InputError) -> None:
        self.items.append(err)
        if len(self.items) >= MAX_PROBLEMS:
            self.raise_if_any()

    def raise_if_any(self) -> None:
        raise_problems(self.items, self.what)


# ------------------------------------------------------------------------------------------------ CSV


def read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(line number, cells)`` rows of a CSV (BOM and CRLF tolerated, cells stripped).

    Blank rows are skipped; a row with a different number of cells than the header is an error.
    """
    require_file(path)
    rows: list[tuple[int, list[str]]] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise InputError("empty CSV: expected a header line", path, 1)
            header = [h.strip() for h in header]
            start = reader.line_num
            for row in reader:
                if not any(c.strip() for c in row):
                    start = reader.line_num
                    continue
                line = start + 1
                start = reader.line_num
                if len(row) != len(header):
                    raise InputError(
                        f"expected {len(header)} columns ({', '.join(header)}), found {len(row)}", path, line
                    )
                rows.append((line, [c.strip() for c in row]))
    except csv.Error as e:
        raise InputError(f"malformed CSV ({e})", path, reader.line_num) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason})", path) from None
    return header, rows


# --------------------------------------------------------------------------------------------- images


@dataclass
class Staged:
    """An item before writing, with the list file and line that named its image."""

    item: Item
    path: Path
    line: int


def check_images(staged: list[Staged], root: Path, skip_missing: bool) -> list[Staged]:
    """Keep items whose image exists under ``root`` (existence only, no decoding).

    Missing images are an error listing them (file:line of the list naming each) unless ``skip_missing``,
    which drops them with a :class:`SkippedItemsWarning` giving the count.
    """
    kept, missing = [], []
    for s in staged:
        if (root / s.item.path).is_file():
            kept.append(s)
        else:
            missing.append(s)
    if missing and not skip_missing:
        raise MissingImagesError(
            [InputError(f"image not found: {root / s.item.path}", s.path, s.line) for s in missing], root
        )
    if missing:
        warnings.warn(
            f"skipped {len(missing)} item(s) whose image is missing under {root} "
            f"(first: {root / missing[0].item.path})",
            SkippedItemsWarning,
            stacklevel=3,
        )
    return kept


def copy_images(staged: list[Staged], root: Path, dest_root: Path) -> None:
    """Copy each item's image from ``root`` into ``dest_root/images/`` and point the item there."""
    for s in staged:
        rel = Path(s.item.path)
        dest = dest_root / "images" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dest)
        s.item.path = (Path("images") / rel).as_posix()


def add_staged(writer, schema, staged: list[Staged], root: Path, *, copy: bool) -> None:
    """Add the staged items to a new dataset: their images copied into it (``copy``) or referenced in
    place under ``root`` (then ``schema.image_root`` is ``root``'s absolute path)."""
    if copy:
        copy_images(staged, root, writer.root)
        schema.image_root = "."
    else:
        schema.image_root = str(root.resolve())
    for s in staged:
        writer.add(s.item)


# --------------------------------------------------------------------------------------------- splits


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise InputError(
            f"expected three numbers (train, val, test), got {fractions!r}", field="split_fractions"
        ) from None
    if len(fr) != 3 or any(f < 0 for f in fr) or sum(fr) <= 0:
        raise InputError(
            f"expected three non-negative numbers (train, val, test) with a positive sum, got {fractions!r}",
            field="split_fractions",
        )
    total = sum(fr)
    return fr[0] / total, fr[1] / total, fr[2] / total


def assign_splits(ids: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """Deterministic split per id: ids ordered by a seeded hash, then cut by the fractions.

    Independent of row order and of Python's hash seed; the counts are rounded from the fractions.
    """
    fr = check_fractions(fractions)
    order = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}\0{i}".encode()).hexdigest())
    n = len(order)
    n_train = round(fr[0] * n)
    n_val = min(n - n_train, round(fr[1] * n))
    out = {}
    for k, i in enumerate(order):
        out[i] = "train" if k < n_train else "val" if k < n_train + n_val else "test"
    return out
