"""The training loop every fashionlab model uses.

A model plugs in as a :class:`~fashionlab.engine.task.Task`; the :class:`Trainer` does the rest:

- a step-based loop (``train.steps`` iterations, each one :meth:`Task.train_step` call) over an infinite
  sharded sampler; a step may draw several batches, and the number drawn is part of the checkpoint;
- one optimizer and one lr schedule per entry of :meth:`Task.optimizer_settings`, EMA copies (with a
  warm-up) of :meth:`Task.ema_nets`, used for samples and the export;
- frozen helper networks kept in eval mode, out of optimizers, EMA, DDP and checkpoints;
- bf16 autocast or fp32 through the step context's autocast factory;
- DDP through torchrun: per-rank seeds for the training randomness, the networks the task names wrapped
  (``broadcast_buffers=False``; buffers synchronised before checkpoints, samples and export), the
  packed cache built by rank 0 first, a stop flag shared by all ranks, the process group torn down;
- run folders never overwritten, ``config.json`` / ``run.json`` / ``stats.jsonl`` / TensorBoard, each
  logged scalar the mean over the logging interval and the processes, the lr of every optimizer, images/s;
- atomic full-state checkpoints (nets, EMA, optimizers, schedules, task state, step, batches drawn, the RNG
  states of every rank) and exact ``--resume``; Ctrl-C or SIGTERM on any rank checkpoints and exits 130.
"""

from __future__ import annotations

import json
import platform
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..config import to_dict
from ..errors import InputError
from ..fileio import atomic_write_text
from . import distributed
from .checkpoint import find_checkpoint, load_checkpoint, preserved_rng, rng_state, save_checkpoint, set_rng_state
from .export import WEIGHTS_FILE, add_provenance, converted_from
from .logger import RunLogger, ScalarMeans
from .provenance import build_provenance, split_commit
from .runs import git_commit, next_free_dir
from .schedule import EMA, constant_then_linear
from .task import StepContext, Task, crop_optimizer_state, make_optimizer
from .tensors import file_sha256

CHECKPOINT_FORMAT = 2


@dataclass
class TrainConfig:
    """Options of the training loop, shared by every model (``train.*`` in presets and overrides).
    Optimizer settings are per network, in each model's own config (``optim...``)."""

    steps: int = 2000  # iterations: calls of the task's train_step (a GAN's D update, with G every n_critic)
    batch_size: int = 64  # GLOBAL batch of one draw over all processes; per process = batch_size // world_size
    ema: float = 0.0  # EMA decay of the task's ema_nets (0: off); samples and export use the EMA copies
    ema_warmup: int = 0  # steps over which the EMA decay ramps linearly from 0 to `ema`
    precision: str = "bf16"  # "bf16" autocast (CPU and GPU) or "fp32" reference path
    device: str = "auto"  # "auto", "cpu" or "cuda"
    seed: int = 0  # seeds the weights (same on every rank) and, offset per rank, the training randomness
    num_workers: int = 0  # DataLoader worker processes
    log_every: int = 25  # steps between stats.jsonl / TensorBoard rows (means over these steps)
    sample_every: int = 500  # steps between sample images / plots (0: never)
    ckpt_every: int = 500  # steps between checkpoints (one is always written at the end)
    keep_checkpoints: int = 2  # how many checkpoints to keep
    out: str = "runs"  # parent folder of run folders


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) from one integer."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def check_frozen_sources(task: Task, saved: dict[str, Any], ckpt: Path) -> None:
    """Each frozen network must be the one the run was trained with: the same tensor hash (or, in a
    checkpoint from before tensor hashes, the same weights file). An fp16 conversion of that very
    network is accepted with a warning (values rounded to fp16: the run goes on, not bit for bit).
    ``saved``: the checkpoint's ``frozen`` block; an InputError naming ``ckpt`` for another network."""
    for name, src in task.frozen_sources.items():
        old = saved.get(name)
        if old is None:
            continue
        if "tensor_sha256" in old:
            key, was, now = "tensor_sha256", old["tensor_sha256"], src["tensor_sha256"]
        else:
            key, was = "file_sha256", old["sha256"]
            now = file_sha256(Path(src["path"]) / WEIGHTS_FILE)
        if now == was:
            continue
        if converted_from(src["path"]).get(key) == was:
            warnings.warn(
                f"the frozen network {name!r} ({src['path']}) is now stored in fp16, converted from the one this "
                "run was trained with: training continues with its values rounded to fp16 (not bit for bit)",
                stacklevel=3,
            )
            continue
        raise InputError(
            f"the frozen network {name!r} is not the one this run was trained with: {src['path']} has "
            f"{key} {now[:12]}..., the run used {old['path']} ({was[:12]}...)",
            path=ckpt,
        )


