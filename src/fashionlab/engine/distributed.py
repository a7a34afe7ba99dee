"""DDP through torchrun only: the environment says whether we are one of several processes.

Launch (2 processes on a CPU, gloo; on GPUs the backend is NCCL)::

    torchrun --standalone --nproc_per_node 2 -m fashionlab train attrnet --data DIR --preset cpu

``train.batch_size`` is the global batch; each process takes ``batch_size // world_size``.

Besides the process group itself this module holds the few collective operations the trainer needs:
a shared stop flag (:func:`any_rank`), gathering every rank's RNG state for the checkpoint
(:func:`all_gather_objects`), means of logged scalars over ranks (:func:`reduce_means`), rank 0 first for
work such as building the packed cache (:func:`main_process_first`), and buffer synchronisation for
networks wrapped with ``broadcast_buffers=False`` (:func:`broadcast_buffers`). Control messages go through
a gloo group on the CPU even when the gradients go through NCCL, so they never wait on the GPU.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    control_group: Any = None  # a gloo process group for small CPU messages (None: the default group)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> DistInfo:
    """Initialise the process group when launched by torchrun (``WORLD_SIZE`` > 1); idempotent."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(f"cuda:{local}") if device == "cuda" else torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    control = None
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        control = _control_group()
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev, control_group=control)


_CONTROL: dict[int, Any] = {}


def _control_group():
    """One gloo group per process group for CPU control messages (the default group when it is gloo)."""
    key = id(dist.group.WORLD)
    if key not in _CONTROL:
        _CONTROL[key] = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
    return _CONTROL[key]


def rank_seed(seed: int, rank: int) -> int:
    """The seed of process ``rank``'s training randomness (augmentations, random targets): distinct per
    rank, and distinct from ``seed`` itself, which initialises the weights identically on every rank."""
    return int(np.random.SeedSequence([seed, rank, 0x7EA1]).generate_state(1)[0])


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier(group=info.control_group)


@contextlib.contextmanager
def main_process_first(info: DistInfo) -> Iterator[None]:
    """Rank 0 runs the body first (e.g. builds the packed cache); the others wait, then run it (and find
    the work done). Single process: just runs the body."""
    if info.enabled and not info.is_main:
        barrier(info)
    yield
    if info.enabled and info.is_main:
        barrier(info)


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank when ``flag`` is true on any rank (the shared stop flag)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=info.control_group)
    return bool(t.item())


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj, group=info.control_group)
    return out


def reduce_means(sums: dict[str, float], counts: dict[str, int], info: DistInfo) -> dict[str, float]:
    """Means over ranks of per-rank sums and counts (keys missing on a rank count zero there)."""
    keys = sorted(set(sums))
    if info.enabled:
        keys = sorted(set().union(*all_gather_objects(keys, info)))
    t = torch.tensor([[sums.get(k, 0.0), counts.get(k, 0)] for k in keys], dtype=torch.float64).reshape(-1, 2)
    if info.enabled:
        dist.all_reduce(t, group=info.control_group)
    return {k: float(t[i, 0] / t[i, 1]) for i, k in enumerate(keys) if t[i, 1] > 0}


def wrap(net: nn.Module, info: DistInfo, **options: Any) -> nn.Module:
    """``net`` in DDP (gradients averaged over ranks on backward); ``options`` go to DDP."""
    ids = [info.device.index] if info.device.type == "cuda" else None
    return DDP(net, device_ids=ids, **options)


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (or the module itself)."""
    return module.module if isinstance(module, DDP) else module


@torch.no_grad()
def broadcast_buffers(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm statistics ...) to every rank: networks are wrapped with
    ``broadcast_buffers=False`` (several forward passes per step, as in GAN and gradient-penalty steps,
    must not see buffers change in place), so the trainer synchronises them before checkpoints,
    samples and export."""
    if not info.enabled:
        return
    for b in unwrap(module).buffers():
        dist.broadcast(b, src=0)


def cleanup(info: DistInfo) -> None:
    """Tear the process group down on every rank together: a rank that destroys it while another is still
    inside gloo aborts the other ("terminate called without an active exception"). DDP wrappers must be
    gone first (drop every reference to them): their reducers hold the group, and one destroyed after the
    group aborts the process at exit; unreachable ones are collected here."""
    if info.enabled and dist.is_initialized():
        gc.collect()
        dist.barrier(group=info.control_group)
        _CONTROL.clear()
        dist.destroy_process_group()


def abort(info: DistInfo) -> None:
    """After an error on this rank: leave the process group without waiting for the others (they fail on
    their next collective and torchrun ends the job)."""
    if info.enabled and dist.is_initialized():
        _CONTROL.clear()
        with contextlib.suppress(Exception):
            dist.destroy_process_group()
