"""The shared editing parts (codes, losses, crop, mask combination, reference sampler, CAM targets), the
editors' exact resume, and `Editor.edit` on hand-made inputs where the right answer is known."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from conftest import signal_after_step

import fashionlab
from fashionlab.config import resolve_config
from fashionlab.data.reference import ReferenceSampler
from fashionlab.engine.checkpoint import find_checkpoint, load_checkpoint
from fashionlab.engine.task import OptimizerConfig, crop_optimizer_state, make_optimizer
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import InputError
from fashionlab.losses.attributes import attribute_cross_entropy
from fashionlab.losses.gan import gradient_penalty, wgan_critic_loss, wgan_generator_loss
from fashionlab.models import MODELS, build_task
from fashionlab.models.editing.cams import contrast_cams, target_cams
from fashionlab.models.editing.codes import AttributeSpace
from fashionlab.models.editing.crop import crop_and_resize, mask_boxes
from fashionlab.models.editing.networks import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    SmallMapConv2d,
    conv_with_tiled_code,
)

SPACE = AttributeSpace(
    [("sleeve", ["none", "short", "long"]), ("color", ["red", "blue"]), ("collar", ["a", "b", "c", "d"])]
)


def test_code_layout():
    labels = torch.tensor([[2, 0, 3], [-1, 1, 0]])
    code = SPACE.code(labels, torch.tensor([1, 0]))
    assert code.shape == (2, 9 + 3) and SPACE.code_dim == 12
    expect0 = [0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0]  # long | red | d || changing colour
    expect1 = [0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0]  # (unknown) | blue | a || changing sleeve
    assert code[0].tolist() == expect0 and code[1].tolist() == expect1


def test_random_targets_change_one_known_attribute_to_another_value():
    torch.manual_seed(0)
    labels = torch.tensor([[2, 0, 3], [-1, 1, -1], [0, -1, 1]]).repeat(400, 1)
    targets, changed = SPACE.random_targets(labels)
    rows = torch.arange(len(labels))
    assert (labels[rows, changed] >= 0).all()  # only attributes whose value is known are changed
    assert (targets[rows, changed] != labels[rows, changed]).all()
    other = torch.ones_like(labels, dtype=torch.bool)
    other[rows, changed] = False
    assert torch.equal(targets[other], labels[other])  # everything else kept
    # every other value of the sleeve is drawn, about equally often
    first = (changed == 0) & (labels[:, 0] == 2)
    counts = torch.bincount(targets[first, 0], minlength=3)
    assert counts[2] == 0 and counts[0] > 0.35 * first.sum() and counts[1] > 0.35 * first.sum()
    assert set(changed[labels[:, 0] == -1].tolist()) == {1}  # row 2: only colour is known


def test_parse_settings_names_what_is_wrong():
    assert SPACE.parse_settings({"collar": "c", "sleeve": "long"}) == [(2, 2), (0, 2)]
    with pytest.raises(InputError, match="unknown attribute 'fit'.*sleeve, color, collar"):
        SPACE.parse_settings({"fit": "slim"})
    with pytest.raises(InputError, match="color has no value 'green'; its values: red, blue"):
        SPACE.parse_settings({"color": "green"})


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = <w, x>: the gradient is w everywhere, so the penalty is (|w| - 1)^2 exactly."""
    w = torch.randn(3, 4, 4)

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    gp, s = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)
    assert s["grad_norm"].item() == pytest.approx(w.norm().item(), rel=1e-5)
    scale = torch.nn.Parameter(torch.tensor(2.0))
    gp2, _ = gradient_penalty(lambda x: critic(x) * scale, real, fake)
    gp2.backward()  # the penalty trains the critic: d/ds (s|w| - 1)^2 = 2 (s|w| - 1) |w|
    n = w.norm().item()
    assert scale.grad.item() == pytest.approx(2 * (2 * n - 1) * n, rel=1e-4)


def test_wgan_losses():
    loss, s = wgan_critic_loss(torch.tensor([3.0, 1.0]), torch.tensor([-1.0, 0.0]))
    assert loss.item() == pytest.approx(-0.5 - 2.0) and s["wasserstein"].item() == pytest.approx(2.5)
    g, _ = wgan_generator_loss(torch.tensor([[1.0, 2.0]]))
    assert g.item() == pytest.approx(-1.5)


def test_attribute_cross_entropy_masks_unknown_labels():
    logits = torch.randn(4, 9)
    labels = torch.tensor([[0, 1, 3], [2, -1, 0], [-1, 0, 1], [1, 1, -1]])
    loss, s = attribute_cross_entropy(logits, labels, SPACE.sizes)
    ce = torch.nn.functional.cross_entropy
    manual = (
        ce(logits[[0, 1, 3], 0:3], labels[[0, 1, 3], 0])
        + ce(logits[[0, 2, 3], 3:5], labels[[0, 2, 3], 1])
        + ce(logits[[0, 1, 2], 5:9], labels[[0, 1, 2], 2])
    ) / 3
    assert loss.item() == pytest.approx(manual.item(), rel=1e-6)
    known = {(r, a) for r in range(4) for a in range(3) if labels[r, a] >= 0}
    offsets = [0, 3, 5]
    hits = [int(logits[r, offsets[a] : offsets[a] + SPACE.sizes[a]].argmax()) == labels[r, a] for r, a in known]
    assert s["cls_acc"].item() == pytest.approx(sum(hits) / len(known))  # over the 9 known labels
    total, _ = attribute_cross_entropy(logits, labels, SPACE.sizes, reduction="sum")  # StarGAN's L_cls
    assert total.item() == pytest.approx(3 * manual.item(), rel=1e-6)
    with pytest.raises(ValueError, match="mean or sum"):
        attribute_cross_entropy(logits, labels, SPACE.sizes, reduction="max")


