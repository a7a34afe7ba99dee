"""ResGAN (`fashionlab train resgan`): its networks, the three-class losses on known logits, the residual
x + r, the weight conversion from the re-implementation's sums over [0, 255] to our means, the contrast and
its errors, the editor (G0 or G1 by target, refusal of anything else), the training wiring, exact resume,
`fashionlab edit` and the evaluation restricted to the contrast."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import signal_after_step
from PIL import Image

import fashionlab
from fashionlab.config import resolve_config
from fashionlab.data.imaging import Preprocess
from fashionlab.engine.checkpoint import find_checkpoint, load_checkpoint
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import InputError
from fashionlab.losses.resgan import (
    FAKE,
    GREY_LEVELS_PER_UNIT,
    REAL_A,
    REAL_B,
    discriminator_loss,
    generator_loss,
    residual_l1,
    sum_weight_as_mean,
)
from fashionlab.metrics.editing import EditEvaluation, editor_method, plan_contrast_edits
from fashionlab.models import MODELS, build_task
from fashionlab.models.editing.residual import (
    ContrastSpace,
    ResganEditor,
    ThreeClassDiscriminator,
    ThreeClassDiscriminatorConfig,
    TransformConfig,
    TransformNet,
    parse_contrast,
    residuals,
)

ATTRS = [("sleeve", ["sleeveless", "short", "elbow", "long"]), ("color", ["red", "blue"])]
LONG_SHORT = parse_contrast("sleeve=long,short", ATTRS)


def _constant_net(value: float) -> TransformNet:
    """A transformation network whose residual is ``value`` everywhere (last conv: zero weights, bias)."""
    net = TransformNet(TransformConfig(width=4))
    last = net.body[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.constant_(last.bias, value)
    return net.eval()


def _editor(g0: float = 0.25, g1: float = -0.5) -> ResganEditor:
    return ResganEditor(ATTRS, LONG_SHORT, _constant_net(g0), _constant_net(g1), Preprocess((16, 16)))


def test_network_shapes():
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    assert TransformNet(TransformConfig(width=8))(x).shape == x.shape
    d = ThreeClassDiscriminator(
        (32, 48), ThreeClassDiscriminatorConfig(width=8, layers=3, max_width=16, feature_layer=2)
    )
    logits, features = d(x)
    assert logits.shape == (2, 3) and features.shape == (2, 16, 8, 12)  # block 2: 16 channels at 1/4
    with pytest.raises(InputError, match="instance norm would erase"):
        ThreeClassDiscriminator((32, 32), ThreeClassDiscriminatorConfig(layers=5))
    with pytest.raises(InputError, match="feature_layer"):
        ThreeClassDiscriminator((32, 32), ThreeClassDiscriminatorConfig(layers=3, feature_layer=4))


def _ce(logits: list[float], cls: int) -> float:
    return -math.log(math.exp(logits[cls]) / sum(math.exp(v) for v in logits))


def test_three_class_losses_on_known_logits():
    assert (REAL_A, REAL_B, FAKE) == (0, 1, 2)
    # a hand-made batch: a real image with value a (class 0), one with value b (class 1), two generated (2)
    real = [[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]]
    fake = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    loss, s = discriminator_loss(torch.tensor(real), torch.tensor([REAL_A, REAL_B]), torch.tensor(fake))
    want_real = (_ce(real[0], 0) + _ce(real[1], 1)) / 2
    want_fake = (_ce(fake[0], 2) + _ce(fake[1], 2)) / 2
    assert float(s["d_real"]) == pytest.approx(want_real) and float(s["d_fake"]) == pytest.approx(want_fake)
    assert float(loss) == pytest.approx(want_real + want_fake)
    assert float(s["d_acc_real"]) == 1.0 and float(s["d_acc_fake"]) == 0.5
    # the generator wants its output read as the *real* class of its target value
    loss, s = generator_loss(torch.tensor(fake), torch.tensor([REAL_B, REAL_A]))
    assert float(loss) == pytest.approx((_ce(fake[0], 1) + _ce(fake[1], 0)) / 2) and float(s["g_adv_fooled"]) == 0.5


def test_residual_is_added_and_zero_residual_keeps_the_image():
    torch.manual_seed(0)
    x = torch.rand(3, 3, 16, 16) * 1.6 - 0.8
    to_b = torch.tensor([True, False, True])
    r = residuals(_constant_net(0.25), _constant_net(-0.5), x, to_b)
    assert torch.equal(r[0], torch.full_like(x[0], 0.25)) and torch.equal(r[1], torch.full_like(x[1], -0.5))
    editor = _editor()
    targets = torch.tensor([[1, 0], [3, 0], [1, 1]])  # short (b: G0), long (a: G1), short
    out, mask = editor.generate(x, targets, torch.zeros(3, dtype=torch.long))
    assert torch.equal(out, (x + r).clamp(-1, 1)) and float(mask.min()) == 1.0
    zero = _editor(0.0, 0.0)
    out, mask = zero.generate(x, targets, torch.zeros(3, dtype=torch.long))
    assert torch.equal(out, x) and float(mask.max()) == 0.0  # r = 0: the input exactly, nothing edited
    # a region: the residual acts only there
    region = torch.zeros(1, 1, 16, 16)
    region[..., 4:8, 4:8] = 1
    out, mask = editor.generate(x, targets, torch.zeros(3, dtype=torch.long), region)
    assert torch.equal(out[..., :4, :], x[..., :4, :]) and torch.equal(mask[0, 0], region[0, 0])


def test_edit_mask_threshold_is_on_the_rgb_sum_of_the_applied_change():
    editor = _editor(0.02, 0.02)  # |change| summed over RGB: 0.06 > 0.05 (unless clamped away)
    x = torch.zeros(1, 3, 16, 16)
    x[..., :8] = 1.0  # the left half is white: the +0.02 is clamped away there
    _, mask = editor.generate(x, torch.tensor([[1, 0]]), torch.zeros(1, dtype=torch.long))
    assert float(mask[..., :8].max()) == 0 and float(mask[..., 8:].min()) == 1
    editor.mask_threshold = 0.07
    assert float(editor.generate(x, torch.tensor([[1, 0]]), torch.zeros(1, dtype=torch.long))[1].max()) == 0


def test_residual_weight_is_the_reimplementations_alpha_on_sums_over_grey_levels():
    # a hand-made residual with a known sum: 3 x 128 x 128 elements, a quarter at 0.2, the rest 0
    r = torch.zeros(2, 3, 128, 128)
    r[0, :, :64, :64] = 0.2
    r[1, :, 64:, 64:] = -0.2
    per_image_sum_255 = 0.2 * GREY_LEVELS_PER_UNIT * 3 * 64 * 64  # each image's sum of |r| in [0, 255]
    reimpl = 5e-5 * per_image_sum_255  # alpha on the sum, averaged over the batch (both images equal)
    weight = sum_weight_as_mean(5e-5, 3 * 128 * 128, GREY_LEVELS_PER_UNIT)
    assert weight == pytest.approx(313.344)
    assert float(weight * residual_l1(r)[0]) == pytest.approx(reimpl)
    # every preset states the converted weights of its own size and discriminator features
    for preset in ("paper", "cpu", "tiny"):
        cfg = resolve_config(MODELS.get("resgan").config, model="resgan", preset=preset)
        s = cfg.image_size
        d = ThreeClassDiscriminator((s, s), cfg.model.discriminator)
        _, features = d(torch.zeros(1, 3, s, s))
        assert cfg.loss.residual == pytest.approx(sum_weight_as_mean(5e-5, 3 * s * s, GREY_LEVELS_PER_UNIT)), preset
        assert cfg.loss.perceptual == pytest.approx(sum_weight_as_mean(0.1 * 5e-5, features[0].numel())), preset
    defaults = MODELS.get("resgan").config()
    paper = resolve_config(MODELS.get("resgan").config, model="resgan", preset="paper")
    assert (defaults.loss, defaults.model, defaults.image_size) == (paper.loss, paper.model, paper.image_size)


def test_contrast_parsing_and_its_errors_name_the_field():
    c = parse_contrast(" Sleeve = long , short ", ATTRS)
    assert (c.attribute, c.a, c.b, c.index, c.a_index, c.b_index) == ("sleeve", "long", "short", 0, 3, 1)
    assert str(c) == "sleeve=long,short" and c.names() == ("sleeve", "long", "short")
    color = parse_contrast("color", ATTRS)  # a two-valued attribute alone: its two values in order
    assert (color.a, color.b) == ("red", "blue")
    celeba = [("Smiling", ["no", "yes"]), ("Eyeglasses", ["no", "yes"])]
    for text in ("Eyeglasses", "eyeglasses=yes,no", "Eyeglasses=1,-1"):  # CelebA's importer: 1 yes, -1 no
        e = parse_contrast(text, celeba)
        assert (e.attribute, e.a, e.b, e.index, e.a_index, e.b_index) == ("Eyeglasses", "yes", "no", 1, 1, 0), text
    errors = {
        "": "no contrast given: ATTRIBUTE=A,B",
        "fit=slim,loose": "unknown attribute 'fit'; the dataset has: sleeve, color",
        "sleeve": "sleeve has 4 values .*: name the two, sleeve=A,B",
        "sleeve=long": "expected two values after 'sleeve='",
        "sleeve=long,short,elbow": "expected two values",
        "sleeve=long,shrt": "sleeve has no value 'shrt'; its values: sleeveless, short, elbow, long",
        "sleeve=long,long": "the two values must differ",
    }
    for text, message in errors.items():
        with pytest.raises(InputError, match=message) as e:
            parse_contrast(text, ATTRS)
        assert e.value.field == "contrast", text


def test_editor_picks_g0_or_g1_by_target_and_refuses_anything_else():
    editor = _editor()
    assert editor.kind == "resgan" and not editor.has_attention and editor.classifier is None
    assert isinstance(editor.space, ContrastSpace)
    assert editor.editable == {"sleeve": ["long", "short"]}  # what the service lists as editable
    x = torch.zeros(2, 3, 16, 16)
    res = editor.edit(x, {"sleeve": "short"})  # to b: G0 (+0.25) for every image (no labels: none skipped)
    assert torch.equal(res.images, torch.full_like(x, 0.25)) and res.notes == [[], []]
    res = editor.edit(x, {"sleeve": "long"}, labels=torch.tensor([[1, 0], [3, 1]]))  # to a: G1 (-0.5)
    assert torch.equal(res.images[0], torch.full_like(x[0], -0.5)) and torch.equal(res.images[1], x[1])
    assert res.notes == [[], ["sleeve is already long: unchanged"]]
    assert float(res.masks[0].min()) == 1 and float(res.masks[1].max()) == 0
    can = r"this resgan edits only sleeve between long and short \(sleeve=long or sleeve=short\)"
    for settings, field in (({"color": "red"}, "color"), ({"sleeve": "elbow"}, "sleeve")):
        with pytest.raises(InputError, match=can) as e:
            editor.edit(x, settings)
        assert e.value.field == field
    with pytest.raises(InputError, match="unknown attribute 'fit'"):
        editor.edit(x, {"fit": "slim"})
    with pytest.raises(InputError, match=can + "; asked to edit color"):
        editor.generate(x, torch.tensor([[3, 1], [3, 1]]), torch.tensor([1, 1]))
    with pytest.raises(InputError, match=can + "; asked for sleeve = elbow"):
        editor.generate(x, torch.tensor([[2, 0], [3, 0]]), torch.tensor([0, 0]))
    with pytest.raises(InputError, match="which a resgan has not"):
        editor.region_mask(x, "sleeves")
    assert editor.read_attributes(x).tolist() == [[-1, -1], [-1, -1]]


def test_contrast_plan_edits_only_a_and_b_to_each_other():
    labels = np.array([[3, 0], [1, 1], [2, 1], [-1, 0], [1, 0]])
    plan = plan_contrast_edits(labels, 0, 3, 1)
    assert plan.rows.tolist() == [0, 1, 4] and plan.attributes.tolist() == [0, 0, 0]
    assert plan.values.tolist() == [1, 3, 3]


# ---------------------------------------------------------------------------------------------- training


def _cfg(data, out, *extra):
    return resolve_config(
        MODELS.get("resgan").config,
        model="resgan",
        preset="tiny",
        overrides=[f"data={data}", f"train.out={out}", *extra],
    )


@pytest.fixture(scope="module")
def tiny_resgan(tiny_amgan, tmp_path_factory):
    """A ResGAN trained 3 steps on the tiny dataset of ``tiny_amgan`` (whose classifier then evaluates it)."""
    out = tmp_path_factory.mktemp("tiny-resgan")
    cfg = _cfg(tiny_amgan["data"], out, "train.steps=3", "train.ckpt_every=0")
    run = Trainer(build_task("resgan", cfg), cfg, train=cfg.train, progress=False).fit()
    return {**tiny_amgan, "resgan": run}


def test_training_uses_the_three_classes_and_only_the_contrast(tiny_amgan, tmp_path, monkeypatch):
    import fashionlab.models.resgan as resgan

    seen: dict[str, list] = {"d": [], "g": []}
    d_loss, g_loss = resgan.discriminator_loss, resgan.generator_loss
    monkeypatch.setattr(resgan, "discriminator_loss", lambda r, c, f: seen["d"].append(c.clone()) or d_loss(r, c, f))
    monkeypatch.setattr(resgan, "generator_loss", lambda lg, c, n: seen["g"].append((n, c.clone())) or g_loss(lg, c, n))
    cfg = _cfg(tiny_amgan["data"], tmp_path, "train.steps=1", "train.ckpt_every=0", "train.batch_size=8")
    task = build_task("resgan", cfg)
    ds = task.train_dataset()
    sleeve = [ds[k]["attributes"][0].item() for k in range(len(ds))]
    assert set(sleeve) == {1, 3} and len(ds) == 2 * max(ds.counts)  # short and long only, balanced
    assert all(ds[k]["real_class"] == (REAL_A if sleeve[k] == 3 else REAL_B) for k in range(len(ds)))
    drawn = []
    original = task.train_step
    monkeypatch.setattr(task, "train_step", lambda ctx: original(_Spy(ctx, drawn)))  # record its batch
    Trainer(task, cfg, train=cfg.train, progress=False).fit()
    (batch,) = drawn
    want = torch.where(batch["attributes"][:, 0] == 3, REAL_A, REAL_B)
    assert torch.equal(seen["d"][0], want)  # real with long (a): class 0, with short (b): class 1
    (adv_name, adv), (dual_name, dual) = seen["g"]
    assert adv_name == "g_adv" and torch.equal(adv, 1 - want)  # x + r should pass for the other value
    assert dual_name == "dual" and torch.equal(dual, want)  # the dual image for the original value


class _Spy:
    """A StepContext that records the batches drawn."""

    def __init__(self, ctx, drawn: list):
        self._ctx, self._drawn = ctx, drawn

    def next_batch(self):
        batch = self._ctx.next_batch()
        self._drawn.append(batch)
        return batch

    def __getattr__(self, name):
        return getattr(self._ctx, name)


def test_too_few_images_of_the_contrast_are_refused(tiny_amgan, tmp_path):
    with pytest.raises(InputError, match="images with sleeve=long and .* need at least one of each and 9999 in all"):
        build_task("resgan", _cfg(tiny_amgan["data"], tmp_path, "train.batch_size=9999"))
    with pytest.raises(InputError, match="unknown attribute 'fit'") as e:
        build_task("resgan", _cfg(tiny_amgan["data"], tmp_path, "contrast=fit=slim,loose"))
    assert e.value.field == "contrast"


def test_interrupted_resgan_resumes_bit_identical(tiny_amgan, tmp_path, monkeypatch):
    data = tiny_amgan["data"]
    cfg = _cfg(data, tmp_path / "a", "train.steps=5", "train.ckpt_every=0", "n_critic=2")
    Trainer(build_task("resgan", cfg), cfg, train=cfg.train, progress=False).fit()
    full = load_checkpoint(find_checkpoint(next((tmp_path / "a" / "resgan").iterdir())))

    cfg = _cfg(data, tmp_path / "b", "train.steps=5", "train.ckpt_every=0", "n_critic=2")
    task = build_task("resgan", cfg)
    signal_after_step(monkeypatch, task, 2)
    with pytest.raises(SystemExit):
        Trainer(task, cfg, train=cfg.train, progress=False).fit()
    run = next((tmp_path / "b" / "resgan").iterdir())
    Trainer(build_task("resgan", cfg), cfg, train=cfg.train, resume=run, progress=False).fit()
    state = load_checkpoint(find_checkpoint(run))
    assert state["step"] == full["step"] == 5 and state["batches_drawn"] == full["batches_drawn"] == 5
    assert set(full["nets"]) == {"G0", "G1", "D"} and set(full["ema"]) == {"G0", "G1"}
    for group in ("nets", "ema", "optimizers"):
        assert _flat(state[group]).keys() == _flat(full[group]).keys()
        for k, v in _flat(full[group]).items():
            assert torch.equal(_flat(state[group])[k], v), (group, k)


def _flat(tree, prefix=""):
    """{dotted key: tensor} of every tensor in a nested dict/list."""
    out = {}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else []
    for k, v in items:
        if isinstance(v, torch.Tensor):
            out[f"{prefix}{k}"] = v
        else:
            out.update(_flat(v, f"{prefix}{k}."))
    return out


def test_export_loads_as_an_editor_and_evaluates_on_the_contrast(tiny_resgan):
    editor = fashionlab.load(tiny_resgan["resgan"])
    assert isinstance(editor, ResganEditor) and str(editor.contrast) == "sleeve=long,short"
    assert editor.preprocess.size == (32, 32) and not editor.training
    evaluator = fashionlab.load(tiny_resgan["classifier"])
    ev = EditEvaluation(
        tiny_resgan["data"], evaluator, editor.preprocess, split="train", limit=12, progress=False,
        contrast=editor.contrast.names(),
    )  # fmt: skip
    sleeve = ev.labels[:, 0]
    rows = np.flatnonzero(((sleeve == 1) | (sleeve == 3)).numpy())
    assert ev.plan.rows.tolist() == rows.tolist() and set(ev.plan.attributes.tolist()) == {0}
    assert ev.plan.values.tolist() == [4 - int(sleeve[r]) for r in rows]  # long (3) <-> short (1)
    report, outs, masks = ev.run(editor_method(editor), "resgan")
    assert set(report.manipulation) == {"sleeve", "mean"} and outs.shape == (len(rows), 32, 32, 3)
    assert masks is not None and set(np.unique(masks).tolist()) <= {0.0, 1.0}
    with pytest.raises(InputError, match="sleeve has no value 'knee'"):
        EditEvaluation(tiny_resgan["data"], evaluator, editor.preprocess, split="train", limit=4, progress=False,
                       contrast=("sleeve", "long", "knee"))  # fmt: skip


def test_fashionlab_edit_with_a_resgan(tiny_resgan, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((50, 40, 3)) * 255).astype(np.uint8)).save(photo)
    exe = [sys.executable, "-m", "fashionlab", "edit", str(photo), "--model", str(tiny_resgan["resgan"])]
    r = subprocess.run([*exe, "--set", "sleeve=short", "--out", str(tmp_path / "ok")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "ok" / "photo.png").size == (40, 50)
    r = subprocess.run([*exe, "--set", "color=red", "--out", str(tmp_path / "no")], capture_output=True, text=True)
    assert r.returncode == 2 and "this resgan edits only sleeve between long and short" in r.stderr
    assert "[--set]" in r.stderr and "Traceback" not in r.stderr and not (tmp_path / "no").exists()
