"""The editing evaluation: the plan of edits, the floor and ceiling rows, and the Frechet distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fashionlab
from fashionlab.metrics.editing import (
    EditEvaluation,
    editor_method,
    frechet_distance,
    ground_truth_method,
    identity_method,
    plan_edits,
)


def test_plan_edits_one_per_known_attribute_to_another_value():
    labels = np.array([[0, 2, -1], [1, 0, 3]])
    plan = plan_edits(labels, [2, 3, 4], seed=0)
    assert plan.rows.tolist() == [0, 0, 1, 1, 1] and plan.attributes.tolist() == [0, 1, 0, 1, 2]
    assert all(labels[r, a] != v for r, a, v in zip(plan.rows, plan.attributes, plan.values, strict=True))
    again = plan_edits(labels, [2, 3, 4], seed=0)
    assert np.array_equal(plan.values, again.values)  # every method gets the same edits


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + [2.0, 0, 0]) == pytest.approx(4.0, rel=1e-6)


@pytest.fixture(scope="module")
def setup(tiny_amgan):
    editor = fashionlab.load(tiny_amgan["run"])
    evaluator = fashionlab.load(tiny_amgan["classifier"])
    ev = EditEvaluation(tiny_amgan["data"], evaluator, editor.preprocess, split="train", limit=6, progress=False)
    return editor, ev, {"run": tiny_amgan["run"], "data": tiny_amgan["data"], "evaluator": tiny_amgan["classifier"]}


def test_floor_and_ceiling_rows(setup):
    editor, ev, _ = setup
    n = len(ev.plan.rows)
    assert n == 6 * 5 and ev.targets_uint8.shape == (n, 32, 32, 3) and ev.regions.any()
    gt, _, _ = ev.run(ground_truth_method(ev.targets_uint8), "ground truth")
    assert gt.gt["l1"]["mean"] == 0 and gt.gt["ssim"]["mean"] == pytest.approx(1.0)
    ident, outs, masks = ev.run(identity_method, "identity")
    assert masks is None and np.array_equal(
        outs, (ev.images[ev.plan.rows].clamp(-1, 1) + 1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()
    )
    assert ident.preservation["mean"] == 1.0  # nothing changed: every other attribute reads the same
    assert ident.gt["l1"]["mean"] > 0 and ident.gt["ssim"]["mean"] < 1
    assert ident.gt["ssim_outside"]["mean"] > ident.gt["ssim"]["mean"]  # the difference lies in the edit region
    # retrieval and FID-like of the unedited images, computed here by brute force from the evaluator
    rows, edited = torch.from_numpy(ev.plan.rows), torch.arange(n)
    with torch.no_grad():
        read = ev.evaluator(ev.evaluator.preprocess.fit_batch(ev.images[rows]))
    top = np.argsort(-(read.global_rep.numpy() @ ev.gallery.numpy().T), axis=1, kind="stable")[:, :30]
    want = ev.labels[rows].clone()
    want[edited, torch.from_numpy(ev.plan.attributes)] = torch.from_numpy(ev.plan.values)
    hits = ((ev.gallery_labels[torch.from_numpy(top)] == want[:, None]) | (want[:, None] < 0)).all(-1).numpy()
    assert ident.retrieval == pytest.approx({k: hits[:, :k].any(1).mean() for k in (1, 5, 10, 20, 30)})
    assert ident.fid_like == pytest.approx(frechet_distance(ev.real_pooled.numpy(), read.pooled.numpy()), rel=1e-5)
    rep, outs, masks = ev.run(editor_method(editor), "amgan")
    assert masks is not None and masks.shape == (n, 32, 32)
    found = masks > 0.5  # the attention mask's IoU with the exact edit region, per edit
    iou = (found & ev.regions).sum((1, 2)) / np.maximum((found | ev.regions).sum((1, 2)), 1)
    assert rep.attention_iou["mean"] == pytest.approx(iou.mean())
    assert set(rep.manipulation) == {"sleeve", "color", "pattern", "collar", "fastening", "mean"}
    assert np.isfinite(rep.fid_like)


def test_eval_cli_edit_and_compare(setup, tmp_path):
    import json
    import subprocess
    import sys

    from PIL import Image

    _, _, paths = setup
    exe = [sys.executable, "-m", "fashionlab", "eval"]
    common = ["--data", paths["data"], "--evaluator", paths["evaluator"], "--split", "train", "--limit", "4"]
    r = subprocess.run(
        [*exe, "edit", "--model", str(paths["run"]), *common, "--json", str(tmp_path / "r.json"), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "manip. mean" in r.stdout and json.loads((tmp_path / "r.json").read_text())["n_edits"] == 20
    out = tmp_path / "cmp"
    r = subprocess.run(
        [*exe, "compare", str(paths["run"]), str(paths["run"] / "export"), *common, "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    table = (out / "comparison.md").read_text()
    assert "| identity |" in table and "| ground truth |" in table and table.count("| amgan/run-001 |") == 2
    with Image.open(out / "grid.png") as im:  # 10 rows of 32 px; columns: input, ground truth, two methods
        assert im.size == (4 * 32 + 3 * 2, 10 * 32 + 9 * 2)
    r = subprocess.run([*exe, "edit", "--model", paths["evaluator"], *common], capture_output=True, text=True)
    assert r.returncode == 2 and "not an editor" in r.stderr and "Traceback" not in r.stderr
