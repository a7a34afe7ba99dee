"""`fashionlab export RUN`: the inference export of any checkpoint of a run (latest, a step, or the last one
within some hours of training), the same as the end-of-training export for the last one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fashionlab
from fashionlab.engine.checkpoint import load_checkpoint
from fashionlab.engine.export import read_export
from fashionlab.engine.logger import training_time, training_time_at
from fashionlab.errors import InputError
from fashionlab.usecases.export_checkpoint import export_checkpoint, pick_checkpoint

EXE = [sys.executable, "-m", "fashionlab"]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def stargan_run(tmp_path_factory) -> Path:
    """A tiny StarGAN (EMA 0.9) trained 6 steps with checkpoints at steps 3 and 6 and its end export/."""
    from fashionlab.config import resolve_config
    from fashionlab.engine.trainer import Trainer
    from fashionlab.models import MODELS, build_task
    from fashionlab.models.registry import synth_tiny_setup

    base = tmp_path_factory.mktemp("export-checkpoint")
    over = [*synth_tiny_setup(base), f"train.out={base / 'runs'}", "train.steps=6", "train.ckpt_every=3"]
    cfg = resolve_config(MODELS.get("stargan").config, model="stargan", preset="tiny", overrides=over)
    assert cfg.train.ema > 0
    return Trainer(build_task("stargan", cfg), cfg, train=cfg.train, progress=False).fit()


def test_latest_checkpoint_exports_exactly_the_end_of_training_export(stargan_run, tmp_path):
    path = export_checkpoint(stargan_run, out=tmp_path / "latest")
    meta, states = read_export(path)
    end_meta, end_states = read_export(stargan_run / "export")
    assert sorted(states) == sorted(end_states) == ["G"]
    for net, state in end_states.items():
        assert sorted(states[net]) == sorted(state)
        assert all(torch.equal(states[net][k], v) for k, v in state.items()), net
    assert {k: meta[k] for k in ("kind", "config", "extra")} == {k: end_meta[k] for k in ("kind", "config", "extra")}
    # the EMA copy was exported, not the raw generator (which differs from it after 6 steps)
    ckpt = load_checkpoint(stargan_run / "checkpoints" / "step-0000006.pt")
    assert all(torch.equal(states["G"][k], v) for k, v in ckpt["ema"]["G"].items())
    assert any(not torch.equal(ckpt["nets"]["G"][k], v) for k, v in ckpt["ema"]["G"].items())
    prov = meta["provenance"]
    assert prov["steps"] == 6 and prov["checkpoint"]["step"] == 6
    assert prov["checkpoint"]["run"] == str(stargan_run.resolve())
    assert prov["checkpoint"]["training_seconds"] == pytest.approx(training_time(stargan_run)["seconds"], abs=1e-3)
    assert fashionlab.load(path).training is False


def test_an_earlier_step_exports_its_own_weights_into_the_runs_exports_folder(stargan_run):
    path = export_checkpoint(stargan_run, step=3)
    assert path == stargan_run / "exports" / "step-0000003"
    _, states = read_export(path)
    _, end_states = read_export(stargan_run / "export")
    assert any(not torch.equal(states["G"][k], v) for k, v in end_states["G"].items())
    ckpt = load_checkpoint(stargan_run / "checkpoints" / "step-0000003.pt")
    assert all(torch.equal(states["G"][k], v) for k, v in ckpt["ema"]["G"].items())
    block = json.loads((path / "config.json").read_text())["provenance"]["checkpoint"]
    assert block["step"] == 3 and block["file"] == "checkpoints/step-0000003.pt"
    assert 0 < block["training_seconds"] < training_time(stargan_run)["seconds"]
    assert block["training_seconds"] == pytest.approx(training_time_at(stargan_run, 3), abs=1e-3)
    assert fashionlab.load(path).training is False
    assert [p.name for p in (stargan_run / "exports").iterdir()] == ["step-0000003"]  # no temporary left


def test_a_dataset_that_is_not_there_is_named(stargan_run, tmp_path):
    with pytest.raises(InputError, match="dataset this run was trained on") as e:
        export_checkpoint(stargan_run, out=tmp_path / "x", overrides=[f"data={tmp_path / 'moved'}"])
    assert e.value.path == str(tmp_path / "moved") and e.value.field == "data"
    assert not (tmp_path / "x").exists()


def _hand_made_run(root: Path, steps: list[int], rows: list[tuple[int, float]]) -> Path:
    (root / "checkpoints").mkdir(parents=True)
    (root / "config.json").write_text('{"model": "stargan", "config": {}}')
    for s in steps:
        (root / "checkpoints" / f"step-{s:07d}.pt").write_bytes(b"")
    lines = [json.dumps({"step": s, "time": 0.0, "it_per_s": rate}) for s, rate in rows]
    (root / "stats.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_hours_picks_the_last_checkpoint_within_that_training_time(tmp_path):
    per_hour = 10 / 3600  # 10 steps an hour, then 5 an hour from step 20: steps 10, 15, 20, 30, 40 at 1, 1.5, 2, 4, 6 h
    run = _hand_made_run(tmp_path / "run", [10, 15, 20, 30, 40], [(10, per_hour), (20, per_hour), (40, per_hour / 2)])
    assert training_time_at(run, 15) == pytest.approx(1.5 * 3600)
    assert training_time_at(run, 30) == pytest.approx(4 * 3600)
    assert training_time_at(run, 41) != training_time_at(run, 41)  # past the last row: unknown (NaN)
    picks = {h: pick_checkpoint(run, hours=h)[0] for h in (1.2, 1.6, 2.5, 3.9, 4.01, 5.9, 100)}
    assert picks == {1.2: 10, 1.6: 15, 2.5: 20, 3.9: 20, 4.01: 30, 5.9: 30, 100: 40}
    assert pick_checkpoint(run) == (40, run / "checkpoints" / "step-0000040.pt")
    assert pick_checkpoint(run, step=15)[0] == 15
    with pytest.raises(InputError, match=r"no checkpoint within 0.5 h .*step 10: 1 h") as e:
        pick_checkpoint(run, hours=0.5)
    assert e.value.field == "--hours"
    (run / "stats.jsonl").write_text("")
    with pytest.raises(InputError, match="no training rate"):
        pick_checkpoint(run, hours=1)


def test_bad_input_is_one_line_without_a_traceback(stargan_run, tmp_path):
    r = run_cli("export", stargan_run, "--step", "4")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no checkpoint of step 4; this run has steps 3, 6" in r.stderr and str(stargan_run) in r.stderr
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep")
    r = run_cli("export", stargan_run, "--out", taken)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "exists and is not empty" in r.stderr
    assert [p.name for p in taken.iterdir()] == ["mine.txt"]
    r = run_cli("export", tmp_path, "--out", tmp_path / "new")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not a run folder" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder is taken
    r = run_cli("export", stargan_run, "--step", "3", "--out", empty)
    assert r.returncode == 0, r.stderr
    assert "exported step 3" in r.stdout and (empty / "model.safetensors").is_file()


def test_an_export_carries_its_region_threshold(stargan_run, tmp_path):
    """model.region_threshold set at export is the loaded editor's default for named regions; an export
    without it has the paper's 0.9."""
    assert fashionlab.load(stargan_run / "export").region_threshold == 0.9
    path = export_checkpoint(stargan_run, out=tmp_path / "t04", overrides=["model.region_threshold=0.4"])
    assert read_export(path)[0]["config"]["region_threshold"] == 0.4
    assert fashionlab.load(path).region_threshold == 0.4


