"""bench/edit_gain_by_transition.py's grouping (the edit gain itself is tested in test_metrics_editing.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "edit_gain_by_transition.py"


def test_rows_group_edits_by_value_and_sort_by_share_closer():
    spec = importlib.util.spec_from_file_location("edit_gain_by_transition", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    keys = np.array([0, 1, 1, 2, 0, 2])
    closer = np.array([1.0, 0.0, 1.0, 0.0, np.nan, 0.0])  # NaN: an empty region, left out of the share
    area = np.array([10.0, 20, 40, 5, 30, 7])
    lines = bench.table("pattern edited to", keys, closer, area, ["solid", "stripes", "dots"])
    assert lines[:2] == ["| pattern edited to | closer (%) | edits | region (px) |", "|---|---|---|---|"]
    assert lines[2:] == ["| dots | 0.0 | 2 | 6 |", "| stripes | 50.0 | 2 | 30 |", "| solid | 100.0 | 2 | 20 |"]