def test_mask_boxes_take_the_largest_region_above_half_the_max():
    m = torch.zeros(2, 1, 64, 64)
    m[0, 0, 4:10, 4:10] = 1.0  # small blob
    m[0, 0, 20:50, 30:60] = 0.8  # larger blob, above 50% of the max
    m[0, 0, 60:63, 0:3] = 0.3  # below the threshold
    m[1] = 0.25  # flat: the whole image
    boxes = mask_boxes(m, 0.5)
    assert boxes[0].tolist() == [30.0, 20.0, 60.0, 50.0]
    assert boxes[1].tolist() == [0.0, 0.0, 64.0, 64.0]


def test_crop_and_resize_matches_slicing_on_pixel_boxes():
    x = torch.randn(2, 3, 16, 16)
    boxes = torch.tensor([[4.0, 2.0, 12.0, 10.0], [0.0, 0.0, 16.0, 16.0]])
    out = crop_and_resize(x, boxes, (8, 8))
    assert torch.allclose(out[0], x[0, :, 2:10, 4:12], atol=1e-5)
    half = crop_and_resize(x, boxes, (16, 16))
    assert torch.allclose(half[1], x[1], atol=1e-5)


def test_generator_combines_through_the_mask():
    torch.manual_seed(0)
    G = Generator(SPACE.code_dim, GeneratorConfig(width=8, residual_blocks=1, attention=True)).eval()
    G.requires_grad_(False)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    code = SPACE.code(torch.tensor([[0, 0, 0], [1, 1, 1]]), torch.tensor([0, 1]))
    out, a = G(x, code)
    assert a.shape == (2, 1, 16, 16) and float(a.min()) >= 0 and float(a.max()) <= 1
    keep, _ = G(x, code, torch.zeros(2, 1, 16, 16))
    assert torch.equal(keep, x)  # a = 0: the input, exactly
    z, _ = G(x, code, torch.ones(2, 1, 16, 16))
    half = torch.zeros(2, 1, 16, 16)
    half[..., :8] = 1
    mixed, _ = G(x, code, half)
    assert torch.equal(mixed[..., 8:], x[..., 8:]) and torch.allclose(mixed[..., :8], z[..., :8])
    assert torch.allclose(out, a * z + (1 - a) * x, atol=1e-6)


def test_reference_sampler_exact_then_nearest():
    labels = np.array([[0, 1, 2], [0, 1, 2], [1, 0, 0], [2, 1, 2]])
    torch.manual_seed(0)
    s = ReferenceSampler(labels)
    got = s.draw(torch.tensor([[0, 1, 2]] * 20 + [[1, 0, 0]]))
    assert set(got[:20].tolist()) == {0, 1} and got[20].item() == 2
    assert s.fallback_share() == 0.0
    near = s.draw(torch.tensor([[2, 1, 0], [1, 0, 3]]))  # no exact match: most attributes in common
    assert near.tolist() == [3, 2]  # [2, 1, 2] shares two values with [2, 1, 0]; [1, 0, 0] two with [1, 0, 3]
    assert s.fallback_share() == 1.0 and s.fallback_share() == 0.0  # reset after reading


def test_target_cams_pick_each_samples_attribute_and_value(editing_world):
    clf = fashionlab.load(editing_world["classifier"])
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        cams = target_cams(clf, x, torch.tensor([0, 2, 0]), torch.tensor([1, 3, -1]))
    assert cams.shape == (3, 1, 64, 64) and float(cams.min()) >= 0 and float(cams.max()) <= 1 + 1e-6
    assert torch.allclose(cams[0, 0], clf.cam(x[:1], 0, 1)[0], atol=1e-5)
    assert torch.allclose(cams[1, 0], clf.cam(x[1:2], 2, 3)[0], atol=1e-5)
    assert float(cams[2].abs().max()) == 0  # unknown value: no target


def test_contrast_cams_are_the_cam_of_the_logit_difference(editing_world):
    clf = fashionlab.load(editing_world["classifier"])
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        cams = contrast_cams(clf, x, torch.tensor([1, 3]), torch.tensor([0, 2]), torch.tensor([2, -1]))
        conv7 = clf.conv67(clf.backbone(clf.preprocess.fit_batch(x[:1])))
        raw = clf.cams_raw(conv7, 1)[0]
    want = torch.nn.functional.interpolate((raw[0] - raw[2])[None, None], size=(64, 64), mode="bilinear")[0, 0]
    want = (want - want.min()) / (want.max() - want.min())
    assert torch.allclose(cams[0, 0], want, atol=1e-5)
    # the order matters: swapping source and target gives the complement of the same map
    with torch.no_grad():
        swapped = contrast_cams(clf, x[:1], torch.tensor([1]), torch.tensor([2]), torch.tensor([0]))
    assert torch.allclose(swapped[0, 0], 1 - want, atol=1e-5)
    assert float(cams[1].abs().max()) == 0  # unknown target: no map


