"""What a model supplies to the trainer: the :class:`Task` contract, and what it gets back each step.

A task owns its networks (``nets``: trained and checkpointed; ``frozen``: helper networks such as a
classifier for CAMs or a keypoint network, never trained), says which optimizer trains what with which
settings (:meth:`Task.optimizer_settings`), draws its batches and alternates its phases inside
:meth:`Task.train_step` (one call = one training *step* = one iteration, e.g. one D update and, every
``n_critic`` steps, one G update), and writes samples and the inference export. See
``docs/adding-a-model.md`` for the full contract with the attribute network as the example.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from .distributed import DistInfo
from .export import export_dir, export_tensor_hash
from .logger import RunLogger


@dataclass
class OptimizerConfig:
    """One optimizer and its learning-rate schedule (a model has one per trained network group)."""

    kind: str = "adam"  # adam or adamw (decoupled weight decay)
    lr: float = 1e-4  # base learning rate
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas
    weight_decay: float = 0.0  # L2 (adam) or decoupled (adamw) weight decay
    lr_decay_start: float = 0.5  # constant lr for this fraction of train.steps, then linear decay
    lr_final: float = 0.0  # lr at the last step, as a fraction of lr


def make_optimizer(params: Iterable[nn.Parameter], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` describes over ``params``. PyTorch's fused implementation where every
    parameter is a floating-point tensor on the CPU or a GPU: one kernel over all tensors instead of a loop
    (measured on this 2-core CPU: 0.024 s instead of 0.21 s for an Adam step over StarGAN's 44.8M-parameter
    critic)."""
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if cfg.kind not in kinds:
        raise InputError(f"unknown optimizer {cfg.kind!r}; valid: {', '.join(kinds)}", field="optim.kind")
    params = list(params)
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return kinds[cfg.kind](
        params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, fused=fused or None
    )


