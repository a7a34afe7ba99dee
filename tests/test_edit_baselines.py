"""AMGAN's two attention baselines, GANimation and SaGAN: GANimation's keep-mask convention (A = 1 keeps the
input) and its conversion to edit masks on hand-made inputs, its mask regularisers and the collapse flag,
SaGAN's mixing of AMN and SAN and its SAN-with-code option, training wiring, and `fashionlab edit` /
`fashionlab eval edit` on tiny runs. Their exact resume is tested with the other editors'
(tests/test_editing.py), their tiny train -> export -> load -> infer over the registry (tests/test_registry.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import fashionlab
from fashionlab.config import resolve_config
from fashionlab.data.imaging import Preprocess
from fashionlab.engine.logger import read_stats
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import InputError
from fashionlab.losses.attention import mask_collapse, mask_mean, mask_total_variation
from fashionlab.models import MODELS, build_task
from fashionlab.models.editing.codes import AttributeSpace
from fashionlab.models.editing.editor import Editor
from fashionlab.models.editing.networks import Generator, GeneratorConfig, SaganGenerator, SanConfig

ATTRIBUTES = [("sleeve", ["sleeveless", "short", "long"]), ("color", ["red", "blue"]), ("collar", ["a", "b", "c", "d"])]
SPACE = AttributeSpace(ATTRIBUTES)
EXE = [sys.executable, "-m", "fashionlab"]


class Const(nn.Module):
    """A stand-in mask head or SAN: a (B, 1, H, W) mask of one value whatever its input."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, h, *_):
        return torch.full((h.shape[0], 1, *h.shape[-2:]), self.value, dtype=h.dtype)


def ganimation_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    cfg = GeneratorConfig(width=8, residual_blocks=1, attention=True, attention_keeps=True)
    return Generator(SPACE.code_dim, cfg).eval().requires_grad_(False)


def sagan_generator(takes_code: bool = True, seed: int = 0) -> SaganGenerator:
    torch.manual_seed(seed)
    amn, san = GeneratorConfig(width=8, residual_blocks=1), SanConfig(width=4, residual_blocks=1)
    return SaganGenerator(SPACE.code_dim, amn, san, takes_code).eval().requires_grad_(False)


def inputs(b: int = 2, size: int = 16):
    torch.manual_seed(1)
    x = torch.rand(b, 3, size, size) * 2 - 1
    targets = torch.tensor([[0, 1, 2], [2, 0, 3]])[:b]
    changed = torch.tensor([0, 2])[:b]
    return x, targets, changed


def colour_head(G: Generator, x, code) -> torch.Tensor:
    """GANimation's colour image C for ``x`` and ``code``."""
    return G.to_rgb(G.features(x, code))


# ---------------------------------------------------------------------------------------------- GANimation
def test_ganimation_shapes_and_output_form():
    G = ganimation_generator()
    x, targets, changed = inputs()
    code = SPACE.code(targets, changed)
    out, A = G(x, code)
    assert out.shape == x.shape and A.shape == (2, 1, 16, 16) and float(A.min()) >= 0 and float(A.max()) <= 1
    C = colour_head(G, x, code)
    assert torch.allclose(out, A * x + (1 - A) * C, atol=1e-6)  # A keeps, 1 - A takes the colour head


def test_ganimation_a_of_one_keeps_the_input_and_zero_gives_the_colour_head():
    G = ganimation_generator()
    x, targets, changed = inputs()
    code = SPACE.code(targets, changed)
    C = colour_head(G, x, code)
    for given in (True, False):  # through the mask argument and through the attention head itself
        if not given:
            G.to_attention = Const(1.0)
        keep, A = G(x, code, torch.ones(2, 1, 16, 16) if given else None)
        assert torch.equal(keep, x) and torch.equal(A, torch.ones_like(A))  # A = 1: the input, exactly
        if not given:
            G.to_attention = Const(0.0)
        colour, _ = G(x, code, torch.zeros(2, 1, 16, 16) if given else None)
        assert torch.equal(colour, C)  # A = 0: the colour head, exactly


