"""The residual attribute classifier (``attrclf``): its shapes and evaluator interface, an augmentation that
keeps colours, the export round trip, its architecture family, and the editing evaluation it plugs into."""

from __future__ import annotations

import colorsys
import json

import numpy as np
import pytest
import torch

import fashionlab
from fashionlab.errors import InputError
from fashionlab.metrics.evaluators import architecture_family
from fashionlab.models.attrclf import AttrClfModelConfig, AttributeClassifier, AugmentConfig, augment
from fashionlab.models.attrnet import AttrNet, AttrNetModelConfig

#: SynthFashion's attributes (value counts as the generator has them)
ATTRS = [
    ("sleeve", ["sleeveless", "short", "elbow", "long"]),
    ("color", [f"c{i}" for i in range(12)]),
    ("pattern", [f"p{i}" for i in range(6)]),
    ("collar", [f"k{i}" for i in range(4)]),
    ("fastening", ["none", "buttons", "zipper"]),
]


def test_shapes_and_the_evaluator_interface():
    net = AttributeClassifier(ATTRS, AttrClfModelConfig(width=0.125, embed_dim=16)).eval()
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    out = net(x)
    assert [lg.shape for lg in out.rep_logits] == [(3, len(v)) for _, v in ATTRS]
    assert out.logits is out.rep_logits and out.region_rep_logits == [] and net.region_attributes == []
    assert out.global_rep.shape == (3, 16) and torch.allclose(out.global_rep.norm(dim=1), torch.ones(3))
    assert out.pooled.shape == (3, net.backbone.out_channels) and out.features.shape[-1] == 64 // 16
    probs = net.predict(x)
    assert all(torch.allclose(p.sum(1), torch.ones(3)) for p in probs)
    assert net.attribute_names == [n for n, _ in ATTRS]
    unprojected = AttributeClassifier(ATTRS, AttrClfModelConfig(width=0.125, embed_dim=0)).eval()
    o = unprojected(x)
    assert torch.allclose(o.global_rep, torch.nn.functional.normalize(o.pooled, dim=1))


def test_residual_and_nothing_of_the_attribute_networks_layout():
    """A residual network without conv6/conv7, CAM classifiers or ROI heads; the families tell them apart."""
    from fashionlab.models.backbones import BasicBlock

    net = AttributeClassifier(ATTRS)
    names = [n for n, _ in net.named_modules()]
    assert any(isinstance(m, BasicBlock) for m in net.modules())
    assert not any(k in n for n in names for k in ("conv67", "rep_heads", "classifiers", "compress"))
    assert not hasattr(net, "cams_raw") and not hasattr(net, "cam")
    assert architecture_family(net) == "resnet"
    assert architecture_family(AttrNet(ATTRS, AttrNetModelConfig(width=0.125, conv67_channels=8))) == "alexnet-cam"
    with pytest.raises(InputError, match="residual"):
        AttributeClassifier(ATTRS, AttrClfModelConfig(backbone="alexnet"))


def test_the_shipped_size_stays_under_a_million_parameters():
    from fashionlab.config import resolve_config
    from fashionlab.models.attrclf_task import AttrClfConfig

    cfg = resolve_config(AttrClfConfig, model="attrclf", preset="cpu64")
    net = AttributeClassifier(ATTRS, cfg.model)
    assert sum(p.numel() for p in net.parameters()) <= 1_000_000


def _hsv(x: torch.Tensor) -> np.ndarray:
    """(N, 3) hue, saturation, value of the pixels of (3, H, W) images in [-1, 1]."""
    rgb = ((x + 1) / 2).clamp(0, 1).permute(1, 2, 0).reshape(-1, 3).double().numpy()
    return np.array([colorsys.rgb_to_hsv(*p) for p in rgb])


def test_augmentation_keeps_hue_and_saturation():
    g = torch.Generator().manual_seed(0)
    red = torch.tensor([1.0, -1.0, -1.0])[None, :, None, None].expand(8, 3, 32, 32).clone()
    out = augment(red, AugmentConfig(scale=0.2, translate=0.1, brightness=0.3, contrast=0.3), g)
    h = np.stack([_hsv(o) for o in out])
    assert np.allclose(h[..., 0], 0.0) and np.allclose(h[..., 1], 1.0)  # red, fully saturated, everywhere
    assert len(np.unique(h[:, 0, 2].round(3))) > 1  # the value (brightness) did change
    # any colours: brightness and contrast keep every pixel's hue and saturation
    x = torch.rand(4, 3, 16, 16, generator=g) * 1.6 - 0.8
    photo = AugmentConfig(flip=False, scale=0.0, translate=0.0, brightness=0.3, contrast=0.3)
    y = augment(x, photo, g)
    before, after = np.stack([_hsv(i) for i in x]), np.stack([_hsv(i) for i in y])
    dh = np.abs(before[..., 0] - after[..., 0])
    assert np.minimum(dh, 1 - dh).max() < 1e-5 and np.abs(before[..., 1] - after[..., 1]).max() < 1e-5
    assert np.abs(before[..., 2] - after[..., 2]).max() > 0.05


