"""The engine with several networks: a toy two-discriminator GAN (tests/helpers/toy_gan.py) through the
real Trainer. Frozen networks stay frozen, EMA copies are sampled and exported, per-network optimizers
each have a schedule, task state is checkpointed, Ctrl-C + --resume is bit-identical, both precisions
work, and under torchrun: per-rank seeds, a shared stop flag, identical weights, scalars averaged over
ranks, and a gradient penalty whose DDP gradients match one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fashionlab.config import resolve_config
from fashionlab.engine.checkpoint import find_checkpoint, load_checkpoint
from fashionlab.engine.export import export_tensor_hash, read_export
from fashionlab.engine.logger import ScalarMeans, read_stats
from fashionlab.engine.task import StepContext
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import InputError
from fashionlab.models import MODELS, build_task
from fashionlab.models.registry import load
from fashionlab.synth.generate import SynthConfig, generate_dataset

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from toy_gan import ToyGanConfig, ToyGanTask  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).parent / "torchrun"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny SynthFashion dataset and a tiny trained attribute network (the frozen helper)."""
    base = tmp_path_factory.mktemp("gan")
    data = generate_dataset(base / "sf", SynthConfig(n=40, size=(64, 64), seed=3, workers=1), progress=False)
    cfg = resolve_config(
        MODELS.get("attrnet").config,
        model="attrnet",
        preset="tiny",
        overrides=[f"data={data}", f"train.out={base / 'runs'}", "train.steps=3", "train.ckpt_every=0"],
    )
    run = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False).fit()
    return {"base": base, "data": data, "frozen": run / "export"}


def toy_cfg(world, out, *overrides):
    return resolve_config(
        ToyGanConfig,
        model="toygan",
        overrides=[f"data={world['data']}", f"frozen={world['frozen']}", f"train.out={out}", *overrides],
    )


def run_toy(cfg, resume=None, patch=None):
    from fashionlab.engine.trainer import seed_everything

    seed_everything(cfg.train.seed)
    task = ToyGanTask(cfg)
    if patch:
        patch(task)
    trainer = Trainer(task, cfg, train=cfg.train, resume=resume, progress=False)
    return task, trainer


def test_frozen_network_ema_optimizers_and_export(world, tmp_path):
    cfg = toy_cfg(world, tmp_path, "train.steps=6", "train.ckpt_every=4")
    task, trainer = run_toy(cfg)
    before = {k: v.clone() for k, v in task.frozen["classifier"].state_dict().items()}
    assert any("running_mean" in k for k in before)  # BatchNorm inside: its statistics must not drift
    seen = []
    original_sample = task.sample
    task.sample = lambda step, run_dir, logger, nets: (seen.append(nets), original_sample(step, run_dir, logger, nets))
    run = trainer.fit()

    clf = task.frozen["classifier"]
    assert not clf.training and not any(p.requires_grad for p in clf.parameters())
    clf.train()  # a task (or a parent) calling .train() cannot unfreeze it
    assert not clf.training
    for k, v in clf.state_dict().items():
        assert torch.equal(v, before[k]), k
    _, shipped = read_export(world["frozen"])
    for k, v in clf.state_dict().items():
        assert torch.equal(v, shipped["model"][k]), k

    ck = load_checkpoint(find_checkpoint(run))
    assert set(ck["nets"]) == {"G", "D_image", "D_crop"} and set(ck["ema"]) == {"G"}
    assert set(ck["optimizers"]) == {"G", "D"} and set(ck["schedulers"]) == {"G", "D"}
    assert ck["frozen"]["classifier"]["tensor_sha256"] == export_tensor_hash(world["frozen"])
    assert ck["frozen"]["classifier"]["path"] == str(world["frozen"].resolve())
    assert ck["step"] == 6 and ck["task"][0]["g_steps"] == 3  # steps are iterations; G every n_critic=2
    assert ck["batches_drawn"] == 6 + 3  # a fresh batch for every critic and every generator update
    assert len(ck["task"][0]["pool"]) == cfg.pool_size
    run_meta = json.loads((run / "run.json").read_text())
    assert run_meta["sessions"][0]["frozen"]["classifier"] == ck["frozen"]["classifier"]

    # samples (step 3 and step 6) and the export come from the EMA copy, not the trained G
    assert len(seen) == 2 and all(nets["G"] is trainer.ema["G"].module for nets in seen)
    assert len(list((run / "samples").glob("*.png"))) == 2
    _, exported = read_export(run / "export")
    for k, v in ck["ema"]["G"].items():
        assert torch.equal(exported["G"][k], v), k
    assert any(not torch.equal(ck["ema"]["G"][k], ck["nets"]["G"][k]) for k in ck["nets"]["G"])

    # one lr per optimizer, each on its own schedule (constant half the run, then linear to 0)
    rows = read_stats(run)
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert rows[0]["lr/G"] == pytest.approx(2e-3) and rows[0]["lr/D"] == pytest.approx(1e-3)
    assert rows[-1]["lr/G"] == pytest.approx(0.0) and rows[1]["lr/D"] == pytest.approx(1e-3 * (1 - 1 / 3))
    assert all("images_per_s" in r and "it_per_s" in r for r in rows)
    assert "perceptual" in rows[0] and "image/gp" in rows[0]