def test_ganimation_editor_returns_one_minus_a_and_obeys_a_region():
    G = ganimation_generator()
    editor = Editor("ganimation", ATTRIBUTES, G, Preprocess((16, 16), "fit")).eval()
    assert editor.has_attention
    x, targets, changed = inputs()
    code = SPACE.code(targets, changed)
    out, edit = editor.generate(x, targets, changed)
    want, A = G(x, code)
    assert torch.equal(out, want) and torch.equal(edit, 1 - A)  # the edit mask, whatever G's convention
    region = torch.zeros(2, 1, 16, 16)
    region[..., 4:12, 2:9] = 1
    out, edit = editor.generate(x, targets, changed, region)
    outside = region.expand_as(x) == 0
    assert torch.equal(out[outside], x[outside])  # outside the region: the input, exactly
    assert torch.equal(out[~outside], colour_head(G, x, code)[~outside])  # inside: the colour head
    assert torch.equal(edit, region)
    # Editor.edit: the union of its edits' edit masks, and nothing outside a given region changes
    labels = torch.tensor([[1, 0, 0], [1, 1, 1]])
    res = editor.edit(x, {"color": "blue", "collar": "d"}, region=region[:1], labels=labels)
    assert torch.equal(res.images[outside], x[outside]) and torch.equal(res.masks, region)


def test_ganimation_named_regions_threshold_the_edit_mask():
    G = ganimation_generator()
    editor = Editor("ganimation", ATTRIBUTES, G, Preprocess((16, 16), "fit")).eval()
    x, _, _ = inputs()
    labels = torch.tensor([[1, 0, 0], [2, 1, 1]])
    G.to_attention = Const(0.05)  # keeps 5%: the edit mask is 0.95, above the 0.9 threshold everywhere
    assert torch.equal(editor.region_mask(x, "sleeves", labels), torch.ones(2, 1, 16, 16))
    G.to_attention = Const(0.5)  # edit mask 0.5: no region at 0.9, all of it at 0.3
    assert float(editor.region_mask(x, "garment", labels).max()) == 0
    assert float(editor.region_mask(x, "garment", labels, 0.3).min()) == 1


def test_keep_convention_needs_an_attention_head():
    with pytest.raises(InputError, match="attention_keeps"):
        Generator(SPACE.code_dim, GeneratorConfig(width=8, residual_blocks=1, attention_keeps=True))


def test_mask_regularisers_on_a_hand_made_mask():
    mask = torch.zeros(2, 1, 4, 4)
    mask[0, :, :, :2] = 1  # image 0: left half kept; one jump of 1 on each of its 4 rows
    mask[1] = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]).repeat(2, 1)  # a checkerboard
    loss, s = mask_mean(mask)
    assert float(loss) == pytest.approx((8 + 8) / 32) and set(s) == {"mask_mean"}
    tv, s = mask_total_variation(mask)
    # summed, not averaged: image 0: 4 horizontal jumps; image 1: 3 per row and 3 per column, 4 of each
    assert float(tv) == 4 + (12 + 12) and float(s["mask_tv"]) == float(tv)
    assert float(mask_total_variation(torch.full((3, 1, 8, 8), 0.7))[0]) == 0  # a flat mask is smooth
    halves = torch.zeros(1, 1, 8, 8)
    halves[..., 4:] = 0.25
    assert float(mask_total_variation(halves)[0]) == pytest.approx(8 * 0.25)  # a sum over the 8 rows


def test_collapse_flag():
    means = torch.tensor([0.99, 0.01, 0.5, 0.98, 0.02, 1.0, 0.0])
    assert mask_collapse(means).tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert float(mask_collapse(torch.tensor(0.3))) == 0.0