def test_an_export_override_changes_the_model_and_is_recorded(stargan_run, tmp_path):
    from fashionlab.models.editing.lowpass import gaussian_blur

    path = export_checkpoint(stargan_run, out=tmp_path / "blurred", overrides=["model.generator.content_blur=1.0"])
    meta, states = read_export(path)
    _, end_states = read_export(stargan_run / "export")
    assert all(torch.equal(states["G"][k], v) for k, v in end_states["G"].items())  # the same weights
    assert meta["config"]["generator"]["content_blur"] == 1.0
    assert meta["provenance"]["export_overrides"] == ["model.generator.content_blur=1.0"]
    assert "export_overrides" not in read_export(stargan_run / "export")[0]["provenance"]
    # StarGAN's output is the content head's image: the blurred export gives the sharp one's, blurred
    sharp, blurred = fashionlab.load(stargan_run / "export"), fashionlab.load(path)
    x = torch.rand(2, 3, *sharp.preprocess.size) * 2 - 1
    targets = torch.zeros(2, len(sharp.space.sizes), dtype=torch.long)
    changed = torch.zeros(2, dtype=torch.long)
    with torch.no_grad():
        a, _ = sharp.generate(x, targets, changed)
        b, _ = blurred.generate(x, targets, changed)
    assert torch.allclose(b, gaussian_blur(a, 1.0), atol=1e-5)
