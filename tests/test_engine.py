"""The training engine: exact resume, atomic checkpoints, DDP agreement, export round trip, registries."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import signal_after_step

import fashionlab
from fashionlab.config import resolve_config
from fashionlab.engine.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from fashionlab.engine.logger import read_stats
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import InputError
from fashionlab.models import MODELS, build_task
from fashionlab.models.attrnet import AttrNet, AttrNetModelConfig, LossWeights, attrnet_losses
from fashionlab.models.backbones import BACKBONES
from fashionlab.synth.generate import SynthConfig, generate_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return generate_dataset(
        tmp_path_factory.mktemp("d") / "sf", SynthConfig(n=48, size=(64, 64), seed=2, workers=1), progress=False
    )


def tiny_cfg(data, out, *extra):
    return resolve_config(
        MODELS.get("attrnet").config,
        model="attrnet",
        preset="tiny",
        overrides=[f"data={data}", f"train.out={out}", *extra],
    )


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(find_checkpoint(run_dir))["nets"]["model"]


def test_resume_continues_exactly(tiny_data, tmp_path, monkeypatch):
    """Interrupted (Ctrl-C at step 3) and resumed == uninterrupted, bit for bit, on CPU."""
    cfg = tiny_cfg(tiny_data, tmp_path / "a", "train.ckpt_every=0")
    full = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False).fit()

    cfg_b = tiny_cfg(tiny_data, tmp_path / "b", "train.ckpt_every=0")
    task = build_task("attrnet", cfg_b)
    signal_after_step(monkeypatch, task, 2)  # the third step: a user presses Ctrl-C
    with pytest.raises(SystemExit) as e:
        Trainer(task, cfg_b, train=cfg_b.train, progress=False).fit()
    assert e.value.code == 130
    run_b = next((tmp_path / "b" / "attrnet").iterdir())
    assert load_checkpoint(find_checkpoint(run_b))["step"] == 3
    assert not (run_b / "export").exists()
    resumed = Trainer(build_task("attrnet", cfg_b), cfg_b, train=cfg_b.train, resume=run_b, progress=False).fit()
    assert resumed == run_b
    wa, wb = final_weights(full), final_weights(resumed)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    # logs continue in the same run folder: every log_every=2 steps, the interval cut short at step 3, and the
    # final validation row; the rows of whole intervals and the validation equal the uninterrupted run's
    full_rows, rows = read_stats(full), read_stats(run_b)
    assert [r["step"] for r in full_rows] == [2, 4, 6, 6] and [r["step"] for r in rows] == [2, 3, 4, 6, 6]
    assert rows[0]["loss"] == full_rows[0]["loss"] and rows[3]["loss"] == full_rows[2]["loss"]
    assert {k: v for k, v in rows[-1].items() if k != "time"} == {k: v for k, v in full_rows[-1].items() if k != "time"}


def test_sigterm_stops_like_ctrl_c(tiny_data, tmp_path, monkeypatch):
    """SIGTERM (a scheduler or torchrun ending the job) checkpoints and exits 130, logging the last steps."""
    cfg = tiny_cfg(tiny_data, tmp_path, "train.ckpt_every=0", "train.log_every=4")
    task = build_task("attrnet", cfg)
    signal_after_step(monkeypatch, task, 1, signal.SIGTERM)
    with pytest.raises(SystemExit) as e:
        Trainer(task, cfg, train=cfg.train, progress=False).fit()
    assert e.value.code == 130
    run = next((tmp_path / "attrnet").iterdir())
    assert load_checkpoint(find_checkpoint(run))["step"] == 2
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2] and "loss" in rows[0]  # the partial interval is not lost
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is handed back


def test_run_folders_are_never_overwritten(tiny_data, tmp_path):
    cfg = tiny_cfg(tiny_data, tmp_path, "train.steps=2", "train.ckpt_every=0")
    a = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False).fit()
    b = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False).fit()
    assert a != b and a.name == "run-001" and b.name == "run-002"
    for run in (a, b):
        for name in ("config.json", "run.json", "stats.jsonl", "export/config.json", "export/model.safetensors"):
            assert (run / name).is_file(), name
        assert list((run / "tb").glob("events.*"))


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    state = {"model": "x", "step": 1, "w": torch.arange(10.0)}
    save_checkpoint(tmp_path, 1, state)

    def torn_save(obj, f, *a, **k):  # a kill in the middle of writing: half a file, then death
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 2, {**state, "step": 2})
    monkeypatch.undo()
    ck = find_checkpoint(tmp_path)
    assert ck.name == "step-0000001.pt" and load_checkpoint(ck)["step"] == 1


def test_checkpoint_survives_sigkill(tmp_path):
    """A process killed (SIGKILL) while writing checkpoints in a loop always leaves a loadable latest."""
    code = (
        "import torch, sys; from fashionlab.engine.checkpoint import save_checkpoint\n"
        "big = torch.randn(4_000_000, generator=torch.Generator().manual_seed(0))\n"
        "for i in range(1, 10_000):\n"
        "    save_checkpoint(sys.argv[1], i, {'model': 'x', 'step': i, 'w': big + i}, keep=2)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_path / "checkpoints" / "step-0000002.pt").exists():
        time.sleep(0.05)
    time.sleep(0.37)
    p.send_signal(signal.SIGKILL)
    p.wait()
    ck = find_checkpoint(tmp_path)
    st = load_checkpoint(ck)
    big = torch.randn(4_000_000, generator=torch.Generator().manual_seed(0))
    assert st["step"] >= 2  # step 2 had been written (and renamed into place) before the kill
    assert torch.equal(st["w"], big + st["step"])  # the whole tensor, exactly what that step wrote


def test_corrupt_checkpoint_is_reported(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(InputError, match="no such"):
        find_checkpoint(tmp_path / "nowhere")


def test_export_round_trip(tiny_data, tmp_path):
    cfg = tiny_cfg(tiny_data, tmp_path, "train.steps=2", "train.ckpt_every=0", "train.sample_every=1")
    trainer = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False)
    run = trainer.fit()
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    sampled = [s["step"] for s in stats if any(k.startswith("val_acc/") for k in s)]
    assert sampled == [1, 2]  # each step sampled once (the final sample is not repeated)
    net = trainer.inference_nets()["model"].eval()
    loaded = fashionlab.load(run)  # a run folder works as well as its export/
    assert isinstance(loaded, AttrNet) and not loaded.training
    assert loaded.preprocess.size == (64, 64) and loaded.preprocess.resize == cfg.resize
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        for p, q in zip(net.predict(x), loaded.predict(x), strict=True):
            assert torch.allclose(p, q)
    text = (run / "export" / "config.json").read_text()
    assert '"kind": "attrnet"' in text
    with pytest.raises(InputError, match="export"):
        fashionlab.load(tmp_path)


def test_load_in_a_fresh_interpreter():
    """`import fashionlab; fashionlab.load(path)` alone must find the model's loader (no other imports)."""
    shipped = ROOT / "src" / "fashionlab" / "assets" / "attrnet-synth128"
    code = f"import fashionlab; m = fashionlab.load({str(shipped)!r}); print(type(m).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "AttrNet"


