"""Full-state checkpoints, written atomically, loaded without unpickling code.

A checkpoint holds every trained network, the EMA copies, every optimizer and scheduler, the task's own
state (image pools, counters), the step, the number of batches drawn, the RNG states (torch, numpy,
python) of every process and the resolved config, so that a resumed run continues exactly where it
stopped. Frozen helper networks are not in it: they are recorded by export path and hash.
Files are written to ``NAME.tmp`` then renamed over ``NAME`` (and the ``latest`` pointer likewise): a kill
mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..fileio import atomic_write, atomic_write_text

CKPT_DIR = "checkpoints"
LATEST = "latest"
_NAME = re.compile(r"^step-(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    """This process's RNG states as plain tensors/lists (loadable with ``weights_only=True``): torch (CPU
    and, when present, the current CUDA device), numpy and python."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run the body without disturbing this process's RNG streams (samples drawn during training must not
    change what the training steps draw, or an interrupted run would not resume exactly)."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`fashionlab.fileio.atomic_write`."""
    atomic_write(path, lambda f: torch.save(obj, f))


def save_checkpoint(run_dir: Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``run_dir/checkpoints/step-NNNNNNN.pt`` atomically, point ``latest`` at it, prune old ones."""
    d = Path(run_dir) / CKPT_DIR
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"step-{step:07d}.pt"
    atomic_torch_save(state, path)
    atomic_write_text(d / LATEST, path.name + "\n")
    if keep > 0:
        old = sorted(p for p in d.glob("step-*.pt") if _NAME.match(p.name))[:-keep]
        for p in old:
            if p != path:
                p.unlink(missing_ok=True)
    return path


def list_checkpoints(run_dir: str | Path) -> dict[int, Path]:
    """``{step: path}`` of the checkpoints a run folder holds (``checkpoints/step-NNNNNNN.pt``), by step."""
    d = Path(run_dir) / CKPT_DIR
    found = {int(m.group(1)): q for q in d.glob("step-*.pt") if (m := _NAME.match(q.name))} if d.is_dir() else {}
    return dict(sorted(found.items()))


def find_checkpoint(where: str | Path) -> Path:
    """Resolve ``--resume``: a checkpoint file, a run folder (its latest checkpoint), or a folder of runs
    (``latest``: the newest run that has a checkpoint)."""
    p = Path(where)
    if p.is_file():
        return p
    if not p.is_dir():
        raise InputError("no such checkpoint or run folder", path=p)
    ckdir = p / CKPT_DIR
    if ckdir.is_dir():
        pointer = ckdir / LATEST
        if pointer.is_file():
            cand = ckdir / pointer.read_text().strip()
            if cand.is_file():
                return cand
        files = sorted(q for q in ckdir.glob("step-*.pt") if _NAME.match(q.name))
        if files:
            return files[-1]
        raise InputError("run folder has no checkpoint yet", path=p)
    runs = sorted((q for q in p.iterdir() if (q / CKPT_DIR).is_dir()), key=lambda q: q.stat().st_mtime)
    if not runs:
        raise InputError("no run with a checkpoint in this folder", path=p)
    return find_checkpoint(runs[-1])


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain data only; no code is unpickled)."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt / truncated / not a checkpoint
        raise InputError(f"cannot read checkpoint ({type(e).__name__}: {e})", path=path) from None