@pytest.fixture(scope="module")
def editing_world(tiny_amgan):
    return tiny_amgan


def tiny(name, world, out, *extra):
    over = [f"data={world['data']}", f"train.out={out}"]
    if name == "amgan":
        over.append(f"classifier={world['classifier']}")
    return resolve_config(MODELS.get(name).config, model=name, preset="tiny", overrides=[*over, *extra])


@pytest.mark.parametrize("name", ["stargan", "amgan", "ganimation", "sagan"])
def test_interrupted_editor_resumes_bit_identical(name, editing_world, tmp_path, monkeypatch):
    cfg = tiny(name, editing_world, tmp_path / "a", "train.steps=5", "train.ckpt_every=0")
    Trainer(build_task(name, cfg), cfg, train=cfg.train, progress=False).fit()
    full = load_checkpoint(find_checkpoint(next((tmp_path / "a" / name).iterdir())))

    cfg = tiny(name, editing_world, tmp_path / "b", "train.steps=5", "train.ckpt_every=0")
    task = build_task(name, cfg)
    signal_after_step(monkeypatch, task, 2)
    with pytest.raises(SystemExit):
        Trainer(task, cfg, train=cfg.train, progress=False).fit()
    run = next((tmp_path / "b" / name).iterdir())
    Trainer(build_task(name, cfg), cfg, train=cfg.train, resume=run, progress=False).fit()
    state = load_checkpoint(find_checkpoint(run))
    assert state["step"] == full["step"] == 5 and state["batches_drawn"] == full["batches_drawn"] == 5 + 2
    for group in ("nets", "ema"):
        for net, sd in full[group].items():
            for k, v in sd.items():
                assert torch.equal(state[group][net][k], v), (group, net, k)
    assert state["task"] == full["task"]
    if name == "amgan":
        assert set(full["nets"]) == {"G", "D_I", "D_C"} and "classifier" in full["frozen"]
    if name == "sagan":  # the SAN is part of G: checkpointed, EMA'd and resumed with it
        assert any(k.startswith("san.") for k in full["ema"]["G"]) and set(full["nets"]) == {"G", "D_I"}


@pytest.fixture(scope="module")
def amgan_export(tiny_amgan):
    return tiny_amgan["run"] / "export"