def test_interrupt_and_resume_is_bit_identical(world, tmp_path):
    """Ctrl-C at step 3 then --resume == uninterrupted: every network, EMA copy, optimizer and the task's
    image pool and counters, bit for bit."""
    cfg = toy_cfg(world, tmp_path / "a", "train.steps=7")
    _, full = run_toy(cfg)
    full.fit()
    full_state = load_checkpoint(find_checkpoint(full.run_dir))

    cfg_b = toy_cfg(world, tmp_path / "b", "train.steps=7", "interrupt_rank=0", "interrupt_step=2")
    _, part = run_toy(cfg_b)
    with pytest.raises(SystemExit) as e:
        part.fit()
    assert e.value.code == 130
    assert load_checkpoint(find_checkpoint(part.run_dir))["step"] == 3
    cfg_c = toy_cfg(world, tmp_path / "b", "train.steps=7")  # (the interrupt is the user's, not the config's)
    _, resumed = run_toy(cfg_c, resume=part.run_dir)
    resumed.fit()
    state = load_checkpoint(find_checkpoint(part.run_dir))
    assert state["step"] == 7 and state["batches_drawn"] == full_state["batches_drawn"]
    for group in ("nets", "ema"):
        for net, sd in full_state[group].items():
            for k, v in sd.items():
                assert torch.equal(state[group][net][k], v), (group, net, k)
    for name, opt in full_state["optimizers"].items():
        for pid, s in opt["state"].items():
            for k, v in s.items():
                assert torch.equal(torch.as_tensor(state["optimizers"][name]["state"][pid][k]), torch.as_tensor(v))
    assert torch.equal(state["task"][0]["pool"], full_state["task"][0]["pool"])
    assert state["task"][0]["g_steps"] == full_state["task"][0]["g_steps"]
    assert torch.equal(state["rng"][0]["torch"], full_state["rng"][0]["torch"])


def test_resume_refuses_a_changed_frozen_network(world, tmp_path):
    import shutil

    frozen = tmp_path / "frozen"
    shutil.copytree(world["frozen"], frozen)
    cfg = toy_cfg(world, tmp_path, "train.steps=2", f"frozen={frozen}")
    _, trainer = run_toy(cfg)
    run = trainer.fit()
    weights = frozen / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x00")  # another network now
    cfg2 = toy_cfg(world, tmp_path, "train.steps=4", f"frozen={frozen}")
    with pytest.raises(InputError, match="frozen network 'classifier'"):
        run_toy(cfg2, resume=run)