def test_augmentation_geometry_keeps_the_whole_picture():
    """Flips alone mirror an image or leave it exactly as it was. Zoom and shift never move any part of the
    picture out of the frame (a sleeve end cut off would make a long sleeve read short): every input corner
    lands inside, and a lone bright pixel at each corner or edge is still seen."""
    from fashionlab.models.attrclf import random_affine

    g = torch.Generator().manual_seed(1)
    x = torch.rand(16, 3, 8, 8, generator=g) * 2 - 1
    y = augment(x, AugmentConfig(flip=True, scale=0, translate=0, brightness=0, contrast=0), g)
    flipped = [bool(torch.equal(a, b.flip(-1))) for a, b in zip(y, x, strict=True)]
    kept = [bool(torch.equal(a, b)) for a, b in zip(y, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)
    cfg = AugmentConfig(scale=0.3, translate=0.2, brightness=0, contrast=0)
    theta = random_affine(2000, cfg, g)
    corners = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    a, t = theta[:, :, :2], theta[:, :, 2]
    where = torch.linalg.solve(a[:, None], (corners[None] - t[:, None])[..., None])[..., 0]  # output coords
    assert where.abs().max() <= 1 + 1e-6 and t.abs().max() > 0.05 and a[:, 1, 1].max() > 1.3
    for r, c in [(0, 0), (0, 31), (31, 0), (31, 31), (0, 15), (15, 31)]:
        dot = -torch.ones(64, 3, 32, 32)
        dot[:, :, r, c] = 1.0
        seen = augment(dot, cfg, g).amax((1, 2, 3))
        assert seen.min() > -0.9, (r, c)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny SynthFashion dataset and an attrclf trained 4 steps on it: {"data", "run"}."""
    from fashionlab.config import resolve_config
    from fashionlab.engine.trainer import Trainer
    from fashionlab.models import build_task
    from fashionlab.models.attrclf_task import AttrClfConfig
    from fashionlab.models.registry import synth_tiny_data

    base = tmp_path_factory.mktemp("attrclf")
    data = synth_tiny_data(base / "data")
    cfg = resolve_config(
        AttrClfConfig,
        model="attrclf",
        preset="tiny",
        overrides=[f"data={data}", f"train.out={base / 'runs'}", "train.steps=4", "train.ckpt_every=0"],
    )
    trainer = Trainer(build_task("attrclf", cfg), cfg, train=cfg.train, progress=False)
    run = trainer.fit()
    return {"data": str(data), "run": run, "net": trainer.inference_nets()["model"]}


def test_export_round_trip_and_validation_log(tiny_run):
    model = fashionlab.load(tiny_run["run"])
    assert isinstance(model, AttributeClassifier) and model.preprocess.size == (32, 32) and not model.training
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    trained = tiny_run["net"].eval()
    for a, b in zip(model.predict(x), trained.predict(x), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(model(x).global_rep, trained(x).global_rep)
    rows = [json.loads(line) for line in (tiny_run["run"] / "stats.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val_acc/mean" in r]
    assert val and {"val_acc/sleeve", "val_acc/collar", "val_acc/min", "val_nn_agreement"} <= set(val[-1])


def test_plugs_into_the_editing_evaluation(tiny_run):
    from fashionlab.metrics.editing import EditEvaluation, identity_method

    clf = fashionlab.load(tiny_run["run"])
    ev = EditEvaluation(tiny_run["data"], {"clf": clf}, clf.preprocess, split="train", limit=4, progress=False)
    rep, _, _ = ev.run(identity_method, "identity")
    assert rep.by_evaluator["clf"]["family"] == "resnet"
    assert set(rep.manipulation) == {"sleeve", "color", "pattern", "collar", "fastening", "mean"}
    assert rep.preservation["mean"] == 1.0 and np.isfinite(rep.fid_like) and set(rep.retrieval) == {1, 5, 10, 20, 30}
    assert rep.gt["l1"]["mean"] > 0  # SynthFashion: the exact targets were rendered


def test_attribute_metrics_give_accuracy_alone(tiny_run):
    from fashionlab.metrics.attributes import evaluate_attributes

    rep = evaluate_attributes(fashionlab.load(tiny_run["run"]), tiny_run["data"], "train", limit=8, progress=False)
    assert set(rep.accuracy) == {"sleeve", "color", "pattern", "collar", "fastening"}
    assert rep.pointing == {} and rep.pointing_edit == {} and rep.box_iou == {}