# ---------------------------------------------------------------------------------------------- SaGAN
def test_sagan_mixes_the_amn_through_the_san_mask():
    G = sagan_generator()
    x, targets, changed = inputs()
    code = SPACE.code(targets, changed)
    out, m = G(x, code)
    assert out.shape == x.shape and m.shape == (2, 1, 16, 16) and float(m.min()) >= 0 and float(m.max()) <= 1
    z, none = G.amn(x, code)
    assert none is None and torch.allclose(out, m * z + (1 - m) * x, atol=1e-6)
    half = torch.zeros(2, 1, 16, 16)
    half[..., :8] = 1
    mixed, _ = G(x, code, half)
    assert torch.equal(mixed[..., 8:], x[..., 8:]) and torch.equal(mixed[..., :8], z[..., :8])
    G.san = Const(0.0)  # the SAN itself: m = 0 keeps x, m = 1 gives AMN(x)
    assert torch.equal(G(x, code)[0], x)
    G.san = Const(1.0)
    assert torch.equal(G(x, code)[0], z)
    editor = Editor("sagan", ATTRIBUTES, G, Preprocess((16, 16), "fit"))
    assert editor.has_attention and torch.equal(editor.generate(x, targets, changed)[1], torch.ones(2, 1, 16, 16))


def test_san_with_code_sees_the_code():
    with_code, image_only = sagan_generator(True), sagan_generator(False)
    assert with_code.san.body[0].in_channels == 3 + SPACE.code_dim
    assert image_only.san.body[0].in_channels == 3
    assert with_code.amn.body[0].in_channels == image_only.amn.body[0].in_channels == 3 + SPACE.code_dim
    x, targets, changed = inputs()
    x = x[:1].expand(2, -1, -1, -1)  # one image, two different edits
    code = SPACE.code(targets, changed)
    m_code, m_image = with_code(x, code)[1], image_only(x, code)[1]
    assert not torch.allclose(m_code[0], m_code[1])  # the mask depends on which edit
    assert torch.equal(m_image[0], m_image[1])  # one mask whatever the edit
    with pytest.raises(InputError, match="no attention head"):
        SaganGenerator(SPACE.code_dim, GeneratorConfig(8, 1, attention=True), SanConfig(4, 1), True)


def test_san_initial_mask_starts_open_and_is_checked():
    """``model.san.initial_mask``: the head gets a bias at the value's logit, so a fresh SAN edits (about)
    everywhere; without it the head has no bias (the re-implementation's, about 0.5); out-of-range values
    are refused."""
    torch.manual_seed(0)
    x, targets, changed = inputs()
    code = SPACE.code(targets, changed)
    plain = SaganGenerator(SPACE.code_dim, GeneratorConfig(8, 1, attention=False), SanConfig(4, 1), True)
    opened = SaganGenerator(SPACE.code_dim, GeneratorConfig(8, 1, attention=False), SanConfig(4, 1, 0.95), True)
    assert plain.san.head[0].bias is None and opened.san.head[0].bias is not None
    with torch.no_grad():
        assert abs(float(plain(x, code)[1].mean()) - 0.5) < 0.1
        assert abs(float(opened(x, code)[1].mean()) - 0.95) < 0.04
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(InputError, match="initial_mask"):
            SaganGenerator(SPACE.code_dim, GeneratorConfig(8, 1, attention=False), SanConfig(4, 1, bad), True)


# ---------------------------------------------------------------------------------------------- training
def tiny(name, world, out, *extra, classifier: bool = False):
    over = [f"data={world['data']}", f"train.out={out}"]
    if classifier:
        over.append(f"classifier={world['classifier']}")
    return resolve_config(MODELS.get(name).config, model=name, preset="tiny", overrides=[*over, *extra])


def test_configs_carry_each_methods_settings():
    g = resolve_config(MODELS.get("ganimation").config, model="ganimation", preset="paper")
    assert g.model.generator.attention_keeps and g.n_critic == 5 and g.loss.mask_l1 == 0.1
    assert g.loss.mask_smooth == 1e-5 and g.loss.rec == 10 and g.loss.gp == 10 and g.optim.G.lr == 1e-4
    s = resolve_config(MODELS.get("sagan").config, model="sagan", preset="paper")
    assert s.n_critic == 3 and s.loss.rec == 20 and s.loss.identity == 100 and s.optim.D.lr == 2e-4
    assert s.model.san_takes_code and not s.model.generator.attention
    for name in ("ganimation", "sagan", "stargan", "amgan"):  # the cpu presets: one budget and one size
        c = resolve_config(MODELS.get(name).config, model=name, preset="cpu")
        assert (c.image_size, c.train.steps, c.train.batch_size) == (64, 3000, 16), name
        assert (c.model.generator.width, c.model.generator.residual_blocks) == (32, 4), name
        assert (c.model.discriminator.width, c.model.discriminator.layers) == (32, 5), name