def test_editor_edit_api(amgan_export):
    editor = fashionlab.load(amgan_export)
    assert editor.has_attention and editor.classifier is not None and editor.preprocess.size == (32, 32)
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    labels = torch.tensor([[3, 0, 0, 0, 0], [1, 0, 0, 0, 0]])
    res = editor.edit(x, {"sleeve": "long"}, labels=labels)
    assert torch.equal(res.images[0], x[0]) and res.notes[0] == ["sleeve is already long: unchanged"]
    # the other image is the generator's output for its labels with the sleeve set to long (value 3)
    targets = labels.clone()
    targets[:, 0] = 3
    generated, attention = editor.G(x, editor.space.code(targets, torch.zeros(2, dtype=torch.long)))
    assert torch.equal(res.images[1], generated[1]) and res.notes[1] == []
    assert float(res.masks[0].abs().max()) == 0 and torch.equal(res.masks[1], attention[1])
    region = torch.zeros(1, 1, 32, 32)
    region[..., 8:24, 8:24] = 1
    res = editor.edit(x, {"color": "red", "pattern": "dots"}, region=region, labels=labels)  # two edits in order
    outside = region.expand(2, 3, 32, 32) == 0
    assert torch.equal(res.images[outside], x[outside])  # nothing outside the region changes
    assert not torch.equal(res.images, x)
    strict, loose = (editor.region_mask(x, "sleeves", labels, t) for t in (0.9, 0.3))
    assert bool((strict <= loose).all()) and set(loose.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(InputError, match="threshold must lie in"):
        editor.region_mask(x, "sleeves", labels, 1.5)
    with pytest.raises(InputError, match="unknown attribute 'fit'"):
        editor.edit(x, {"fit": "slim"})
    with pytest.raises(InputError, match=r"expected images of shape \(B, 3, 32, 32\)"):
        editor.edit(torch.zeros(1, 3, 40, 40), {"sleeve": "long"})
    labels_read = editor.read_attributes(x)  # the attribute network's most likely value of each attribute
    probs = editor.classifier.predict(editor.classifier.preprocess.fit_batch(x))
    assert labels_read.tolist() == [[int(p[i].argmax()) for p in probs] for i in range(2)]
    # without labels, the editor edits from what it reads
    assert torch.equal(
        editor.edit(x, {"color": "red"}).images, editor.edit(x, {"color": "red"}, labels=labels_read).images
    )


def test_editor_configs_that_cannot_work_are_named(editing_world, tmp_path):
    with pytest.raises(InputError, match="classifier"):
        build_task("amgan", tiny("amgan", editing_world, tmp_path, "classifier="))
    with pytest.raises(InputError, match="model.generator.attention"):
        build_task("stargan", tiny("stargan", editing_world, tmp_path, "model.use_dc=true"))
    with pytest.raises(InputError, match="target, source, union or contrast"):
        build_task("amgan", tiny("amgan", editing_world, tmp_path, "model.cam_target=both"))
    with pytest.raises(InputError, match="no dataset"):
        build_task("stargan", tiny("stargan", editing_world, tmp_path, "data="))


@pytest.mark.parametrize("options", [["model.cam_target=source"], ["model.cam_target=union", "model.cam_as_mask=true"]])
def test_attention_target_options_train(editing_world, tmp_path, options):
    cfg = tiny("amgan", editing_world, tmp_path, "train.steps=2", "train.ckpt_every=0", *options)
    task = build_task("amgan", cfg)
    Trainer(task, cfg, train=cfg.train, progress=False).fit()
    x = torch.stack([task.dataset[i]["image"] for i in range(2)])
    labels = torch.from_numpy(task.dataset.labels[:2])
    targets, changed = task.space.random_targets(labels)
    cam = task._cams(x, targets, changed, labels)
    rows = torch.arange(2)
    src = target_cams(task.frozen["classifier"], x, changed, labels[rows, changed])
    if options == ["model.cam_target=source"]:
        assert torch.equal(cam, src)
    else:
        assert torch.equal(
            cam, torch.maximum(src, target_cams(task.frozen["classifier"], x, changed, targets[rows, changed]))
        )


def test_permuted_targets_mark_every_changed_attribute():
    torch.manual_seed(0)
    labels = torch.tensor([[0, 0, 1], [2, 1, 1], [1, -1, 3]])
    targets, changed = SPACE.permuted_targets(labels)
    assert sorted(targets.tolist()) == sorted(labels.tolist())  # a permutation of the batch's labels
    assert torch.equal(changed, (targets != labels) & (targets >= 0) & (labels >= 0))
    code = SPACE.code(targets, changed)
    assert torch.equal(code[:, 9:], changed.float())  # several attributes marked at once


def test_stargan_trains_with_permuted_targets(editing_world, tmp_path):
    cfg = tiny("stargan", editing_world, tmp_path, "train.steps=2", "train.ckpt_every=0", "targets=permuted")
    Trainer(build_task("stargan", cfg), cfg, train=cfg.train, progress=False).fit()
    with pytest.raises(InputError, match="permuted targets"):
        build_task("amgan", tiny("amgan", editing_world, tmp_path, "targets=permuted"))


def test_export_references_a_shipped_classifier_instead_of_copying_it(editing_world, tmp_path):
    import json

    from fashionlab.engine.export import export_tensor_hash, read_export
    from fashionlab.models.registry import model_path

    cfg = tiny("amgan", editing_world, tmp_path, "train.steps=1", "classifier=asset:attrnet-synth64")
    run = Trainer(build_task("amgan", cfg), cfg, train=cfg.train, progress=False).fit()
    meta, states = read_export(run)
    assert set(states) == {"G"} and meta["extra"]["classifier"]["asset"] == "attrnet-synth64"
    editor = fashionlab.load(run)
    shipped = fashionlab.load("asset:attrnet-synth64")
    for k, v in shipped.state_dict().items():
        assert torch.equal(editor.classifier.state_dict()[k], v), k
    grey = torch.zeros(1, 3, 32, 32)
    read = [int(p.argmax()) for p in shipped.predict(shipped.preprocess.fit_batch(grey))]
    assert editor.read_attributes(grey).tolist() == [read]  # what the shipped network reads
    # a user's classifier (the tiny one) is copied into the export
    _, states = read_export(editing_world["run"])
    assert set(states) == {"G", "classifier"}
    # the shipped network is named by the hash of its values; another version is refused, by name
    meta_path = run / "export" / "config.json"
    meta = json.loads(meta_path.read_text())
    shipped_hash = export_tensor_hash(model_path("asset:attrnet-synth64"))
    assert meta["extra"]["classifier"]["source"]["tensor_sha256"] == shipped_hash
    meta["extra"]["classifier"]["source"]["tensor_sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="another version of the shipped attribute network 'attrnet-synth64'"):
        fashionlab.load(run)


def test_exact_paired_targets_reproduce_the_images_and_change_only_the_attribute(editing_world):
    """Re-rendered with their own attributes, the items are their stored images (to resampling rounding);
    with one attribute changed, the re-render differs from the image and flips follow the input's."""
    from fashionlab.data.loader import FashionDataset
    from fashionlab.models.editing.paired import exact_targets

    ds = FashionDataset(editing_world["data"], split="train", size=(32, 32))
    idx = torch.arange(4)
    images = torch.stack([ds[i]["image"] for i in range(4)])
    labels = torch.from_numpy(ds.labels[:4].copy())
    same = exact_targets(ds, idx, labels)
    assert same.shape == images.shape and (same - images).abs().max() <= 2 / 127.5
    targets = labels.clone()
    color = ds.attribute_names.index("color")
    targets[:, color] = (labels[:, color] + 1) % len(ds.specs[color].values)
    changed = exact_targets(ds, idx, targets)
    assert ((changed - images).abs().amax((1, 2, 3)) > 0.2).all()
    flipped = exact_targets(ds, idx, targets, flip=torch.tensor([True, False, True, False]))
    assert torch.equal(flipped[0], changed[0].flip(-1)) and torch.equal(flipped[1], changed[1])


def test_change_total_variation_is_zero_for_a_constant_shift_and_large_for_noise():
    from fashionlab.models.editing.task import change_total_variation

    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert change_total_variation(x, x)[0].item() == 0
    assert change_total_variation(x + 0.3, x)[0].item() == pytest.approx(0, abs=1e-6)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None]) % 2 * 0.2  # alternating 0 / 0.2
    tv, s = change_total_variation(x + checker, x)
    assert tv.item() == pytest.approx(0.4, abs=1e-6) and s["change_tv"].item() == pytest.approx(0.4, abs=1e-6)


