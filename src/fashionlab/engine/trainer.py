"""The training loop every fashionlab model uses.

A model plugs in as a :class:`Task` (its networks, optimizers, one training step, samples, export);
the :class:`Trainer` does the rest: step-based loop over an infinite sharded sampler, lr schedules,
EMA, bf16 autocast, DDP (torchrun), run folders, ``stats.jsonl`` + TensorBoard, periodic samples,
atomic full-state checkpoints, exact ``--resume`` and a clean Ctrl-C (checkpoint, then exit).
"""

from __future__ import annotations

import contextlib
import json
import platform
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from ..config import to_dict
from ..errors import InputError
from . import distributed
from .checkpoint import find_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .logger import RunLogger
from .runs import git_commit, next_free_dir
from .schedule import EMA, constant_then_linear


@dataclass
class TrainConfig:
    """Options of the training loop, shared by every model (``train.*`` in presets and overrides)."""

    steps: int = 2000  # optimisation steps (of the first optimizer, e.g. G for GANs)
    batch_size: int = 64  # GLOBAL batch over all processes; per process = batch_size // world_size
    lr: float = 1e-3  # base learning rate
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas
    weight_decay: float = 0.0  # AdamW weight decay
    lr_decay_start: float = 0.5  # constant lr until this fraction of steps, then linear decay
    lr_final: float = 0.0  # final lr as a fraction of lr
    ema: float = 0.0  # EMA decay of the weights (0: off)
    precision: str = "bf16"  # "bf16" autocast (CPU and GPU) or "fp32" reference path
    device: str = "auto"  # "auto", "cpu" or "cuda"
    seed: int = 0  # seeds the model init and the data order
    num_workers: int = 0  # DataLoader worker processes
    log_every: int = 25  # steps between stats.jsonl / TensorBoard rows
    sample_every: int = 500  # steps between sample images / plots (0: never)
    ckpt_every: int = 500  # steps between checkpoints (one is always written at the end)
    keep_checkpoints: int = 2  # how many checkpoints to keep
    out: str = "runs"  # parent folder of run folders


