"""bench/edit_gain_tolerance.py: the spoiled truths differ from the input only inside the region, and their
edit-gain figures are the ones worked out by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "edit_gain_tolerance.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("edit_gain_tolerance", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def stripes_edit(n: int = 4):
    """Solid grey garments (the inputs) whose truth has horizontal stripes of period 4 px inside a square."""
    rows = (np.arange(32) // 2) % 2
    truth = np.repeat((rows * 200 + 20)[:, None, None], 32, 1).repeat(3, 2).astype(np.uint8)
    region = np.zeros((32, 32), bool)
    region[8:24, 8:24] = True
    inputs = np.where(region[..., None], 120, truth).astype(np.uint8)
    return np.stack([inputs] * n), np.stack([truth] * n), np.stack([region] * n)


def test_spoiled_truths_equal_the_truth_outside_the_region_and_keep_their_order():
    bench = load_bench()
    x, t, r = stripes_edit()
    rows = bench.spoiled_truths(x, t, r, shifts=[1, 2], noises=[16], blurs=[1.0])
    assert list(rows) == [
        "exact truth",
        "half-way (x + 0.5 (t - x))",
        "truth moved by 1 px",
        "truth moved by 2 px",
        "truth + noise 16",
        "truth blurred 1 px",
    ]
    for name, out in rows.items():
        assert out.dtype == np.uint8 and out.shape == x.shape, name
        assert (out[~r] == t[~r]).all(), name  # only the region is spoiled
    assert (rows["exact truth"] == t).all()
    half = rows["half-way (x + 0.5 (t - x))"]
    assert (half[r] == (x[r].astype(int) + t[r]) // 2).all()  # 70 on the dark stripes, 170 on the light


def test_scores_of_hand_made_edits():
    bench = load_bench()
    x, t, r = stripes_edit()
    rows = bench.spoiled_truths(x, t, r, shifts=[2], noises=[], blurs=[])
    attributes = np.array([0, 0, 1, 1])
    names = ["pattern", "color"]
    exact = bench.score(x, rows["exact truth"], t, r, attributes, names)
    assert exact["closer mean"] == 100.0 and exact["inside error"] == 0.0 and exact["ssim"] == 1.0
    identity = bench.score(x, x, t, r, attributes, names)
    assert identity["closer mean"] == 0.0 and identity["inside error"] == 100.0  # |120 - 20| = |120 - 220|
    half = bench.score(x, rows["half-way (x + 0.5 (t - x))"], t, r, attributes, names)
    assert half["closer worst attribute"] == 100.0 and abs(half["error removed (%)"] - 50.0) < 1e-9
    # stripes of period 4 moved by 2 px along the rows are in anti-phase (a diagonal or vertical move), or the
    # same picture (a horizontal move): the rows that moved vertically are 200 off everywhere, farther than
    # doing nothing (100)
    moved = bench.score(x, rows["truth moved by 2 px"], t, r, attributes, names)
    vertical = [not np.array_equal(rows["truth moved by 2 px"][i][r[i]], t[i][r[i]]) for i in range(4)]
    assert moved["closer mean"] == 100.0 * (1 - np.mean(vertical))