@pytest.mark.parametrize("name", ["ganimation", "sagan"])
def test_training_logs_mask_statistics(name, tiny_amgan, tmp_path):
    cfg = tiny(name, tiny_amgan, tmp_path, "train.steps=2", "train.ckpt_every=0")
    run = Trainer(build_task(name, cfg), cfg, train=cfg.train, progress=False).fit()
    row = read_stats(run)[-1]
    assert 0 < row["mask_mean"] < 1 and row["mask_collapse"] == 0.0 and "mask_mean_cyc" in row
    if name == "ganimation":
        assert row["mask_tv"] > 0 and row["mask_tv_cyc"] > 0
    else:
        assert row["identity"] > 0 and "mask_tv" not in row


def test_a_collapsed_mask_is_flagged_in_stats_and_framed_in_the_samples(tiny_amgan, tmp_path):
    cfg = tiny("ganimation", tiny_amgan, tmp_path, "train.steps=2", "train.ckpt_every=0")
    task = build_task("ganimation", cfg)
    task.nets["G"].to_attention = Const(1.0)  # A = 1 everywhere: all-keep, the generator does nothing
    run = Trainer(task, cfg, train=cfg.train, progress=False).fit()
    row = read_stats(run)[-1]
    assert row["mask_mean"] == 1.0 and row["mask_collapse"] == 1.0

    class Log:
        def image(self, *args):
            pass

    def grid(value):
        task.nets["G"].to_attention = Const(value)
        task.sample(7, run, Log(), {"G": task.nets["G"]})
        with Image.open(run / "samples" / "edits-step-0000007.png") as im:
            return np.asarray(im.convert("RGB"))

    n, side = cfg.sample_images, cfg.image_size + 2  # rows: n edit rows, then n mask rows; tiles 2 px apart
    collapsed, healthy = grid(1.0), grid(0.5)
    for r in range(n):
        for c in range(1, 1 + len(task.space.attributes)):
            y, x = (n + r) * side, c * side  # the top-left pixel of a mask tile
            assert tuple(collapsed[y, x]) == (255, 0, 0) and tuple(healthy[y, x]) != (255, 0, 0)
    assert tuple(collapsed[0, side]) != (255, 0, 0)  # the edits themselves are not framed


@pytest.fixture(scope="module")
def baselines(tiny_amgan, tmp_path_factory):
    """Tiny GANimation and SaGAN runs with the tiny attribute network (to read a photo's attributes), and
    an evaluator trained on the same data with another seed (not their own classifier)."""
    from fashionlab.models.attrnet_task import AttrNetConfig

    base = tmp_path_factory.mktemp("baselines")
    runs = {}
    for name in ("ganimation", "sagan"):
        cfg = tiny(name, tiny_amgan, base / "runs", "train.steps=2", "train.ckpt_every=0", classifier=True)
        runs[name] = Trainer(build_task(name, cfg), cfg, train=cfg.train, progress=False).fit()
    cfg = resolve_config(
        AttrNetConfig,
        model="attrnet",
        preset="tiny",
        overrides=[f"data={tiny_amgan['data']}", f"train.out={base / 'eval'}", "train.seed=7"],
    )
    evaluator = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False).fit() / "export"
    return {**runs, "evaluator": evaluator, "data": tiny_amgan["data"], "base": base}


@pytest.mark.parametrize("name", ["ganimation", "sagan"])
def test_export_loads_as_an_editor_of_its_kind(name, baselines):
    editor = fashionlab.load(baselines[name])
    assert isinstance(editor, Editor) and editor.kind == name and editor.has_attention
    assert editor.classifier is not None and not editor.training
    if name == "ganimation":
        assert editor.G.cfg.attention_keeps
    else:
        assert isinstance(editor.G, SaganGenerator) and editor.G.san.code_dim == editor.space.code_dim


