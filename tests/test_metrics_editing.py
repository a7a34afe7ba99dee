"""The editing evaluation: the plan of edits, the floor and ceiling rows, the Frechet distance, the edit
gain on hand-made images, several evaluators, and the refusal of an editor's own classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fashionlab
from fashionlab.errors import InputError
from fashionlab.metrics.edit_gain import edit_gain
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


def test_edit_gain_on_hand_made_images():
    """4x4 images, the region the left half. Edit 0: the output is the truth (all of the error removed);
    edit 1: the identity (no gain); edit 2: half-way inside and 10 grey levels off outside; edit 3: worse
    than doing nothing; edit 4: an empty region (no gain to measure)."""
    inputs = np.zeros((5, 4, 4, 3), np.uint8)
    targets = inputs.copy()
    region = np.zeros((5, 4, 4), bool)
    region[:, :, :2] = True
    region[4] = False
    targets[:4, :, :2] = 100
    outs = inputs.copy()
    outs[0] = targets[0]
    outs[2, :, :2] = 50
    outs[2, :, 2:] = 10
    outs[3, :, :2] = 250
    g = edit_gain(inputs, outs, targets, region)
    assert g["closer"][:4].tolist() == [1.0, 0.0, 1.0, 0.0] and np.isnan(g["closer"][4])
    assert g["inside_error"][:4].tolist() == [0.0, 100.0, 50.0, 150.0]
    assert g["inside_error_input"][:4].tolist() == [100.0] * 4
    assert g["error_removed"][:4].tolist() == [1.0, 0.0, 0.5, -0.5]
    assert g["outside_error"].tolist() == [0.0, 0.0, 10.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="shapes differ"):
        edit_gain(inputs, outs[:, :2], targets, region)


@pytest.fixture(scope="module")
def independent_evaluator(tiny_amgan):
    """A tiny attribute network trained on the same tiny data with another seed: not the editor's own."""
    from fashionlab.config import resolve_config
    from fashionlab.engine.trainer import Trainer
    from fashionlab.models import build_task
    from fashionlab.models.attrnet_task import AttrNetConfig

    out = tiny_amgan["base"] / "evaluator"
    cfg = resolve_config(
        AttrNetConfig,
        model="attrnet",
        preset="tiny",
        overrides=[f"data={tiny_amgan['data']}", f"train.out={out}", "train.seed=7"],
    )
    run = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False).fit()
    return run / "export"


@pytest.fixture(scope="module")
def setup(tiny_amgan, independent_evaluator):
    editor = fashionlab.load(tiny_amgan["run"])
    evaluator = fashionlab.load(tiny_amgan["classifier"])
    ev = EditEvaluation(tiny_amgan["data"], evaluator, editor.preprocess, split="train", limit=6, progress=False)
    paths = {"run": tiny_amgan["run"], "data": tiny_amgan["data"], "evaluator": str(independent_evaluator)}
    return editor, ev, {**paths, "classifier": tiny_amgan["classifier"]}


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
    # the edit gain: the ground truth is closer than the input wherever the region is not empty, the
    # identity never is, and the identity is exact outside the region
    assert gt.gt["closer"]["mean"] == 1.0 and gt.gt["error_removed"]["mean"] == 1.0
    assert ident.gt["closer"]["mean"] == 0.0 and ident.gt["outside_error"]["mean"] == 0.0
    assert ident.gt["inside_error"]["mean"] == pytest.approx(ident.gt["inside_error_input"]["mean"])
    assert ident.gt["inside_error"]["mean"] > 0
    g = edit_gain(ev.inputs_uint8, outs, ev.targets_uint8, ev.regions)
    assert rep.gt["closer"]["mean"] == pytest.approx(np.nanmean(g["closer"]))
    assert set(rep.manipulation) == {"sleeve", "color", "pattern", "collar", "fastening", "mean"}
    assert np.isfinite(rep.fid_like)