class Task:
    """What a model supplies to the trainer. Subclasses set ``name`` and implement the methods."""

    name = "task"

    def __init__(self) -> None:
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}  # set by the trainer before training

    # --- construction
    def build_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_dataset(self) -> torch.utils.data.Dataset:
        raise NotImplementedError

    def ema_nets(self) -> list[str]:
        """Names of the networks to keep an EMA of (when ``train.ema`` > 0)."""
        return list(self.nets)

    # --- training
    def train_step(
        self, batch: dict[str, Any], step: int, autocast: contextlib.AbstractContextManager
    ) -> dict[str, float]:
        """One optimisation step: forward, backward, optimizer step(s). Returns scalars to log."""
        raise NotImplementedError

    def sample(self, step: int, run_dir: Path, logger: RunLogger) -> None:
        """Write periodic samples / plots into ``run_dir/samples`` (optional)."""

    def export(self, out_dir: Path, nets: dict[str, nn.Module]) -> Path:
        """Write the inference export (``config.json`` + safetensors) and return its folder."""
        raise NotImplementedError


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DDP) else module


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        out[k] = (
            torch.stack(vals)
            if isinstance(vals[0], torch.Tensor)
            else (torch.tensor(vals) if isinstance(vals[0], int | float) else vals)
        )
    return out


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
    ):
        self.task, self.config, self.train = task, config, train
        self.dist = distributed.setup(train.device)
        if self.train.batch_size % self.dist.world_size:
            raise InputError(
                f"train.batch_size={train.batch_size} must be divisible by the {self.dist.world_size} processes",
                field="train.batch_size",
            )
        self.batch_per_process = train.batch_size // self.dist.world_size
        if train.precision not in ("bf16", "fp32"):
            raise InputError(f"train.precision must be bf16 or fp32, got {train.precision!r}", field="train.precision")
        self.progress = progress and self.dist.is_main
        self.step = 0
        self._stop = False
        self.resume_state: dict[str, Any] | None = None
        if resume is not None:
            ckpt = find_checkpoint(resume)
            self.resume_state = load_checkpoint(ckpt)
            if self.resume_state.get("model") != task.name:
                raise InputError(
                    f"checkpoint is of model {self.resume_state.get('model')!r}, not {task.name!r}", path=ckpt
                )
            self.run_dir = ckpt.parent.parent
        elif run_dir is not None:
            self.run_dir = Path(run_dir)
        else:
            self.run_dir = None
        if self.dist.is_main:
            if self.run_dir is None:
                self.run_dir = next_free_dir(Path(train.out) / task.name, "run")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._write_run_files(argv)
        self.logger = (
            RunLogger(self.run_dir, enabled=self.dist.is_main) if self.run_dir else RunLogger(Path("."), enabled=False)
        )

    # ------------------------------------------------------------------ setup
    def _write_run_files(self, argv: list[str] | None) -> None:
        cfg_path = self.run_dir / "config.json"
        if not cfg_path.exists():
            cfg_path.write_text(json.dumps({"model": self.task.name, "config": to_dict(self.config)}, indent=2))
        meta_path = self.run_dir / "run.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"sessions": []}
        meta["sessions"].append(
            {
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "git_commit": git_commit(Path(__file__).resolve().parent),
                "argv": argv or sys.argv,
                "torch": torch.__version__,
                "python": platform.python_version(),
                "world_size": self.dist.world_size,
                "device": str(self.dist.device),
                "resumed_from_step": (self.resume_state or {}).get("step"),
            }
        )
        meta_path.write_text(json.dumps(meta, indent=2))

    def _build(self) -> None:
        task, train = self.task, self.train
        torch.manual_seed(train.seed)
        for net in task.nets.values():
            net.to(self.dist.device)
        self.optimizers = task.build_optimizers(train)
        task.optimizers = self.optimizers
        factor = constant_then_linear(train.steps, train.lr_decay_start, train.lr_final)
        self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, factor) for k, o in self.optimizers.items()}
        self.ema = {k: EMA(task.nets[k], train.ema) for k in task.ema_nets()} if train.ema > 0 else {}
        if self.resume_state is not None:
            st = self.resume_state
            for k, net in task.nets.items():
                net.load_state_dict(st["nets"][k])
            for k, o in self.optimizers.items():
                o.load_state_dict(st["optimizers"][k])
            for k, s in self.schedulers.items():
                s.load_state_dict(st["schedulers"][k])
            for k, e in self.ema.items():
                e.load_state_dict(st["ema"][k])
            self.step = int(st["step"])
        if self.dist.enabled:
            for k, net in list(task.nets.items()):
                if any(p.requires_grad for p in net.parameters()):
                    task.nets[k] = DDP(
                        net, device_ids=[self.dist.device.index] if self.dist.device.type == "cuda" else None
                    )
        from ..data.loader import make_loader

        self.loader = make_loader(
            task.train_dataset(),
            self.batch_per_process,
            seed=train.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            num_workers=train.num_workers,
            start_sample=self.step * self.batch_per_process,
        )
        if self.resume_state is not None:
            set_rng_state(self.resume_state["rng"])  # last: nothing above may consume randomness after it

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.train.precision == "bf16":
            return torch.autocast(self.dist.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def state(self) -> dict[str, Any]:
        nets = {k: unwrap(n).state_dict() for k, n in self.task.nets.items()}
        return {
            "model": self.task.name,
            "step": self.step,
            "nets": nets,
            "ema": {k: e.state_dict() for k, e in self.ema.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "rng": rng_state(),
            "config": to_dict(self.config),
            "world_size": self.dist.world_size,
        }

    def save(self) -> Path | None:
        if not self.dist.is_main:
            return None
        return save_checkpoint(self.run_dir, self.step, self.state(), keep=self.train.keep_checkpoints)

    def inference_nets(self) -> dict[str, nn.Module]:
        """The networks to export: EMA copies where there are some."""
        return {k: (self.ema[k].module if k in self.ema else unwrap(n)) for k, n in self.task.nets.items()}

    # ------------------------------------------------------------------ loop
    def _on_sigint(self, signum, frame) -> None:  # noqa: ARG002
        if self._stop:  # second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self._stop = True

    def fit(self) -> Path:
        """Train to ``train.steps`` (or until Ctrl-C), checkpoint, export; returns the run folder."""
        self._build()
        train = self.train
        prev = signal.signal(signal.SIGINT, self._on_sigint) if self.dist.is_main else None
        bar = tqdm(
            total=train.steps,
            initial=self.step,
            desc=self.task.name,
            unit="step",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        batches = iter(self.loader)
        t_last, n_last = time.perf_counter(), self.step
        try:
            while self.step < train.steps and not self._stop:
                batch = next(batches)
                for net in self.task.nets.values():
                    net.train()
                scalars = self.task.train_step(batch, self.step, self.autocast())
                for s in self.schedulers.values():
                    s.step()
                for k, e in self.ema.items():
                    e.update(unwrap(self.task.nets[k]))
                self.step += 1
                bar.update(1)
                if self.step % train.log_every == 0 or self.step == train.steps:
                    now = time.perf_counter()
                    rate = (self.step - n_last) * train.batch_size / max(now - t_last, 1e-9)
                    t_last, n_last = now, self.step
                    lr = next(iter(self.optimizers.values())).param_groups[0]["lr"]
                    self.logger.log(self.step, {**scalars, "lr": lr, "images_per_s": rate})
                    main = {k: f"{v:.3g}" for k, v in list(scalars.items())[:4]}
                    bar.set_postfix(main | {"img/s": f"{rate:.0f}"}, refresh=False)
                if train.sample_every and self.step % train.sample_every == 0 and self.dist.is_main:
                    self.task.sample(self.step, self.run_dir, self.logger)
                if train.ckpt_every and self.step % train.ckpt_every == 0 and self.step < train.steps:
                    self.save()
            self.save()
            if self._stop:
                bar.close()
                print(
                    f"\ninterrupted at step {self.step}; checkpoint saved. Resume with --resume {self.run_dir}",
                    file=sys.stderr,
                )
                raise SystemExit(130)
            if self.dist.is_main:
                if not (train.sample_every and self.step % train.sample_every == 0):  # not sampled just now
                    self.task.sample(self.step, self.run_dir, self.logger)
                self.task.export(self.run_dir / "export", self.inference_nets())
        finally:
            bar.close()
            self.logger.close()
            if prev is not None:
                signal.signal(signal.SIGINT, prev)
            distributed.barrier(self.dist)
        return self.run_dir


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