def load_nets(task: Task, saved: dict[str, Any], ckpt: Path) -> None:
    """Load a checkpoint's ``nets`` (``saved``: {name: state_dict}) into ``task.nets``; an InputError naming
    ``ckpt`` when the networks or their shapes differ from the task's (its config's architecture)."""
    if set(saved) != set(task.nets):
        raise InputError(f"checkpoint has networks {sorted(saved)}, this model {sorted(task.nets)}", path=ckpt)
    for k, net in task.nets.items():
        try:
            net.load_state_dict(saved[k])
        except RuntimeError as e:
            first = str(e).strip().splitlines()[-1].strip()[:300]
            raise InputError(
                f"network {k!r} of the checkpoint does not fit this config ({first}); "
                "architecture settings cannot change when resuming",
                path=ckpt,
            ) from None


class Trainer:
    """Runs a :class:`Task` to ``train.steps``; see the module docstring."""

    def __init__(
        self,
        task: Task,
        config: Any,
        *,
        train: TrainConfig,
        resume: str | Path | None = None,
        run_dir: str | Path | None = None,
        progress: bool = True,
        argv: list[str] | None = None,
        overrides: list[str] | None = None,
    ):
        self.task, self.config, self.train = task, config, train
        self.dist = distributed.setup(train.device)
        if train.batch_size % self.dist.world_size:
            raise InputError(
                f"train.batch_size={train.batch_size} must be divisible by the {self.dist.world_size} processes",
                field="train.batch_size",
            )
        if train.precision not in ("bf16", "fp32"):
            raise InputError(f"train.precision must be bf16 or fp32, got {train.precision!r}", field="train.precision")
        self.batch_per_process = train.batch_size // self.dist.world_size
        self.progress = progress and self.dist.is_main
        self.step = 0
        self.batches_drawn = 0
        self._stop_requested = False
        self.resume_state: dict[str, Any] | None = None
        if resume is not None:
            ckpt = find_checkpoint(resume)
            self.resume_state = load_checkpoint(ckpt)
            if self.resume_state.get("model") != task.name:
                raise InputError(
                    f"checkpoint is of model {self.resume_state.get('model')!r}, not {task.name!r}", path=ckpt
                )
            self._check_frozen_sources(ckpt)
            self._load_nets(ckpt)  # before anything is written: a resume that cannot work changes nothing
            self.run_dir = ckpt.parent.parent
        elif run_dir is not None:
            self.run_dir = Path(run_dir)
        else:
            self.run_dir = None
        if self.dist.is_main:
            if self.run_dir is None:
                self.run_dir = next_free_dir(Path(train.out) / task.name, "run")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._write_run_files(argv, overrides)
        self.logger = RunLogger(self.run_dir, enabled=True) if self.dist.is_main else RunLogger(Path("."), False)

    # ------------------------------------------------------------------ setup
    def _check_frozen_sources(self, ckpt: Path) -> None:
        check_frozen_sources(self.task, self.resume_state.get("frozen", {}), ckpt)

    def _load_nets(self, ckpt: Path) -> None:
        load_nets(self.task, self.resume_state["nets"], ckpt)

    def _write_run_files(self, argv: list[str] | None, overrides: list[str] | None) -> None:
        """config.json (the current resolved config) and a new session in run.json. When a resumed run
        is given overrides, config.json is updated and the session records what changed."""
        cfg_path = self.run_dir / "config.json"
        new = {"model": self.task.name, "config": to_dict(self.config)}
        old = json.loads(cfg_path.read_text()) if cfg_path.exists() else None
        changes = _diff(old["config"], new["config"]) if old else {}
        if old != new:
            atomic_write_text(cfg_path, json.dumps(new, indent=2))
        meta_path = self.run_dir / "run.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"sessions": []}
        commit = git_commit(Path(__file__).resolve().parent)
        if split_commit(commit)[1]:
            warnings.warn(
                f"the work tree has uncommitted changes to tracked files: this run records commit "
                f"{split_commit(commit)[0][:12]} with dirty: true (commit first for a reproducible run)",
                stacklevel=3,
            )
        meta["sessions"].append(
            {
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "git_commit": commit,
                "argv": argv or sys.argv,
                "overrides": list(overrides or []),
                "config_changes": changes,
                "torch": torch.__version__,
                "python": platform.python_version(),
                "world_size": self.dist.world_size,
                "device": str(self.dist.device),
                "frozen": self.task.frozen_sources,
                "resumed_from_step": (self.resume_state or {}).get("step"),
            }
        )
        atomic_write_text(meta_path, json.dumps(meta, indent=2))

    def provenance(self) -> dict[str, Any]:
        """The export's ``provenance`` block (:func:`.provenance.build_provenance`) from run.json's sessions."""
        sessions = json.loads((self.run_dir / "run.json").read_text())["sessions"]
        return build_provenance(
            sessions, steps=self.step, seed=self.train.seed, data=getattr(self.config, "data", None)
        )

    def _build(self) -> None:
        task, train, info = self.task, self.train, self.dist
        for net in task.nets.values():
            net.to(info.device)
        for net in task.frozen.values():
            net.to(info.device)
        self.optimizers, self.schedulers = {}, {}
        for name, (params, ocfg) in task.optimizer_settings().items():
            opt = make_optimizer(params, ocfg)
            self.optimizers[name] = opt
            factor = constant_then_linear(train.steps, ocfg.lr_decay_start, ocfg.lr_final)
            self.schedulers[name] = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        task.optimizers = self.optimizers
        self.ema = {k: EMA(task.nets[k], train.ema, train.ema_warmup) for k in task.ema_nets()} if train.ema else {}
        rng_states = None
        if self.resume_state is not None:
            st = self.resume_state  # (the networks' weights were loaded in __init__)
            for k, o in self.optimizers.items():
                o.load_state_dict(st["optimizers"][k])
                crop_optimizer_state(o)
            for k, s in self.schedulers.items():
                s.load_state_dict(st["schedulers"][k])
            for k, e in self.ema.items():
                e.load_state_dict(st["ema"][k])
            self.step = int(st["step"])
            self.batches_drawn = int(st.get("batches_drawn", self.step))
            rng_states = st["rng"] if isinstance(st["rng"], list) else [st["rng"]]
            task_states = st.get("task", [{}])
            task.load_state_dict(task_states[info.rank if len(task_states) == info.world_size else 0])
            if len(rng_states) != info.world_size:
                warnings.warn(
                    f"resuming a {len(rng_states)}-process run with {info.world_size} processes: the data order and "
                    "random draws continue, but not bit-for-bit as the original run would have",
                    stacklevel=2,
                )
                rng_states = None
        task.ddp = {
            k: (distributed.wrap(net, info, **task.ddp_options()) if info.enabled and k in task.ddp_nets() else net)
            for k, net in task.nets.items()
        }
        from ..data.loader import make_loader

        self.loader = make_loader(
            task.train_dataset(),
            self.batch_per_process,
            seed=train.seed,
            rank=info.rank,
            world_size=info.world_size,
            num_workers=train.num_workers,
            start_sample=self.batches_drawn * self.batch_per_process,
        )
        # last: nothing above may consume randomness after it. The weights were initialised from
        # train.seed identically on every rank; training randomness gets a stream of its own per rank.
        if rng_states is not None:
            set_rng_state(rng_states[info.rank])
        else:
            seed_everything(distributed.rank_seed(train.seed, info.rank) + self.step)

    def state(self) -> dict[str, Any]:
        """The full training state (every rank must call it: each rank's RNG states and task state, such as
        its own pool of fakes, are gathered)."""
        rng = distributed.all_gather_objects(rng_state(), self.dist)
        task_states = distributed.all_gather_objects(self.task.state_dict(), self.dist)
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.task.name,
            "step": self.step,
            "batches_drawn": self.batches_drawn,
            "nets": {k: n.state_dict() for k, n in self.task.nets.items()},
            "ema": {k: e.state_dict() for k, e in self.ema.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "task": task_states,
            "rng": rng,
            "config": to_dict(self.config),
            "world_size": self.dist.world_size,
            "frozen": self.task.frozen_sources,
        }

    def _sync_buffers(self) -> None:
        for k in self.task.ddp:
            if self.task.ddp[k] is not self.task.nets[k]:
                distributed.broadcast_buffers(self.task.nets[k], self.dist)

    def save(self) -> Path | None:
        """Checkpoint (called on every rank; rank 0 writes)."""
        self._sync_buffers()
        state = self.state()
        if not self.dist.is_main:
            return None
        return save_checkpoint(self.run_dir, self.step, state, keep=self.train.keep_checkpoints)

    def inference_nets(self) -> dict[str, nn.Module]:
        """The networks to sample from and export: EMA copies where there are some."""
        return {k: (self.ema[k].module if k in self.ema else n) for k, n in self.task.nets.items()}

    def _next_batch(self) -> dict[str, Any]:
        batch = next(self._batches)
        self.batches_drawn += 1
        dev = self.dist.device
        return {k: (v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}

    def _sample(self) -> None:
        self._sync_buffers()
        if self.dist.is_main:
            with preserved_rng():
                self.task.sample(self.step, self.run_dir, self.logger, self.inference_nets())

    # ------------------------------------------------------------------ loop
    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002
        if self._stop_requested and signum == signal.SIGINT:  # second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self._stop_requested = True

    def _log(self, means: ScalarMeans, timer: dict[str, float]) -> None:
        scalars = means.means(self.dist)
        now = time.perf_counter()
        dt = max(now - timer["t"], 1e-9)
        rate = {
            "it_per_s": (self.step - timer["step"]) / dt,
            "images_per_s": (self.batches_drawn - timer["batches"]) * self.train.batch_size / dt,
        }
        timer.update(t=now, step=self.step, batches=self.batches_drawn)
        lrs = {f"lr/{k}": o.param_groups[0]["lr"] for k, o in self.optimizers.items()}
        self.logger.log(self.step, {**scalars, **lrs, **rate})
        if self.progress:
            shown = {k: f"{v:.3g}" for k, v in list(scalars.items())[:4]}
            self._bar.set_postfix(shown | {"img/s": f"{rate['images_per_s']:.0f}"}, refresh=False)

    def fit(self) -> Path:
        """Train to ``train.steps`` (or until Ctrl-C / SIGTERM on any rank), checkpoint, export; returns
        the run folder. An interrupted run exits with ``SystemExit(130)`` after its checkpoint."""
        self._build()
        train, task = self.train, self.task
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self._bar = tqdm(
            total=train.steps,
            initial=self.step,
            desc=task.name,
            unit="step",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        self._batches = iter(self.loader)
        ctx = StepContext(
            next_batch=self._next_batch,
            precision=train.precision,
            dist=self.dist,
            batch_per_process=self.batch_per_process,
            steps=train.steps,
        )
        means = ScalarMeans()
        timer = {"t": time.perf_counter(), "step": self.step, "batches": self.batches_drawn}
        ok = False
        try:
            stopped = False
            while self.step < train.steps:
                if distributed.any_rank(self._stop_requested, self.dist):
                    stopped = True
                    break
                for net in task.nets.values():
                    net.train()
                ctx.step = self.step
                means.add(task.train_step(ctx))
                with warnings.catch_warnings():  # schedules count iterations, also of optimizers that skip some
                    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                    for s in self.schedulers.values():
                        s.step()
                self.step += 1
                if self.ema and task.ema_due(ctx.step):
                    for k, e in self.ema.items():
                        e.update(task.nets[k], self.step)
                self._bar.update(1)
                if self.step % train.log_every == 0 or self.step == train.steps:
                    self._log(means, timer)
                if train.sample_every and self.step % train.sample_every == 0:
                    self._sample()
                if train.ckpt_every and self.step % train.ckpt_every == 0 and self.step < train.steps:
                    self.save()
            if stopped and means.counts:  # the steps since the last row are logged too
                self._log(means, timer)
            self.save()
            if stopped:
                self._bar.close()
                if self.dist.is_main:
                    print(
                        f"\ninterrupted at step {self.step}; checkpoint saved. Resume with --resume {self.run_dir}",
                        file=sys.stderr,
                    )
                ok = True
                raise SystemExit(130)
            if not (train.sample_every and self.step % train.sample_every == 0):  # not sampled just now
                self._sample()
            if self.dist.is_main:
                add_provenance(task.export(self.run_dir / "export", self.inference_nets()), self.provenance())
            ok = True
        finally:
            self._bar.close()
            self.logger.close()
            for s, h in previous.items():
                signal.signal(s, h)
            task.ddp = dict(task.nets)  # no DDP wrapper may outlive the process group
            if ok:
                distributed.cleanup(self.dist)
            else:
                distributed.abort(self.dist)
        return self.run_dir


def _diff(old: Any, new: Any, prefix: str = "") -> dict[str, list[Any]]:
    """{dotted key: [old, new]} for every leaf that differs between two config dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: dict[str, list[Any]] = {}
        for k in sorted(set(old) | set(new)):
            out.update(_diff(old.get(k), new.get(k), f"{prefix}{k}."))
        return out
    return {} if old == new else {prefix.rstrip("."): [old, new]}