def test_paired_ceiling_trains_and_logs_its_loss(editing_world, tmp_path):
    cfg = tiny("amgan", editing_world, tmp_path / "p", "train.steps=2", "train.ckpt_every=0", "loss.paired=10")
    run = Trainer(build_task("amgan", cfg), cfg, train=cfg.train, progress=False).fit()
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert any("paired" in r for r in rows)


def test_nearest_upsampling_generator_has_no_transposed_convs_and_keeps_shapes():
    """model.generator.upsample=nearest: x2 nearest + 3x3 conv instead of 4x4 stride-2 transposed convs
    (Odena et al. 2016: no uneven overlap, no checkerboard); the same input/output contract; bad names refused."""
    cfg = GeneratorConfig(width=8, residual_blocks=1, attention=True, upsample="nearest")
    G = Generator(SPACE.code_dim, cfg)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in G.modules())
    x = torch.zeros(2, 3, 32, 32)
    code = SPACE.code(torch.tensor([[2, 0, 3], [0, 1, 1]]), torch.tensor([0, 1]))
    out, mask = G(x, code)
    assert out.shape == x.shape and mask.shape == (2, 1, 32, 32)
    with pytest.raises(InputError, match="transposed or nearest"):
        Generator(SPACE.code_dim, GeneratorConfig(upsample="bicubic"))


@pytest.mark.parametrize("upsample", ["transposed", "nearest"])
def test_skip_generator_sees_full_resolution_input_and_default_layout_is_unchanged(upsample):
    """model.generator.skips: the decoder's last level sees the stem's full-resolution features, so one
    input pixel moves output pixels through the skip even when the bottleneck is cut; without skips the
    state-dict keys stay those of the shipped exports (body.N...)."""
    torch.manual_seed(0)
    plain = Generator(SPACE.code_dim, GeneratorConfig(width=8, residual_blocks=1, attention=True))
    assert all(k.startswith(("body.", "to_rgb.", "to_attention.")) for k in plain.state_dict())
    assert "body.0.weight" in plain.state_dict()
    G = Generator(
        SPACE.code_dim, GeneratorConfig(width=8, residual_blocks=1, attention=True, skips=True, upsample=upsample)
    )
    x = torch.zeros(1, 3, 32, 32)
    code = SPACE.code(torch.tensor([[2, 0, 3]]), torch.tensor([0]))
    out, mask = G(x, code)
    assert out.shape == x.shape and mask.shape == (1, 1, 32, 32)
    # cut the bottleneck: zero every weight below the stem except the skip path; a change at one pixel must
    # still reach the output through the skip (the plain generator loses it entirely)
    with torch.no_grad():
        for net in (G.body.down, G.body.middle, G.body.up):
            for p in net.parameters():
                p.zero_()
    y = x.clone()
    y[0, :, 16, 16] = 1.0
    assert not torch.allclose(G(y, code)[0], G(x, code)[0])


def _full_kernel_discriminator(size: tuple[int, int], layers: int, n_values: int) -> torch.nn.Module:
    """The official StarGAN critic's layout, every conv with its full kernel (the reference for trimming)."""
    body, cin = [], 3
    for k in range(layers):
        body += [torch.nn.Conv2d(cin, 8 << k, 4, 2, 1), torch.nn.LeakyReLU(0.01)]
        cin = 8 << k
    net = torch.nn.Module()
    net.body = torch.nn.Sequential(*body)
    net.source = torch.nn.Conv2d(cin, 1, 3, 1, 1, bias=False)
    net.classes = torch.nn.Conv2d(cin, n_values, (size[0] >> layers, size[1] >> layers), bias=False)
    return net


