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


def test_best_shift_finds_a_pattern_drawn_off_phase():
    spec = importlib.util.spec_from_file_location("edit_gain_by_transition", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = (np.arange(32) // 2) % 2  # stripes of period 4 px
    truth = np.repeat((rows * 200)[:, None, None], 32, 1).repeat(3, 2).astype(np.uint8)
    drawn = np.roll(truth, 2, 0)  # the right stripes, half a period off
    region = np.zeros((32, 32), bool)
    region[8:24, 8:24] = True
    assert bench.region_error(drawn, truth, region) == 200.0  # off phase: every pixel wrong
    assert bench.best_shift_error(drawn, truth, region, 1) == 100.0  # a 1 px shift mends half the rows
    assert bench.best_shift_error(drawn, truth, region, 2) == 0.0