def test_several_evaluators_each_read_the_edits(setup, tiny_amgan, independent_evaluator):
    editor, ev0, _ = setup
    first, second = fashionlab.load(tiny_amgan["classifier"]), fashionlab.load(independent_evaluator)
    ev = EditEvaluation(
        tiny_amgan["data"], {"a": first, "b": second}, editor.preprocess, split="train", limit=6, progress=False
    )
    rep, _, _ = ev.run(editor_method(editor), "amgan")
    alone, _, _ = ev0.run(editor_method(editor), "amgan")
    assert list(rep.by_evaluator) == ["a", "b"] and rep.by_evaluator["a"]["family"] == "alexnet-cam"
    assert rep.manipulation == alone.manipulation == rep.by_evaluator["a"]["manipulation"]  # the first is primary
    # the second evaluator's figures are its own: recomputed here from its readings
    out, _ = editor.generate(
        ev.images[ev.plan.rows], *_targets(ev.labels[ev.plan.rows], ev.plan.attributes, ev.plan.values)
    )
    with torch.no_grad():
        read = torch.stack([p.argmax(1) for p in second.predict(second.preprocess.fit_batch(out.clamp(-1, 1)))], 1)
    hit = read[torch.arange(len(read)), torch.from_numpy(ev.plan.attributes)] == torch.from_numpy(ev.plan.values)
    sleeve = ev.plan.attributes == 0
    assert rep.by_evaluator["b"]["manipulation"]["sleeve"] == pytest.approx(float(hit[sleeve].float().mean()))


def _targets(labels, attributes, values):
    targets = labels.clone()
    changed = torch.from_numpy(attributes)
    targets[torch.arange(len(labels)), changed] = torch.from_numpy(values)
    return targets, changed


def test_an_editors_own_classifier_is_refused(setup, tiny_amgan, independent_evaluator):
    from fashionlab.metrics.evaluators import check_independent, trained_with

    editor, _, paths = setup
    own = fashionlab.load(tiny_amgan["classifier"])
    with pytest.raises(InputError, match="is the attribute network the editor amgan was trained with"):
        check_independent([("amgan", editor, paths["run"])], own, tiny_amgan["classifier"])
    check_independent([("amgan", editor, paths["run"])], fashionlab.load(independent_evaluator), independent_evaluator)
    assert len(trained_with(editor, paths["run"])) >= 1