def test_resume_accepts_an_fp16_copy_of_the_frozen_network_with_a_warning(world, tmp_path):
    import shutil

    from fashionlab.engine.export import convert_export

    frozen = tmp_path / "frozen"
    shutil.copytree(world["frozen"], frozen)
    cfg = toy_cfg(world, tmp_path, "train.steps=2", f"frozen={frozen}")
    run = run_toy(cfg)[1].fit()
    convert_export(frozen, "fp16")  # the same network, its values rounded to fp16
    cfg2 = toy_cfg(world, tmp_path, "train.steps=3", f"frozen={frozen}")
    with pytest.warns(UserWarning, match="now stored in fp16"):
        _, trainer = run_toy(cfg2, resume=run)
    assert trainer.fit() == run


def test_both_precisions_train(world, tmp_path):
    rows = {}
    for precision in ("fp32", "bf16"):
        cfg = toy_cfg(world, tmp_path / precision, "train.steps=4", f"train.precision={precision}", "gp_precision=fp32")
        _, trainer = run_toy(cfg)
        rows[precision] = read_stats(trainer.fit())
    fp32, bf16 = rows["fp32"], rows["bf16"]
    assert [r["step"] for r in fp32] == [r["step"] for r in bf16] == [2, 4]
    # the same run within bf16's rounding (the penalty is computed in fp32), yet not the fp32 run itself
    for a, b in zip(fp32, bf16, strict=True):
        assert b["d_loss"] == pytest.approx(a["d_loss"], rel=1e-3) and b["g_loss"] == pytest.approx(
            a["g_loss"], abs=2e-3
        )
    assert [r["g_loss"] for r in fp32] != [r["g_loss"] for r in bf16]


def test_autocast_factory():
    ctx = StepContext(next_batch=dict, precision="bf16", dist=_cpu(), batch_per_process=1, steps=1)
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    with ctx.autocast():
        assert conv(x).dtype == torch.bfloat16
        with ctx.autocast("fp32"):  # a phase forced to fp32 inside a bf16 region
            assert conv(x).dtype == torch.float32
    ctx32 = StepContext(next_batch=dict, precision="fp32", dist=_cpu(), batch_per_process=1, steps=1)
    with ctx32.autocast():
        assert conv(x).dtype == torch.float32
    with pytest.raises(InputError, match="precision"):
        ctx.autocast("fp16")


def _cpu():
    from fashionlab.engine.distributed import DistInfo

    return DistInfo()


def test_scalar_means_average_over_the_interval():
    m = ScalarMeans()
    m.add({"a": torch.tensor(1.0), "b": 4.0})
    m.add({"a": torch.tensor(3.0)})  # "b" only on some steps (a G loss every n_critic steps)
    assert m.means() == {"a": 2.0, "b": 4.0}
    assert m.means() == {}  # reset after each interval


# ---------------------------------------------------------------- several processes (torchrun, gloo)

needs_torchrun = pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun not installed")


