"""Keep some columns of a grid written by ``fashionlab eval pose|compare`` (tiles ``pad`` pixels apart):

    python bench/grid_columns.py GRID.png --tile 128x64 --columns 0,1,2,11,12,13 --out SMALLER.png

so that a table with many rows can show a readable grid of a few (e.g. the final checkpoints). ``--more
GRID2:COLUMNS`` (repeatable) appends columns of another grid of the same pairs (the same rows, e.g. a second
``eval pose`` call on the same --data and --pairs)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def keep_columns(grid: np.ndarray, tile: tuple[int, int], columns: list[int], pad: int = 2) -> np.ndarray:
    """The grid with only ``columns`` (0-based), in the order given, ``pad`` pixels apart (white)."""
    h, w = tile
    ncol = (grid.shape[1] + pad) // (w + pad)
    if (grid.shape[1] + pad) % (w + pad) or (grid.shape[0] + pad) % (h + pad):
        raise SystemExit(f"the grid ({grid.shape[0]}x{grid.shape[1]}) is not made of {h}x{w} tiles {pad} px apart")
    bad = [c for c in columns if not 0 <= c < ncol]
    if bad:
        raise SystemExit(f"columns {bad} are outside the grid's {ncol} columns (0-{ncol - 1})")
    out = np.full((grid.shape[0], len(columns) * (w + pad) - pad, 3), 255, np.uint8)
    for k, c in enumerate(columns):
        out[:, k * (w + pad) : k * (w + pad) + w] = grid[:, c * (w + pad) : c * (w + pad) + w, :3]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grid", type=Path)
    ap.add_argument("--tile", required=True, help="HxW of one tile, e.g. 128x64")
    ap.add_argument("--columns", required=True, help="comma-separated 0-based columns to keep")
    ap.add_argument("--pad", type=int, default=2)
    ap.add_argument("--more", action="append", default=[], help="GRID:COLUMNS of another grid of the same rows")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    if a.out.exists():
        raise SystemExit(f"{a.out} exists; choose another --out")
    h, w = (int(v) for v in a.tile.lower().split("x"))
    grid = np.asarray(Image.open(a.grid).convert("RGB"))
    kept = keep_columns(grid, (h, w), [int(c) for c in a.columns.split(",")], a.pad)
    for more in a.more:
        path, _, columns = more.rpartition(":")
        other = np.asarray(Image.open(path).convert("RGB"))
        if other.shape[0] != grid.shape[0]:
            raise SystemExit(f"{path} has {other.shape[0]} pixel rows, {a.grid} {grid.shape[0]}: not the same pairs")
        extra = keep_columns(other, (h, w), [int(c) for c in columns.split(",")], a.pad)
        gap = np.full((grid.shape[0], a.pad, 3), 255, np.uint8)
        kept = np.concatenate([kept, gap, extra], axis=1)
    Image.fromarray(kept).save(a.out)
    print(f"written: {a.out} ({kept.shape[1]}x{kept.shape[0]})")


if __name__ == "__main__":
    main()
