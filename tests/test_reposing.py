"""Re-posing end to end: wide pose pairs, the pair dataset, the training task's pieces (image pool, GAN
losses, resume), the Reposer's API and errors, `fashionlab pose` and `fashionlab eval pose`."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import fashionlab
from fashionlab.cli import app
from fashionlab.config import resolve_config
from fashionlab.data.keypoints import heatmaps_torch
from fashionlab.data.pairs import PosePairDataset, head_size, pair_displacement
from fashionlab.engine.checkpoint import find_checkpoint, load_checkpoint
from fashionlab.engine.logger import read_stats
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import InputError
from fashionlab.losses.reposing import gan_loss, l1_plus_perceptual
from fashionlab.models import MODELS, build_task
from fashionlab.models.reposing.task import ImagePool
from fashionlab.synth.figure import Pose
from fashionlab.synth.generate import SynthConfig, generate_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_repose(tmp_path_factory):
    """A tiny pose-pair dataset, a tiny perceptual network, a 2-step XingGAN and a 6-step keypoint model."""
    from fashionlab.models.reposing.registration import repose_tiny_setup

    base = tmp_path_factory.mktemp("tiny-repose")
    over = repose_tiny_setup(base)
    cfg = resolve_config(
        MODELS.get("xinggan").config,
        model="xinggan",
        preset="tiny",
        overrides=[*over, f"train.out={base / 'runs'}", "train.steps=2", "train.ckpt_every=0"],
    )
    run = Trainer(build_task("xinggan", cfg), cfg, train=cfg.train, progress=False).fit()
    kcfg = resolve_config(
        MODELS.get("keypoints").config,
        model="keypoints",
        preset="tiny",
        overrides=[over[0], f"train.out={base / 'kp'}", "image_size=[32, 16]", "model.widths=[8, 16]"],
    )
    kp_run = Trainer(build_task("keypoints", kcfg), kcfg, train=kcfg.train, progress=False).fit()
    return {"data": over[0].split("=", 1)[1], "overrides": over, "run": run, "keypoints": kp_run, "base": base}


# ------------------------------------------------------------------------------------------ data
def test_wide_poses_range_far_beyond_the_standard_ones():
    standard = [Pose.sample(s, "full", v) for s in range(40) for v in range(3)]
    wide = [Pose.sample(s, "full", v, pose_range="wide") for s in range(40) for v in range(3)]
    assert max(p.arm_right for p in standard) <= 26 and min(p.arm_right for p in standard) >= 4
    assert max(max(p.arm_right, p.arm_left) for p in wide) > 120  # raised overhead
    assert min(min(p.arm_right, p.arm_left) for p in wide) < -10  # across the torso
    assert max(abs(p.turn) for p in wide) > 0.35 and max(abs(p.shift_x) for p in wide) > 0.1
    assert max(max(p.knee_left, p.knee_right) for p in wide) > 25  # a walking stride's bent knee
    # the standard range is what it always was (same numbers from the same stream)
    assert Pose.sample(3, "full", 1) == Pose.sample(3, "full", 1, pose_range="standard")
    with pytest.raises(InputError, match="pose range"):
        Pose.sample(3, "full", 1, pose_range="huge")


def test_pose_pair_datasets_use_wide_poses_and_record_them(tmp_path):
    root = generate_dataset(
        tmp_path / "d", SynthConfig(n=12, size=(64, 32), poses_per_person=3, workers=1), progress=False
    )
    rows = [json.loads(line) for line in (root / "items.jsonl").read_text().splitlines()]
    assert {r["extra"]["pose_range"] for r in rows} == {"wide"}
    single = generate_dataset(tmp_path / "s", SynthConfig(n=4, size=(64, 32), workers=1), progress=False)
    assert {json.loads(r)["extra"]["pose_range"] for r in (single / "items.jsonl").read_text().splitlines()} == {
        "standard"
    }
    with pytest.raises(InputError, match="pose range"):
        SynthConfig(n=4, pose_range="huge").validate()


def test_pair_dataset_items_are_two_poses_of_one_person(tiny_repose):
    ds = PosePairDataset(tiny_repose["data"], split="train", progress=False)
    assert len(ds) == len(ds.pairs) > 0
    item = ds[0]
    a, b = ds.items[item["source_index"]], ds.items[item["target_index"]]
    assert a.identity == b.identity and a.id != b.id and a.attributes == b.attributes
    assert item["source_image"].shape == item["target_image"].shape == (3, 32, 16)
    assert item["source_keypoints"].shape == (18, 2)
    assert not torch.equal(item["source_keypoints"], item["target_keypoints"])
    maps = heatmaps_torch(item["target_keypoints"][None], 32, 16)
    assert maps.shape == (1, 18, 32, 16)
    missing = (item["target_keypoints"] == -1).all(-1)
    assert (maps[0][missing] == 0).all() and (maps[0][~missing].amax((-1, -2)) > 0.5).all()


def test_a_dataset_without_pairs_is_a_clear_error(tmp_path):
    root = generate_dataset(tmp_path / "d", SynthConfig(n=4, size=(32, 16), workers=1), progress=False)
    with pytest.raises(InputError, match="no pose pairs"):
        PosePairDataset(root, split="train", progress=False)


def test_displacement_is_in_head_sizes():
    target = np.full((1, 18, 2), -1.0)
    target[0, [0, 1, 14, 15]] = [[10, 10], [10, 20], [8, 8], [12, 8]]  # head box 4 wide, 12 high -> 12
    target[0, 2] = [20, 30]
    source = target.copy()
    source[0, 2] = [20, 54]  # one point moves by 24 = 2 head sizes, four stay
    assert head_size(target)[0] == 12
    assert pair_displacement(source, target)[0] == pytest.approx(24 / 5 / 12)
    assert np.isnan(head_size(np.full((1, 18, 2), -1.0))[0])


# --------------------------------------------------------------------------------------- training
def test_image_pool_fills_then_swaps_and_round_trips():
    torch.manual_seed(0)
    pool = ImagePool(3)
    first = torch.arange(2.0)[:, None].expand(2, 4)
    assert torch.equal(pool.query(first), first) and len(pool.images) == 2
    second = 10 + torch.arange(4.0)[:, None].expand(4, 4)
    out = pool.query(second)
    assert len(pool.images) == 3 and out.shape == second.shape
    state = pool.state_dict()
    again = ImagePool(3)
    again.load_state_dict(state)
    rng = torch.get_rng_state()
    a = pool.query(second)
    torch.set_rng_state(rng)
    b = again.query(second)
    assert torch.equal(a, b)
    assert torch.equal(ImagePool(0).query(second), second)


def test_pool_returns_stored_fakes_half_of_the_time_once_full():
    torch.manual_seed(1)
    pool = ImagePool(50)
    pool.query(torch.zeros(50, 1))
    new = 100 + torch.arange(2000.0)[:, None]
    out = pool.query(new)
    swapped = out != new  # a stored fake came back instead of the new one
    assert 0.45 < float(swapped.float().mean()) < 0.55
    assert set(out[swapped].tolist()) <= {0.0} | set(new[:, 0].tolist())  # and it was a past fake


def test_gan_loss_with_logits_equals_the_official_sigmoid_bce():
    scores = torch.randn(2, 8, 4, 4)
    for real in (True, False):
        official = torch.nn.BCELoss()(torch.sigmoid(scores), torch.full_like(scores, float(real)))
        assert gan_loss(scores, real, "bce")[0] == pytest.approx(float(official), rel=1e-5)
    assert gan_loss(torch.ones(3), True, "lsgan")[0] == 0
    assert gan_loss(torch.ones(3), False, "lsgan")[0] == 1


def test_l1_plus_perceptual_weights_and_skips():
    fake, target = torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)
    loss, s = l1_plus_perceptual(fake, target, lambda x: 2 * x, 5.0, 3.0)
    assert float(loss) == pytest.approx(5 * 1 + 3 * 2) and set(s) == {"l1", "perceptual"}
    loss, s = l1_plus_perceptual(fake, target, lambda x: 2 * x, 5.0, 0.0)
    assert float(loss) == pytest.approx(5) and set(s) == {"l1"}


@pytest.mark.parametrize("name", ["xinggan", "patn", "deform"])
def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(name, tiny_repose, tmp_path):
    def cfg(out):
        over = [*tiny_repose["overrides"], f"train.out={out}", "train.steps=4", "train.ckpt_every=0", "pool_size=2"]
        return resolve_config(MODELS.get(name).config, model=name, preset="tiny", overrides=over)

    full_cfg = cfg(tmp_path / "a")
    full = Trainer(build_task(name, full_cfg), full_cfg, train=full_cfg.train, progress=False)
    full.fit()
    full_state = load_checkpoint(find_checkpoint(full.run_dir))

    part_cfg = cfg(tmp_path / "b")
    task = build_task(name, part_cfg)
    part = Trainer(task, part_cfg, train=part_cfg.train, progress=False)
    step = task.train_step

    def interrupt_after_step_2(ctx):
        out = step(ctx)
        if ctx.step == 1:
            part._stop_requested = True
        return out

    task.train_step = interrupt_after_step_2
    with pytest.raises(SystemExit):
        part.fit()
    resumed = Trainer(build_task(name, part_cfg), part_cfg, train=part_cfg.train, resume=part.run_dir, progress=False)
    resumed.fit()
    state = load_checkpoint(find_checkpoint(part.run_dir))
    assert state["step"] == 4
    for net, sd in full_state["nets"].items():
        for k, v in sd.items():
            assert torch.equal(state["nets"][net][k], v), (name, net, k)


def test_bad_training_settings_are_clear_errors(tiny_repose, tmp_path):
    def cfg(*extra):
        over = [*tiny_repose["overrides"], f"train.out={tmp_path}", *extra]
        return resolve_config(MODELS.get("xinggan").config, model="xinggan", preset="tiny", overrides=over)

    with pytest.raises(InputError, match="multiples of 4"):
        build_task("xinggan", cfg("image_size=[30, 16]"))
    with pytest.raises(InputError, match="gan_mode"):
        build_task("xinggan", cfg("loss.gan_mode=wgan"))
    with pytest.raises(InputError, match="sigmoid"):
        build_task("xinggan", cfg("discriminator.sigmoid=true"))


# ------------------------------------------------------------------------------------------- use
def _picture(tiny_repose, k=0):
    ds = PosePairDataset(tiny_repose["data"], split="train", progress=False)
    item = ds[k]
    img = ((item["source_image"].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
    return img, item["source_keypoints"].numpy(), item["target_keypoints"].numpy(), item


def test_repose_api_matches_generate_and_checks_its_input(tiny_repose):
    model = fashionlab.load(tiny_repose["run"])
    img, src, tgt, item = _picture(tiny_repose)
    out = model.repose(img, tgt, source_keypoints=src)
    assert out.shape == (32, 16, 3) and out.dtype == np.uint8
    direct = model.generate(item["source_image"][None], item["source_keypoints"][None], item["target_keypoints"][None])
    assert np.abs(out.astype(int) - ((direct[0].permute(1, 2, 0).numpy() + 1) * 127.5).round()).max() <= 1
    bigger = np.asarray(Image.fromarray(img).resize((32, 64), Image.NEAREST))  # 2x: poses are scaled with it
    twice = np.where(src >= 0, src * 2 + 0.5, -1), np.where(tgt >= 0, tgt * 2 + 0.5, -1)
    assert model.repose([bigger], [twice[1]], source_keypoints=[twice[0]]).shape == (1, 32, 16, 3)
    with pytest.raises(InputError, match="18"):
        model.repose(img, tgt[:17], source_keypoints=src)
    nan = tgt.copy()
    nan[3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        model.repose(img, nan, source_keypoints=src)
    far = tgt.copy()
    far[0] = [500, 5]
    with pytest.raises(InputError, match="outside"):
        model.repose(img, far, source_keypoints=src)
    model.keypoint_model = ""
    with pytest.raises(InputError, match="keypoint estimator"):
        model.repose(img, tgt)  # a model that names no keypoint estimator needs the source pose


def _pose_json(path, kps):
    path.write_text(json.dumps([None if (p < 0).any() else [float(p[0]), float(p[1])] for p in kps]))
    return path


def test_pose_cli_writes_results_and_panels(tiny_repose, tmp_path):
    img, src, tgt, _ = _picture(tiny_repose)
    Image.fromarray(img).save(tmp_path / "person.png")
    target = _pose_json(tmp_path / "target.json", tgt)
    source = _pose_json(tmp_path / "source.json", src)
    args = ["pose", str(tmp_path / "person.png"), "--model", str(tiny_repose["run"]), "--target-pose", str(target)]
    res = runner.invoke(app, [*args, "--source-pose", str(source), "--out", str(tmp_path / "o"), "--panel"])
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "o" / "person.png").size == (16, 32)
    panel = Image.open(tmp_path / "o" / "person-panel.png")
    assert panel.height >= 32 * 4 and panel.width > 4 * panel.height // 2  # four tiles side by side
    # the output folder is never overwritten
    res = runner.invoke(app, [*args, "--source-pose", str(source), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "not empty" in str(res.exception)


@pytest.mark.parametrize(
    "content,words",
    [
        ("[[1, 2]]", "list of 18"),
        ("{not json", "malformed JSON"),
        ("[" + ",".join(["[1, 2]"] * 17 + ["[1, NaN]"]) + "]", "finite"),
        ("[" + ",".join(["[1, 2]"] * 17 + ["[99, 2]"]) + "]", "outside"),
    ],
)
def test_pose_cli_bad_keypoints_name_the_file_and_field(tiny_repose, tmp_path, content, words):
    img, src, _, _ = _picture(tiny_repose)
    Image.fromarray(img).save(tmp_path / "p.png")
    (tmp_path / "t.json").write_text(content)
    source = _pose_json(tmp_path / "s.json", src)
    res = runner.invoke(
        app,
        ["pose", str(tmp_path / "p.png"), "--model", str(tiny_repose["run"]), "--target-pose", str(tmp_path / "t.json"),
         "--source-pose", str(source), "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    assert words in str(res.exception) and "t.json" in str(res.exception)


def test_pose_cli_needs_exactly_one_target(tiny_repose, tmp_path):
    res = runner.invoke(app, ["pose", str(tmp_path), "--model", str(tiny_repose["run"]), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "exactly one" in str(res.exception)


def test_eval_pose_scores_models_and_reference_rows(tiny_repose, tmp_path):
    res = runner.invoke(
        app,
        ["eval", "pose", str(tiny_repose["run"]), "--data", tiny_repose["data"], "--split", "train",
         "--keypoint-model", str(tiny_repose["keypoints"]), "--evaluator", "none", "--pairs", "6",
         "--out", str(tmp_path / "e"), "--no-progress"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    reports = json.loads((tmp_path / "e" / "reports.json").read_text())["reports"]
    names = [r["name"] for r in reports]
    assert names[0].startswith("identity") and names[1].startswith("ground truth") and "xinggan" in names[2]
    truth = reports[1]
    assert truth["ssim"] == pytest.approx(1.0) and truth["l1"] == 0 and truth["mask_ssim"] == pytest.approx(1.0)
    assert reports[0]["ssim"] < 1 and reports[0]["l1"] > 0  # the two poses differ
    assert all(0 <= r["pckh"] <= 1 for r in reports)
    assert Image.open(tmp_path / "e" / "displacement.png").size == (480, 240)
    assert (tmp_path / "e" / "grid.png").exists() and "| method |" in (tmp_path / "e" / "pose.md").read_text()
    # the scores that see ghosts, missing limbs and faces: exactly 0 (or 1) for the ground truth
    assert truth["ghost"] == 0 and truth["missing_body"] == 0 and truth["head_l1"] == 0
    assert reports[0]["ghost"] > 0 and reports[0]["missing_body"] > 0  # the source figure where it no longer is
    assert set(truth["pckh_joints"]) >= {"right_wrist", "left_wrist", "arms"}
    assert "| method | nose |" in (tmp_path / "e" / "pose.md").read_text()
    # the tiny estimator learnt from the very data the model did: the caption says so
    assert "the very data xinggan" in (tmp_path / "e" / "pose.md").read_text()
    # the training table: the run's iterations (from its stats.jsonl) beside the scores
    steps = max(r["step"] for r in read_stats(tiny_repose["run"]))
    assert f"| {steps:,} |" in (tmp_path / "e" / "pose.md").read_text().split("| method | iterations |")[1]


def test_eval_pose_names_rows_with_labels_and_refuses_twins(tiny_repose, tmp_path):
    """LABEL=PATH names a row (two checkpoints of one run read as what they are); two rows of one name are refused."""
    run = str(tiny_repose["run"])
    common = ["eval", "pose", "--data", tiny_repose["data"], "--split", "train", "--keypoint-model",
              str(tiny_repose["keypoints"]), "--evaluator", "none", "--pairs", "2", "--no-progress"]  # fmt: skip
    res = runner.invoke(
        app, [*common, f"early=  {run}", f"late={run}", "--out", str(tmp_path / "e"), "--grid-rows", "1"]
    )
    assert res.exit_code == 0, res.output
    names = [r["name"] for r in json.loads((tmp_path / "e" / "reports.json").read_text())["reports"]]
    assert names[2:] == ["early", "late"]
    assert "| early |" in (tmp_path / "e" / "pose.md").read_text().split("| method | iterations |")[1]
    res = runner.invoke(app, [*common, f"same={run}", f"same={run}"])
    assert isinstance(res.exception, InputError) and "same name" in str(res.exception)
    res = runner.invoke(app, [*common, f"={run}"])
    assert isinstance(res.exception, InputError) and "empty row label" in str(res.exception)


def test_eval_pose_with_estimated_source_poses(tiny_repose, tmp_path):
    """--source-pose estimated feeds each model the source pose its own keypoint estimator finds (the path of
    `fashionlab pose` on a photograph): another result than the annotated poses, and the caption says so."""
    from fashionlab.metrics.pose_eval import reposer_method

    common = ["eval", "pose", str(tiny_repose["run"]), "--data", tiny_repose["data"], "--split", "train",
              "--keypoint-model", str(tiny_repose["keypoints"]), "--evaluator", "none", "--pairs", "4",
              "--no-progress"]  # fmt: skip
    for mode in ("annotated", "estimated"):
        res = runner.invoke(app, [*common, "--source-pose", mode, "--out", str(tmp_path / mode)])
        assert res.exit_code == 0, res.output
        assert f"Source poses: {mode}" in (tmp_path / mode / "pose.md").read_text()
    # which source pose reaches the generator: the pair's own, or the one the model's estimator finds
    model = fashionlab.load(tiny_repose["run"])
    seen = {}
    model.generate = lambda image, source, target: seen.setdefault("source", source)
    found = torch.full((2, 18, 2), 5.0)

    class Estimator(torch.nn.Module):
        def predict(self, images):
            seen["estimator_saw"] = images
            return found

    model._keypoint_net = Estimator()
    batch = {"source_image": torch.zeros(2, 3, 32, 16), "source_keypoints": torch.ones(2, 18, 2)}
    batch["target_keypoints"] = torch.zeros(2, 18, 2)
    reposer_method(model, "annotated")(batch)
    assert torch.equal(seen.pop("source"), batch["source_keypoints"]) and "estimator_saw" not in seen
    reposer_method(model, "estimated")(batch)
    assert torch.equal(seen["source"], found) and torch.equal(seen["estimator_saw"], batch["source_image"])
    res = runner.invoke(app, [*common, "--source-pose", "guessed"])
    assert isinstance(res.exception, InputError) and "unknown source pose 'guessed'" in str(res.exception)
    with pytest.raises(InputError, match="valid: annotated, estimated"):
        reposer_method(fashionlab.load(tiny_repose["run"]), "guessed")


def test_eval_pose_names_its_scorer_and_whether_it_shares_the_models_people():
    from fashionlab.cli.evaluate_pose import eval_pose
    from fashionlab.metrics.pose_eval import scorer_note

    default = inspect.signature(eval_pose).parameters["keypoint_model"].default
    assert default == "asset:keypoints-synth128x64-eval"
    xing = [("xinggan (xinggan-synth128x64)", "asset:xinggan-synth128x64")]
    note = scorer_note(default, xing)
    assert note.startswith(f"PCKh with {default}, trained on sfpose128-s93") and "render seed 93" in note
    assert "people disjoint from the scored models' training data (sfpose128, render seed 91)" in note
    shared = scorer_note("asset:keypoints-synth128x64", xing)  # the re-posers' own inference helper
    assert "the very data xinggan (xinggan-synth128x64) trained on" in shared


def test_imported_market_pairs_train_a_reposing_model(tmp_path, tiny_repose):
    """Market-1501 / DeepFashion annotation + pairs CSVs, through the pose-pairs importer, to a training run."""
    from helpers.importer_sources import make_pose_pairs

    from fashionlab.data.importers import run_import

    data = run_import("pose-pairs", make_pose_pairs(tmp_path / "src"), tmp_path / "market", image_size=(128, 64))
    ds = PosePairDataset(data, split="train", progress=False)
    assert len(ds) == 2 and ds[0]["source_image"].shape == (3, 128, 64)
    over = [f"data={data}", tiny_repose["overrides"][1], f"train.out={tmp_path / 'runs'}", "image_size=[128, 64]"]
    cfg = resolve_config(MODELS.get("patn").config, model="patn", preset="tiny", overrides=[*over, "train.steps=2"])
    run = Trainer(build_task("patn", cfg), cfg, train=cfg.train, progress=False).fit()
    assert (run / "export" / "model.safetensors").exists()


def test_target_pose_from_a_picture_with_the_shipped_keypoint_model(tiny_repose, tmp_path):
    from fashionlab.synth.render import render

    garment = {"sleeve": "long", "color": "red", "pattern": "solid", "collar": "crew", "fastening": "none"}
    person = render(5, garment, Pose.sample(5, "full", 1, pose_range="wide"), size=(128, 64), framing="full")
    Image.fromarray(person.image).save(tmp_path / "reference.png")
    model = fashionlab.load(tiny_repose["run"])
    model.keypoint_model = "asset:keypoints-synth128x64"
    found = model.find_keypoints(person.image)
    visible = (person.keypoints >= 0).all(-1) & (found >= 0).all(-1)
    assert visible.sum() >= 12 and np.abs(found[visible] - person.keypoints[visible]).max() < 4
    with pytest.raises(InputError, match="no person found"):
        model.find_keypoints(np.full((128, 64, 3), 230, np.uint8))
    img, _, _, _ = _picture(tiny_repose)
    Image.fromarray(np.asarray(Image.fromarray(img).resize((64, 128)))).save(tmp_path / "p.png")
    args = ["pose", str(tmp_path / "p.png"), "--model", str(tiny_repose["run"]), "--panel", "--no-progress"]
    res = runner.invoke(
        app, [*args, "--target-pose-from", str(tmp_path / "reference.png"), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    taken = json.loads((tmp_path / "o" / "target-pose.json").read_text())  # the points found above
    assert len(taken) == 18 and [p is None for p in taken] == (found < 0).any(-1).tolist()
    np.testing.assert_allclose([p for p in taken if p is not None], found[(found >= 0).all(-1)], atol=1e-4)
    assert (tmp_path / "o" / "p.png").exists() and (tmp_path / "o" / "p-panel.png").exists()
    Image.fromarray(np.full((128, 64, 3), 230, np.uint8)).save(tmp_path / "empty.png")
    res = runner.invoke(app, [*args, "--target-pose-from", str(tmp_path / "empty.png"), "--out", str(tmp_path / "e")])
    assert res.exit_code != 0 and "no person found" in str(res.exception)


def test_demo_pose_grid_compares_with_the_exact_ground_truth(tiny_repose, tmp_path):
    from skimage.metrics import structural_similarity

    from fashionlab.cli.demo_pose import pose_demo

    path, ssim_result, ssim_identity = pose_demo(tmp_path / "repose.png", people=2, model=tiny_repose["run"])
    grid = np.asarray(Image.open(path))
    h, w, pad = 32, 16, 2  # 2 people x 4 tiles (source, target pose, result, truth), 2 px apart, shown at 2x
    assert grid.shape == (2 * (2 * h + pad), 2 * (4 * w + 3 * pad), 3)
    small = grid[::2, ::2]

    def tile(person, column):
        return small[person * (h + pad) : person * (h + pad) + h, column * (w + pad) : column * (w + pad) + w]

    def papers_ssim(generated, truth):  # the official getMetrics: the generated image's range, not 255
        return structural_similarity(
            truth, generated, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=2,
            data_range=float(generated.max()) - float(generated.min()),
        )  # fmt: skip

    # the returned scores are the SSIM of the shown results (and of the sources) to the shown ground truth
    assert ssim_result == pytest.approx(np.mean([papers_ssim(tile(p, 2), tile(p, 3)) for p in (0, 1)]), abs=1e-5)
    assert ssim_identity == pytest.approx(np.mean([papers_ssim(tile(p, 0), tile(p, 3)) for p in (0, 1)]), abs=1e-5)
    assert ssim_identity < 1  # the two poses differ


@pytest.mark.parametrize("mode", ["fit", "crop", "stretch"])
def test_fit_batch_is_the_tensor_twin_of_resize_rgb(mode):
    """An evaluator trained on fitted 128x64 people must read generated 128x64 people fitted the same way."""
    from fashionlab.data.imaging import Preprocess, normalise, resize_rgb
    from fashionlab.synth.render import render

    garment = {"sleeve": "long", "color": "red", "pattern": "dots", "collar": "crew", "fastening": "none"}
    img = render(3, garment, size=(128, 64), framing="full").image  # a picture, not noise (filters differ on noise)
    for size in [(128, 128), (64, 64), (96, 80)]:
        want = normalise(resize_rgb(img, size, mode))
        got = Preprocess(size, mode).fit_batch(normalise(img)[None])[0]
        # PIL's and torch's bilinear filters differ a little when downscaling; the geometry must be the same
        assert got.shape == want.shape and float((got - want).abs().mean()) < 0.03, (mode, size)
        if mode == "fit" and size == (128, 128):  # no resampling: padding only, exactly
            assert torch.equal(got, want)