def torchrun(*args, env_extra=None, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@needs_torchrun
def test_two_processes_stop_together_and_resume_exactly(world, tmp_path):
    """Per-rank seeds differ; weights stay identical across ranks; logged scalars are means over ranks;
    SIGINT delivered to rank 1 alone stops both ranks at the same step with one checkpoint holding both
    ranks' RNG states; resuming under torchrun ends bit-identical to an uninterrupted 2-process run."""
    script = ROOT / "tests" / "helpers" / "toy_gan.py"
    fresh = generate_dataset(tmp_path / "sf", SynthConfig(n=40, size=(64, 64), seed=5, workers=1), progress=False)
    common = [fresh, world["frozen"]]  # a fresh (unpacked) dataset: rank 0 packs it before rank 1 opens it

    r = torchrun(script, *common, tmp_path / "full", "train.steps=6")
    assert r.returncode == 0, r.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / "full" / f"rank-{k}.pt") for k in (0, 1))
    assert not torch.equal(r0["first_codes"], r1["first_codes"])  # per-rank training randomness
    assert r0["np_draw"] != r1["np_draw"]
    for net in r0["nets"]:
        for k, v in r0["nets"][net].items():
            assert torch.equal(v, r1["nets"][net][k]), (net, k)  # DDP kept the replicas identical
    runs = list((tmp_path / "full" / "toygan").iterdir())
    assert len(runs) == 1
    rows = read_stats(runs[0])
    assert all(row["rank"] == pytest.approx(0.5) for row in rows)  # mean over ranks 0 and 1
    full_ck = load_checkpoint(find_checkpoint(runs[0]))
    assert len(full_ck["rng"]) == 2

    r = torchrun(script, *common, tmp_path / "part", "train.steps=6", "interrupt_rank=1", "interrupt_step=2")
    assert r.returncode != 0  # both ranks exit 130
    p0, p1 = (torch.load(tmp_path / "part" / f"rank-{k}.pt") for k in (0, 1))
    assert p0["step"] == p1["step"] == 3
    run = Path(p0["run_dir"])
    assert load_checkpoint(find_checkpoint(run))["step"] == 3
    r = torchrun(script, *common, tmp_path / "part", "train.steps=6", env_extra={"TOYGAN_RESUME": str(run)})
    assert r.returncode == 0, r.stderr[-3000:]
    state = load_checkpoint(find_checkpoint(run))
    assert state["step"] == 6
    for group in ("nets", "ema"):
        for net, sd in full_ck[group].items():
            for k, v in sd.items():
                assert torch.equal(state[group][net][k], v), (group, net, k)
    assert len(state["task"]) == 2  # each rank's own pool of fakes
    for rank in (0, 1):
        assert torch.equal(state["task"][rank]["pool"], full_ck["task"][rank]["pool"])


@needs_torchrun
def test_gradient_penalty_under_ddp_matches_one_process(tmp_path):
    script = ROOT / "tests" / "helpers" / "ddp_grads.py"
    r = torchrun(script, tmp_path / "ddp.pt", "gan")
    assert r.returncode == 0, r.stderr[-3000:]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "one.pt"), "gan"], capture_output=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ddp, one = torch.load(tmp_path / "ddp.pt"), torch.load(tmp_path / "one.pt")
    assert ddp.keys() == one.keys() and len(one) >= 10
    for k in one:
        assert torch.allclose(ddp[k], one[k], rtol=1e-4, atol=1e-6), k
    assert any(k.startswith("D_crop") for k in one)
    # every weight gets a gradient (the heads' biases cancel in mean(fake) - mean(real) and the penalty)
    assert all(v.abs().sum() > 0 for k, v in one.items() if k.endswith("weight"))


def test_load_refuses_an_unknown_kind(world, tmp_path):
    cfg = toy_cfg(world, tmp_path, "train.steps=2")
    _, trainer = run_toy(cfg)
    run = trainer.fit()
    with pytest.raises(InputError, match="toygan"):
        load(run)


def test_the_ema_moves_after_generator_steps_only(world, tmp_path, monkeypatch):
    """With n_critic 2, six iterations hold three generator steps: the EMA of G moves three times (as
    stargan-v2 updates it after each generator step), not six."""
    from types import SimpleNamespace

    from fashionlab.engine.schedule import EMA
    from fashionlab.models.editing.task import EditGanTask

    assert [EditGanTask.ema_due(SimpleNamespace(cfg=SimpleNamespace(n_critic=3)), s) for s in range(6)] == [
        False, False, True, False, False, True,
    ]  # fmt: skip
    moves = []
    original = EMA.update
    monkeypatch.setattr(
        EMA, "update", lambda self, module, step=None: (moves.append(step), original(self, module, step))
    )

    def generator_steps_only(task):
        task.ema_due = lambda step: (step + 1) % 2 == 0

    cfg = toy_cfg(world, tmp_path, "train.steps=6", "train.ckpt_every=0")
    _, trainer = run_toy(cfg, patch=generator_steps_only)
    trainer.fit()
    assert moves == [2, 4, 6]