def crop_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Crop per-parameter state (Adam's moments) saved for a larger tensor to the parameter's shape, where
    the parameter carries ``saved_slice`` (an index into what an earlier version of its network stored: the
    editors' critic keeps only the kernel taps that reach the image), so such a run resumes."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            index, state = getattr(param, "saved_slice", None), optimizer.state.get(param)
            if index is None or not state:
                continue
            for key, value in state.items():
                if torch.is_tensor(value) and value.dim() == param.dim() and value.shape != param.shape:
                    state[key] = value[index].contiguous()


def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode for good: no gradients, and ``.train()`` on it becomes a no-op, so
    nothing (a task calling ``.train()`` on everything, a parent module) can let its BatchNorm statistics
    drift or its dropout switch on."""
    module.eval()
    module.requires_grad_(False)
    module.train = types.MethodType(lambda self, mode=True: self, module)  # type: ignore[method-assign]
    return module


class StepContext:
    """What :meth:`Task.train_step` gets from the trainer.

    - ``step``: the iteration being run (0-based); ``steps``: ``train.steps``.
    - :meth:`next_batch`: a fresh batch of this process's share (``batch_per_process`` items), tensors
      already on ``device``; call it as often as the step needs (one per critic update, say).
    - :meth:`autocast`: the run's precision (``train.precision``), or ``autocast("fp32")`` for a phase
      that must run in float32 (a gradient penalty when bf16 is unstable), also inside a bf16 region.
    - ``dist``: rank, world size and device.
    """

    def __init__(
        self,
        *,
        next_batch: Callable[[], dict[str, Any]],
        precision: str,
        dist: DistInfo,
        batch_per_process: int,
        steps: int,
    ):
        self._next_batch = next_batch
        self.precision = precision
        self.dist = dist
        self.device = dist.device
        self.batch_per_process = batch_per_process
        self.steps = steps
        self.step = 0

    def next_batch(self) -> dict[str, Any]:
        return self._next_batch()

    def autocast(self, precision: str | None = None) -> contextlib.AbstractContextManager:
        p = precision or self.precision
        if p == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if p == "fp32":
            return torch.autocast(self.device.type, enabled=False)
        raise InputError(f"precision must be bf16 or fp32, got {p!r}", field="train.precision")


class Task:
    """The base of every model's training task. Subclasses set ``name`` (the registry name), fill
    ``self.nets`` (and ``self.frozen`` with :meth:`add_frozen`) in ``__init__`` and implement
    :meth:`optimizer_settings`, :meth:`train_dataset`, :meth:`train_step` and :meth:`export`."""

    name = "task"

    def __init__(self) -> None:
        #: trained networks: checkpointed, optimised, optionally averaged (EMA) and wrapped in DDP
        self.nets: dict[str, nn.Module] = {}
        #: frozen helper networks: eval mode, no gradients, not checkpointed (recorded by ``frozen_sources``)
        self.frozen: dict[str, nn.Module] = {}
        #: where each frozen network came from: {name: {"path": ..., "tensor_sha256": ...}} (the hash of its
        #: values, :func:`.tensors.tensor_hash`; checkpoints written before it have the file's "sha256")
        self.frozen_sources: dict[str, dict[str, str]] = {}
        #: ``nets`` as the training step calls them when gradients must be averaged over processes (DDP
        #: wrappers under torchrun, the very same modules otherwise); set by the trainer
        self.ddp: dict[str, nn.Module] = {}
        #: the optimizers of :meth:`optimizer_settings`, by name; set by the trainer
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    # --- construction
    def add_frozen(self, name: str, module: nn.Module, source: str | Path | None = None) -> nn.Module:
        """Register a frozen helper network (see :func:`freeze`). ``source``: the export folder it was
        loaded from; its tensors are hashed so a resumed run can check it is still the same network, and an
        export that references it can name it."""
        self.frozen[name] = freeze(module)
        if source is not None:
            src = export_dir(source)
            self.frozen_sources[name] = {"path": str(src.resolve()), "tensor_sha256": export_tensor_hash(src)}
        return self.frozen[name]

    def optimizer_settings(self) -> dict[str, tuple[Iterable[nn.Parameter], OptimizerConfig]]:
        """{optimizer name: (parameters, settings)}; each optimizer gets its own lr schedule."""
        raise NotImplementedError

    def train_dataset(self) -> torch.utils.data.Dataset:
        """The dataset the trainer's infinite sharded sampler draws from."""
        raise NotImplementedError

    def ema_nets(self) -> list[str]:
        """Names of the networks to keep an EMA of (when ``train.ema`` > 0); default: all."""
        return list(self.nets)

    def ema_due(self, step: int) -> bool:
        """Whether the EMA copies move after iteration ``step`` (0-based): after every iteration that updated
        the averaged networks. Default: every iteration; a GAN that steps its generator every ``n_critic``
        iterations says so (stargan-v2 moves its EMA after each generator step)."""
        return True

    def ddp_nets(self) -> list[str]:
        """Names of the networks to wrap in DDP under torchrun; default: every network with parameters."""
        return [k for k, n in self.nets.items() if any(p.requires_grad for p in n.parameters())]

    def ddp_options(self) -> dict[str, Any]:
        """Options for DDP. Buffers are not broadcast at every forward pass (a step may call a network
        several times before one backward); the trainer copies rank 0's buffers to the others before
        every checkpoint, sample and export."""
        return {"broadcast_buffers": False}

    # --- training
    def train_step(self, ctx: StepContext) -> dict[str, Any]:
        """One iteration: draw batch(es) with ``ctx.next_batch()``, forward/backward, optimizer step(s).
        Returns scalars to log, as detached tensors (or floats): the trainer averages them over the
        logging interval and the processes without a device sync per step."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Task state that is not a network: image pools, counters, running means (tensors, numbers,
        lists, dicts); saved in the checkpoint so a resumed run continues exactly."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state

    def sample(self, step: int, run_dir: Path, logger: RunLogger, nets: dict[str, nn.Module]) -> None:
        """Write periodic samples / plots into ``run_dir/samples`` (optional; rank 0 only). ``nets`` are
        the inference networks: the EMA copies where there are some. Runs without touching the training
        RNG streams."""

    def export(self, out_dir: Path, nets: dict[str, nn.Module]) -> Path:
        """Write the inference export (``save_export``: config.json + safetensors) and return its folder.
        ``nets`` are the inference networks (EMA copies where there are some)."""
        raise NotImplementedError