@pytest.mark.parametrize("backbone", BACKBONES.names())
def test_forward_backward_every_backbone(backbone):
    attrs = [("sleeve", ["a", "b", "c"]), ("color", ["r", "g"])]
    cfg = AttrNetModelConfig(
        backbone=backbone,
        width=0.125,
        output_stride=8,
        conv67_channels=16,
        roi_size=2,
        fc_dim=16,
        rep_dim=8,
        global_dim=8,
    )
    net = AttrNet(attrs, cfg, region_attributes=[("sleeves.color", ["r", "g"])])
    x = torch.randn(4, 3, 64, 64, requires_grad=True)
    y = torch.tensor([[0, 1], [1, 0], [2, -1], [0, 1]])
    out = net(x)
    assert out.region_reps.shape == (4, 1, 8) and out.region_boxes.shape == (4, 1, 4)
    assert [lg.shape for lg in out.logits] == [(4, 3), (4, 2)]
    assert out.reps.shape == (4, 2, 8) and out.global_rep.shape == (4, 8)
    assert out.boxes.shape == (4, 2, 4) and (out.boxes[..., 2] > out.boxes[..., 0]).all()
    loss, scalars = attrnet_losses(out, y, LossWeights(), region_labels=torch.tensor([[1], [0], [-1], [1]]))
    assert "region_cls" in scalars
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    for name in ("sleeve", "sleeves.color"):
        cam = net.cam(x.detach(), name).detach()
        assert cam.shape == (4, 64, 64) and float(cam.min()) >= 0 and float(cam.max()) <= 1
    assert net.features(x.detach(), "pooled").shape == (4, 16)


@pytest.mark.skipif(
    shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
    reason="torchrun not installed",
)
def test_torchrun_two_processes_match_single_process(tmp_path):
    torchrun = str(Path(sys.executable).parent / "torchrun")
    script = str(ROOT / "tests" / "helpers" / "ddp_grads.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", script, str(tmp_path / "ddp.pt")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run(
        [sys.executable, script, str(tmp_path / "one.pt")], capture_output=True, text=True, timeout=300, env=env
    )
    assert r.returncode == 0, r.stderr[-3000:]
    ddp, one = torch.load(tmp_path / "ddp.pt"), torch.load(tmp_path / "one.pt")
    assert ddp.keys() == one.keys() and len(one) > 10
    for k in one:
        assert torch.allclose(ddp[k], one[k], rtol=1e-4, atol=1e-6), k


@pytest.mark.skipif(not (Path(sys.executable).parent / "torchrun").exists(), reason="torchrun not installed")
def test_trainer_under_torchrun_writes_one_run(tiny_data, tmp_path):
    """The real `fashionlab train` under torchrun with 2 CPU processes: one run folder, written by rank 0."""
    torchrun = str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "fashionlab",
            "train",
            "attrnet",
            "--preset",
            "tiny",
            "--data",
            str(tiny_data),
            "--out",
            str(tmp_path),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    runs = list((tmp_path / "attrnet").iterdir())
    assert len(runs) == 1
    run = runs[0]
    meta = json.loads((run / "run.json").read_text())
    assert meta["sessions"][0]["world_size"] == 2
    assert (run / "export" / "model.safetensors").is_file()
    assert load_checkpoint(find_checkpoint(run))["step"] == 6


def test_ema_tracks_the_weights():
    from fashionlab.engine.schedule import EMA, constant_then_linear

    net = torch.nn.Linear(3, 2)
    ema = EMA(net, decay=0.5)
    with torch.no_grad():
        net.weight.add_(1.0)
    before = ema.module.weight.clone()
    ema.update(net)
    assert torch.allclose(ema.module.weight, 0.5 * before + 0.5 * net.weight)
    f = constant_then_linear(100, 0.5, 0.0)
    assert f(0) == 1.0 and f(49) == 1.0 and abs(f(75) - 0.5) < 1e-9 and f(100) == 0.0