def test_shipped_amgan_refuses_its_classifier_even_from_its_fp32_version():
    """The shipped AMGAN was trained with asset:attrnet-synth64: refused as it ships (fp16) and through the
    hash of the fp32 network it was converted from; the shipped evaluator is accepted."""
    from fashionlab.engine.export import converted_from
    from fashionlab.metrics.evaluators import check_independent, default_evaluators, network_hashes, trained_with
    from fashionlab.models.registry import model_path

    editor = fashionlab.load("asset:amgan-synth64")
    editors = [("amgan", editor, "asset:amgan-synth64")]
    clf = fashionlab.load("asset:attrnet-synth64")
    with pytest.raises(InputError, match="trained with"):
        check_independent(editors, clf, "asset:attrnet-synth64")
    # the fp32 network it was converted from (what a user retraining or converting back would hold)
    # identifies it too: its hash is among those the editor was trained with
    before = converted_from(model_path("asset:attrnet-synth64"))["tensor_sha256"]
    assert before in network_hashes(None, "asset:attrnet-synth64") and before in trained_with(editor, editors[0][2])
    assert default_evaluators((64, 64), editor.space.names) == [
        "asset:attrnet-synth64-eval",
        "asset:attrclf-synth64-eval",
    ]
    check_independent(editors, fashionlab.load("asset:attrnet-synth64-eval"), "asset:attrnet-synth64-eval")


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
    assert "E1 manip. mean" in r.stdout and json.loads((tmp_path / "r.json").read_text())["n_edits"] == 20
    assert "| identity |" in r.stdout and "| ground truth |" in r.stdout and "closer mean" in r.stdout
    own = ["--data", paths["data"], "--evaluator", paths["classifier"], "--split", "train", "--limit", "4"]
    r = subprocess.run([*exe, "edit", "--model", str(paths["run"]), *own], capture_output=True, text=True)
    assert r.returncode == 2 and "was trained with" in r.stderr and "Traceback" not in r.stderr
    out = tmp_path / "cmp"
    r = subprocess.run(
        [*exe, "compare", str(paths["run"]), f"exported={paths['run'] / 'export'}", *common, "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    table = (out / "comparison.md").read_text()
    assert "| identity |" in table and "| ground truth |" in table and table.count("| amgan/run-001 |") == 3
    assert table.count("| exported |") == 3  # readings, pixels, training
    assert "| amgan/run-001 | 2 |" in table  # the training table: 2 iterations from the run's stats.jsonl
    r = subprocess.run(
        [*exe, "compare", str(paths["run"]), str(paths["run"] / "export"), *common, "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "LABEL=PATH" in r.stderr
    # a run kept as bench/edit_comparison.sh's KEEP=DIR keeps it (export, config, run.json, stats; no
    # checkpoints) scores and times like the run itself
    import shutil

    kept = tmp_path / "kept" / "amgan"
    shutil.copytree(paths["run"] / "export", kept / "export")
    for name in ("config.json", "run.json", "stats.jsonl"):
        shutil.copy(paths["run"] / name, kept / name)
    r = subprocess.run(
        [*exe, "compare", f"kept={kept}", *common, "--out", str(tmp_path / "k")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    kept_table = (tmp_path / "k" / "comparison.md").read_text()
    assert "| kept | 2 |" in kept_table
    row = next(line for line in table.splitlines() if line.startswith("| amgan/run-001 |"))
    assert row.replace("amgan/run-001", "kept") in kept_table  # the same readings as the run's
    with Image.open(out / "grid.png") as im:  # 10 rows of 32 px; columns: input, ground truth, two methods
        assert im.size == (4 * 32 + 3 * 2, 10 * 32 + 9 * 2)
    r = subprocess.run([*exe, "edit", "--model", paths["evaluator"], *common], capture_output=True, text=True)
    assert r.returncode == 2 and "not an editor" in r.stderr and "Traceback" not in r.stderr


def test_split_label_names_rows_and_refuses_an_empty_label(tmp_path):
    from fashionlab.cli.evaluate import split_label
    from fashionlab.errors import InputError

    assert split_label("AMGAN, 3k = runs/amgan/run-001") == ("AMGAN, 3k", "runs/amgan/run-001")
    assert split_label("asset:amgan-synth64") == (None, "asset:amgan-synth64")
    odd = tmp_path / "a=b"  # an existing folder with "=" in its name is a path, not a label
    odd.mkdir()
    assert split_label(str(odd)) == (None, str(odd))
    with pytest.raises(InputError, match="empty row label") as e:
        split_label("=runs/x", field="models")
    assert "models" in str(e.value)


def test_training_table_reads_an_exported_checkpoints_own_time(tmp_path):
    import json

    from fashionlab.cli.evaluate import training_table

    export = tmp_path / "step-0000500"
    export.mkdir()
    meta = {"provenance": {"checkpoint": {"step": 500, "training_seconds": 1800.0}}}
    (export / "config.json").write_text(json.dumps(meta))
    (tmp_path / "bare").mkdir()
    table = training_table([("at 0.5 h", export), ("bare", tmp_path / "bare")])
    assert "| at 0.5 h | 500 | 3.600 | 0.50 |" in table and "| bare | - | - | - |" in table


def test_eval_edit_on_a_test_only_dataset_uses_its_own_images_as_the_gallery(setup, tmp_path):
    """A fresh-seed set rendered with --split 0,0,1 lists an empty train split: the retrieval gallery is
    then the test split itself (it used to crash on an empty gallery)."""
    import subprocess
    import sys

    _, _, paths = setup
    data = tmp_path / "fresh"
    exe = [sys.executable, "-m", "fashionlab"]
    made = [*exe, "data", "synth", "--out", str(data), "--n", "10", "--size", "32", "--seed", "5", "--split", "0,0,1"]
    subprocess.run(made, check=True, capture_output=True)
    r = subprocess.run(
        [*exe, "eval", "edit", "--model", str(paths["run"]), "--data", str(data), "--evaluator", paths["evaluator"]]
        + ["--limit", "4", "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "| ground truth |" in r.stdout