@pytest.mark.parametrize("name", ["ganimation", "sagan"])
def test_fashionlab_edit_with_a_region(name, baselines, tmp_path):
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    mask = np.zeros((48, 40), np.uint8)
    mask[:, 20:] = 255
    Image.fromarray(mask).save(tmp_path / "right.png")
    args = ["edit", tmp_path / "p.png", "--model", baselines[name], "--set", "color=red", "--show-mask"]
    args += ["--region", tmp_path / "right.png", "--out", tmp_path / "o", "--no-progress"]
    r = subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    after = np.asarray(Image.open(tmp_path / "o" / "p.png"))
    assert after.shape == photo.shape and (tmp_path / "o" / "p-mask.png").is_file()
    assert np.array_equal(after[:, :16], photo[:, :16])  # well outside the region: the photo's pixels


@pytest.mark.parametrize("name", ["ganimation", "sagan"])
def test_fashionlab_eval_edit(name, baselines, tmp_path):
    common = ["--data", baselines["data"], "--evaluator", baselines["evaluator"], "--split", "train", "--limit", "2"]
    args = ["eval", "edit", "--model", baselines[name], *common, "--no-progress"]
    r = subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "E1 manip. mean" in r.stdout


@pytest.mark.parametrize("kind", ["amgan", "ganimation"])
def test_named_regions_from_hand_made_probe_masks(kind, monkeypatch):
    """sleeves = the "sleeveless" probe's mask within the colour probe's (the garment), none for a garment
    read as sleeveless; torso = the garment without the sleeves' probe; the threshold defaults to the
    editor's own (an export's model.region_threshold), else the paper's 0.9."""
    G = ganimation_generator() if kind == "ganimation" else Generator(SPACE.code_dim, GeneratorConfig(8, 1, True))
    editor = Editor(kind, ATTRIBUTES, G, Preprocess((16, 16), "fit"), region_threshold=0.4).eval()
    x, _, _ = inputs()
    sleeve_probe = torch.zeros(2, 1, 16, 16)
    sleeve_probe[..., :, :8] = 0.5  # the left half, at 0.5: found at 0.4, not at 0.9
    sleeve_probe[..., 12:, :] = 0.5  # and spilling below the garment (an arm, the background)
    garment_probe = torch.zeros(2, 1, 16, 16)
    garment_probe[..., :12, :] = 0.95  # the top three quarters
    sleeve_targets = []

    def generate(x, targets, changed, region=None):
        if int(changed[0]) == 0:
            sleeve_targets.append(targets[:, 0].tolist())
        return x, {0: sleeve_probe, 1: garment_probe}[int(changed[0])]

    monkeypatch.setattr(editor, "generate", generate)
    labels = torch.tensor([[1, 0, 0], [2, 1, 1]])  # short and long sleeves
    found = {r: editor.region_mask(x, r, labels) for r in ("sleeves", "torso", "garment")}
    assert sleeve_targets == [[0, 0], [0, 0]]  # the sleeve probe asks for "sleeveless" (sleeves, torso)
    want_garment = (garment_probe >= 0.4).float()
    assert torch.equal(found["garment"], want_garment)
    assert torch.equal(found["sleeves"], want_garment * (sleeve_probe >= 0.4))  # only the left of the garment
    assert float(found["sleeves"][..., 12:, :].max()) == 0  # the spill below the garment is not a sleeve
    assert torch.equal(found["torso"], want_garment * (sleeve_probe < 0.4))
    assert float(editor.region_mask(x, "sleeves", labels, 0.9).max()) == 0  # the paper's threshold, given
    editor.region_threshold = 0.9  # an export without its own threshold: the paper's
    assert float(editor.region_mask(x, "sleeves", labels).max()) == 0
    # a garment read as sleeveless has no sleeves; its probe asks for long ones (drawn onto the arms)
    sleeve_targets.clear()
    found = editor.region_mask(x, "sleeves", torch.tensor([[0, 0, 0], [2, 1, 1]]), 0.4)
    assert sleeve_targets == [[2, 0]]
    assert float(found[0].max()) == 0 and torch.equal(found[1], (want_garment * (sleeve_probe >= 0.4))[1])
