"""Deformable GAN: the part geometry (torso size, masks, affines, fallbacks) on hand-made poses with known answers,
the part-wise warp at every stride, the networks (official sizes, norm, dropout), the nearest-neighbour and
feature-matching losses, and the model end to end (resume, export, ``repose``, ``fashionlab pose``, bad settings)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import fashionlab
from fashionlab.cli import app
from fashionlab.config import resolve_config
from fashionlab.data.pairs import PosePairDataset
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import InputError
from fashionlab.losses.reposing import feature_matching_loss, nearest_neighbour_loss
from fashionlab.models import MODELS, build_task
from fashionlab.models.reposing.deform_networks import (
    DeformDiscriminator,
    DeformDiscriminatorConfig,
    DeformGenerator,
    DeformGeneratorConfig,
    SampleNorm,
)
from fashionlab.models.reposing.networks import PoseDiscriminator, PoseDiscriminatorConfig
from fashionlab.models.reposing.part_warp import (
    LIMBS,
    PART_NAMES,
    PartMasks,
    PartWarp,
    limb_rectangles,
    part_affines,
    torso_size,
)

runner = CliRunner()
CONFIG = MODELS.get("deform").config
H, W = 128, 64
RIGHT_FOREARM, LEFT_FOREARM = PART_NAMES.index("right_forearm"), PART_NAMES.index("left_forearm")

# A standing person at 128x64 whose torso is a 16 x 40 rectangle: torso size exactly 40, limb half-width 8,
# head half-side int(0.4 * 40) = 16; the head points' mean is (32, 10.8).
POSE = {
    0: (32, 12), 1: (32, 22), 2: (24, 24), 3: (20, 40), 4: (20, 56), 5: (40, 24), 6: (44, 40), 7: (44, 56),
    8: (24, 64), 9: (26, 88), 10: (26, 112), 11: (40, 64), 12: (38, 88), 13: (38, 112),
    14: (34, 10), 15: (30, 10), 16: (36, 11), 17: (28, 11),
}  # fmt: skip


def pose(changes: dict[int, tuple[float, float]] | None = None, missing: tuple[int, ...] = ()) -> torch.Tensor:
    """(1, 18, 2) keypoints: :data:`POSE` with some points moved or missing."""
    points = {**POSE, **(changes or {})}
    kps = torch.tensor([points[k] for k in range(18)], dtype=torch.float32)
    kps[list(missing)] = -1
    return kps[None]


def moved(kps: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    """The poses shifted by (dx, dy), missing points left missing."""
    return torch.where(kps == -1, kps, kps + torch.tensor([dx, dy]))


def only_part(warp: PartWarp, part: int) -> PartWarp:
    """The same warp with every other part switched off (its weight 0)."""
    keep = torch.zeros_like(warp.ok)
    keep[:, part] = True
    warp.ok = warp.ok & keep
    return warp


def coordinate_maps(height: int, width: int) -> torch.Tensor:
    """(1, 2, h, w): the image x and y of each pixel centre of a map spanning the 128x64 image, plus 1 (> 0)."""
    sy, sx = H / height, W / width
    ys = torch.arange(height, dtype=torch.float32) * sy + (sy - 1) / 2
    xs = torch.arange(width, dtype=torch.float32) * sx + (sx - 1) / 2
    return torch.stack([xs[None].expand(height, width), ys[:, None].expand(height, width)])[None] + 1


# ---------------------------------------------------------------------------------------------- geometry
def test_torso_size_is_the_rms_of_the_hip_shoulder_sides():
    assert torso_size(pose()).item() == pytest.approx(40.0)
    tilted = pose({8: (24, 54)})  # right side 30 long, left 40: sqrt((900 + 1600) / 2)
    assert torso_size(tilted).item() == pytest.approx(np.sqrt(1250))
    assert torso_size(pose(missing=(8,))).item() == pytest.approx(40.0)  # the left side alone
    assert torch.isnan(torso_size(pose(missing=(8, 11))))


def test_masks_are_the_official_torso_head_and_limb_rectangles():
    masks = PartMasks.of(pose(), (H, W)).at((H, W))[0]
    assert masks.shape == (10, H, W)
    assert bool((masks[0] == 1).all())  # torso: the whole image
    head = torch.zeros(H, W, dtype=torch.float64)
    head[0:26, 16:48] = 1  # centre (32, int 10.8 = 10), half-side 16: rows -6..25 clipped, columns 16..47
    assert torch.equal(masks[1], head)
    # right forearm (20, 40) -> (20, 56): start pushed back by 1.6 to y 38.4, end forward by 0.5 x 17.6 to y 64.8,
    # half-width 8 around x 20: pixel centres x 12..28, y 39..64
    forearm = torch.zeros(H, W, dtype=torch.float64)
    forearm[39:65, 12:29] = 1
    assert torch.equal(masks[RIGHT_FOREARM], forearm)
    # right upper arm (24, 24) -> (20, 40) is slanted: compared with skimage's polygon rasteriser below
    missing = PartMasks.of(pose(missing=(4,)), (H, W)).at((H, W))[0]
    assert missing[RIGHT_FOREARM].sum() == 0 and missing[LEFT_FOREARM].sum() > 0
    assert PartMasks.of(pose(missing=(0, 14, 15, 16, 17)), (H, W)).at((H, W))[0, 1].sum() == 0


def test_limb_masks_equal_skimages_polygon_rasteriser_on_random_poses():
    from skimage.measure import grid_points_in_poly

    generator = torch.Generator().manual_seed(0)
    kps = torch.rand(6, 18, 2, generator=generator) * torch.tensor([W - 1.0, H - 1.0])
    masks = PartMasks.of(kps, (H, W))
    drawn = masks.at((H, W))
    corners = masks.limbs.corners.numpy()
    for b in range(len(kps)):
        for limb in range(len(LIMBS)):
            want = grid_points_in_poly((H, W), corners[b, limb][:, ::-1])  # (row, col) vertices
            assert np.array_equal(drawn[b, 2 + limb].numpy() > 0, want), (b, limb)


def test_masks_at_a_lower_resolution_are_tested_at_the_pixel_centres():
    masks = PartMasks.of(pose(), (H, W))
    quarter = masks.at((H // 4, W // 4))[0, RIGHT_FOREARM]  # centres at 4 j + 1.5
    want = torch.zeros(H // 4, W // 4, dtype=torch.float64)
    want[10:16, 3:7] = 1  # y 41.5..61.5 in [38.4, 64.8], x 13.5..25.5 in [12, 28]
    assert torch.equal(quarter, want)


def test_a_pure_translation_gives_translations_for_every_part():
    target = pose()
    affines, ok = part_affines(target + torch.tensor([3.0, -5.0]), target)
    assert bool(ok.all())
    want = torch.tensor([[1.0, 0.0, 3.0], [0.0, 1.0, -5.0]], dtype=torch.float64)
    torch.testing.assert_close(affines[0], want.expand(10, 2, 3), atol=1e-9, rtol=0)


def test_a_rotated_forearm_maps_its_rectangle_onto_the_source_rectangle():
    from skimage.transform import estimate_transform

    target = pose({4: (36, 40)})  # the right forearm points right instead of down
    affines, ok = part_affines(pose(), target)
    assert ok[0, RIGHT_FOREARM]
    # rectangle to rectangle: (x, y) -> (60 - y, x + 20); the elbow stays, the wrist goes to the source wrist
    torch.testing.assert_close(
        affines[0, RIGHT_FOREARM], torch.tensor([[0.0, -1.0, 60.0], [1.0, 0.0, 20.0]], dtype=torch.float64)
    )
    target_rect = limb_rectangles(target.double(), torso_size(target)).corners[0, 6].numpy()
    source_rect = limb_rectangles(pose().double(), torso_size(pose())).corners[0, 6].numpy()
    official = estimate_transform("affine", src=target_rect, dst=source_rect).params[:2]
    np.testing.assert_allclose(affines[0, RIGHT_FOREARM].numpy(), official, atol=1e-9)


def test_the_torso_is_an_ordinary_least_squares_fit():
    target = pose({2: (23, 25), 8: (25, 66)})  # four points no affine maps exactly
    source = pose({5: (43, 22), 11: (41, 70)})
    affines, ok = part_affines(source, target)
    idx = [8, 11, 5, 2]
    design = np.c_[target[0, idx].numpy(), np.ones(4)]
    want, *_ = np.linalg.lstsq(design.astype(np.float64), source[0, idx].numpy().astype(np.float64), rcond=None)
    assert ok[0, 0]
    np.testing.assert_allclose(affines[0, 0].numpy(), want.T, atol=1e-9)


def test_fallbacks_mirror_limbs_and_missing_parts():
    target = pose()
    # no right wrist in the source: its left forearm stands in (mirror limb)
    affines, ok = part_affines(pose(missing=(4,)), target)
    assert ok[0, RIGHT_FOREARM]
    right = limb_rectangles(target.double(), torso_size(target)).corners[0, 6]  # target right forearm
    left_source = limb_rectangles(pose().double(), torso_size(pose())).corners[0, 7]  # source left forearm
    mapped = torch.cat([right, torch.ones(4, 1, dtype=torch.float64)], 1) @ affines[0, RIGHT_FOREARM].T
    torch.testing.assert_close(mapped, left_source)
    # neither wrist in the source, the limb missing in the target, no head point in both, no torso points
    assert not part_affines(pose(missing=(4, 7)), target)[1][0, RIGHT_FOREARM]
    assert not part_affines(pose(), pose(missing=(4,)))[1][0, RIGHT_FOREARM]
    assert not part_affines(pose(missing=(0, 14, 15)), pose(missing=(16, 17)))[1][0, 1]
    assert not part_affines(pose(missing=(8, 11)), target)[1][0, 0]
    assert part_affines(pose(missing=(8,)), target)[1][0, 0]  # three torso points: the exact affine
    # source torso points on a line: the fitted map collapses the torso (singular), so it falls back
    assert not part_affines(pose({2: (8, 64), 5: (56, 64)}), target)[1][0, 0]
    # both source forearms collapsed to a point: no rectangle to map onto
    assert not part_affines(pose({4: (20, 40), 7: (44, 40)}), target)[1][0, RIGHT_FOREARM]


# ---------------------------------------------------------------------------------------------- the warp
@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_a_translation_moves_feature_maps_by_it_divided_by_the_stride(stride):
    shift_x, shift_y = 3 * stride, -5 * stride
    target = pose()
    warp = PartWarp.fit(target + torch.tensor([float(shift_x), float(shift_y)]), target, (H, W))
    h, w = H // stride, W // stride
    features = torch.rand(1, 4, h, w, generator=torch.Generator().manual_seed(stride)) + 0.1  # > 0
    out = warp(features)
    want = torch.zeros_like(features)
    want[..., 5:, : w - 3] = features[..., : h - 5, 3:]  # out(y, x) = in(y - 5, x + 3), zeros from outside
    torch.testing.assert_close(out, want, atol=0, rtol=0)
    # the merge is an element-wise max with the zeros of masked-out parts: negative features become 0
    assert torch.equal(warp(-features), torch.zeros_like(features))


def test_a_rotated_forearm_is_warped_from_the_source_forearm():
    target = pose({4: (36, 40)})
    warp = only_part(PartWarp.fit(pose(), target, (H, W)), RIGHT_FOREARM)
    out = warp(coordinate_maps(H, W))[0]
    mask = warp.weights((H, W))[0, RIGHT_FOREARM] > 0
    ys, xs = torch.nonzero(mask, as_tuple=True)
    assert len(ys) == 442  # x 18.4..44.8 (19..44: 26 columns) by y 32..48 (17 rows)
    torch.testing.assert_close(out[0][mask], 60 - ys.float() + 1)  # source x = 60 - y
    torch.testing.assert_close(out[1][mask], xs.float() + 20 + 1)  # source y = x + 20
    assert (out[:, ~mask] == 0).all()
    # at 1/2 resolution, bilinear: each pixel centre reads the source at the mapped centre, exactly
    half = only_part(PartWarp.fit(pose(), target, (H, W), mode="bilinear"), RIGHT_FOREARM)
    out = half(coordinate_maps(H // 2, W // 2))[0]
    mask = half.weights((H // 2, W // 2))[0, RIGHT_FOREARM] > 0
    ys, xs = torch.nonzero(mask, as_tuple=True)
    cy, cx = 2 * ys.float() + 0.5, 2 * xs.float() + 0.5
    torch.testing.assert_close(out[0][mask], 60 - cy + 1)
    torch.testing.assert_close(out[1][mask], cx + 20 + 1)


def test_a_limb_missing_in_the_source_gives_zero_features():
    warp = only_part(PartWarp.fit(pose(missing=(4, 7)), pose(), (H, W)), RIGHT_FOREARM)
    assert warp.masks.at((H, W))[0, RIGHT_FOREARM].sum() > 0  # the target has the limb
    assert torch.equal(warp(coordinate_maps(H, W)), torch.zeros(1, 2, H, W))


def test_all_parts_of_all_images_warp_as_each_pair_alone():
    sources = torch.cat([pose({4: (30, 50)}), moved(pose(missing=(3,)), 2, 2)])
    targets = torch.cat([pose({7: (50, 60)}), pose({0: (31, 14)})])
    features = torch.rand(2, 5, H // 2, W // 2, generator=torch.Generator().manual_seed(3)) - 0.3
    together = PartWarp.fit(sources, targets, (H, W))(features)
    for b in range(2):
        alone = PartWarp.fit(sources[b : b + 1], targets[b : b + 1], (H, W))(features[b : b + 1])
        torch.testing.assert_close(together[b : b + 1], alone, atol=0, rtol=0)


def test_bad_warp_inputs_are_errors():
    with pytest.raises(ValueError, match="sampling"):
        PartWarp.fit(pose(), pose(), (H, W), mode="bicubic")
    with pytest.raises(ValueError, match="18, 2"):
        PartWarp.fit(pose()[:, :17], pose()[:, :17], (H, W))
    with pytest.raises(ValueError, match="pose pairs"):
        PartWarp.fit(pose(), pose(), (H, W))(torch.zeros(2, 1, H, W))


# ---------------------------------------------------------------------------------------------- networks
def test_official_sizes_parameter_counts_and_patch_grid():
    generator, discriminator = DeformGenerator(), DeformDiscriminator(42)
    assert sum(p.numel() for p in generator.parameters()) == 61_109_085
    assert sum(p.numel() for p in discriminator.parameters()) == 2_803_782
    logits, features = discriminator(torch.zeros(1, 42, H, W), features=True)
    assert logits.shape == (1, 1, 3, 1)  # the official 3x1 patch grid at 128x64
    assert [f.shape[1:] for f in features] == [(64, 63, 31), (128, 31, 15), (256, 15, 7), (512, 7, 3)]
    dropouts = [any(isinstance(m, torch.nn.Dropout) for m in step.modules()) for step in generator.up_steps]
    assert dropouts == [True, True, True, False, False]


def test_sample_norm_is_kerass_instance_norm_over_all_axes():
    norm = SampleNorm()
    with torch.no_grad():
        norm.gamma.fill_(2.0)
        norm.beta.fill_(0.5)
    x = torch.randn(3, 4, 5, 6)
    flat = x.flatten(1)
    want = (x - flat.mean(1)[:, None, None, None]) / (flat.std(1, unbiased=False)[:, None, None, None] + 1e-3)
    torch.testing.assert_close(norm(x), want * 2 + 0.5)


SMALL = DeformGeneratorConfig(encoder_widths=(8, 16, 16, 16, 16, 16), decoder_widths=(16, 16, 16, 16, 8))


@pytest.mark.parametrize("norm", ["sample", "batch", "instance"])
def test_generator_output_and_what_the_keypoints_change(norm):
    torch.manual_seed(0)
    image, pose_maps = torch.rand(2, 3, H, W) * 2 - 1, torch.rand(2, 18, H, W)
    source, target = torch.cat([pose(), pose()]), torch.cat([pose({4: (36, 40)}), pose()])
    warped = DeformGenerator(DeformGeneratorConfig(**{**SMALL.__dict__, "norm": norm})).eval()
    out = warped(image, pose_maps, pose_maps, source, target)
    assert out.shape == (2, 3, H, W) and out.abs().max() <= 1
    moved = warped(image, pose_maps, pose_maps, source + 4, target)
    assert (out - moved).abs().max() > 1e-4  # the source keypoints steer the warped skips
    unwarped = DeformGenerator(DeformGeneratorConfig(**{**SMALL.__dict__, "norm": norm, "warp_levels": 0})).eval()
    same = unwarped(image, pose_maps, pose_maps, source, target)
    torch.testing.assert_close(same, unwarped(image, pose_maps, pose_maps, source + 4, target), atol=0, rtol=0)
    with pytest.raises(ValueError, match="multiples of 32"):
        warped(image[..., :100, :], pose_maps[..., :100, :], pose_maps[..., :100, :], source, target)


# ---------------------------------------------------------------------------------------------- losses
def test_nearest_neighbour_loss_takes_the_closest_real_pixel_in_the_window():
    real = torch.tensor([0.0, 1.0, 5.0]).view(1, 1, 1, 3).repeat(1, 2, 1, 1)  # two equal channels: summed
    fake = torch.tensor([1.0, 5.0, 0.0]).view(1, 1, 1, 3).repeat(1, 2, 1, 1)
    # window 3 on one row: position 0 sees real {0, 1}, 1 sees {0, 1, 5}, 2 sees {1, 5} -> 0, 0, 1 (x 2 channels)
    assert nearest_neighbour_loss(fake, real, 3)[0].item() == pytest.approx(2 * 1 / 3)
    assert nearest_neighbour_loss(fake, real, 1)[0].item() == pytest.approx(2 * (1 + 4 + 5) / 3)  # plain L1
    image = torch.rand(2, 3, 16, 8)
    shifted = torch.roll(image, 1, dims=-1)
    loss, scalars = nearest_neighbour_loss(shifted, image, 3)
    assert set(scalars) == {"nearest_neighbour"}
    # one pixel to the right: every pixel finds its real one to the left, except those of the first column (rolled
    # in from the last), whose window holds the real columns 0 and 1 of rows y - 1 .. y + 1
    real, fake = image.numpy(), shifted.numpy()
    first = [
        min(
            np.abs(real[b, :, yy, xx] - fake[b, :, y, 0]).sum()
            for yy in range(max(0, y - 1), min(16, y + 2))
            for xx in (0, 1)
        )
        for b in range(2)
        for y in range(16)
    ]
    assert loss.item() == pytest.approx(sum(first) / (2 * 16 * 8), rel=1e-5)
    with pytest.raises(ValueError, match="odd"):
        nearest_neighbour_loss(image, image, 2)


def test_feature_matching_is_zero_for_equal_inputs_and_weighs_layers_as_pix2pixhd():
    ones = [torch.ones(1, 2, 3, 3)] * 4
    fm = feature_matching_loss([ones, ones[:2]], [[t * 0 for t in ones], [t * 3 for t in ones[:2]]])[0]
    assert fm.item() == pytest.approx(((1 + 1 + 1 + 1) + 4 / 2 * (2 + 2)) / 2)  # two Ds averaged
    torch.manual_seed(0)
    x, y = torch.randn(2, 42, 64, 32), torch.randn(2, 42, 64, 32)
    pose_d = PoseDiscriminator(42, PoseDiscriminatorConfig(width=8, blocks=2, sigmoid=False)).eval()
    deform_d = DeformDiscriminator(42, DeformDiscriminatorConfig(widths=(8, 16, 32))).eval()
    for d in (pose_d, deform_d):
        scores, features = d(x, features=True)
        torch.testing.assert_close(scores, d(x))
        assert feature_matching_loss([features], [d(x, features=True)[1]])[0].item() == 0
        assert feature_matching_loss([features], [d(y, features=True)[1]])[0].item() > 0
    assert len(pose_d(x, features=True)[1]) == 3 + 2 - 1  # three encoder stages, the blocks but the last


# ---------------------------------------------------------------------------------------------- the model
@pytest.fixture(scope="module")
def tiny_deform(tmp_path_factory):
    """A tiny pose-pair dataset, a tiny perceptual network and a 2-step Deformable GAN."""
    from fashionlab.models.reposing.registration import repose_tiny_setup

    base = tmp_path_factory.mktemp("tiny-deform")
    over = repose_tiny_setup(base)
    cfg = resolve_config(
        CONFIG, model="deform", preset="tiny", overrides=[*over, f"train.out={base / 'runs'}", "train.steps=2"]
    )
    run = Trainer(build_task("deform", cfg), cfg, train=cfg.train, progress=False).fit()
    return {"data": over[0].split("=", 1)[1], "overrides": over, "run": run}


def _config(tiny, out, *extra):
    over = [*tiny["overrides"], f"train.out={out}", "train.ckpt_every=0", *extra]
    return resolve_config(CONFIG, model="deform", preset="tiny", overrides=over)


@pytest.mark.parametrize("name", ["xinggan", "patn", "deform"])
def test_feature_matching_trains_every_reposer_and_is_off_by_default(name, tiny_deform, tmp_path):
    spec = MODELS.get(name)
    for preset in ("tiny", "cpu", "paper"):
        assert resolve_config(spec.config, model=name, preset=preset).loss.feature_matching == 0
    over = [*tiny_deform["overrides"], f"train.out={tmp_path}", "train.steps=2", "loss.feature_matching=10"]
    cfg = resolve_config(spec.config, model=name, preset="tiny", overrides=over)
    run = Trainer(build_task(name, cfg), cfg, train=cfg.train, progress=False).fit()
    logged = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert any(row.get("feature_matching", 0) > 0 for row in logged)
    if name == "deform":
        assert {"nearest_neighbour", "l1", "g_gan", "D_real", "D_fake", "g_total"} <= set().union(*logged)


def test_nearest_neighbour_on_perceptual_features(tiny_deform, tmp_path):
    cfg = _config(tiny_deform, tmp_path, "train.steps=1", "loss.nearest_neighbour_on=perceptual")
    task = build_task("deform", cfg)
    assert task.features is not None
    Trainer(task, cfg, train=cfg.train, progress=False).fit()
    no_network = _config(tiny_deform, tmp_path, "loss.nearest_neighbour_on=perceptual", "perceptual_network=")
    with pytest.raises(InputError, match="nearest_neighbour_on=perceptual needs perceptual_network"):
        build_task("deform", no_network)
    assert build_task("deform", _config(tiny_deform, tmp_path, "perceptual_network=")).features is None  # pixels


@pytest.mark.parametrize(
    "setting,words",
    [
        ("loss.nearest_neighbour_on=vgg", "nearest_neighbour_on"),
        ("loss.nearest_neighbour_window=4", "odd"),
        ("generator.norm=layer", "generator.norm"),
        ("discriminator.norm=group", "discriminator.norm"),
        ("generator.warp_sampling=bicubic", "warp_sampling"),
        ("generator.decoder_widths=[8]", "decoder_widths"),
        ("generator.warp_levels=5", "warp_levels"),
        ("image_size=[36, 16]", "multiples of 8"),
        ("discriminator.widths=[8, 8, 8, 8]", "discriminator stages"),
    ],
)
def test_bad_settings_are_errors_naming_the_key(tiny_deform, tmp_path, setting, words):
    with pytest.raises(InputError, match=words):
        build_task("deform", _config(tiny_deform, tmp_path, setting))


def test_repose_api_and_pose_command_work_for_deform(tiny_deform, tmp_path):
    from PIL import Image

    model = fashionlab.load(tiny_deform["run"])
    assert model.kind == "deform" and not model.training
    item = PosePairDataset(tiny_deform["data"], split="train", progress=False)[0]
    img = ((item["source_image"].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
    src, tgt = item["source_keypoints"].numpy(), item["target_keypoints"].numpy()
    out = model.repose(img, tgt, source_keypoints=src)
    direct = model.generate(item["source_image"][None], item["source_keypoints"][None], item["target_keypoints"][None])
    assert out.shape == (32, 16, 3)
    assert np.abs(out.astype(int) - ((direct[0].permute(1, 2, 0).numpy() + 1) * 127.5).round()).max() <= 1

    def pose_json(path, kps):
        path.write_text(json.dumps([None if (p < 0).any() else [float(p[0]), float(p[1])] for p in kps]))
        return str(path)

    Image.fromarray(img).save(tmp_path / "person.png")
    res = runner.invoke(
        app,
        ["pose", str(tmp_path / "person.png"), "--model", str(tiny_deform["run"]),
         "--target-pose", pose_json(tmp_path / "t.json", tgt), "--source-pose", pose_json(tmp_path / "s.json", src),
         "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o" / "person.png")), out)