@pytest.mark.parametrize(
    "size,layers,kernels",
    [
        ((64, 64), 6, ((2, 2), (1, 1))),
        ((32, 32), 5, ((2, 2), (1, 1))),
        ((64, 32), 5, ((4, 2), (3, 1))),
        ((64, 64), 5, ((4, 4), (3, 3))),
    ],
)
def test_discriminator_drops_only_taps_that_see_padding(size, layers, kernels):
    """At image size 2^layers the last conv sees a 2x2 map and the source head a 1x1 one: the critic stores
    only their live taps, loads the full kernels, and gives the same scores, input gradients (the gradient
    penalty's) and weight gradients as the full-kernel critic, whose dropped taps get exactly zero. The last
    conv (at most 2x2 outputs, many channels) runs as a matrix product (SmallMapConv2d) in every case."""
    torch.manual_seed(0)
    full = _full_kernel_discriminator(size, layers, 4)
    ours = Discriminator(size, 4, DiscriminatorConfig(8, layers, 1 << 20))
    ours.load_state_dict(full.state_dict())
    last = ours.body[2 * layers - 2]
    assert (tuple(last.kernel_size), tuple(ours.source.kernel_size)) == kernels
    assert isinstance(last, SmallMapConv2d) and not isinstance(ours.source, SmallMapConv2d)  # 1 channel: plain
    x = torch.randn(3, 3, *size)
    outputs = []
    for net in (full, ours):
        xi = x.clone().requires_grad_(True)
        h = net.body(xi)
        src, cls = net.source(h), net.classes(h).flatten(1)
        (grad_x,) = torch.autograd.grad(src.sum(), xi, create_graph=True)
        (src.square().sum() + cls.sum() + grad_x.square().sum()).backward()  # double backward, as the penalty
        outputs.append((src, cls, grad_x, net.body[2 * layers - 2].weight.grad, net.source.weight.grad))
    (src_f, cls_f, gx_f, gw_f, gs_f), (src_o, cls_o, gx_o, gw_o, gs_o) = outputs
    torch.testing.assert_close(src_o, src_f, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cls_o, cls_f, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gx_o, gx_f, rtol=1e-4, atol=1e-6)
    (kh, kw), (sh, sw) = kernels
    rows, cols = slice((4 - kh) // 2, (4 + kh) // 2), slice((4 - kw) // 2, (4 + kw) // 2)
    dropped = torch.ones_like(gw_f, dtype=torch.bool)
    dropped[..., rows, cols] = False
    assert gw_f[dropped].abs().sum() == 0  # the full conv's taps that only see padding learn nothing
    gw_f, gs_f = gw_f[..., rows, cols], gs_f[..., (3 - sh) // 2 : (3 + sh) // 2, (3 - sw) // 2 : (3 + sw) // 2]
    assert gw_o.abs().sum() > 0 and gs_o.abs().sum() > 0
    torch.testing.assert_close(gw_o, gw_f, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gs_o, gs_f, rtol=1e-4, atol=1e-6)
    # initialised as the full conv: the same draws, so the same seed gives the same live weights
    torch.manual_seed(1)
    a = Discriminator(size, 4, DiscriminatorConfig(8, layers, 1 << 20))
    torch.manual_seed(1)
    reference = _full_kernel_discriminator(size, layers, 4)
    ours_from_reference = Discriminator(size, 4, DiscriminatorConfig(8, layers, 1 << 20))
    ours_from_reference.load_state_dict(reference.state_dict())
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, ours_from_reference.state_dict()[key], rtol=0, atol=0)


def _literal_generator_output(G: Generator, x: torch.Tensor, code: torch.Tensor):
    """The generator computed as written in the papers: the code tiled and concatenated to the image, the
    body as one module, each head its own conv."""
    tiled = torch.cat([x, code[:, :, None, None].expand(-1, -1, *x.shape[-2:])], 1)
    h = G.body(tiled)  # SkipEncoderDecoder takes the full input too
    z = G.to_rgb(h)
    if G.to_attention is None:
        return z, None
    a = G.to_attention(h)
    return (a * x + (1 - a) * z if G.cfg.attention_keeps else a * z + (1 - a) * x), a


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"attention": True},
        {"attention": True, "attention_keeps": True},
        {"attention": True, "skips": True},
        {"attention": True, "upsample": "nearest"},
    ],
)
def test_generator_fast_paths_equal_the_tiled_code_computation(options):
    """The stem without a tiled input (conv_with_tiled_code) and the fused heads give the outputs, masks and
    gradients of the literal computation, borders included (a non-square image, a code that varies)."""
    torch.manual_seed(0)
    G = Generator(SPACE.code_dim, GeneratorConfig(width=8, residual_blocks=1, **options))
    if G.to_attention is not None and G.to_attention[0].bias is None:
        G.to_attention[0].bias = torch.nn.Parameter(torch.randn(1))  # a head with a bias (SaGAN's SAN style)
    x = torch.rand(2, 3, 16, 12) * 2 - 1
    code = torch.randn(2, SPACE.code_dim)
    grads = []
    for fn in (lambda: G(x, code), lambda: _literal_generator_output(G, x, code)):
        G.zero_grad()
        out, mask = fn()
        (out.square().sum() + (0 if mask is None else mask.sum())).backward()
        grads.append((out, mask, [p.grad.clone() for p in G.parameters()]))
    (out_f, mask_f, g_f), (out_l, mask_l, g_l) = grads
    torch.testing.assert_close(out_f, out_l, rtol=1e-4, atol=1e-5)
    if mask_l is not None:
        torch.testing.assert_close(mask_f, mask_l, rtol=1e-4, atol=1e-5)
    for a, b in zip(g_f, g_l, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_conv_with_tiled_code_at_the_borders():
    """A 7x7 stem on a 9x7 map: every output position is near a border, where the code's response is a partial
    sum of the kernel's taps."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3 + 5, 4, 7, 1, 3, bias=True)
    x, code = torch.randn(2, 3, 9, 7), torch.randn(2, 5)
    tiled = torch.cat([x, code[:, :, None, None].expand(-1, -1, 9, 7)], 1)
    torch.testing.assert_close(conv_with_tiled_code(conv, x, code), conv(tiled), rtol=1e-4, atol=1e-5)


def test_a_run_saved_with_full_kernels_continues_exactly_after_trimming():
    """A critic and its Adam state saved with the official layout's full kernels (as before conv_on_map)
    load into the trimmed critic (weights by the load hook, Adam's moments by crop_optimizer_state), and the
    next update moves the stored weights as the full-kernel run moves them."""
    torch.manual_seed(0)
    size, layers = (32, 32), 5
    full = _full_kernel_discriminator(size, layers, 4)
    full_opt = make_optimizer(full.parameters(), OptimizerConfig(lr=1e-3))
    x = torch.randn(4, 3, *size)

    def step(net, opt):
        h = net.body(x)
        loss = net.source(h).square().sum() + net.classes(h).square().sum()  # gradients far above Adam's eps
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step(full, full_opt)
    ours = Discriminator(size, 4, DiscriminatorConfig(8, layers, 1 << 20))
    ours.load_state_dict(full.state_dict())
    ours_opt = make_optimizer(ours.parameters(), OptimizerConfig(lr=1e-3))
    ours_opt.load_state_dict(copy.deepcopy(full_opt.state_dict()))  # as from a file: no tensors shared
    crop_optimizer_state(ours_opt)
    last = 2 * layers - 2
    pairs = [
        (ours.body[last].weight, full.body[last].weight, (..., slice(1, 3), slice(1, 3))),
        (ours.source.weight, full.source.weight, (..., slice(1, 2), slice(1, 2))),
        (ours.body[0].weight, full.body[0].weight, (...,)),
    ]
    for mine, theirs, index in pairs:  # the moments: exactly the full run's, at the stored taps
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(ours_opt.state[mine][key], full_opt.state[theirs][key][index])
    step(full, full_opt)
    step(ours, ours_opt)
    assert ours.body[last].weight.shape[-2:] == (2, 2)
    for mine, theirs, index in pairs:
        torch.testing.assert_close(mine, theirs[index], rtol=1e-5, atol=1e-6)


def test_gaussian_blur_keeps_constants_removes_speckle_and_low_passes_gradients():
    from fashionlab.models.editing.lowpass import gaussian_blur

    const = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(const, 0.75), const, atol=1e-6)
    x = torch.rand(2, 3, 16, 16)
    assert gaussian_blur(x, 0) is x
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None]) % 2 * 2 - 1).float().expand(1, 3, 16, 16)
    assert gaussian_blur(checker, 0.75).abs().max() < 0.05  # a one-pixel speckle nearly vanishes
    stripes = (torch.arange(16) // 2 % 2 * 2 - 1).float().expand(1, 3, 16, 16)  # period 4
    assert gaussian_blur(stripes, 0.75)[..., 4:12].abs().min() > 0.3  # a 2-pixel stripe survives
    # the gradient a loss sends back through the blur is the blurred gradient (symmetric kernel)
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    g = torch.randn(1, 3, 16, 16)
    (gaussian_blur(x, 0.75) * g).sum().backward()
    inner = (..., slice(4, 12), slice(4, 12))  # away from the reflected borders
    assert torch.allclose(x.grad[inner], gaussian_blur(g, 0.75)[inner], atol=1e-5)
    with pytest.raises(ValueError):
        gaussian_blur(x, -1)


@pytest.mark.parametrize("sigma", [0.0, 1.0])
def test_cls_blur_makes_the_critics_attribute_heads_read_blurred_images(editing_world, tmp_path, sigma):
    from fashionlab.models.editing.lowpass import gaussian_blur

    cfg = tiny("amgan", editing_world, tmp_path, "train.steps=2", "train.ckpt_every=0", f"loss.cls_blur={sigma}")
    task = build_task("amgan", cfg)
    seen = []
    task.nets["D_I"].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    Trainer(task, cfg, train=cfg.train, progress=False).fit()
    blurred_pairs = sum(
        torch.allclose(gaussian_blur(a, 1.0), b, atol=1e-4) for a in seen for b in seen if a.shape == b.shape
    )
    # per critic step: real (+ its blurred read), fake, the penalty's mix; per generator step: fake (+ blurred)
    if sigma:
        assert blurred_pairs >= 3 and len(seen) == 2 * 4 + 2
    else:
        assert blurred_pairs == 0 and len(seen) == 2 * 3 + 1
    with pytest.raises(InputError, match="loss.cls_blur"):
        build_task("amgan", tiny("amgan", editing_world, tmp_path, "loss.cls_blur=-1"))


def _generator_pair(keeps: bool, **inference_settings):
    """Two tiny masked generators with the same weights, the second with ``inference_settings`` (settings
    without weights, such as content_blur or mask_floor), and an input batch with its codes."""
    from fashionlab.models.editing.networks import Generator, GeneratorConfig

    torch.manual_seed(0)
    cfg = GeneratorConfig(width=8, residual_blocks=1, attention=True, attention_keeps=keeps)
    plain = Generator(3, cfg).eval()
    changed = Generator(3, GeneratorConfig(**{**cfg.__dict__, **inference_settings})).eval()
    changed.load_state_dict(plain.state_dict())  # the settings have no weights: the same parameters
    return plain, changed, torch.rand(2, 3, 16, 16) * 2 - 1, torch.eye(3)[:2]


@pytest.mark.parametrize("keeps", [False, True])
def test_content_blur_low_passes_the_content_head_only(keeps):
    from fashionlab.models.editing.lowpass import gaussian_blur

    sharp, blurred, x, code = _generator_pair(keeps, content_blur=1.0)
    with torch.no_grad():
        edit_everywhere = torch.zeros(2, 1, 16, 16) if keeps else torch.ones(2, 1, 16, 16)
        z_sharp, _ = sharp(x, code, edit_everywhere)  # the whole output is the content head's image
        z_blurred, _ = blurred(x, code, edit_everywhere)
        assert torch.allclose(z_blurred, gaussian_blur(z_sharp, 1.0), atol=1e-5)
        assert not torch.allclose(z_blurred, z_sharp, atol=1e-3)
        # the learnt mask is the same, and where it keeps the input the input comes through unblurred
        (_, a_sharp), (_, a_blurred) = sharp(x, code), blurred(x, code)
        assert torch.equal(a_sharp, a_blurred)
        keep_everywhere = 1 - edit_everywhere
        kept, _ = blurred(x, code, keep_everywhere)
        assert torch.allclose(kept, x, atol=1e-6)


def test_content_blur_out_of_range_is_a_clear_error(editing_world, tmp_path):
    with pytest.raises(InputError, match="model.generator.content_blur"):
        build_task("amgan", tiny("amgan", editing_world, tmp_path, "model.generator.content_blur=20"))


def test_region_threshold_out_of_range_is_a_clear_error(editing_world, tmp_path):
    with pytest.raises(InputError, match="model.region_threshold"):
        build_task("amgan", tiny("amgan", editing_world, tmp_path, "model.region_threshold=1"))


@pytest.mark.parametrize("keeps", [False, True])
def test_mask_floor_cuts_the_learnt_masks_soft_tail_only(keeps):
    plain, floored, x, code = _generator_pair(keeps, mask_floor=0.4)
    with torch.no_grad():
        (_, a), (out_f, a_f) = plain(x, code), floored(x, code)
        edit, edit_f = plain.edit_mask(a), floored.edit_mask(a_f)
        assert torch.allclose(edit_f, ((edit - 0.4) / 0.6).clamp(0, 1), atol=1e-6)
        z, _ = plain(x, code, plain.own_mask(torch.ones(2, 1, 16, 16)))  # the content image
        assert torch.allclose(out_f, edit_f * z + (1 - edit_f) * x, atol=1e-5)
        low = edit < 0.4  # where the tail was cut the input comes through exactly
        assert torch.allclose(out_f.masked_select(low.expand_as(x)), x.masked_select(low.expand_as(x)), atol=1e-6)
        # a given mask (a region) is used as given
        region = (torch.rand(2, 1, 16, 16) > 0.5).float() * 0.3
        given, _ = floored(x, code, floored.own_mask(region))
        assert torch.allclose(given, region * z + (1 - region) * x, atol=1e-5)


def test_mask_floor_cuts_sagans_attention_mask_too():
    from fashionlab.models.editing.networks import GeneratorConfig, SaganGenerator, SanConfig

    torch.manual_seed(0)
    amn = GeneratorConfig(width=8, residual_blocks=1, attention=False)
    plain = SaganGenerator(3, amn, SanConfig(width=8, residual_blocks=1), san_takes_code=True).eval()
    floored = SaganGenerator(
        3, GeneratorConfig(**{**amn.__dict__, "mask_floor": 0.4}), SanConfig(width=8, residual_blocks=1), True
    ).eval()
    floored.load_state_dict(plain.state_dict())
    x, code = torch.rand(2, 3, 16, 16) * 2 - 1, torch.eye(3)[:2]
    with torch.no_grad():
        (_, m), (out_f, m_f) = plain(x, code), floored(x, code)
        assert torch.allclose(m_f, ((m - 0.4) / 0.6).clamp(0, 1), atol=1e-6)
        assert not torch.allclose(m_f, m, atol=1e-3)
        z, _ = plain.amn(x, code)
        assert torch.allclose(out_f, m_f * z + (1 - m_f) * x, atol=1e-5)
        region = (torch.rand(2, 1, 16, 16) > 0.5).float() * 0.3  # a given mask is used as given
        given, m_given = floored(x, code, region)
        assert torch.equal(m_given, region) and torch.allclose(given, region * z + (1 - region) * x, atol=1e-5)


def test_mask_floor_out_of_range_is_a_clear_error(editing_world, tmp_path):
    with pytest.raises(InputError, match="model.generator.mask_floor"):
        build_task("amgan", tiny("amgan", editing_world, tmp_path, "model.generator.mask_floor=1"))
