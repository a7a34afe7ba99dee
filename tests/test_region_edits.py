"""Region edits against exact ground truth: the targets, the floor/ceiling rows, an exact-mask edit that
cannot touch pixels outside the mask, and the CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import fashionlab
from fashionlab.cli import app
from fashionlab.data.format import load_dataset
from fashionlab.data.regions import region_value
from fashionlab.errors import InputError
from fashionlab.metrics.region_edits import RegionEditEvaluation, region_target
from fashionlab.synth.figure import Pose

ATTRS = {"sleeve": "long", "color": "blue", "pattern": "solid", "collar": "crew", "fastening": "none"}


def _item(attrs=ATTRS, regions=None):
    return {"attributes": dict(attrs), "extra": {"seed": 3, "pose": Pose().to_dict()}, "region_attributes": regions}


def test_region_targets():
    assert region_target(_item(), "sleeves", "color", "red") == (ATTRS, {"sleeves": {"color": "red"}})
    attrs, regions = region_target(_item(), "torso", "color", "red")
    assert attrs == {**ATTRS, "color": "red"} and regions == {"sleeves": {"color": "blue"}}
    assert region_target(_item({**ATTRS, "sleeve": "sleeveless"}), "sleeves", "color", "red") is None
    assert region_target(_item(regions={"sleeves": {"color": "red"}}), "sleeves", "color", "red") is None
    # red sleeves already: the torso edit keeps them red
    attrs, regions = region_target(_item(regions={"sleeves": {"color": "red"}}), "torso", "color", "green")
    assert attrs["color"] == "green" and regions == {"sleeves": {"color": "red"}}
    assert region_target(_item({**ATTRS, "color": "red"}), "torso", "color", "red") is None
    with pytest.raises(InputError, match="color, pattern"):
        region_target(_item(), "sleeves", "collar", "v_neck")
    with pytest.raises(InputError, match="unknown region"):
        region_target(_item(), "hat", "color", "red")


@pytest.fixture(scope="module")
def evaluation(tiny_amgan):
    editor = fashionlab.load(tiny_amgan["run"])
    ev = RegionEditEvaluation(tiny_amgan["data"], editor.preprocess, "sleeves", split="train", limit=5, progress=False)
    return editor, ev, tiny_amgan["data"]


def test_rows_and_exact_mask(evaluation):
    editor, ev, data = evaluation
    # the first 5 train images whose sleeves can turn red: with sleeves, not red already
    train = load_dataset(data).split("train")
    can = [i for i, it in enumerate(train) if it.attributes["sleeve"] != "sleeveless"]
    assert ev.rows.tolist() == [i for i in can if region_value(train[i], "sleeves", "color") != "red"][:5]
    assert ev.exact_regions.any(axis=(1, 2)).all()
    gt = ev.reference("ground truth").ways["-"]
    assert gt["l1"] == 0 and gt["ssim"] == pytest.approx(1.0)
    ident = ev.reference("identity").ways["-"]
    assert ident["l1"] > 0 and ident["ssim_outside"] > ident["ssim"]  # the difference is in the sleeves
    report, images = ev.run(editor, "amgan")
    assert list(report.ways) == ["found", "exact mask", "whole image"]
    found = editor.region_mask(ev.images, "sleeves", ev.labels, 0.9)[:, 0].numpy() > 0.5
    iou = (found & ev.exact_regions).sum((1, 2)) / np.maximum((found | ev.exact_regions).sum((1, 2)), 1)
    assert report.ways["found"]["region_iou"] == pytest.approx(iou.mean())
    # with the exact region as the mask, nothing outside it changes
    inputs = ((ev.images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    outside = ~ev.exact_regions
    diff = np.abs(images["exact mask"].astype(int) - inputs.astype(int))
    assert diff[outside].max() <= 1 and diff[ev.exact_regions].max() > 1


def test_cli_writes_tables_and_grids(tiny_amgan, tmp_path):
    out = tmp_path / "regions"
    res = CliRunner().invoke(
        app,
        ["eval", "region", str(tiny_amgan["run"]), "--data", tiny_amgan["data"], "--split", "train",
         "--limit", "3", "--out", str(out), "--no-progress"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = (out / "regions.md").read_text()
    assert "color=red in the sleeves" in text and "color=red in the torso" in text and "| identity |" in text
    assert (out / "grid-sleeves.png").exists() and (out / "grid-torso.png").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "fashionlab", "eval", "region", str(tiny_amgan["run"]), "--data", tiny_amgan["data"],
         "--set", "collar=v_neck"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode != 0 and "color, pattern" in bad.stderr + bad.stdout and "Traceback" not in bad.stderr
